"""`opspack list` and `opspack help` with every pack installed fit the terminal's columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opspack.renderers.common import display_width


def opspack(tmp_path: Path, columns: int, *args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env.update(COLUMNS=str(columns), XDG_DATA_HOME=str(tmp_path), PYTHONIOENCODING="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "opspack.frontends.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("columns", [80, 60])
@pytest.mark.parametrize("args", [["list"], ["help"], ["help", "vm", "list"], ["help", "search", "power"]])
def test_list_and_help_fit_columns(tmp_path: Path, columns: int, args: list[str]) -> None:
    lines = opspack(tmp_path, columns, *args)
    assert len(lines) > 3
    wide = [line for line in lines if display_width(line) > columns]
    assert not wide, wide


def test_without_columns_on_a_pipe_nothing_is_cut(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS" and not k.startswith("OPSPACK_")}
    out = subprocess.run(
        [sys.executable, "-m", "opspack.frontends.cli", "list"],
        env={**env, "XDG_DATA_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "…" not in out and "vm list [--cluster CLUSTER] [--host HOST] [--folder FOLDER]" in out


def test_completion_reads_the_registry_without_importing_a_pack() -> None:
    """`opspack __complete` (what the bash and zsh scripts ask) with every pack installed:
    chat words and options come from registry data; no pack module is imported."""
    program = (
        "import sys\n"
        "from opspack.frontends.cli import main\n"
        "main(['__complete', 'run', '--', 'vm', ''])\n"
        "main(['__complete', 'run', '--', 'vm', 'list', '--cl'])\n"
        "print('imported:', sorted(m for m in sys.modules if m.startswith('opspack_')))\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.splitlines()
    assert {"list", "power-off", "snapshot"} <= set(lines)
    assert "--cluster" in lines
    assert lines[-1] == "imported: []"
