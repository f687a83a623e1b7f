"""Release rules: a changed pack bumps its version and adds a fragment; what CI tests for a change."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from opspack.devtools import release


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def pyproject(name: str, version: str) -> str:
    return f'[project]\nname = "{name}"\nversion = "{version}"\n'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for folder, dist in (("shared", "opspack"), ("packs/alpha", "opspack-alpha"), ("packs/beta", "opspack-beta")):
        (tmp_path / folder / "changes").mkdir(parents=True)
        (tmp_path / folder / "changes" / ".gitkeep").write_text("")
        (tmp_path / folder / "pyproject.toml").write_text(pyproject(dist, "0.1.0"))
        (tmp_path / folder / "code.py").write_text("x = 1\n")
    (tmp_path / "noxfile.py").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# docs\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "base")
    git(tmp_path, "tag", "base")
    return tmp_path


def test_unchanged_is_fine(repo: Path) -> None:
    assert release.check(repo, "base") == []
    assert release.targets_for(repo, "base") == []


def test_changed_pack_needs_bump_and_fragment(repo: Path) -> None:
    (repo / "packs/alpha/code.py").write_text("x = 2\n")
    problems = release.check(repo, "base")
    assert len(problems) == 2
    assert all(p.startswith("pack alpha (packs/alpha/)") for p in problems)
    assert "version is still 0.1.0" in problems[0]
    assert "no changelog fragment" in problems[1]
    (repo / "packs/alpha/pyproject.toml").write_text(pyproject("opspack-alpha", "0.1.1"))
    assert [p for p in release.check(repo, "base") if "fragment" in p]
    (repo / "packs/alpha/changes/bigger-x.fixed.md").write_text("x is 2.\n")
    assert release.check(repo, "base") == []


def test_committed_changes_count_too(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "topic")
    (repo / "packs/beta/code.py").write_text("x = 3\n")
    (repo / "packs/beta/changes/three.changed.md").write_text("Three.\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "beta")
    problems = release.check(repo, "main")
    assert problems == [
        "pack beta (packs/beta/): files changed but the version is still 0.1.0; bump it in packs/beta/pyproject.toml"
    ]


def test_bad_fragment_name_and_core(repo: Path) -> None:
    (repo / "shared/code.py").write_text("x = 4\n")
    (repo / "shared/pyproject.toml").write_text(pyproject("opspack", "0.2.0"))
    (repo / "shared/changes/oops.txt").write_text("?\n")
    problems = release.check(repo, "base")
    assert problems[0] == "core (shared/): shared/changes/oops.txt is not named <slug>.<added|changed|fixed|removed>.md"
    assert "core (shared/): files changed but no changelog fragment" in problems[1]


def test_new_pack_needs_neither(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "packs/gamma/changes").mkdir(parents=True)
    (repo / "packs/gamma/pyproject.toml").write_text(pyproject("opspack-gamma", "0.1.0"))
    assert release.report(repo, "base") == (
        [],
        ["pack gamma (packs/gamma/): new pack: no bump needed (first release 0.1.0)"],
    )
    assert release.targets_for(repo, "base") == ["gamma"]
    monkeypatch.chdir(repo)
    assert release.main(["check", "base"]) == 0
    out = capsys.readouterr().out
    assert "new pack: no bump needed" in out and "every changed pack bumped" not in out


def test_a_bump_without_a_registry_build_names_the_fix(repo: Path) -> None:
    registry = {"packs": [{"name": "alpha", "version": "0.1.0"}, {"name": "beta", "version": "0.1.0"}]}
    (repo / "registry.json").write_text(json.dumps(registry))
    assert release.check(repo, "base") == []
    (repo / "packs/alpha/code.py").write_text("x = 2\n")
    (repo / "packs/alpha/pyproject.toml").write_text(pyproject("opspack-alpha", "0.2.0"))
    (repo / "packs/alpha/changes/x.changed.md").write_text("x is 2.\n")
    assert release.check(repo, "base") == [
        "pack alpha (packs/alpha/): the version is 0.2.0 but registry.json says 0.1.0 (the version is in the "
        "generated files): run `opspack registry build` and commit registry.json and "
        "packs/alpha/src/opspack_alpha/opspack-pack.json"
    ]
    registry["packs"][0]["version"] = "0.2.0"
    (repo / "registry.json").write_text(json.dumps(registry))
    assert release.report(repo, "base") == ([], ["pack alpha (packs/alpha/): 0.1.0 -> 0.2.0, fragment x.changed.md"])


def test_targets(repo: Path) -> None:
    (repo / "docs/index.md").write_text("# more docs\n")
    assert release.targets_for(repo, "base") == []
    (repo / "packs/beta/code.py").write_text("x = 5\n")
    assert release.targets_for(repo, "base") == ["beta"]
    (repo / "noxfile.py").write_text("# changed\n")
    assert release.targets_for(repo, "base") == ["core", "alpha", "beta"]


def test_shared_change_tests_everything(repo: Path) -> None:
    (repo / "shared/code.py").write_text("x = 6\n")
    assert release.targets_for(repo, "base") == ["core", "alpha", "beta"]


def test_testkit_is_released_on_its_own_and_tests_everything(repo: Path) -> None:
    (repo / "shared/testkit/changes").mkdir(parents=True)
    (repo / "shared/testkit/changes/.gitkeep").write_text("")
    (repo / "shared/testkit/pyproject.toml").write_text(pyproject("opspack-testkit", "0.1.0"))
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "testkit")
    git(repo, "tag", "-f", "base")
    (repo / "shared/testkit/fake.py").write_text("x = 1\n")
    assert release.targets_for(repo, "base") == ["core", "testkit", "alpha", "beta"]
    problems = release.check(repo, "base")
    assert len(problems) == 2, problems
    assert all(p.startswith("test kit (shared/testkit/)") for p in problems)
    (repo / "shared/testkit/pyproject.toml").write_text(pyproject("opspack-testkit", "0.1.1"))
    (repo / "shared/testkit/changes/fake.added.md").write_text("A fake.\n")
    assert release.check(repo, "base") == [], "the core needs no bump for a change of the test kit"


def test_unknown_base_and_command_line(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(release.ReleaseError):
        release.check(repo, "no-such-ref")
    monkeypatch.chdir(repo)
    assert release.main(["check", "no-such-ref"]) == 2
    assert release.main(["check", "base"]) == 0
    (repo / "packs/alpha/code.py").write_text("x = 7\n")
    assert release.main(["check", "base"]) == 1
