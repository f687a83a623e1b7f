"""`server test` and `server cert` against real listeners, HTTP and TLS servers on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from opspack.registry import Registry
from opspack_testkit import check_rendering, run_command
from opspack_testkit.tls import TestCA, TLSServer


def rows(reply: Any) -> list[tuple[str, str, str, str]]:
    """(check, target, result, level) for each row of the first table."""
    table = reply.to_dict()["results"][0]
    return [(r[0], r[1], r[2], lv) for r, lv in zip(table["rows"], table["row_status"], strict=True)]


def overall(reply: Any) -> tuple[str, str]:
    status = reply.to_dict()["results"][-1]
    return status["level"], status["message"]


def test_open_and_closed_ports(registry: Registry, tcp_port: int, closed_port: int) -> None:
    reply = run_command(f"server test 127.0.0.1 --ports {tcp_port},{closed_port}", registry=registry, environ={})
    assert reply.ok
    assert rows(reply) == [
        ("dns", "127.0.0.1", "127.0.0.1", "ok"),
        ("tcp", f"127.0.0.1:{tcp_port}", "open", "ok"),
        ("tcp", f"127.0.0.1:{closed_port}", "connection refused", "critical"),
    ]
    table = reply.to_dict()["results"][0]
    assert isinstance(table["rows"][1][3], float)  # latency measured
    assert overall(reply) == ("critical", "1 of 3 checks need attention")
    check_rendering(reply)


def test_all_checks_pass(registry: Registry, tcp_port: int) -> None:
    reply = run_command(f"server test localhost --ports {tcp_port}", registry=registry, environ={})
    assert overall(reply) == ("ok", "all 2 checks passed")


def test_http_status_and_latency(registry: Registry, http_server: str) -> None:
    port = http_server.rsplit(":", 1)[1]
    ok = run_command(f"server test 127.0.0.1 --ports {port} --url {http_server}/ok", registry=registry, environ={})
    assert rows(ok)[-1] == ("http", f"{http_server}/ok", "HTTP 200", "ok")
    missing = run_command(
        f"server test 127.0.0.1 --ports {port} --url {http_server}/missing", registry=registry, environ={}
    )
    assert rows(missing)[-1][2:] == ("HTTP 404", "warning")
    broken = run_command(
        f"server test 127.0.0.1 --ports {port} --url {http_server}/broken", registry=registry, environ={}
    )
    assert rows(broken)[-1][2:] == ("HTTP 500", "critical")
    assert overall(broken)[0] == "critical"


def test_dns_failure(registry: Registry) -> None:
    reply = run_command("server test no-such-host.invalid", registry=registry, environ={})
    dns, *ports = rows(reply)
    assert dns[0] == "dns" and dns[2].startswith("does not resolve") and dns[3] == "critical"
    assert all(p[0] == "tcp" and p[2].startswith("not tried") for p in ports)


def test_dns_failure_keeps_the_requested_ports(registry: Registry) -> None:
    """A name that does not resolve: each requested port is still in the report, marked not tried."""
    reply = run_command("server test web01.invalid --ports 22,443", registry=registry, environ={})
    assert rows(reply)[1:] == [
        ("tcp", "web01.invalid:22", "not tried: web01.invalid does not resolve", "unknown"),
        ("tcp", "web01.invalid:443", "not tried: web01.invalid does not resolve", "unknown"),
    ]
    assert rows(reply)[0][3] == "critical"
    assert overall(reply) == ("critical", "3 of 3 checks need attention")


def test_defaults_from_settings_and_bad_ports(registry: Registry, tcp_port: int) -> None:
    env = {"OPSPACK_SERVER_DEFAULT_PORTS": str(tcp_port)}
    reply = run_command("server test 127.0.0.1", registry=registry, environ=env)
    assert [r[1] for r in rows(reply)] == ["127.0.0.1", f"127.0.0.1:{tcp_port}"]
    bad = run_command("server test 127.0.0.1 --ports 0,70000", registry=registry, environ={})
    assert bad.error is not None and bad.error.kind == "usage" and "port number from 1 to 65535" in bad.error.message
    url = run_command("server test 127.0.0.1 --url ftp://x", registry=registry, environ={})
    assert url.error is not None and "expected an http:// or https:// URL" in url.error.message


def test_at_most_32_ports_at_once(registry: Registry, tcp_port: int) -> None:
    """Each port may take connect_timeout: a scan of many would outlast the command's timeout."""
    ports = ",".join(str(p) for p in range(1, 34))
    many = run_command(f"server test 127.0.0.1 --ports {ports}", registry=registry, environ={})
    assert many.error is not None and many.error.kind == "usage" and "(at most 32)" in many.error.message
    entry = registry.get("server.host.test")
    assert entry is not None and entry["args_schema"]["properties"]["ports"]["maxItems"] == 32
    enough = run_command(
        f"server test 127.0.0.1 --ports {','.join([str(tcp_port)] * 32)}", registry=registry, environ={}
    )
    assert enough.ok


def cert_reply(registry: Registry, port: int, ca: TestCA | None, extra: str = "") -> Any:
    env = {"OPSPACK_SERVER_CA_FILE": str(ca.ca_path)} if ca else {}
    return run_command(f"server cert 127.0.0.1:{port} {extra}", registry=registry, environ=env)


def test_cert_trusted_by_the_internal_ca(registry: Registry, ca: TestCA) -> None:
    with TLSServer(ca.issue("good", ["127.0.0.1", "web.test"], days=90)) as server:
        reply = cert_reply(registry, server.port, ca)
    assert reply.ok
    kv = reply.to_dict()["results"][0]["items"]
    assert kv["subject"] == "commonName=127.0.0.1"
    assert kv["issuer"] == "commonName=opspack test CA"
    assert kv["names"] == ["IP Address:127.0.0.1", "DNS:web.test"]
    assert kv["days left"] in (88, 89, 90)
    assert kv["chain"] == "trusted"
    assert overall(reply)[0] == "ok"
    check_rendering(reply)


def test_cert_from_an_unknown_ca_is_not_trusted(registry: Registry, ca: TestCA) -> None:
    with TLSServer(ca.issue("unknown", ["127.0.0.1"])) as server:
        reply = cert_reply(registry, server.port, None)
    level, message = overall(reply)
    assert level == "critical" and "not trusted" in message and "certificate" in message


def test_expired_cert(registry: Registry, ca: TestCA) -> None:
    with TLSServer(ca.issue("expired", ["127.0.0.1"], days=-3, days_ago=60)) as server:
        reply = cert_reply(registry, server.port, ca)
    kv = reply.to_dict()["results"][0]["items"]
    assert kv["days left"] < 0 and "NOT trusted" in kv["chain"]
    assert overall(reply) == ("critical", f"expired {-kv['days left']} days ago")


def test_wrong_host_cert(registry: Registry, ca: TestCA) -> None:
    with TLSServer(ca.issue("wronghost", ["other.example"])) as server:
        reply = cert_reply(registry, server.port, ca)
    level, message = overall(reply)
    assert (level == "critical" and "Hostname mismatch" in message) or "IP address mismatch" in message


def test_cert_expiring_soon_is_a_warning(registry: Registry, ca: TestCA) -> None:
    with TLSServer(ca.issue("soon", ["127.0.0.1"], days=12)) as server:
        reply = cert_reply(registry, server.port, ca)
    assert overall(reply)[0] == "warning"


def test_server_test_checks_the_certificate_of_an_https_url(registry: Registry, ca: TestCA) -> None:
    with TLSServer(ca.issue("https", ["127.0.0.1"], days=200)) as server:
        env = {"OPSPACK_SERVER_CA_FILE": str(ca.ca_path)}
        url = f"https://127.0.0.1:{server.port}/"
        reply = run_command(f"server test 127.0.0.1 --ports {server.port} --url {url}", registry=registry, environ=env)
    checks = rows(reply)
    assert [c[0] for c in checks] == ["dns", "tcp", "http", "tls"]
    assert checks[2][2:] == ("HTTP 200", "ok")
    assert checks[3][2].endswith("days left") and checks[3][3] == "ok"


def test_cert_errors_are_clear(registry: Registry, closed_port: int, tcp_port: int) -> None:
    refused = cert_reply(registry, closed_port, None)
    assert refused.error is not None and refused.error.kind == "backend"
    assert "refused the connection" in refused.error.message
    no_tls = cert_reply(registry, tcp_port, None)
    assert no_tls.error is not None and "TLS handshake" in no_tls.error.message
    unresolvable = run_command("server cert no-such-host.invalid", registry=registry, environ={})
    assert unresolvable.error is not None and "does not resolve" in unresolvable.error.message


@pytest.mark.parametrize("fmt", ["json"])
def test_cli_json_is_the_contract_object(tcp_port: int, fmt: str) -> None:
    """The issue's done-when: `opspack run --format json -- server test 127.0.0.1 --ports <port>`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "opspack.frontends.cli",
            "run",
            "--format",
            fmt,
            "--",
            "server",
            "test",
            "127.0.0.1",
            "--ports",
            str(tcp_port),
        ],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True and data["command"] == "server.host.test" and data["error"] is None
    table, status = data["results"]
    assert table["kind"] == "table" and table["columns"] == ["check", "target", "result", "latency_ms"]
    assert [r[:3] for r in table["rows"]] == [
        ["dns", "127.0.0.1", "127.0.0.1"],
        ["tcp", f"127.0.0.1:{tcp_port}", "open"],
    ]
    assert status == {"kind": "status", "title": "127.0.0.1", "level": "ok", "message": "all 2 checks passed"}
