"""A real Samba 4 Active Directory domain controller for tests and the demo (Debian's ``samba``).

::

    with SambaDC() as dc:                        # provision + samba on its own loopback address
        dc.samba_tool("user", "create", "jdoe", "Passw0rd-jdoe!")
        dc.add_ldif(company_ldif(dc.base_dn))    # many entries in one transaction
        url = dc.url                             # ldaps://127.0.0.N (the certificate: dc.ca_file)

:meth:`SambaDC.prepare` provisions a new domain into the server's temporary folder with
``samba-tool domain provision --dns-backend=NONE`` (a few seconds), with a TLS certificate
for the address issued by a private CA (:class:`opspack_testkit.tls.TestCA`), so clients can
verify it with :attr:`SambaDC.ca_file`. Samba binds fixed ports (389, 636, 88) on the addresses of
its ``interfaces``; two domain controllers on 127.0.0.1 would collide, so each gets its own
loopback address (``ip addr add 127.0.0.N/32 dev lo``), removed again when it stops. That
needs root, as ``samba`` itself does; :class:`SambaUnavailable` says so otherwise.

Needs ``apt-get install samba samba-ad-dc samba-ad-provision`` (Samba 4.17 in Debian 12).
Seeding in bulk (:meth:`SambaDC.add_ldif`) runs the system's ``/usr/bin/python3`` with Samba's
own Python bindings, which the ``samba`` package installs.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = [
    "APT_PACKAGES",
    "SambaDC",
    "SambaError",
    "SambaUnavailable",
    "company_ldif",
    "loopback_address",
    "samba_binaries",
]

APT_PACKAGES = ("samba", "samba-ad-dc", "samba-ad-provision")

#: the interpreter that carries Samba's Python bindings (samba-tool's own)
SYSTEM_PYTHON = "/usr/bin/python3"

_ADD_LDIF = """
import sys
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB

lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)
db.transaction_start()
try:
    db.add_ldif(sys.stdin.read())
except BaseException:
    db.transaction_cancel()
    raise
db.transaction_commit()
"""


class SambaUnavailable(RuntimeError):
    """Samba's AD DC is not installed, or the tests do not run as root."""


class SambaError(ServerError):
    """The domain was not provisioned, the DC did not start, or samba-tool failed."""


def samba_binaries() -> tuple[Path, Path]:
    """``samba`` and ``samba-tool``; :class:`SambaUnavailable` when missing or not root."""
    samba = shutil.which("samba") or ("/usr/sbin/samba" if Path("/usr/sbin/samba").is_file() else None)
    tool = shutil.which("samba-tool") or ("/usr/bin/samba-tool" if Path("/usr/bin/samba-tool").is_file() else None)
    if not samba or not tool or not Path("/usr/share/samba/setup").is_dir():
        raise SambaUnavailable(
            "the Samba AD DC is not installed; install: apt-get install -y samba samba-ad-dc samba-ad-provision"
        )
    if os.geteuid() != 0:
        raise SambaUnavailable("a Samba domain controller runs as root (it binds ports 389, 636 and 88)")
    return Path(samba), Path(tool)


def _ip() -> str:
    found = shutil.which("ip") or "/usr/sbin/ip"
    if not Path(found).exists():
        found = "/sbin/ip"
    return found


def _lo_addresses() -> set[str]:
    out = subprocess.run([_ip(), "-o", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=False)
    return {part.split("/")[0] for line in out.stdout.splitlines() for part in line.split()[3:4]}


def _listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


def loopback_address() -> str:
    """A 127.0.0.N address (N from 64 to 250) that is not on ``lo`` and where nothing
    listens on LDAP's ports: for one domain controller of its own."""
    taken = _lo_addresses()
    candidates = [f"127.0.0.{n}" for n in range(64, 251)]
    random.shuffle(candidates)
    for address in candidates:
        if address not in taken and not _listening(address, 389) and not _listening(address, 636):
            return address
    raise SambaError("no free 127.0.0.N address for a domain controller")


class SambaDC(ManagedProcess):
    """A running Samba AD domain controller on its own loopback address; a context manager.

    Args:
        realm: the DNS name of the domain (``CORP.EXAMPLE.COM``).
        domain: its NetBIOS name (``CORP``).
        admin_password: the ``Administrator``'s password (default: random, complex enough).
        address: the loopback address to serve on (default: a free 127.0.0.N, added to ``lo``).
    """

    name = "samba"
    error = SambaError
    poll_interval = 0.1

    def __init__(
        self,
        *,
        realm: str = "CORP.EXAMPLE.COM",
        domain: str = "CORP",
        admin_password: str | None = None,
        address: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__(host=address or "", port=636, start_timeout=start_timeout, stop_timeout=15.0)
        self.realm = realm.upper()
        self.domain = domain.upper()
        self.admin_password = admin_password or "Adm-" + secrets.token_hex(6) + "-9x!"
        self._added_address: str | None = None
        self._samba: Path | None = None
        self._tool: Path | None = None

    # -- what a test connects to ---------------------------------------------------------
    @property
    def base_dn(self) -> str:
        """The domain's naming context: ``DC=corp,DC=example,DC=com``."""
        return ",".join(f"DC={part}" for part in self.realm.lower().split("."))

    @property
    def admin_user(self) -> str:
        """The administrator as a user principal name (``Administrator@corp.example.com``)."""
        return f"Administrator@{self.realm.lower()}"

    @property
    def url(self) -> str:
        """``ldaps://<address>`` (port 636)."""
        return f"ldaps://{self.host}"

    @property
    def ca_file(self) -> Path:
        """The PEM file of the CA that issued the DC's certificate."""
        return self.workdir / "tls" / "ca.pem"

    @property
    def smb_conf(self) -> Path:
        """The provisioned domain's smb.conf."""
        return self.workdir / "dc" / "etc" / "smb.conf"

    @property
    def sam_ldb(self) -> Path:
        """The directory database, for samba-tool's ``-H``."""
        return self.workdir / "dc" / "private" / "sam.ldb"

    # -- ManagedProcess ------------------------------------------------------------------
    def prepare(self) -> None:
        """Add the loopback address, make the TLS certificate and provision the domain."""
        from opspack_testkit.tls import TestCA

        self._samba, self._tool = samba_binaries()
        if not self.host:
            self.host = loopback_address()
        if self.host not in _lo_addresses():
            self.run([_ip(), "addr", "add", f"{self.host}/32", "dev", "lo"])
            self._added_address = self.host
        tls = self.workdir / "tls"
        tls.mkdir()
        ca = TestCA(tls)
        cert = ca.issue("dc", [self.host, "localhost", f"dc.{self.realm.lower()}"], days=365)
        cert.key.chmod(0o600)  # samba refuses a private key others may read
        target = self.workdir / "dc"
        (target / "run").mkdir(parents=True)
        options = {
            # its own pid file: samba refuses to start while the one in /run/samba names a live process
            "pid directory": str(target / "run"),
            "interfaces": self.host,
            "bind interfaces only": "yes",
            "log file": f"{target}/log.%m",
            "tls enabled": "yes",
            "tls keyfile": str(cert.key),
            "tls certfile": str(cert.cert),
            "tls cafile": str(ca.ca_path),
        }
        self.run(
            [
                str(self._tool),
                "domain",
                "provision",
                f"--targetdir={target}",
                f"--realm={self.realm}",
                f"--domain={self.domain}",
                "--server-role=dc",
                "--dns-backend=NONE",
                f"--adminpass={self.admin_password}",
                "--use-rfc2307",
                *[f"--option={k}={v}" for k, v in options.items()],
            ],
            timeout=180,
        )

    def command(self) -> list[str]:
        """``samba`` in the foreground, one process, serving LDAP (and CLDAP, Kerberos)."""
        assert self._samba is not None
        return [
            str(self._samba),
            "-i",
            "-M",
            "single",
            "-s",
            str(self.smb_conf),
            "--option=server services=ldap,cldap,kdc",
        ]

    def before_stop(self) -> None:
        """Stop what samba's pid file names too, should it not be the process started."""
        pid_file = self.workdir / "dc" / "run" / "samba.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if pid != self.pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)

    def stop(self) -> None:
        """Stop samba, remove its folder, and take the loopback address off ``lo``."""
        try:
            super().stop()
        finally:
            address, self._added_address = self._added_address, None
            if address is not None:
                subprocess.run(
                    [_ip(), "addr", "del", f"{address}/32", "dev", "lo"], capture_output=True, check=False, timeout=30
                )

    # -- seeding -----------------------------------------------------------------------
    def samba_tool(self, *args: str, timeout: float = 120.0) -> str:
        """Run ``samba-tool <args>`` on the domain's database; return its output."""
        assert self._tool is not None, "not started"
        return self.run([str(self._tool), *args, "-H", str(self.sam_ldb), "-s", str(self.smb_conf)], timeout=timeout)

    def add_ldif(self, ldif: str, *, timeout: float = 300.0) -> None:
        """Add the entries of ``ldif`` in one transaction (thousands of users in seconds)."""
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", _ADD_LDIF, str(self.smb_conf), str(self.sam_ldb)],
            input=ldif,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise self.error(f"adding LDIF failed: {proc.stderr.strip()[-2000:]}")


def company_ldif(base_dn: str, password: str | None = None) -> str:
    """A small company: OUs Staff and Groups, six people with managers, nested groups
    (``VPN-Users`` holds ``Sales`` which holds ``Sales-EU``), two computers in
    ``OU=Computers-Old`` (WS-0001 last logged on 200 days ago, WS-0002 yesterday).

    With ``password``, the people are enabled and log in with it; without, they are
    disabled and have none (``userAccountControl`` 514)."""
    import base64
    import datetime as dt

    def filetime(days_ago: int) -> int:
        when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
        return int((when - dt.datetime(1601, 1, 1, tzinfo=dt.UTC)).total_seconds() * 10_000_000)

    staff = f"OU=Staff,{base_dn}"
    groups = f"OU=Groups,{base_dn}"
    people = [
        ("adupont", "Alice", "Dupont", "IT", None),
        ("bmartin", "Bruno", "Martin", "Sales", "adupont"),
        ("cnguyen", "Chloe", "Nguyen", "Sales", "bmartin"),
        ("dschmidt", "Dieter", "Schmidt", "Sales", "bmartin"),
        ("erossi", "Elena", "Rossi", "Finance", "adupont"),
        ("fokafor", "Femi", "Okafor", "IT", "adupont"),
    ]
    realm = ".".join(part.split("=", 1)[1] for part in base_dn.split(",")).lower()
    blocks = [f"dn: {staff}\nobjectClass: organizationalUnit\n", f"dn: {groups}\nobjectClass: organizationalUnit\n"]
    blocks.append(f"dn: OU=Computers-Old,{base_dn}\nobjectClass: organizationalUnit\n")
    for login, first, last, dept, manager in people:
        lines = [
            f"dn: CN={first} {last},{staff}",
            "objectClass: user",
            f"sAMAccountName: {login}",
            f"userPrincipalName: {login}@{realm}",
            f"givenName: {first}",
            f"sn: {last}",
            f"displayName: {first} {last}",
            f"mail: {first.lower()}.{last.lower()}@{realm}",
            f"department: {dept}",
        ]
        if password:
            encoded = base64.b64encode(f'"{password}"'.encode("utf-16-le")).decode()
            lines += ["userAccountControl: 512", f"unicodePwd:: {encoded}"]
        else:
            lines.append("userAccountControl: 514")
        if manager:
            boss = next(p for p in people if p[0] == manager)
            lines.append(f"manager: CN={boss[1]} {boss[2]},{staff}")
        blocks.append("\n".join(lines) + "\n")

    def group(name: str, members: list[str], description: str) -> str:
        lines = [f"dn: CN={name},{groups}", "objectClass: group", f"sAMAccountName: {name}"]
        lines.append(f"description: {description}")
        lines += [f"member: {m}" for m in members]
        return "\n".join(lines) + "\n"

    def person(login: str) -> str:
        p = next(p for p in people if p[0] == login)
        return f"CN={p[1]} {p[2]},{staff}"

    blocks.append(group("Sales-EU", [person("cnguyen")], "Sales, Europe"))
    blocks.append(group("Sales", [person("bmartin"), f"CN=Sales-EU,{groups}"], "Everyone in sales"))
    blocks.append(group("VPN-Users", [person("fokafor"), f"CN=Sales,{groups}"], "May connect to the VPN"))
    blocks.append(group("VPN-Admins", [person("adupont")], "Administer the VPN"))
    blocks.append(group("Finance", [person("erossi")], "Finance department"))
    for name, days_ago in (("WS-0001", 200), ("WS-0002", 1)):
        blocks.append(
            f"dn: CN={name},OU=Computers-Old,{base_dn}\nobjectClass: computer\nsAMAccountName: {name}$\n"
            f"userAccountControl: 4096\noperatingSystem: Windows 10 Enterprise\n"
            f"lastLogonTimestamp: {filetime(days_ago)}\n"
        )
    return "\n".join(blocks)
