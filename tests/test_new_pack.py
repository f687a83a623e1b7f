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


def _fresh_clone(tmp_path: Path) -> Path:
    """A clone of this checkout with its working files on top, committed (a merged main)."""
    need(shutil.which("git") is not None, "git is needed to clone the repository")
    clone = tmp_path / "repo"
    proc = _run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for rel in ("shared", "noxfile.py", "registry.json", "ruff.toml", "mypy.ini", "docs", "CONTRIBUTING.md"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, clone / rel, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, clone / rel)
    git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=dev"]
    assert _run([*git, "add", "-A"], clone).returncode == 0
    assert _run([*git, "commit", "-q", "--allow-empty", "-m", "main as merged"], clone).returncode == 0
    return clone


def _opspack(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(clone / "packs" / "disk" / "src"), "OPSPACK_AUDIT_URL": "off"}
    env.pop("VIRTUAL_ENV", None)
    cmd = [sys.executable, "-m", "opspack.frontends.cli", *args]
    return subprocess.run(cmd, cwd=clone, capture_output=True, text=True, timeout=120, check=False, env=env)


@pytest.mark.slow
def test_a_script_becomes_a_command_with_no_hand_edits(tmp_path: Path) -> None:
    """The newcomer's path, then each failure mode made on purpose, each caught naming its fix."""
    nox = shutil.which("nox")
    need(nox is not None or _run([sys.executable, "-m", "nox", "--version"], ROOT).returncode == 0, "nox is needed")
    nox_cmd = [nox] if nox else [sys.executable, "-m", "nox"]
    clone = _fresh_clone(tmp_path)
    script = tmp_path / "diskreport.py"
    shutil.copy2(ROOT / "shared" / "tests" / "scripts" / "diskreport.py", script)

    created = _opspack(clone, "new-pack", "disk", "--from-script", str(script), "--words", "disk top", "--read-only")
    assert created.returncode == 0, created.stderr
    pack = clone / "packs" / "disk"
    for path in pack.rglob("*"):
        if path.is_file() and "scripts" not in path.parts and path.name != "LICENSE":
            text = path.read_text()
            assert "hello" not in text and "greeting" not in text, path  # no example leftovers
    assert "`disk top" in (pack / "README.md").read_text() and "`disk top`" in (pack / "CHANGELOG.md").read_text()

    gates = _run([*nox_cmd, "-s", "tests(disk)", "registry", "command_tests", "lint"], clone)
    assert gates.returncode == 0, gates.stdout[-3000:] + gates.stderr[-3000:]
    assert "2 passed" in gates.stdout + gates.stderr
    released = _run([*nox_cmd, "-s", "release_check", "--", "HEAD"], clone)
    assert released.returncode == 0, released.stderr[-2000:]
    assert "pack disk (packs/disk/): new pack: no bump needed" in released.stderr

    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "big.log").write_bytes(b"x" * 5000)
    (data / "small.txt").write_bytes(b"x" * 100)
    ran = _opspack(clone, "--registry", "registry.json", "run", "--format", "markdown", "--", "disk", "top",
                   "--path", str(data), "--top", "5")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[:4] == ["| file | bytes |", "|---|---|", "| logs/big.log | 5000 |",
                                           "| small.txt | 100 |"]  # fmt: skip
    news = _opspack(clone, "whats-new", "--since", "HEAD", "--repo", str(clone))
    assert news.returncode == 0, news.stderr
    assert "disk top" in news.stdout

    # a non-zero exit: a backend error, the script's stderr once, exit code 1
    failed = _opspack(clone, "--registry", "registry.json", "run", "--", "disk", "top", "--path", str(tmp_path / "no"))
    assert failed.returncode == 1
    assert "Error (backend)" in failed.stdout and failed.stdout.count("no such folder") == 1, failed.stdout

    # an option without help: nothing is made, the option and the fix are named
    bare = tmp_path / "bare.py"
    bare.write_text(script.read_text().replace(', help="show at most this many files (default: %(default)s)"', ""))
    refused = _opspack(clone, "new-pack", "bare", "--from-script", str(bare), "--words", "bare top")
    assert refused.returncode == 1 and not (clone / "packs" / "bare").exists()
    assert (
        "--top has no help text" in refused.stderr and 'Fix: add help="..." to add_argument("--top"' in refused.stderr
    )

    # a command no test invokes
    test_file = pack / "tests" / "test_diskreport.py"
    kept = test_file.read_text()
    test_file.unlink()
    untested = _run([*nox_cmd, "-s", "command_tests"], clone)
    assert untested.returncode != 0
    assert "disk.disk.top (`disk top`): no test invokes it. Fix: add a test to packs/disk/tests/" in untested.stderr
    test_file.write_text(kept)

    # the client library imported at module level: the import and the rule are named
    module = pack / "src" / "opspack_disk" / "diskreport.py"
    original = module.read_text()
    module.write_text(original.replace("from pathlib import Path\n", "from pathlib import Path\n\nimport psutil\n"))
    lazy = _opspack(clone, "registry", "check")
    assert lazy.returncode == 1
    assert "diskreport.py, line 10: `import psutil` at module level breaks the lazy-import rule" in lazy.stderr
    assert "Traceback" not in lazy.stderr

    # imported where it belongs but not declared: the tests say what to declare, where
    inside = '    argv: list[str] = ["--format", "json"]\n'
    module.write_text(original.replace(inside, "    import psutil  # noqa: F401\n\n" + inside))
    undeclared = _run([*nox_cmd, "-s", "tests(disk)"], clone)
    assert undeclared.returncode != 0
    assert "declare psutil (the distribution that provides it) in packs/disk/pyproject.toml" in undeclared.stdout
    module.write_text(original)

    # a version bump without a registry build: the release check names the command that fixes it
    git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=dev"]
    assert _run([*git, "add", "-A"], clone).returncode == 0
    assert _run([*git, "commit", "-qm", "disk pack"], clone).returncode == 0
    pyproject = pack / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.1.1"'))
    (pack / "changes" / "bigger.changed.md").write_text("`disk top` shows more.\n")
    (pack / "README.md").write_text((pack / "README.md").read_text() + "\nMore.\n")
    bumped = _run([*nox_cmd, "-s", "release_check", "--", "HEAD"], clone)
    assert bumped.returncode != 0
    assert "registry.json says 0.1.0 (the version is in the generated files): run `opspack registry build`" in (
        bumped.stderr
    )
    assert _opspack(clone, "registry", "build").returncode == 0
    assert _run([*nox_cmd, "-s", "release_check", "--", "HEAD"], clone).returncode == 0
