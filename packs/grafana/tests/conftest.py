from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.grafana import FakeGrafana


@pytest.fixture(scope="session")
def registry() -> Any:
    return registry_from_package("opspack_grafana")


@pytest.fixture(scope="session")
def grafana_server() -> Iterator[FakeGrafana]:
    with FakeGrafana() as server:
        yield server


@pytest.fixture
def fake(grafana_server: FakeGrafana) -> FakeGrafana:
    grafana_server.reset()
    return grafana_server


@pytest.fixture
def run(fake: FakeGrafana, registry: Any) -> Any:
    """Run chat text through the real runtime against the fake, as a given platform."""
    runtimes: list[Runtime] = []

    def _run(text: str, *, fmt: str = "text", environ: dict[str, str] | None = None, confirmed: bool = False) -> Any:
        rt = Runtime(registry, config=Config.load(environ=environ if environ is not None else fake.environ()))
        runtimes.append(rt)
        return rt.chat(text, Caller(user="alice", frontend="test", format=fmt, confirmed=confirmed))

    yield _run
    for rt in runtimes:
        rt.close()
