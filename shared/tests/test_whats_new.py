"""`whats-new`: commands added, changed or removed, from registry.json's history in git."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from opspack.devtools import whats_new
from opspack.devtools.registry_build import registry_from_package
from opspack.errors import UsageError
from opspack.frontends import cli
from opspack_testkit import check_rendering, run_command


def entry(pack: str, version: str, verb: str, summary: str, args: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": f"{pack}.main.{verb}",
        "pack": {"name": pack, "version": version},
        "summary": summary,
        "chat": {"words": [pack, verb], "usage": f"{pack} {verb}", "examples": []},
        "args_schema": {"type": "object", "properties": {a: {"type": "string"} for a in args}},
        "effects": {"read_only": True},
    }


def registry(*commands: dict[str, Any]) -> dict[str, Any]:
    packs = {c["pack"]["name"]: c["pack"]["version"] for c in commands}
    return {"packs": [{"name": n, "version": v} for n, v in packs.items()], "commands": list(commands)}


def commit(root: Path, data: dict[str, Any], when: str) -> None:
    (root / "registry.json").write_text(json.dumps(data, indent=2))
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    for args in (["add", "registry.json"], ["-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", when]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    commit(root, registry(entry("jenkins", "0.1.0", "jobs", "List jobs")), "2025-01-10T12:00:00+00:00")
    commit(
        root,
        registry(entry("jenkins", "0.1.0", "jobs", "List jobs"), entry("vm", "0.1.0", "list", "List VMs")),
        "2025-02-10T12:00:00+00:00",
    )
    subprocess.run(["git", "tag", "feb"], cwd=root, check=True)
    commit(
        root,
        registry(
            entry("jenkins", "0.2.0", "jobs", "List jobs", ("folder",)),
            entry("jenkins", "0.2.0", "build", "Start a build"),
            entry("vm", "0.1.0", "list", "List VMs"),
        ),
        "2025-03-10T12:00:00+00:00",
    )
    commit(
        root,
        registry(
            entry("jenkins", "0.2.0", "jobs", "List jobs", ("folder",)),
            entry("jenkins", "0.2.0", "build", "Start a build"),
        ),
        "2025-04-10T12:00:00+00:00",
    )
    return root


def rows(repo: Path, since: str, pack: str | None = None) -> list[tuple[str, str, str, str]]:
    found, _ = whats_new.changes(repo, since, pack)
    return sorted((c.kind, c.id, c.what, c.when) for c in found)


def test_since_a_date(repo: Path) -> None:
    assert rows(repo, "2025-02-20") == [
        ("added", "jenkins.main.build", "new command", "2025-03-10"),
        ("changed", "jenkins.main.jobs", "new arguments: folder", "2025-03-10"),
        ("removed", "vm.main.list", "no longer available", ""),
    ]
    assert rows(repo, "2025-04-11") == []


def test_since_a_version(repo: Path) -> None:
    # jenkins: compared with its last 0.1.0 registry; vm is gone
    assert rows(repo, "0.1.0") == [
        ("added", "jenkins.main.build", "new command", "2025-03-10"),
        ("changed", "jenkins.main.jobs", "new arguments: folder", "2025-03-10"),
        ("removed", "vm.main.list", "no longer available", ""),
    ]
    assert rows(repo, "jenkins@0.2.0") == []
    assert [r[1] for r in rows(repo, "jenkins@0.1.0")] == ["jenkins.main.build", "jenkins.main.jobs"]


def test_since_a_git_revision_and_one_pack(repo: Path) -> None:
    assert [r[:2] for r in rows(repo, "feb", "jenkins")] == [
        ("added", "jenkins.main.build"),
        ("changed", "jenkins.main.jobs"),
    ]
    with pytest.raises(UsageError, match="expected a date"):
        whats_new.changes(repo, "no-such-thing")


def test_parse_since() -> None:
    assert whats_new.parse_since("7d")[0] == "date"
    assert whats_new.parse_since("2025-06-01")[0] == "date"
    assert whats_new.parse_since("1.2.0") == ("version", (None, "1.2.0"))
    assert whats_new.parse_since("vm@0.3.1") == ("version", ("vm", "0.3.1"))
    assert whats_new.parse_since("origin/main") == ("rev", "origin/main")


def test_command_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["whats-new", "--since", "2025-02-20", "--repo", str(repo), "--format", "json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    table = reply["results"][0]
    assert table["title"] == "What's new since 2025-02-20 00:00 UTC"
    assert [r[0] for r in table["rows"]] == ["added", "changed", "removed"]
    assert cli.main(["whats-new", "--since", "2030-01-01", "--repo", str(repo)]) == 0
    assert "No command was added or changed" in capsys.readouterr().out


def test_in_chat(repo: Path, tmp_path: Path) -> None:
    core = registry_from_package("opspack_core")
    reply = run_command("whats-new --since 0.1.0", registry=core, environ={"OPSPACK_CORE_REPO": str(repo)})
    assert reply.ok, reply.error
    assert len(reply.to_dict()["results"][0]["rows"]) == 3
    check_rendering(reply)
    not_git = run_command("whats-new", registry=core, environ={"OPSPACK_CORE_REPO": str(tmp_path)})
    assert not not_git.ok and not_git.error is not None and not_git.error.kind == "config"
