"""Fixtures: a fake Jenkins on loopback per test, and a runner for chat commands against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack_testkit import check_rendering, run_command
from opspack_testkit.fakes.jenkins import PIPELINE, FakeJenkins, boolean, choice, password, string

TOKEN = "alice-api-token-0123"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return registry_from_package("opspack_jenkins")


@pytest.fixture
def fake() -> Iterator[FakeJenkins]:
    f = FakeJenkins()
    f.add_job(
        "deploy",
        params=[choice("ENV", ["dev", "staging", "prod"]), boolean("DRY_RUN", True), string("VERSION", "latest")],
        script=["Deploying ${VERSION} to ${ENV}", "dry run: ${DRY_RUN}", "Deployed."],
    )
    f.add_job("nightly", result="FAILURE", script=["compiling", "tests failed: 3", "ERROR: build step failed"])
    f.add_history("nightly", "SUCCESS")
    f.add_history("nightly", "FAILURE")
    f.add_job("legacy", disabled=True)
    f.add_job(
        "team/app/release",
        cls=PIPELINE,
        params=[string("VERSION", "1.0.0"), password("SIGNING_KEY")],
        stages=["Checkout", "Build", "Test", "Publish"],
        script=["checkout", "build", "test", "publish"],
    )
    f.add_history("team/app/release", "SUCCESS")
    f.add_job("team/app/lint")
    f.add_history("team/app/lint", "UNSTABLE")
    f.add_job("tools/cleanup")
    f.add_history("tools/cleanup", "SUCCESS")
    f.start()
    yield f
    f.stop()


Run = Callable[..., Any]


@pytest.fixture
def env(fake: FakeJenkins) -> dict[str, str]:
    return {
        "OPSPACK_JENKINS_URL": fake.url,
        "OPSPACK_JENKINS_USER": "alice",
        "OPSPACK_JENKINS_TOKEN": TOKEN,
        "OPSPACK_JENKINS_POLL_INTERVAL": "0",
        "OPSPACK_JENKINS_QUEUE_WAIT": "30",
    }


@pytest.fixture
def run(registry: Registry, env: dict[str, str]) -> Run:
    """Run chat text through the real runtime; every reply is rendered and validated."""

    def go(text: str, *, confirmed: bool = False, render: bool = True, **extra: str) -> Any:
        reply = run_command(text, registry=registry, environ={**env, **extra}, confirmed=confirmed)
        if render:
            check_rendering(reply)
        return reply

    return go
