"""``server test`` and ``server cert``: the checks people run before and after a change."""

from __future__ import annotations

import socket
import ssl
from typing import Annotated
from urllib.parse import urlsplit

from opspack import KV, BackendError, Context, MaxItems, Result, Status, Table, UsageError, command, worst
from opspack.results import Level

from opspack_server import probes


def _cert_level(ctx: Context, days: int, verified: bool) -> Level:
    if not verified or days <= int(ctx.settings["cert_critical_days"]):
        return "critical"
    if days <= int(ctx.settings["cert_warning_days"]):
        return "warning"
    return "ok"


#: the most ports one `server test` tries: each may take connect_timeout (3 s), within its 120 s
MAX_PORTS = 32


def _ms(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


@command(
    group="host",
    verb="test",
    words=["server", "test"],
    examples=[
        "server test web01.example.com",
        "server test db1 --ports 22,5432",
        "server test web01 --url https://web01/health",
    ],
    timeout=120,
)
def host_test(
    ctx: Context,
    host: str,
    *,
    ports: Annotated[list[int] | None, MaxItems(MAX_PORTS)] = None,
    url: str | None = None,
) -> list[Result]:
    """Test a server: DNS, TCP ports, HTTP(S) status and TLS certificate, one status each.

    Each check is a row with its latency; the overall status is the worst of them.
    Run it before and after a change to see what the change did.

    Args:
        host: the host name or IP address to test
        ports: TCP ports to connect to (comma-separated, at most 32; default: the pack's default_ports)
        url: an http(s) URL to request; its certificate is checked too when it is https
    """
    timeout = float(ctx.settings["connect_timeout"])
    verify = bool(ctx.settings["verify_tls"])
    if ports is None:
        try:
            ports = [int(p) for p in str(ctx.settings["default_ports"]).split(",") if p.strip()]
        except ValueError:
            raise UsageError("setting default_ports must be comma-separated port numbers") from None
    bad = [p for p in ports if not 0 < p < 65536]
    if bad:
        raise UsageError(f"ports: got {bad[0]}, expected a port number from 1 to 65535")
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise UsageError(f"url: got {url!r}, expected an http:// or https:// URL")

    rows: list[list[object]] = []
    levels: list[Level] = []

    def row(check: str, target: str, probe: probes.Probe, level: Level | None = None) -> None:
        rows.append([check, target, probe.detail, _ms(probe.latency_ms)])
        levels.append(level or ("ok" if probe.ok else "critical"))

    dns = probes.resolve(host)
    row("dns", host, dns)
    open_ports: set[int] = set()
    if dns.ok:
        address = dns.data["addresses"][0]
        for port in ports:
            probe = probes.tcp_connect(address, port, timeout)
            row("tcp", f"{address}:{port}", probe)
            if probe.ok:
                open_ports.add(port)
    else:  # the requested ports stay in the report: none of them could be tried
        for port in ports:
            rows.append(["tcp", f"{host}:{port}", f"not tried: {host} does not resolve", None])
            levels.append("unknown")
    if url is not None:
        http = probes.http_get(url, timeout, verify, ctx.settings["ca_file"])
        level: Level = "ok" if http.ok else "critical"
        if not http.ok and 400 <= http.data.get("status", 0) < 500:
            level = "warning"
        row("http", url, http, level)
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            _cert_row(ctx, parts.hostname, parts.port or 443, rows, levels)
    elif 443 in open_ports:
        _cert_row(ctx, host, 443, rows, levels)

    table = Table(
        columns=["check", "target", "result", "latency_ms"],
        rows=rows,  # type: ignore[arg-type]
        row_status=levels,
        title=f"server test {host}",
    )
    overall = worst(levels)
    failed = sum(1 for lv in levels if lv != "ok")
    message = f"all {len(levels)} checks passed" if not failed else f"{failed} of {len(levels)} checks need attention"
    return [table, Status(overall, message, title=host)]


def _cert_row(ctx: Context, host: str, port: int, rows: list[list[object]], levels: list[Level]) -> None:
    timeout = float(ctx.settings["connect_timeout"])
    try:
        cert = probes.fetch_cert(host, port, timeout, ca_file=ctx.settings["ca_file"])
    except (OSError, ssl.SSLError) as exc:
        rows.append(["tls", f"{host}:{port}", f"no TLS: {exc}", None])
        levels.append("critical")
        return
    days = cert.days_left
    detail = f"{days} days left" if days >= 0 else f"expired {-days} days ago"
    if not cert.verified:
        detail += f"; not trusted: {cert.verify_error}"
    rows.append(["tls", f"{host}:{port}", detail, None])
    levels.append(_cert_level(ctx, days, cert.verified))


@command(
    group="tls",
    verb="cert",
    words=["server", "cert"],
    examples=["server cert web01.example.com", "server cert mail.example.com:993"],
    timeout=60,
)
def cert(ctx: Context, target: str, *, servername: str | None = None) -> list[Result]:
    """Show a server's TLS certificate: subject, issuer, names, validity, days left, trust.

    Args:
        target: host or host:port (port 443 when not given)
        servername: the name to send in SNI and to verify (default: the host)
    """
    try:
        host, port = probes.split_host_port(target, 443)
    except ValueError:
        raise UsageError(f"target: got {target!r}, expected host or host:port") from None
    timeout = float(ctx.settings["connect_timeout"])
    try:
        info = probes.fetch_cert(host, port, timeout, servername, ctx.settings["ca_file"])
    except socket.gaierror:
        raise BackendError(f"{host} does not resolve", "Check the name, or give an IP address.") from None
    except TimeoutError:
        raise BackendError(f"{host}:{port} did not answer within {timeout:g} s") from None
    except ConnectionRefusedError:
        raise BackendError(f"{host}:{port} refused the connection", "Is the service listening on that port?") from None
    except (OSError, ssl.SSLError) as exc:
        raise BackendError(f"{host}:{port} did not complete a TLS handshake: {exc}") from None
    days = info.days_left
    kv = KV(
        {
            "subject": info.subject,
            "issuer": info.issuer,
            "names": info.sans,
            "not before": info.not_before.strftime("%Y-%m-%d %H:%M UTC"),
            "not after": info.not_after.strftime("%Y-%m-%d %H:%M UTC"),
            "days left": days,
            "chain": "trusted" if info.verified else f"NOT trusted: {info.verify_error}",
            "protocol": info.protocol,
            "serial": info.serial,
        },
        title=f"certificate of {host}:{port}",
    )
    level = _cert_level(ctx, days, info.verified)
    if days < 0:
        message = f"expired {-days} days ago"
    elif not info.verified:
        message = f"not trusted: {info.verify_error}"
    else:
        message = f"valid, {days} days left"
    return [kv, Status(level, message, title=f"{host}:{port}")]
