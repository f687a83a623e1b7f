"""Helpers the front-end tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from opspack_testkit import stop_process, wait_for_port

HERE = Path(__file__).resolve().parent
ECHO = HERE / "echo_pack"
TOKEN = "test-token-0123456789"


def opspack_exe() -> str:
    exe = Path(sys.executable).with_name("opspack")
    return str(exe) if exe.exists() else "opspack"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for processes the tests start: no OPSPACK_* of the caller's, the echo pack."""
    keep = ("OPSPACK_CACHE", "OPSPACK_AUDIT_URL", "OPSPACK_SERVE_ARTIFACT_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_") or k in keep}
    env["PYTHONPATH"] = os.pathsep.join([str(ECHO), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


@contextlib.contextmanager
def listening(
    command: list[str],
    *,
    port: int,
    log: Path,
    env: dict[str, str],
    cwd: str | Path | None = None,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` started with its output in ``log``, once it listens on ``port``; stopped on
    exit. A process that never listens fails the test with its log."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for_port(port, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"{' '.join(command[:4])} ... did not start:\n" + log.read_text()) from None
        yield proc
    finally:
        stop_process(proc)


@dataclass
class Runner:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path
