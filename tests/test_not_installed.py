"""With only the server pack installed, a command of another pack names that pack and how to
install it (registry.json's `install` line), not just "Unknown command"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_vm_list_with_only_the_server_pack_names_the_vmware_pack(tmp_path: Path) -> None:
    data = json.loads((ROOT / "registry.json").read_text(encoding="utf-8"))
    only = {"core", "server"}
    data["packs"] = [p for p in data["packs"] if p["name"] in only]
    data["commands"] = [c for c in data["commands"] if c["pack"]["name"] in only]
    installed = tmp_path / "server-only.json"
    installed.write_text(json.dumps(data), encoding="utf-8")
    vmware = next(p for p in json.loads((ROOT / "registry.json").read_text())["packs"] if p["name"] == "vmware")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env["XDG_DATA_HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "opspack.frontends.cli", "--registry", str(installed), "run", "--", "vm list"],
        cwd=ROOT,  # a checkout: its registry.json lists every pack
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "`vm list` is a command of the vmware pack (opspack-vmware), which is not installed here." in proc.stdout
    assert f"Install it beside opspack: {vmware['install']}" in proc.stdout
