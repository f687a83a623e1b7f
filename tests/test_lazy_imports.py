"""Listing, help and the registry never import a pack's code or its client library."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution, entry_points, packages_distributions

import pytest
from packaging.requirements import Requirement


def _client_modules() -> dict[str, str]:
    """Top-level import names of every installed pack's dependencies (but the core)."""
    by_dist: dict[str, list[str]] = {}
    for module, dists in packages_distributions().items():
        for d in dists:
            by_dist.setdefault(d.lower().replace("_", "-"), []).append(module)
    out: dict[str, str] = {}
    for ep in entry_points(group="opspack.packs"):
        dist = ep.dist
        assert dist is not None
        for req in dist.requires or []:
            r = Requirement(req)
            if r.marker is not None and "extra" in str(r.marker):
                continue
            name = r.name.lower().replace("_", "-")
            if name == "opspack":
                continue
            for module in by_dist.get(name, []):
                out[module] = f"{dist.metadata['Name']} needs {name}"
    return out


def _imported(args: list[str]) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "opspack.frontends.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["help"], ["help", "server", "test"]])
def test_listing_and_help_import_no_pack_code_and_no_client_library(args: list[str]) -> None:
    packs = [ep.name for ep in entry_points(group="opspack.packs")]
    assert "server" in packs
    imported = _imported(args)
    pack_code = sorted(m for m in imported if m.startswith("opspack_"))
    assert pack_code == [], f"`opspack {' '.join(args)}` imported pack code: {pack_code}"
    clients = _client_modules()
    leaked = sorted(f"{m} ({clients[m.split('.')[0]]})" for m in imported if m.split(".")[0] in clients)
    assert leaked == [], f"`opspack {' '.join(args)}` imported client libraries: {leaked}"
    assert "pydantic" not in imported, "listing should not even need the argument validator"


def test_every_installed_pack_is_listed() -> None:
    from opspack.registry import Registry

    registry = Registry.from_installed()
    assert registry.broken == []
    names = {p["name"] for p in registry.packs}
    assert names == {ep.name for ep in entry_points(group="opspack.packs")}
    for p in registry.packs:
        assert distribution(p["distribution"]).version == p["version"], "registry version matches the install"
