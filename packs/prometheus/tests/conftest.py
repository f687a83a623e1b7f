"""Real Prometheus and Alertmanager (opspack_testkit.servers.prometheus), started once for the session.

Prometheus scrapes itself, a tiny exporter run by the tests (up) and a free port nothing
listens on (down), evaluates FIRING_RULES every second (two alerts fire at once, one stays
pending, TargetDown fires for the down target) and sends its alerts to Alertmanager.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import pytest
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.results import Reply
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import free_port, need
from opspack_testkit.servers.prometheus import (
    FIRING_RULES,
    Alertmanager,
    MetricsExporter,
    Prometheus,
    PrometheusUnavailable,
    alertmanager_binary,
    prometheus_binary,
    prometheus_pack_environ,
)

#: the sample limit of the session's Prometheus (`--query.max-samples`), small enough to reach
MAX_SAMPLES = 100_000


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_prometheus", metadata.version("opspack-prometheus"))
    return reg


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[Prometheus, Alertmanager, MetricsExporter]]:
    try:
        prometheus_binary()
        alertmanager_binary()
    except PrometheusUnavailable as exc:
        need(False, str(exc))
    down = f"127.0.0.1:{free_port()}"
    with (
        MetricsExporter() as exporter,
        Alertmanager() as am,
        Prometheus(
            targets={"app": [exporter.address, down]},
            rules=FIRING_RULES,
            alertmanager=am,
            max_samples=MAX_SAMPLES,
        ) as prom,
    ):
        prom.wait_until('count(up{job="app"}) == 2')
        prom.wait_until('count(ALERTS{alertstate="firing"}) >= 3')
        am.wait_for_alerts(3)
        yield prom, am, exporter


@pytest.fixture(scope="session")
def prom(servers: tuple[Prometheus, Alertmanager, MetricsExporter]) -> Prometheus:
    return servers[0]


@pytest.fixture(scope="session")
def am(servers: tuple[Prometheus, Alertmanager, MetricsExporter]) -> Alertmanager:
    return servers[1]


@pytest.fixture(scope="session")
def environ(servers: tuple[Prometheus, Alertmanager, MetricsExporter]) -> dict[str, str]:
    return prometheus_pack_environ(servers[0], servers[1])


RunFn = Callable[..., Reply]


@pytest.fixture
def run(registry: Registry, environ: dict[str, str]) -> Iterator[RunFn]:
    """Run chat text through the real runtime against the servers, as a given platform."""
    runtimes: list[Runtime] = []

    def _run(text: str, *, fmt: str = "text", env: dict[str, str] | None = None, **extra: str) -> Reply:
        settings = {**(environ if env is None else env), **extra}
        rt = Runtime(registry, config=Config.load(environ=settings), audit=None)
        runtimes.append(rt)
        return rt.chat(text, Caller(user="alice", frontend="test", format=fmt))

    yield _run
    for rt in runtimes:
        rt.close()


def by_kind(reply: Reply, kind: str) -> list[Any]:
    """The reply's results of one kind."""
    return [r for r in reply.results if r.kind == kind]


def decode_png(data: bytes) -> Any:
    """The PNG decoded by Pillow (matplotlib's own dependency), as RGB."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image.convert("RGB")
