"""opspack's test kit: what the tests of the core and of every pack share.

Installed with the ``opspack-testkit`` distribution (a pack's ``test`` extra), which also
registers :mod:`opspack_testkit.pytest_plugin` with pytest.

- :func:`free_port`, :func:`wait_for_port`: loopback ports for servers tests start;
  :func:`stop_process` stops one.
- :func:`need`: skip on a laptop, fail under CI (``CI=true``), when a server is missing.
- :func:`run_command` and :func:`check_rendering`: run a command through the real
  runtime from registry data, and render its reply in every format with the
  platform validators (slack_sdk block models, the result JSON Schema).
- :mod:`opspack_testkit.fakes`: fake vendor servers on loopback (GitLab, Jenkins,
  Grafana, NetScaler ...) for vendors that cannot run here; real client libraries
  talk real HTTP to them.
- :mod:`opspack_testkit.servers`: launchers of real servers and simulators (vcsim,
  OpenBao, PostgreSQL, MariaDB, Redis, network switches, Prometheus and Alertmanager)
  in a temporary folder on a free loopback port.
- :mod:`opspack_testkit.validate`, :mod:`opspack_testkit.cards`,
  :mod:`opspack_testkit.tls`: output validators, the Adaptive Cards parser, test
  certificates.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import Any


def in_ci() -> bool:
    """Whether the tests run under CI (``CI`` is 1, true or yes)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip the test with ``reason`` unless under CI, where a missing server fails it."""
    if condition:
        return
    import pytest

    if in_ci():
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    """Return once ``host:port`` accepts a TCP connection; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:g} s")


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """SIGTERM a process the tests started, wait ``timeout`` seconds, then SIGKILL it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_command(
    text: str,
    *,
    registry: Any = None,
    confirmed: bool = False,
    profile: str | None = None,
    environ: dict[str, str] | None = None,
    runtime: Any = None,
) -> Any:
    """Run chat ``text`` as a front-end would: through the gateway (``help`` and ``confirm``
    included) and the real runtime (registry from installed packs)."""
    from opspack.context import Caller
    from opspack.frontends.gateway import Gateway
    from opspack.registry import Registry
    from opspack.runtime import Runtime
    from opspack.settings import Config

    if runtime is None:
        config = Config.load(environ=environ if environ is not None else dict(os.environ))
        runtime = Runtime(registry or Registry.from_installed(), config=config, audit=None)
    caller = Caller(user="test", frontend="test", confirmed=confirmed, profile=profile)
    return Gateway(runtime).chat(text, caller)


def check_rendering(reply: Any) -> dict[str, Any]:
    """Render ``reply`` in every format and validate each; return the renderings."""
    from opspack.renderers import FORMATS, render

    from opspack_testkit.validate import validate_reply_json, validate_slack_messages

    out = {fmt: render(reply, fmt) for fmt in FORMATS}
    validate_reply_json(out["json"])
    validate_slack_messages(out["slack"])
    for fmt in ("slack", "teams", "mattermost"):
        assert isinstance(out[fmt], list) and out[fmt], f"{fmt} rendered nothing"
    assert isinstance(out["text"], str) and isinstance(out["markdown"], str)
    return out
