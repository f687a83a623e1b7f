"""The command-tests gate: a command that no test invokes is named, with where its test goes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opspack.devtools import tested


def command(cid: str, words: list[str], aliases: list[str] | None = None) -> dict[str, object]:
    return {
        "id": cid,
        "pack": {"name": cid.split(".")[0]},
        "chat": {"words": words, "aliases": aliases or [], "examples": [" ".join(words) + " --path /tmp"]},
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    commands = [
        command("disk.disk.top", ["disk", "top"]),
        command("disk.disk.usage", ["disk", "usage"], aliases=["du"]),
        command("disk.disk.clean", ["disk", "clean"]),
        command("core.history.show", ["history"]),
    ]
    (tmp_path / "registry.json").write_text(json.dumps({"packs": [], "commands": commands}))
    (tmp_path / "packs/disk/tests").mkdir(parents=True)
    (tmp_path / "shared/tests").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    return tmp_path


def test_an_untested_command_is_named_with_the_fix(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "packs/disk/tests/test_disk.py").write_text(
        '"""disk clean --all: a docstring invokes nothing."""\n'
        "def test_top(path):\n"
        '    run_command(f"disk  TOP --path {path}")\n'
        '    run_command("help disk clean")\n'
        "@pytest.mark.parametrize('text', ['du -h'])\n"
        "def test_usage(text): ...\n"
    )
    (root / "shared/tests/test_core.py").write_text('def test_history():\n    invoke("core.history.show", {})\n')
    (root / "tests/test_cross.py").write_text('def test_clean():\n    run_command("disk clean")\n')  # not its pack's
    assert [c["id"] for c in tested.untested(root)] == ["disk.disk.clean"]
    assert tested.problems(root) == [
        "disk.disk.clean (`disk clean`): no test invokes it. Fix: add a test to packs/disk/tests/ that runs it, "
        'e.g. run_command("disk clean --path /tmp", registry=registry, environ={...}), and checks its reply.'
    ]
    assert tested.main([str(root)]) == 1
    assert "1 command(s) without a test" in capsys.readouterr().err
    (root / "shared/tests/test_core.py").write_text('def test_history():\n    run_command("history")\n')
    (root / "packs/disk/tests/test_clean.py").write_text('def test_clean():\n    chat("disk clean")\n')
    (root / "packs/disk/tests/broken.py").write_text("this is not python (\n")
    assert tested.untested(root) == []
    assert tested.main([str(root)]) == 0
    assert "every one of the 4 commands" in capsys.readouterr().out
