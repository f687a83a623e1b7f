"""Secrets never leak, across every installed pack.

A known canary is put in every secret setting (and in the password of every URL
setting); every command of every pack then runs, confirmed, against backends that
fail in the ways packs handle: a server that answers 401 and 500 while echoing the
request (headers, query, body) back in its error pages, and a closed port. The
canary must appear in no rendered reply, in no format, and in no log record.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from opspack.context import Caller
from opspack.registry import Registry
from opspack.renderers import FORMATS, render
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.http import FakeHTTPServer, Request, Response

CANARY = "cAnArY-7f3e9b21-sEcReT"
FORMS = (CANARY, base64.b64encode(CANARY.encode()).decode(), CANARY.lower())


def hostile(status: int) -> FakeHTTPServer:
    """Answers everything with ``status`` and a body echoing the whole request."""
    fake = FakeHTTPServer()

    def echo(req: Request) -> Response | None:
        body = {
            "message": f"request refused: headers={req.headers} query={req.query}",
            "errorcode": status,
            "severity": "ERROR",
            "echo": req.body.decode("utf-8", "replace"),
            "error": f"denied for {req.headers.get('authorization', '')}",
        }
        return Response.json(body, status)

    fake.before.append(echo)
    return fake


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def settings_env(registry: Registry, base_url: str) -> dict[str, str]:
    """Every pack's settings: the canary in secrets, URLs pointing at ``base_url``."""
    env: dict[str, str] = {"VAULT_ADDR": base_url, "VAULT_TOKEN": CANARY}
    host_port = base_url.split("://", 1)[1]
    for pack in registry.packs:
        for s in pack["settings"]:
            name, var = s["name"], s["env"]
            if s["secret"]:
                env[var] = CANARY
            elif name in ("url", "addr", "netbox_url"):
                if pack["name"] == "sql":
                    env[var] = f"postgresql://canary:{CANARY}@{host_port}/app"
                elif pack["name"] == "vmware":
                    env[var] = f"{base_url}/sdk"
                else:
                    env[var] = base_url
            elif name in ("user", "username"):
                env[var] = "canary-user"
            elif name in ("timeout", "connect_timeout", "statement_timeout"):
                env[var] = "3"
    return env


def sample_args(entry: dict[str, Any]) -> dict[str, Any]:
    """The smallest arguments the command accepts (no canary in them)."""
    schema = entry["args_schema"]
    args: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        kind = prop.get("type", "string")
        if "enum" in prop:
            args[name] = prop["enum"][0]
        elif kind == "integer":
            args[name] = 1
        elif kind == "number":
            args[name] = 1.0
        elif kind == "boolean":
            args[name] = False
        elif kind == "array":
            args[name] = ["show version"]
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = "web01"
    return args


@pytest.fixture(params=["401", "500", "closed"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "closed":
        yield f"http://127.0.0.1:{closed_port()}"
        return
    with hostile(int(request.param)) as fake:
        yield fake.url


def test_the_canary_never_appears(backend: str, caplog: pytest.LogCaptureFixture, tmp_path: Any) -> None:
    registry = Registry.from_installed()
    env = settings_env(registry, backend)
    inventory = tmp_path / "devices.yaml"
    port = backend.rsplit(":", 1)[1]
    inventory.write_text(
        f"defaults: {{username: canary-user, password: {CANARY}, secret: {CANARY}}}\n"
        f"devices:\n  - {{name: web01, host: 127.0.0.1, port: {port}, platform: cisco_ios}}\n"
    )
    env["OPSPACK_NETWORK_INVENTORY"] = str(inventory)
    env["OPSPACK_NETWORK_KNOWN_HOSTS"] = str(tmp_path / "known_hosts")
    runtime = Runtime(registry, config=Config(data={}, environ=env), audit=None)
    caller = Caller(user="canary-test", confirmed=True)
    answered = 0
    with caplog.at_level(logging.DEBUG):
        for entry in registry:
            if entry["pack"]["name"] == "core":
                continue
            reply = runtime.invoke(entry["id"], sample_args(entry), caller)
            answered += 1
            for fmt in FORMATS:
                out = render(reply, fmt)
                text = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False)
                for form in FORMS:
                    assert form not in text, f"{entry['id']} leaked the canary in {fmt}: {text[:500]}"
    runtime.close()
    assert answered > 10
    for record in caplog.records:
        message = record.getMessage() + (record.exc_text or "")
        for form in FORMS[:1]:
            assert form not in message, f"log record leaked the canary: {message[:500]}"


# -- canaries in arguments: none reaches the audit database's files ---------------------------
def _marker(n: int) -> str:
    """A canary's own mark: in the database's bytes only if that canary was stored."""
    return f"CANARY{n:02d}X7F3E9B2"


#: one canary per shape of secret argument, each carrying its own mark (its number)
CANARIES: dict[str, str] = {
    "SIGNING_KEY in a mapping": f"sign-{_marker(1)}",
    "SSH_KEY in a mapping": f"ssh-{_marker(2)}",
    "DB_PASSWORD in a mapping": f"db-{_marker(3)}",
    "apiKey in a mapping, by id": f"api-{_marker(4)}",
    "a declared secret in chat": f"combo-{_marker(5)}",
    "a declared secret by id": f"combo-{_marker(6)}",
    "a GitHub token in free text": "ghp_" + _marker(7) + "a1B2c3D4e5F6g7H8i9J0",
    "a JSON Web Token in free text": "eyJhbGciOiJIUzI1NiJ9.eyJ"
    + _marker(8)
    + "In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU",
    "a PEM private key in free text": (
        f"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA{_marker(9)}\n-----END RSA PRIVATE KEY-----"
    ),
    "an AWS key id in free text": "AKIA" + _marker(10),
    "a Slack token in free text": f"xoxb-1234567890-{_marker(11)}",
    "a GitLab token in a build parameter": f"glpat-{_marker(12)}",
    "a Vault token in friction": f"hvs.{_marker(13)}AbCdEf",
    "a bearer token in friction": f"{_marker(14)}-bearer",
    "a Grafana token as a friction tag": f"glsa_{_marker(15)}_0a1b2c3d",
    "DB_PASSWORD in a refused chat text": f"refused-{_marker(16)}",
    "a declared secret in a refused chat text": f"refused-{_marker(17)}",
    "--api-key in a refused chat text": f"flag-{_marker(18)}",
    "a declared secret of the wrong type": f"typed-{_marker(19)}",
    "a waiting approval's secret parameter": f"approve-{_marker(20)}",
}

POLICY = """
[users]
al = ["ops"]
ca = ["leads"]

[roles.ops]
allow = ["*"]

[roles.leads]
allow = ["*.read"]

[approvals]
"jenkins.build.start" = ["leads"]
"""


def test_no_canary_argument_reaches_the_audit_database(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Commands run with a canary in every shape of secret argument (named like a secret at
    any depth, declared secret, looking like a secret in free text, in refused text, in an
    approval and a confirmation waiting in the pending store, in friction notes); then the
    raw bytes of the SQLite files (database, WAL, shared memory) hold none of them, and no
    log record does."""
    from opspack.audit import AuditLog
    from opspack.devtools.registry_build import registry_from_package
    from opspack.frontends.gateway import Gateway
    from opspack.policy import Policy
    from opspack_testkit.fakes.jenkins import FakeJenkins, string

    c = CANARIES
    fake = FakeJenkins()
    names = ["SIGNING_KEY", "SSH_KEY", "DB_PASSWORD", "apiKey", "NOTE", "ENV"]
    fake.add_job("deploy", params=[string(n) for n in names], script=["Deploying", "Deployed."])
    installed = Registry.from_installed()
    echo = registry_from_package("opspack_echo", "0.0.1")
    registry = Registry(packs=[*installed.packs, *echo.packs], commands=[*installed.commands, *echo.commands])
    database = tmp_path / "audit.db"
    with fake:
        env = {
            "OPSPACK_JENKINS_URL": fake.url,
            "OPSPACK_JENKINS_USER": "alice",
            "OPSPACK_JENKINS_TOKEN": "alice-api-token-0123",
            "OPSPACK_JENKINS_POLL_INTERVAL": "0",
        }
        runtime = Runtime(
            registry,
            config=Config(data={}, environ=env),
            policy=Policy.from_toml(POLICY),
            audit=AuditLog(f"sqlite:///{database}"),
        )
        gateway = Gateway(runtime)
        al, ca = Caller(user="al"), Caller(user="ca")
        with caplog.at_level(logging.DEBUG):
            # named like secrets in a mapping: an approval request, approved by a second person
            asked = gateway.chat(
                f"jenkins build deploy SIGNING_KEY={c['SIGNING_KEY in a mapping']} "
                f"SSH_KEY={c['SSH_KEY in a mapping']} DB_PASSWORD={c['DB_PASSWORD in a mapping']} "
                f"NOTE={c['a GitLab token in a build parameter']} ENV=prod",
                al,
            )
            assert asked.error is not None and asked.error.confirm is not None and asked.error.confirm.token
            approved = gateway.chat(f"confirm {asked.error.confirm.token}", ca)
            assert approved.ok, approved.to_dict()
            assert fake.jobs["deploy"].builds[-1].params["SIGNING_KEY"] == c["SIGNING_KEY in a mapping"]
            # by id with typed arguments: its approval is left waiting in the pending store
            params = {
                "apiKey": c["apiKey in a mapping, by id"],
                "DB_PASSWORD": c["a waiting approval's secret parameter"],
            }
            waiting = gateway.invoke("jenkins.build.start", {"job": "deploy", "params": params}, al)
            assert waiting.error is not None and waiting.error.confirm is not None and waiting.error.confirm.token
            # a declared secret: one confirmation answered, one left waiting, one of the wrong type
            opened = gateway.chat(f"lock open front {c['a declared secret in chat']}", al)
            assert opened.error is not None and opened.error.confirm is not None
            assert gateway.chat(f"confirm {opened.error.confirm.token}", al).ok
            left = gateway.invoke("echo.lock.open", {"door": "back", "combination": c["a declared secret by id"]}, al)
            assert left.error is not None and left.error.confirm is not None and left.error.confirm.token
            typed = [c["a declared secret of the wrong type"]]
            wrong = gateway.invoke("echo.lock.open", {"door": "back", "combination": typed}, al)
            assert wrong.error is not None and wrong.error.kind == "usage"
            # looking like secrets in free text
            for label in [k for k in c if k.endswith("in free text")]:
                said = gateway.invoke("echo.msg.say", {"text": f"here: {c[label]} (pasted)"}, al)
                assert said.ok and "(pasted)" in said.to_dict()["results"][0]["text"]
            # friction notes
            noted = gateway.chat(
                f"friction add the token {c['a Vault token in friction']} and "
                f"'Bearer {c['a bearer token in friction']}' --tag {c['a Grafana token as a friction tag']}",
                al,
            )
            assert noted.ok, noted.to_dict()
            # refused before the arguments are read
            for text in (
                f"jenkins build deploy DB_PASSWORD={c['DB_PASSWORD in a refused chat text']} --bogus",
                f"lock open front {c['a declared secret in a refused chat text']} --bogus",
                f"echo hello --api-key {c['--api-key in a refused chat text']}",
            ):
                refused = gateway.chat(text, al)
                assert refused.error is not None and refused.error.kind == "usage", refused.to_dict()
        assert runtime.audit is not None
        runtime.audit.flush()
        # while it is open (the write-ahead log holds the latest pages), then once closed
        live = sorted(p for p in tmp_path.iterdir() if p.name.startswith("audit.db"))
        data = b"".join(p.read_bytes() for p in live)
        runtime.close()
    files = sorted({*live, *(p for p in tmp_path.iterdir() if p.name.startswith("audit.db"))})
    assert database in files and tmp_path / "audit.db-wal" in live
    data += b"".join(p.read_bytes() for p in files if p.exists())
    assert b"opspack_confirmations" in data and b"opspack_friction" in data
    found = [label for n, label in enumerate(c, start=1) if _marker(n).encode() in data]
    print(
        f"\ncanaries found in the audit database files ({', '.join(p.name for p in files)}): {len(found)} of {len(c)}"
    )
    assert found == [], f"stored in the audit database: {found}"
    for record in caplog.records:
        message = record.getMessage() + (record.exc_text or "")
        leaked = [label for n, label in enumerate(c, start=1) if _marker(n) in message]
        assert not leaked, f"log record leaked {leaked}: {message[:500]}"
