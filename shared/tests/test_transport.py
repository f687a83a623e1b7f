"""Translating requests' transport failures (real requests against loopback servers)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests
from opspack.errors import BackendError, CommandTimeout, ConfigError
from opspack.transport import translate_requests_error
from opspack_testkit.tls import TestCA, TLSServer


def _translate(exc: BaseException) -> object:
    return translate_requests_error(exc, service="Grafana", pack="grafana", url_example="https://g.example")


def _raised(call: object) -> BaseException:
    try:
        call()  # type: ignore[operator]
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("no exception")


def test_refused_connection_is_a_retryable_backend_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    err = _translate(_raised(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=5)))
    assert isinstance(err, BackendError) and err.retryable
    assert err.message.startswith("Cannot reach Grafana") and "OPSPACK_GRAFANA_URL" in (err.hint or "")


def test_untrusted_certificate_names_the_ca_setting(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    with TLSServer(ca.issue("srv", ["127.0.0.1"])) as server:
        err = _translate(_raised(lambda: requests.get(f"https://127.0.0.1:{server.port}/", timeout=5)))
    assert isinstance(err, ConfigError) and "OPSPACK_GRAFANA_CA_FILE" in (err.hint or "")


def test_timeout_and_bad_urls() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        err = _translate(_raised(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=0.3)))
    finally:
        listener.close()
    assert isinstance(err, CommandTimeout)
    bad = _translate(_raised(lambda: requests.get("grafana.example.com/api", timeout=1)))
    assert isinstance(bad, ConfigError) and "https://g.example" in (bad.hint or "")


@pytest.mark.parametrize("exc", [ValueError("x"), OSError("y")])
def test_other_exceptions_are_not_ours(exc: BaseException) -> None:
    assert _translate(exc) is None
