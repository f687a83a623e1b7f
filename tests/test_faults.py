"""Faults stay contained: a pack whose client library is missing, or whose metadata is
broken, leaves the other packs working and answers with a clear config error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run_python(code: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout
    data: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def test_a_missing_client_library_is_a_config_error_and_other_packs_still_work() -> None:
    out = run_python(
        """
        import json, sys
        sys.modules["jenkins"] = None          # as if python-jenkins were not installed
        from opspack import Caller, Runtime
        rt = Runtime(audit=None)
        env = {"OPSPACK_JENKINS_URL": "http://127.0.0.1:9", "OPSPACK_JENKINS_USER": "u",
               "OPSPACK_JENKINS_TOKEN": "t"}
        import os; os.environ.update(env)
        broken = rt.chat("jenkins jobs").to_dict()
        fine = rt.chat("server test 127.0.0.1 --ports 9").to_dict()
        print(json.dumps({"broken": broken, "fine": fine}))
        """
    )
    broken, fine = out["broken"], out["fine"]
    assert isinstance(broken, dict) and isinstance(fine, dict)
    assert broken["ok"] is False and broken["error"]["kind"] == "config"
    assert "the module jenkins is not installed" in broken["error"]["message"]
    assert "pip install opspack-jenkins==" in broken["error"]["hint"]
    assert fine["ok"] is True


def test_a_pack_with_unreadable_metadata_is_reported_and_the_rest_load(tmp_path: object) -> None:
    out = run_python(
        """
        import json, importlib.util, pathlib
        from unittest import mock
        from opspack.registry import Registry, read_pack_file
        real = read_pack_file
        def flaky(module):
            if module == "opspack_grafana":
                raise ValueError("opspack-pack.json is not an opspack pack file")
            return real(module)
        with mock.patch("opspack.registry.read_pack_file", flaky):
            reg = Registry.from_installed()
        print(json.dumps({"packs": [p["name"] for p in reg.packs],
                          "broken": [(b.name, b.reason) for b in reg.broken]}))
        """
    )
    assert "grafana" not in out["packs"] and "server" in out["packs"]  # type: ignore[operator]
    assert out["broken"] == [["grafana", "opspack-pack.json is not an opspack pack file"]]
