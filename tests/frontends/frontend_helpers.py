"""Helpers the front-end tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Runner:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path
