"""Network probes: DNS, TCP connect, HTTP(S) request and TLS certificate, timed.

Standard library only. Each probe returns a :class:`Probe` and never raises for a
network failure: a failure is a probe with ``ok=False`` and the reason.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Probe:
    ok: bool
    detail: str
    latency_ms: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


def split_host_port(target: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` → (host, port)."""
    target = target.strip()
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    if target.count(":") == 1:
        host, port = target.split(":")
        return host, int(port)
    return target, default_port


def resolve(host: str) -> Probe:
    start = time.perf_counter()
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return Probe(False, f"does not resolve ({exc.args[-1] if exc.args else exc})")
    ms = (time.perf_counter() - start) * 1000
    addresses = list(dict.fromkeys(str(i[4][0]) for i in infos))
    return Probe(True, ", ".join(addresses[:4]) + (" ..." if len(addresses) > 4 else ""), ms, {"addresses": addresses})


def tcp_connect(address: str, port: int, timeout: float) -> Probe:
    start = time.perf_counter()
    try:
        with socket.create_connection((address, port), timeout=timeout):
            pass
    except TimeoutError:
        return Probe(False, f"no answer within {timeout:g} s")
    except ConnectionRefusedError:
        return Probe(False, "connection refused")
    except OSError as exc:
        return Probe(False, exc.strerror or str(exc))
    return Probe(True, "open", (time.perf_counter() - start) * 1000)


def _context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file or None)


def http_get(url: str, timeout: float, verify: bool, ca_file: str | None = None) -> Probe:
    context = _context(ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(  # noqa: S310 - the command accepts only http(s) URLs
        url, method="GET", headers={"User-Agent": "opspack-server/0.1"}
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:  # noqa: S310
            status = int(resp.status)
            resp.read(65536)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return Probe(False, f"TLS verification failed: {reason.verify_message}")
        return Probe(False, str(reason.strerror if isinstance(reason, OSError) and reason.strerror else reason))
    except TimeoutError:
        return Probe(False, f"no answer within {timeout:g} s")
    except (OSError, ValueError) as exc:
        return Probe(False, str(exc))
    ms = (time.perf_counter() - start) * 1000
    return Probe(status < 400, f"HTTP {status}", ms, {"status": status})


def _decode_der(der: bytes) -> dict[str, Any]:
    """Decode a DER certificate with the ssl module's own decoder."""
    pem = ssl.DER_cert_to_PEM_cert(der)
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(pem)
        decoded: dict[str, Any] = ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]
        return decoded
    finally:
        os.unlink(path)


def _name(parts: Any) -> str:
    return ", ".join(f"{k}={v}" for rdn in parts for k, v in rdn)


@dataclass
class CertInfo:
    subject: str
    issuer: str
    sans: list[str]
    not_before: dt.datetime
    not_after: dt.datetime
    verified: bool
    verify_error: str | None
    protocol: str | None
    serial: str

    @property
    def days_left(self) -> int:
        return (self.not_after - dt.datetime.now(dt.UTC)).days


def fetch_cert(
    host: str, port: int, timeout: float, server_name: str | None = None, ca_file: str | None = None
) -> CertInfo:
    """Connect, verify the chain and host name, and decode the peer certificate.

    Raises OSError when nothing speaks TLS there."""
    sni = server_name or host
    verify_error: str | None = None
    verified = False
    der: bytes | None = None
    protocol: str | None = None
    ctx = _context(ca_file)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=sni) as tls:
                der = tls.getpeercert(binary_form=True)
                protocol = tls.version()
                verified = True
    except ssl.SSLCertVerificationError as exc:
        verify_error = exc.verify_message or str(exc)
    if der is None:
        loose = ssl.create_default_context()
        loose.check_hostname = False
        loose.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with loose.wrap_socket(sock, server_hostname=sni) as tls:
                der = tls.getpeercert(binary_form=True)
                protocol = tls.version()
    if der is None:
        raise OSError("the server sent no certificate")
    info = _decode_der(der)
    fmt = "%b %d %H:%M:%S %Y %Z"
    return CertInfo(
        subject=_name(info.get("subject", ())),
        issuer=_name(info.get("issuer", ())),
        sans=[f"{kind}:{value}" for kind, value in info.get("subjectAltName", ())],
        not_before=dt.datetime.strptime(info["notBefore"], fmt).replace(tzinfo=dt.UTC),
        not_after=dt.datetime.strptime(info["notAfter"], fmt).replace(tzinfo=dt.UTC),
        verified=verified,
        verify_error=verify_error,
        protocol=protocol,
        serial=str(info.get("serialNumber", "")),
    )
