"""The `opspack` command line: run (exit codes, JSON), list, help, shell, registry build|check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from opspack.registry import Registry

SAMPLE = Path(__file__).parent / "sample_pack"
AUDIT_DIR = Path(tempfile.mkdtemp(prefix="opspack-cli-audit-"))


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    path = tmp_path_factory.mktemp("reg") / "registry.json"
    path.write_text(json.dumps(registry.to_data()))
    return path


def opspack(
    *args: str, registry_file: Path | None = None, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(SAMPLE),
        "OPSPACK_SAMPLE_URL": "https://b",
        "OPSPACK_SAMPLE_PASSWORD": "pw-123456",
        "OPSPACK_AUDIT_URL": f"sqlite:///{AUDIT_DIR / 'audit.db'}",
        **(env or {}),
    }
    full_env.pop("OPSPACK_CONFIG", None)
    pre = ["--registry", str(registry_file)] if registry_file else []
    return subprocess.run(
        [sys.executable, "-m", "opspack.frontends.cli", *pre, *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_run_json_success_is_one_object(registry_file: Path) -> None:
    proc = opspack("run", "--format", "json", "--", "thing", "list", "--limit", "1", registry_file=registry_file)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "ok": True,
        "command": "sample.thing.list",
        "results": [
            {"kind": "table", "title": "Things", "columns": ["name", "power", "cpu"], "rows": [["thing0", "off", 0]]}
        ],
        "error": None,
    }


@pytest.mark.parametrize(
    ("args", "code", "kind"),
    [
        (["thing", "list", "--limit", "x"], 2, "usage"),
        (["nothing", "here"], 2, "usage"),
        ([], 2, "usage"),
        (["thing", "broken", "--how", "backend"], 1, "backend"),
        (["thing", "power-off", "web01"], 1, "denied"),
        (["thing list 'unbalanced"], 2, "usage"),
    ],
)
def test_run_exit_codes(registry_file: Path, args: list[str], code: int, kind: str) -> None:
    proc = opspack("run", "--format", "json", "--", *args, registry_file=registry_file)
    assert proc.returncode == code
    data = json.loads(proc.stdout)
    assert data["ok"] is False and data["error"]["kind"] == kind
    assert b"Traceback" not in proc.stderr


def test_run_one_argument_is_chat_text(registry_file: Path) -> None:
    proc = opspack("run", "--format", "json", "--", "thing config sw1 'a b' c", registry_file=registry_file)
    assert json.loads(proc.stdout)["results"][0]["text"] == "sw1: a b | c color=red ratio=0.5"


def test_run_several_arguments_are_tokens_as_the_shell_split_them(registry_file: Path) -> None:
    proc = opspack("run", "--format", "json", "--", "thing", "config", "sw1", "a b", "c", registry_file=registry_file)
    assert json.loads(proc.stdout)["results"][0]["text"] == "sw1: a b | c color=red ratio=0.5"
    # a token holding quotes or spaces stays one token: nothing is split again
    proc = opspack("run", "--format", "json", "--", "thing", "config", "sw1", "it's 'x y'", registry_file=registry_file)
    assert json.loads(proc.stdout)["results"][0]["text"].startswith("sw1: it's 'x y' ")


def test_run_keeps_quoting_of_a_tag(tmp_path: Path) -> None:
    """`friction add slow vm list --tag 'needs review'` stores the tag `needs review`."""
    env = {"OPSPACK_AUDIT_URL": f"sqlite:///{tmp_path}/audit.db"}
    add = opspack(
        "run", "--format", "json", "--", "friction", "add", "slow", "vm", "list", "--tag", "needs review", env=env
    )
    assert json.loads(add.stdout)["ok"], add.stdout
    listing = opspack("run", "--format", "json", "--", "friction list", env=env)
    rows = json.loads(listing.stdout)["results"][0]
    assert any("needs review" in row for row in rows["rows"]), rows


def test_run_yes_confirms(registry_file: Path) -> None:
    proc = opspack("run", "--yes", "--", "thing", "power-off", "web01", registry_file=registry_file)
    assert proc.returncode == 0 and b"[OK] web01 is off" in proc.stdout


@pytest.mark.parametrize("fmt", ["slack", "teams", "mattermost"])
def test_run_platform_formats_print_a_json_list(registry_file: Path, fmt: str) -> None:
    proc = opspack("run", "--format", fmt, "--", "thing", "list", registry_file=registry_file)
    assert proc.returncode == 0
    assert isinstance(json.loads(proc.stdout), list)


def test_list_and_help(registry_file: Path) -> None:
    listing = opspack("list", registry_file=registry_file)
    assert listing.returncode == 0 and b"thing power-off <thing> [--force]" in listing.stdout
    entries = json.loads(opspack("list", "--json", registry_file=registry_file).stdout)
    assert {e["id"] for e in entries} >= {"sample.thing.list", "sample.thing.power_off"}
    helped = opspack("help", "thing", "list", registry_file=registry_file)
    assert helped.returncode == 0 and b"--power (on|off|suspended)" in helped.stdout
    assert opspack("help", "zzz", registry_file=registry_file).returncode == 2
    assert opspack("list", "--pack", "nope", registry_file=registry_file).returncode == 2


def test_shell_reads_chat_lines_confirms_and_survives_bad_bytes(registry_file: Path) -> None:
    script = (
        b"help\nthing power-off web01\ny\nthing power-off web02\nn\n\xff\xfe bad bytes\nthing list --limit 1\nexit\n"
    )
    proc = opspack("shell", stdin=script, registry_file=registry_file)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    assert "Run `thing power-off web01`?" in out and "[OK] web01 is off" in out
    assert "Cancelled." in out
    assert "not valid UTF-8" in out
    assert "thing0" in out
    assert "Traceback" not in out + proc.stderr.decode()


def _checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "shared").mkdir(parents=True)
    pack = root / "packs" / "sample"
    shutil.copytree(SAMPLE / "opspack_sample", pack / "src" / "opspack_sample")
    (pack / "pyproject.toml").write_text(
        '[project]\nname = "opspack-sample"\nversion = "0.4.0"\n'
        '[project.entry-points."opspack.packs"]\nsample = "opspack_sample"\n'
    )
    return root


def test_registry_build_then_check_then_stale(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    env = {"PYTHONPATH": ""}
    built = opspack("registry", "build", "--root", str(root), env=env)
    assert built.returncode == 0, built.stderr
    registry = json.loads((root / "registry.json").read_text())
    assert registry["$comment"].startswith("Generated") and "opspack registry build" in registry["$comment"]
    assert (root / "packs/sample/src/opspack_sample/opspack-pack.json").is_file()
    assert opspack("registry", "check", "--root", str(root), env=env).returncode == 0
    module = root / "packs/sample/src/opspack_sample/thing.py"
    module.write_text(module.read_text().replace('"""List things.', '"""List every thing.'))
    stale = opspack("registry", "check", "--root", str(root), env=env)
    assert stale.returncode == 1
    assert b"registry.json is stale" in stale.stderr
    assert b"Regenerate them with: opspack registry build" in stale.stderr
    assert b"List every thing" in stale.stderr


def test_registry_build_refuses_undocumented_arguments(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    module = root / "packs/sample/src/opspack_sample/thing.py"
    module.write_text(module.read_text().replace("        limit: at most this many rows\n", ""))
    proc = opspack("registry", "build", "--root", str(root), env={"PYTHONPATH": ""})
    assert proc.returncode == 1 and b"describe limit" in proc.stderr
