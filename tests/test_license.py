"""Every distribution ships the project's license: the Apache License 2.0 at the top of the
repository, copied into each project folder (a wheel can only take files from its own
folder) and named in its pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LICENSE = ROOT / "LICENSE"
PROJECTS = sorted(
    [ROOT / "shared", ROOT / "shared" / "testkit", *(p.parent for p in ROOT.glob("packs/*/pyproject.toml"))]
)


def test_the_top_license_is_the_apache_license_2() -> None:
    text = LICENSE.read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text


def test_every_project_is_found() -> None:
    assert ROOT / "shared" in PROJECTS and len(PROJECTS) > 1


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_each_project_ships_the_same_license(project: Path) -> None:
    copy = project / "LICENSE"
    assert copy.is_file(), f"{copy.relative_to(ROOT)} is missing: copy the top LICENSE there"
    assert copy.read_bytes() == LICENSE.read_bytes(), f"{copy.relative_to(ROOT)} differs from the top LICENSE"
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "Apache-2.0"
    assert meta["license-files"] == ["LICENSE"]
    # PEP 639: the license expression replaces the License :: classifiers (an index may refuse both)
    assert not [c for c in meta.get("classifiers", []) if c.startswith("License ::")]
