"""The fake NITRO server and a runner that sends chat text through the real runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.netscaler import FakeNitro


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_netscaler")
    return reg


@pytest.fixture
def fake() -> Iterator[FakeNitro]:
    with FakeNitro() as server:
        yield server


class Runner:
    """One runtime (one process, one kept NITRO session per profile) for a test."""

    def __init__(self, registry: Registry, environ: dict[str, str], config: Config | None = None) -> None:
        self.runtime = Runtime(registry, config=config or Config.load(environ=environ))

    def __call__(self, text: str, *, confirmed: bool = False, profile: str | None = None, user: str = "alice") -> Any:
        caller = Caller(user=user, frontend="test", confirmed=confirmed, profile=profile)
        return self.runtime.chat(text, caller)

    def close(self) -> None:
        self.runtime.close()


@pytest.fixture
def run(fake: FakeNitro, registry: Registry) -> Iterator[Runner]:
    runner = Runner(registry, fake.environ())
    yield runner
    runner.close()


@pytest.fixture
def runner_for(registry: Registry) -> Iterator[Any]:
    """Make runners with other settings (wrong password, other users, profiles)."""
    made: list[Runner] = []

    def make(environ: dict[str, str], config: Config | None = None) -> Runner:
        runner = Runner(registry, environ, config)
        made.append(runner)
        return runner

    yield make
    for r in made:
        r.close()
