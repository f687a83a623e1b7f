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
