"""`opspack new-pack` in a fresh clone: the new pack's nox session and the registry check
pass without editing a file. Slow (it runs nox, which makes virtualenvs): integration only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from opspack_testkit import need

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "OPSPACK_CHANGED_SINCE")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)


@pytest.mark.slow
def test_new_pack_is_green_as_created(tmp_path: Path) -> None:
    need(shutil.which("git") is not None, "git is needed to clone the repository")
    nox = shutil.which("nox")
    has_nox = nox is not None or _run([sys.executable, "-m", "nox", "--version"], ROOT).returncode == 0
    need(has_nox, "nox is needed (pip install nox uv)")
    clone = tmp_path / "repo"
    proc = _run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    # the files of this checkout, committed or not, as a reviewer's merge would have them
    for rel in ("shared", "noxfile.py", "registry.json", "ruff.toml", "mypy.ini"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, clone / rel, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, clone / rel)

    created = _run([sys.executable, "-m", "opspack.frontends.cli", "new-pack", "pingdemo", "--root", str(clone)], clone)
    assert created.returncode == 0, created.stderr
    assert "Next:" in created.stdout and "3. " in created.stdout
    assert '"pingdemo.example.hello"' in (clone / "registry.json").read_text()
    # the new distribution ships the project's license like every other one
    assert (clone / "packs" / "pingdemo" / "LICENSE").read_bytes() == (clone / "LICENSE").read_bytes()

    nox_cmd = [nox] if nox else [sys.executable, "-m", "nox"]
    result = _run([*nox_cmd, "-s", "tests(pingdemo)", "registry"], clone)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "5 passed" in result.stdout + result.stderr
