"""A fake NetScaler NITRO API on loopback, for the netscaler pack's tests and benchmark.

No NetScaler runs here, so this serves the NITRO resources the pack uses over real
HTTP (opspack_testkit.fakes.http), keeping the state a change window needs (a member
disabled, a backup created, the running config changed, then saved). Payloads follow
Citrix's NITRO API reference, one page per resource (current release unless noted):

- login / logout (session, NITRO_AUTH_TOKEN cookie, ``sessionid``):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/nitro-session/login
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/nitro-session/logout
- error envelope ``{"errorcode", "message", "severity"}`` and HTTP status on failure (4xx/5xx):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/error-handling
  codes used: 354 Invalid username or password, 444 Session expired or killed. Please login again,
  258 No such resource, 2138 Not authorized to execute this command (as listed in the NITRO SDK's
  error classes, e.g. NSNitroNserrSessionExpired = 444)
- lbvserver (config: curstate, effectivestate, health, activeservices, totalservices, lbmethod, persistencetype):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/lb/lbvserver
- lbvserver (statistics: tothits, vslbhealth, actsvcs):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/statistics/lb/lbvserver
- lbvserver_binding (lbvserver_service_binding, lbvserver_servicegroup_binding arrays):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/lb/lbvserver_binding
- servicegroup (GET; actions enable / disable with servername, port, delay, graceful):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/basic/servicegroup
- servicegroup_servicegroupmember_binding (ip, port, servername, state, svrstate, weight, delay, graceful):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/basic/servicegroup_servicegroupmember_binding
- systembackup (actions create {filename, level, comment} and restore {filename, skipbackup}; GET
  filename, level, comment, size, creationtime, version, createdby, ipaddress):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/system/systembackup
- systemfile (GET ?args=filename:...,filelocation:... -> filecontent in base64):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/system/systemfile
- nsrunningconfig (``response``: the running config as a text blob):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/ns/nsrunningconfig
- nssavedconfig (``textblob``: the last saved config):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/ns/nssavedconfig
- nsconfig (action save):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/ns/nsconfig
- hanode (id, name, ipaddress, state, hastatus, hasync, hacurstate, hacurmasterstate, hasyncfailurereason):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/ha/hanode
- sslcertkey (certkey, subject, issuer, clientcertnotafter, daystoexpiration, status):
  https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/configuration/ssl/sslcertkey

As on the ADC, numbers the reference types as Double often arrive as strings ("100").
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from opspack_testkit.fakes.http import FakeHTTPServer, FakeService, Request, Response

USER = "nsroot"
PASSWORD = "N1tro-s3cret!"
VIEWER = "viewer"
VIEWER_PASSWORD = "look-only-9"
BUILD = "NS14.1: Build 21.57.nc"
NSIP = "10.0.0.2"
BACKUP_DIR = "/var/ns_sys_backup"


def done(**resources: Any) -> dict[str, Any]:
    """NITRO's success envelope (``errorcode`` 0, ``Done``) around ``resources``."""
    return {"errorcode": 0, "message": "Done", "severity": "NONE", **resources}


def nitro_error(http: int, code: int, message: str) -> Response:
    """NITRO's error envelope with HTTP status ``http`` and NITRO error ``code``."""
    return Response.json({"errorcode": code, "message": message, "severity": "ERROR"}, status=http)


@dataclass
class Member:
    """A service group member: its admin state, what the monitor says, its weight."""

    servername: str
    ip: str
    port: int
    weight: int = 1
    state: str = "ENABLED"  # admin state
    svrstate: str = "UP"  # what the monitor says, or OUT OF SERVICE when disabled
    delay: int = 0
    graceful: str = "NO"
    health: str = "UP"  # the monitor's verdict when enabled

    def record(self, group: str) -> dict[str, Any]:
        """The member as ``servicegroup_servicegroupmember_binding`` lists it in ``group``."""
        return {
            "servicegroupname": group,
            "ip": self.ip,
            "port": self.port,
            "state": self.state,
            "hashid": 0,
            "serverid": 0,
            "servername": self.servername,
            "customserverid": "None",
            "weight": str(self.weight),
            "delay": self.delay,
            "statechangetimesec": "Wed Jan 17 10:15:29 2024",
            "svrstate": self.svrstate,
            "tickssincelaststatechange": "12345",
            "graceful": self.graceful,
        }


@dataclass
class VServer:
    """A load-balancing virtual server and what is bound to it."""

    name: str
    ip: str
    port: int
    servicetype: str
    lbmethod: str = "LEASTCONNECTION"
    persistencetype: str = "NONE"
    servicegroups: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    hits: int = 0
    disabled: bool = False


class FakeNitro(FakeService):
    """The fake ADC: state, routes and counters. ``with FakeNitro() as fake: fake.url``."""

    def __init__(self) -> None:
        self.server = FakeHTTPServer()
        self.lock = threading.RLock()
        self.users = {USER: PASSWORD, VIEWER: VIEWER_PASSWORD}
        self.sessions: dict[str, str] = {}  # token -> user
        self.logins = 0
        self.logouts = 0
        #: seconds a login takes (a real ADC authenticates against its user store, LDAP or RADIUS)
        self.login_delay = 0.0
        self.services: dict[str, dict[str, Any]] = {
            "svc_api1": {"ip": "10.0.2.21", "port": 8080, "servicetype": "HTTP", "curstate": "UP"},
            "svc_api2": {"ip": "10.0.2.22", "port": 8080, "servicetype": "HTTP", "curstate": "UP"},
            "svc_legacy": {"ip": "10.0.3.31", "port": 80, "servicetype": "HTTP", "curstate": "DOWN"},
        }
        self.servicegroups: dict[str, list[Member]] = {
            "sg_web": [
                Member("web01", "10.0.1.11", 443),
                Member("web02", "10.0.1.12", 443),
                Member("web03", "10.0.1.13", 443),
            ],
            "sg_img": [
                Member("img01", "10.0.1.41", 80),
                Member("img02", "10.0.1.42", 80, health="DOWN", svrstate="DOWN"),
            ],
        }
        self.vservers: dict[str, VServer] = {
            v.name: v
            for v in (
                VServer(
                    "vs_web_https", "10.0.0.10", 443, "SSL", "LEASTCONNECTION", "COOKIEINSERT", ["sg_web"], hits=48213
                ),
                VServer("vs_img", "10.0.0.12", 80, "HTTP", "ROUNDROBIN", "NONE", ["sg_img"], hits=9120),
                VServer(
                    "vs_api",
                    "10.0.0.11",
                    80,
                    "HTTP",
                    "ROUNDROBIN",
                    "SOURCEIP",
                    services=["svc_api1", "svc_api2"],
                    hits=1200,
                ),
                VServer("vs_legacy", "10.0.0.13", 80, "HTTP", services=["svc_legacy"]),
            )
        }
        #: lines a test adds to the running configuration ("a change on the ADC")
        self.extra_running: list[str] = []
        self.saved = self.running_text()
        self.backups: dict[str, tuple[dict[str, Any], bytes]] = {}
        self.restored: list[dict[str, Any]] = []
        self.saves = 0
        today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        self.certs = [
            self._cert("www_example_com", "www.example.com", 200, today),
            self._cert("api_example_com", "api.example.com", 20, today),
            self._cert("legacy_example_com", "legacy.example.com", 3, today),
            self._cert("old_example_com", "old.example.com", -5, today, status="Expired"),
            self._cert("ca_root", "Example Root CA", 3000, today, kind="ROOT_CERT", issuer="Example Root CA"),
        ]
        self.hanodes: list[dict[str, Any]] = [
            self._hanode(0, "adc1", NSIP, "Primary"),
            self._hanode(1, "adc2", "10.0.0.3", "Secondary"),
        ]
        self._routes()

    # -- lifecycle ---------------------------------------------------------------------
    def environ(self, **overrides: str) -> dict[str, str]:
        """The netscaler pack's settings pointing at this fake; ``overrides`` set more (``verify_tls=...``)."""
        env = {
            "OPSPACK_NETSCALER_URL": self.url,
            "OPSPACK_NETSCALER_USER": USER,
            "OPSPACK_NETSCALER_PASSWORD": PASSWORD,
        }
        env.update({f"OPSPACK_NETSCALER_{k.upper()}": v for k, v in overrides.items()})
        return env

    def expire_sessions(self) -> None:
        """Kill every session, as the ADC does after its idle timeout or `kill system session`."""
        with self.lock:
            self.sessions.clear()

    def count(self, method: str, path: str) -> int:
        """How many ``method`` requests to exactly ``path`` were received."""
        return sum(1 for r in list(self.server.requests) if r.method == method and r.path == path)

    # -- fixtures' data ------------------------------------------------------------------
    @staticmethod
    def _cert(
        certkey: str,
        cn: str,
        days: int,
        today: datetime,
        *,
        status: str = "Valid",
        kind: str = "SRVR_CERT",
        issuer: str = "Example Issuing CA",
    ) -> dict[str, Any]:
        not_after = today + timedelta(days=days)
        not_before = not_after - timedelta(days=397)
        fmt = "%b %d %H:%M:%S %Y GMT"
        return {
            "certkey": certkey,
            "cert": f"/nsconfig/ssl/{certkey}.crt",
            "key": f"/nsconfig/ssl/{certkey}.key",
            "inform": "PEM",
            "signaturealg": "sha256WithRSAEncryption",
            "certificatetype": [kind],
            "serial": secrets.token_hex(8).upper(),
            "issuer": f"C=US,O=Example,CN={issuer}",
            "clientcertnotbefore": not_before.strftime(fmt),
            "clientcertnotafter": not_after.strftime(fmt),
            "daystoexpiration": days,
            "subject": f"C=US,O=Example,CN={cn}",
            "publickey": "RSA",
            "publickeysize": 2048,
            "version": 3,
            "status": status,
            "expirymonitor": "ENABLED",
            "notificationperiod": 30,
        }

    @staticmethod
    def _hanode(node_id: int, name: str, ip: str, role: str) -> dict[str, Any]:
        return {
            "id": str(node_id),
            "name": name,
            "ipaddress": ip,
            "flags": "0",
            "hastatus": "ENABLED",
            "state": role,
            "hasync": "ENABLED",
            "haprop": "ENABLED",
            "hacurstatus": "YES",
            "hacurstate": "UP",
            "hacurmasterstate": role.upper(),
            "enaifaces": "0/1 1/1",
            "disifaces": "",
            "hamonifaces": "1/1",
            "pfifaces": "",
            "ifaces": "",
            "netmask": "255.255.255.0",
            "inc": "DISABLED",
            "ssl2": "NOT PRESENT",
            "hellointerval": "200",
            "deadinterval": "3",
            "masterstatetime": "864000",
            "failsafe": "OFF",
            "maxflips": "0",
            "maxfliptime": "0",
            "curflips": "0",
            "completedfliptime": "0",
            "hasyncfailurereason": "",
        }

    # -- derived state -----------------------------------------------------------------
    def running_text(self) -> str:
        """The running configuration as `show ns runningConfig` prints it."""
        lines = [f"#{BUILD}", "# Last modified by `save config`, " + time.strftime("%a %b %d %H:%M:%S %Y")]
        lines += ["set ns config -IPAddress 10.0.0.2 -netmask 255.255.255.0", "enable ns feature LB SSL"]
        servers: dict[str, str] = {}
        for members in self.servicegroups.values():
            servers.update({m.servername: m.ip for m in members})
        lines += [f"add server {name} {ip}" for name, ip in sorted(servers.items())]
        for name, svc in sorted(self.services.items()):
            lines.append(f"add service {name} {svc['ip']} {svc['servicetype']} {svc['port']}")
        for group in sorted(self.servicegroups):
            lines.append(f"add serviceGroup {group} {'SSL' if group == 'sg_web' else 'HTTP'}")
        for v in self.vservers.values():
            persistence = f" -persistenceType {v.persistencetype}" if v.persistencetype != "NONE" else ""
            lines.append(f"add lb vserver {v.name} {v.servicetype} {v.ip} {v.port}{persistence} -lbMethod {v.lbmethod}")
        for v in self.vservers.values():
            lines += [f"bind lb vserver {v.name} {s}" for s in v.services + v.servicegroups]
        for group, members in sorted(self.servicegroups.items()):
            for m in members:
                state = " -state DISABLED" if m.state == "DISABLED" else ""
                lines.append(f"bind serviceGroup {group} {m.servername} {m.port}{state}")
        lines += self.extra_running
        return "\n".join(lines) + "\n"

    def _vserver_members(self, v: VServer) -> list[str]:
        states = [str(self.services[s]["curstate"]) for s in v.services]
        for group in v.servicegroups:
            states += [m.svrstate for m in self.servicegroups[group]]
        return states

    def _vserver_record(self, v: VServer) -> dict[str, Any]:
        states = self._vserver_members(v)
        active = sum(1 for s in states if s == "UP")
        total = len(states)
        curstate = "OUT OF SERVICE" if v.disabled else ("UP" if active else "DOWN")
        return {
            "name": v.name,
            "insertvserveripport": "OFF",
            "ipv46": v.ip,
            "ippattern": "0.0.0.0",
            "ipmask": "*",
            "port": v.port,
            "range": "1",
            "servicetype": v.servicetype,
            "type": "ADDRESS",
            "curstate": curstate,
            "effectivestate": curstate,
            "status": 1 if curstate == "UP" else 2,
            "lbrrreason": 0,
            "cachetype": "SERVER",
            "redirect": "",
            "precedence": "",
            "redirectportrewrite": "DISABLED",
            "clttimeout": "180",
            "somethod": "NONE",
            "sopersistence": "DISABLED",
            "sopersistencetimeout": "2",
            "healththreshold": "0",
            "lbmethod": v.lbmethod,
            "backuplbmethod": "ROUNDROBIN",
            "persistencetype": v.persistencetype,
            "timeout": 2,
            "persistmask": "255.255.255.255",
            "v6persistmasklen": "128",
            "health": str(active * 100 // total if total else 0),
            "totalservices": str(total),
            "activeservices": str(active),
            "statechangetimesec": "Wed Jan 17 10:15:29 2024",
            "tickssincelaststatechange": "8861",
            "downstateflush": "ENABLED",
            "disableprimaryondown": "DISABLED",
            "td": "0",
        }

    # -- HTTP ---------------------------------------------------------------------------
    def _routes(self) -> None:
        http = self.server
        http.before.append(self._authenticate)
        api = "/nitro/v1"

        def on(method: str, path: str) -> Callable[[Callable[[Request], Response]], Callable[[Request], Response]]:
            def wrap(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
                def locked(req: Request) -> Response:
                    with self.lock:
                        return fn(req)

                http.route(method, api + path)(locked)
                return fn

            return wrap

        @on("POST", "/config/login")
        def login(req: Request) -> Response:
            if self.login_delay:
                time.sleep(self.login_delay)
            body = (req.json() or {}).get("login", {})
            user, password = body.get("username"), body.get("password")
            if not user or self.users.get(user) != password:
                return nitro_error(401, 354, "Invalid username or password")
            token = secrets.token_hex(16)
            self.sessions[token] = user
            self.logins += 1
            return Response.json(
                done(sessionid=token),
                status=201,
                headers={"Set-Cookie": f"NITRO_AUTH_TOKEN={token}; path=/nitro/v1; Secure; HttpOnly"},
            )

        @on("POST", "/config/logout")
        def logout(req: Request) -> Response:
            self.sessions.pop(self._token(req) or "", None)
            self.logouts += 1
            return Response.json(done())

        @on("GET", r"/config/lbvserver(?:/(?P<name>[^/]+))?")
        def lbvserver(req: Request) -> Response:
            name = _name(req)
            records = [self._vserver_record(v) for v in self.vservers.values()]
            return self._listing(req, "lbvserver", records, name, key="name")

        @on("GET", r"/stat/lbvserver/(?P<name>[^/]+)")
        def lbvserver_stat(req: Request) -> Response:
            v = self.vservers.get(_name(req) or "")
            if v is None:
                return nitro_error(404, 258, f"No such resource [name, {_name(req)}]")
            rec = self._vserver_record(v)
            stat = {
                "name": v.name,
                "primaryipaddress": v.ip,
                "primaryport": v.port,
                "type": v.servicetype,
                "state": rec["curstate"],
                "vslbhealth": rec["health"],
                "actsvcs": rec["activeservices"],
                "inactsvcs": str(int(rec["totalservices"]) - int(rec["activeservices"])),
                "tothits": str(v.hits),
                "hitsrate": 0,
                "curclntconnections": "12",
                "cursrvrconnections": "9",
            }
            return Response.json(done(lbvserver=[stat]))

        @on("GET", r"/config/lbvserver_binding/(?P<name>[^/]+)")
        def lbvserver_binding(req: Request) -> Response:
            v = self.vservers.get(_name(req) or "")
            if v is None:
                return nitro_error(404, 258, f"No such resource [name, {_name(req)}]")
            binding: dict[str, Any] = {"name": v.name}
            if v.services:
                binding["lbvserver_service_binding"] = [
                    {
                        "name": v.name,
                        "servicename": s,
                        "stateflag": "536936451",
                        "ipv46": self.services[s]["ip"],
                        "port": self.services[s]["port"],
                        "servicetype": self.services[s]["servicetype"],
                        "curstate": self.services[s]["curstate"],
                        "weight": "1",
                        "dynamicweight": "0",
                        "cookieipport": "",
                        "vserverid": "",
                        "vsvrbindsvcip": self.services[s]["ip"],
                        "vsvrbindsvcport": self.services[s]["port"],
                    }
                    for s in v.services
                ]
            if v.servicegroups:
                binding["lbvserver_servicegroup_binding"] = [
                    {"name": v.name, "servicegroupname": g, "stateflag": "536936451"} for g in v.servicegroups
                ]
            return Response.json(done(lbvserver_binding=[binding]))

        @on("GET", r"/config/servicegroup(?:/(?P<name>[^/]+))?")
        def servicegroup(req: Request) -> Response:
            records = [
                {
                    "servicegroupname": g,
                    "servicetype": "SSL" if g == "sg_web" else "HTTP",
                    "state": "ENABLED",
                    "servicegroupeffectivestate": "UP" if any(m.svrstate == "UP" for m in ms) else "DOWN",
                    "numofconnections": 0,
                }
                for g, ms in self.servicegroups.items()
            ]
            return self._listing(req, "servicegroup", records, _name(req), key="servicegroupname")

        @on("GET", r"/config/servicegroup_servicegroupmember_binding/(?P<name>[^/]+)")
        def members(req: Request) -> Response:
            group = _name(req) or ""
            if group not in self.servicegroups:
                return nitro_error(404, 258, f"No such resource [serviceGroupName, {group}]")
            records = [m.record(group) for m in self.servicegroups[group]]
            return self._listing(req, "servicegroup_servicegroupmember_binding", records, None, key="servicegroupname")

        @on("POST", "/config/servicegroup")
        def servicegroup_action(req: Request) -> Response:
            action = req.arg("action")
            body = (req.json() or {}).get("servicegroup", {})
            group = str(body.get("servicegroupname", ""))
            if action not in ("enable", "disable"):
                return nitro_error(400, 1092, f"Invalid action [{action}]")
            if group not in self.servicegroups:
                return nitro_error(404, 258, f"No such resource [serviceGroupName, {group}]")
            denied = self._deny_viewer(req)
            if denied is not None:
                return denied
            if "servername" not in body:  # the whole group: not used by the pack
                return nitro_error(400, 1092, "Required argument missing [serverName]")
            for m in self.servicegroups[group]:
                if m.servername == body["servername"] and m.port == int(body.get("port", 0)):
                    if action == "disable":
                        m.state = "DISABLED"
                        m.delay = int(body.get("delay") or 0)
                        m.graceful = "YES" if str(body.get("graceful", "NO")).upper() == "YES" else "NO"
                        m.svrstate = "GOING OUT OF SERVICE" if m.delay or m.graceful == "YES" else "OUT OF SERVICE"
                    else:
                        m.state, m.delay, m.graceful, m.svrstate = "ENABLED", 0, "NO", m.health
                    return Response.json(done())
            return nitro_error(404, 258, f"No such resource [serverName, {body['servername']}]")

        @on("GET", r"/config/systembackup(?:/(?P<name>[^/]+))?")
        def systembackup(req: Request) -> Response:
            records = [meta for meta, _ in self.backups.values()]
            return self._listing(req, "systembackup", records, _name(req), key="filename")

        @on("POST", "/config/systembackup")
        def systembackup_action(req: Request) -> Response:
            action = req.arg("action")
            body = (req.json() or {}).get("systembackup", {})
            denied = self._deny_viewer(req)
            if denied is not None:
                return denied
            if action == "create":
                level = str(body.get("level") or "basic")
                if level not in ("basic", "full"):
                    return nitro_error(400, 1092, f"Invalid value [level, {level}]")
                name = str(body.get("filename") or time.strftime("backup_%Y%m%d%H%M%S"))
                self.create_backup(
                    name, level, str(body.get("comment") or ""), self.sessions.get(self._token(req) or "", "")
                )
                return Response.json(done())
            if action == "restore":
                filename = str(body.get("filename") or "")
                if filename not in self.backups:
                    return nitro_error(404, 258, f"No such resource [filename, {filename}]")
                self.restored.append({"filename": filename, "skipbackup": bool(body.get("skipbackup", False))})
                return Response.json(done())
            return nitro_error(400, 1092, f"Invalid action [{action}]")

        @on("GET", "/config/systemfile")
        def systemfile(req: Request) -> Response:
            args = _pairs(req.arg("args") or "")
            name, where = args.get("filename", ""), args.get("filelocation", "")
            if where != BACKUP_DIR or name not in self.backups:
                return nitro_error(404, 258, f"No such resource [fileName, {name}]")
            data = self.backups[name][1]
            return Response.json(
                done(
                    systemfile=[
                        {
                            "filename": name,
                            "filelocation": where,
                            "filecontent": base64.b64encode(data).decode("ascii"),
                            "fileencoding": "BASE64",
                            "filemodifiedtime": self.backups[name][0]["creationtime"],
                        }
                    ]
                )
            )

        @on("GET", "/config/nsrunningconfig")
        def running(req: Request) -> Response:
            return Response.json(done(nsrunningconfig=[{"response": self.running_text()}]))

        @on("GET", "/config/nssavedconfig")
        def saved(req: Request) -> Response:
            return Response.json(done(nssavedconfig=[{"textblob": self.saved}]))

        @on("POST", "/config/nsconfig")
        def nsconfig(req: Request) -> Response:
            if req.arg("action") != "save":
                return nitro_error(400, 1092, f"Invalid action [{req.arg('action')}]")
            denied = self._deny_viewer(req)
            if denied is not None:
                return denied
            self.saved = self.running_text()
            self.saves += 1
            return Response.json(done())

        @on("GET", "/config/hanode")
        def hanode(req: Request) -> Response:
            return Response.json(done(hanode=[dict(n) for n in self.hanodes]))

        @on("GET", "/config/sslcertkey")
        def sslcertkey(req: Request) -> Response:
            return self._listing(req, "sslcertkey", [dict(c) for c in self.certs], None, key="certkey")

    def create_backup(self, name: str, level: str, comment: str = "", user: str = USER) -> str:
        """A backup archive as the ADC writes it: the saved ns.conf under nsconfig/ (and more at full)."""
        filename = name if name.endswith(".tgz") else f"{name}.tgz"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            files = {"nsconfig/ns.conf": self.saved, "nsconfig/rc.netscaler": "#!/bin/sh\n"}
            if level == "full":
                files.update({f"nsconfig/ssl/{c['certkey']}.crt": "-----BEGIN CERTIFICATE-----\n" for c in self.certs})
            for path, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(path)
                info.size = len(data)
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(data))
        data = buf.getvalue()
        meta = {
            "filename": filename,
            "level": level,
            "comment": comment,
            "size": str(max(1, len(data) // 1024)),
            "creationtime": time.strftime("%a %b %d %H:%M:%S %Y"),
            "version": BUILD,
            "createdby": user,
            "ipaddress": NSIP,
        }
        self.backups[filename] = (meta, data)
        return filename

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _token(req: Request) -> str | None:
        for part in req.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "NITRO_AUTH_TOKEN":
                return value
        return None

    def _authenticate(self, req: Request) -> Response | None:
        if not req.path.startswith("/nitro/v1/") or req.path == "/nitro/v1/config/login":
            return None
        with self.lock:
            token = self._token(req)
            if token is None or token not in self.sessions:
                return nitro_error(401, 444, "Session expired or killed. Please login again")
        return None

    def _deny_viewer(self, req: Request) -> Response | None:
        if self.sessions.get(self._token(req) or "") == VIEWER:
            return nitro_error(401, 2138, "Not authorized to execute this command")
        return None

    @staticmethod
    def _listing(req: Request, resource: str, records: list[dict[str, Any]], name: str | None, key: str) -> Response:
        if name is not None:
            records = [r for r in records if r.get(key) == name]
            if not records:
                return nitro_error(404, 258, f"No such resource [{key}, {name}]")
        wanted = _pairs(req.arg("filter") or "")
        records = [r for r in records if all(str(r.get(k)) == v for k, v in wanted.items())]
        attrs = [a for a in (req.arg("attrs") or "").split(",") if a]
        if attrs:
            records = [{k: r[k] for k in attrs if k in r} for r in records]
        if not records:
            return Response.json(done())  # NITRO leaves the resource out when nothing matches
        return Response.json(json.loads(json.dumps(done(**{resource: records}))))


def _name(req: Request) -> str | None:
    if req.match is None:
        return None
    name = req.match.groupdict().get("name")
    return unquote(name) if name is not None else None


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip()] = value
    return out
