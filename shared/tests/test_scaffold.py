"""`opspack new-pack`: a pack from the template, registered, whose command runs at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opspack.devtools import scaffold
from opspack.frontends import cli
from opspack.registry import Registry
from opspack_testkit import check_rendering, run_command


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "shared").mkdir()
    (tmp_path / "packs").mkdir()
    return tmp_path


def test_new_pack_files_registry_and_command(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["new-pack", "net_box", "--summary", "Look up devices in NetBox.", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "1. Install it" in out and "2. After changing commands" in out and "3. Describe" in out
    folder = root / "packs" / "net_box"
    for rel in (
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "changes/.gitkeep",
        "src/opspack_net_box/__init__.py",
        "src/opspack_net_box/py.typed",
        "src/opspack_net_box/example.py",
        "src/opspack_net_box/opspack-pack.json",
        "tests/test_net_box.py",
    ):
        assert (folder / rel).is_file(), rel
    pyproject = (folder / "pyproject.toml").read_text()
    assert 'name = "opspack-net-box"' in pyproject and 'version = "0.1.0"' in pyproject
    assert 'net_box = "opspack_net_box"' in pyproject
    assert "{{" not in "".join(p.read_text() for p in folder.rglob("*") if p.is_file())
    data = json.loads((root / "registry.json").read_text())
    assert [c["id"] for c in data["commands"]] == ["net_box.example.hello"]
    assert data["packs"][0]["summary"] == "Look up devices in NetBox"
    registry = Registry.from_file(root / "registry.json")
    reply = run_command("net_box hello ops --shout", registry=registry, environ={"OPSPACK_NET_BOX_GREETING": "Hey"})
    assert reply.ok, reply.error
    assert reply.to_dict()["results"][0]["items"]["greeting"] == "HEY, OPS!"
    check_rendering(reply)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("NetBox", "lower case"),
        ("1pack", "lower case"),
        ("a__b", "lower case"),
        ("class", "lower case"),
        ("core", "reserved"),
    ],
)
def test_bad_names(root: Path, name: str, why: str) -> None:
    with pytest.raises(scaffold.ScaffoldError, match=why):
        scaffold.new_pack(root, name)


def test_existing_pack(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "packs" / "dup").mkdir()
    assert cli.main(["new-pack", "dup", "--root", str(root)]) == 2
    assert "packs/dup exists already" in capsys.readouterr().err


def test_template_renders_every_placeholder() -> None:
    files = scaffold.render_template("web_hooks", "Send web hooks")
    assert "src/opspack_web_hooks/__init__.py" in files
    assert "tests/test_web_hooks.py" in files
    assert "OPSPACK_WEB_HOOKS_GREETING" in files["tests/test_web_hooks.py"]
    assert all("{{" not in text for text in files.values())


DISKREPORT = Path(__file__).parent / "scripts" / "diskreport.py"


def test_from_script_has_no_example_leftovers(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["new-pack", "disk", "--from-script", str(DISKREPORT), "--words", "disk top", "--read-only"]
    assert cli.main([*args, "--root", str(root)]) == 0
    assert "Run the gates: nox -s" in capsys.readouterr().out
    folder = root / "packs" / "disk"
    texts = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert "src/opspack_disk/example.py" not in texts and "tests/test_disk.py" not in texts
    for rel, text in texts.items():
        if not rel.startswith("src/opspack_disk/scripts/"):
            assert "hello" not in text and "greeting" not in text and "{{" not in text, rel
    assert "`disk top [--path PATH] [--top TOP] [--min-size MIN_SIZE]`" in texts["README.md"]
    assert "First release: `disk top` (show the biggest files under a folder" in texts["CHANGELOG.md"]
    assert 'run_command("disk top"' in texts["tests/test_diskreport.py"]
    data = json.loads((root / "registry.json").read_text())
    (entry,) = data["commands"]
    assert entry["id"] == "disk.disk.top" and entry["effects"]["read_only"] is True
    assert data["packs"][0]["summary"] == "Show the biggest files under a folder"
    assert "format" not in entry["args_schema"]["properties"]
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(b"x" * 3000)
    (root / "data" / "small.txt").write_bytes(b"x" * 10)
    reply = run_command(f"disk top --path {root / 'data'} --top 1", registry=Registry.from_file(root / "registry.json"))
    assert reply.ok, reply.error
    assert reply.to_dict()["results"][0]["rows"] == [["big.bin", 3000]]


def test_script_options_need_a_script(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["new-pack", "disk", "--words", "disk top", "--root", str(root)]) == 2
    assert "--words go with --from-script PATH" in capsys.readouterr().err
    assert not (root / "packs" / "disk").exists()


def test_from_script_that_cannot_be_wrapped_writes_nothing(root: Path, tmp_path: Path) -> None:
    script = tmp_path / "bad.py"
    script.write_text("import argparse\np = argparse.ArgumentParser()\np.add_argument('--top')\np.parse_args()\n")
    assert cli.main(["new-pack", "bad", "--from-script", str(script), "--root", str(root)]) == 1
    assert not (root / "packs" / "bad").exists() and not (root / "registry.json").exists()
