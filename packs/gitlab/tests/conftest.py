"""The fake GitLab on loopback (opspack_testkit.fakes.gitlab) and helpers to run chat commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack_testkit import check_rendering, run_command
from opspack_testkit.fakes.gitlab import FakeGitLab


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_gitlab", metadata.version("opspack-gitlab"))
    return reg


@pytest.fixture(scope="session")
def gitlab_server() -> Iterator[FakeGitLab]:
    with FakeGitLab(read_only_tokens=("glpat-reporter-only",)) as server:
        yield server


@pytest.fixture
def fake(gitlab_server: FakeGitLab) -> FakeGitLab:
    """The fake GitLab, emptied for this test, with the group the standards share projects with."""
    gitlab_server.reset()
    gitlab_server.add_group("platform/engineers")
    return gitlab_server


@pytest.fixture
def env(fake: FakeGitLab) -> dict[str, str]:
    return {"OPSPACK_GITLAB_URL": fake.url, "OPSPACK_GITLAB_TOKEN": fake.token}


Run = Callable[..., Any]


@pytest.fixture
def run(registry: Registry, env: dict[str, str]) -> Run:
    """Run chat text through the real runtime; every reply is rendered and validated."""

    def go(text: str, *, extra: dict[str, str] | None = None, confirmed: bool = False, **kw: Any) -> Any:
        reply = run_command(text, registry=registry, environ={**env, **(extra or {})}, confirmed=confirmed, **kw)
        check_rendering(reply)
        return reply

    return go


@pytest.fixture
def standard_file(tmp_path: Path) -> Callable[[str], dict[str, str]]:
    """Write a standard TOML file; returns the settings env that points at it."""

    def write(text: str) -> dict[str, str]:
        path = tmp_path / "standard.toml"
        path.write_text(text, encoding="utf-8")
        return {"OPSPACK_GITLAB_STANDARD": str(path)}

    return write
