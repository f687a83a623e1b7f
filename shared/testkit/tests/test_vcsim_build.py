"""build_vcsim's cache: a changed vcsim_main.go is a new binary, an unchanged one is reused.

A stand-in ``go`` (a shell script first on PATH) "builds" by copying the source to the
output, so these tests need neither Go nor govmomi and see exactly what was built.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from opspack_testkit.servers import vcsim

FAKE_GO = """#!/bin/sh
if [ "$1" = version ]; then echo "go version go0.0-fake linux/amd64"; exit 0; fi
# go build -o <out> <source>
echo built >> "{log}"
cp "$4" "$3" && chmod +x "$3"
"""


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of vcsim_main.go that build_vcsim builds, with a stand-in go and GOPATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(FAKE_GO.format(log=tmp_path / "builds.log"))
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    gopath = tmp_path / "gopath"
    stamp = gopath / "src/github.com/vmware/govmomi/simulator/simulator.go"
    stamp.parent.mkdir(parents=True)
    stamp.write_text("package simulator\n")
    main_go = tmp_path / "src" / "vcsim_main.go"
    main_go.parent.mkdir()
    main_go.write_text(vcsim.MAIN_GO.read_text())
    monkeypatch.setattr(vcsim, "MAIN_GO", main_go)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")  # this go first
    monkeypatch.setenv("OPSPACK_GOPATH", str(gopath))
    monkeypatch.delenv("OPSPACK_VCSIM_BIN", raising=False)
    return main_go


def builds(tmp_path: Path) -> int:
    log = tmp_path / "builds.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_changed_source_is_built_again_and_an_unchanged_one_reused(source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = vcsim.build_vcsim(cache)
    assert first.read_text() == source.read_text() and builds(tmp_path) == 1
    assert vcsim.build_vcsim(cache) == first and builds(tmp_path) == 1  # cached

    original = source.read_text()
    source.write_text(original + "// one more line\n")
    changed = vcsim.build_vcsim(cache)
    assert changed != first and changed.parent.parent == cache and builds(tmp_path) == 2
    assert changed.read_text().endswith("// one more line\n")

    source.write_text(original)  # back to the first source: its binary is still there
    assert vcsim.build_vcsim(cache) == first and builds(tmp_path) == 2


def test_another_govmomi_is_built_again(source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = vcsim.build_vcsim(cache)
    stamp = tmp_path / "gopath/src/github.com/vmware/govmomi/simulator/simulator.go"
    stamp.write_text("package simulator // 0.24.3\n")
    assert vcsim.build_vcsim(cache) != first and builds(tmp_path) == 2
