"""Queue, nodes, CSRF crumbs, kept connections, profiles, role globs and lazy imports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN, Run
from opspack.context import Caller
from opspack.policy import Policy
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import check_rendering, run_command
from opspack_testkit.fakes.http import Response
from opspack_testkit.fakes.jenkins import FakeJenkins
from opspack_testkit.tls import TestCA


@pytest.fixture
def runtime(registry: Registry, env: dict[str, str]) -> Iterator[Runtime]:
    rt = Runtime(registry, config=Config.load(environ=env))
    yield rt
    rt.close()


def test_nodes_table(run: Run) -> None:
    reply = run("jenkins nodes")
    table = reply.results[0]
    rows = {r[0]: r for r in table.rows}
    assert rows["Built-In Node"][1] == "idle" and rows["linux-1"][1] == "busy"
    assert rows["win-1"][1] == "offline (temporarily)" and rows["win-1"][4] == "Disconnected by alice: patching"
    assert rows["linux-1"][3] == "linux docker"
    assert table.row_status == ["ok", "ok", "warning"]
    assert "1 of 6 executors busy" in table.title


def test_empty_queue(run: Run) -> None:
    reply = run("jenkins queue")
    assert reply.results[0].kind == "text" and "empty" in reply.results[0].text


def test_stale_crumb_is_renewed_once(runtime: Runtime, fake: FakeJenkins) -> None:
    caller = Caller(user="t", frontend="test")
    assert runtime.chat("jenkins build tools/cleanup", caller).ok
    fake.rotate_crumbs()  # like a controller restart: the kept client's crumb is now stale
    reply = runtime.chat("jenkins build tools/cleanup", caller)
    assert reply.ok, reply.error
    crumb_reads = [r for r in fake.requests if r.path == "/crumbIssuer/api/json"]
    assert len(crumb_reads) == 2
    assert runtime.pool.created == 1  # the connection was kept between commands


def test_no_crumb_is_a_clear_denied_error(run: Run, fake: FakeJenkins) -> None:
    # A proxy that hides the crumb issuer: python-jenkins then posts without a crumb.
    fake.server.before.append(lambda req: Response.text("Not Found", 404) if "crumbIssuer" in req.path else None)
    reply = run("jenkins build tools/cleanup")
    assert reply.error.kind == "denied" and "CSRF crumb" in reply.error.message
    assert "proxy" in reply.error.hint


ROLES_POLICY = """
[users]
r = ["release"]
a = ["builder"]
[groups]
"qa-team" = ["qa"]
[roles.release]
allow = ["jenkins.*"]
[roles.qa]
allow = ["jenkins.*"]
[roles.builder]
allow = ["jenkins.*"]
"""


def test_role_globs_choose_what_a_caller_may_build(registry: Registry, env: dict[str, str], fake: FakeJenkins) -> None:
    """role_jobs follows the roles the policy grants (a user's, a group's), never a name the
    caller passes: a group named like a role grants nothing."""
    env = {
        **env,
        "OPSPACK_JENKINS_ALLOWED_JOBS": "tools/*",
        "OPSPACK_JENKINS_ROLE_JOBS": "release=team/app/*|deploy; qa=team/app/lint",
    }
    runtime = Runtime(registry, config=Config.load(environ=env), policy=Policy.from_toml(ROLES_POLICY))
    try:
        qa = Caller(user="q", groups=("qa-team",), frontend="test")
        rel = Caller(user="r", frontend="test")
        anyone = Caller(user="a", frontend="test")
        claims = Caller(user="a", groups=("release",), frontend="test")  # not a group of the policy
        assert runtime.chat("jenkins build deploy", qa).error.kind == "denied"
        assert runtime.chat("jenkins build team/app/lint", qa).ok
        assert runtime.chat("jenkins build deploy", rel).ok
        assert runtime.chat("jenkins build deploy", anyone).error.kind == "denied"
        refused = runtime.chat("jenkins build deploy", claims)
        assert refused.error.kind == "denied" and "deploy" in refused.error.message
        assert runtime.chat("jenkins build tools/cleanup", anyone).ok
        menu = runtime.chat("jenkins menu", qa)
        check_rendering(menu)
        assert [o.label for o in menu.results[0].options] == ["team/"]
    finally:
        runtime.close()


def test_profiles_pick_the_controller(registry: Registry, fake: FakeJenkins, tmp_path: Path) -> None:
    other = FakeJenkins()
    other.add_job("only-on-other")
    other.start()
    try:
        config = tmp_path / "opspack.toml"
        config.write_text(
            f"""
[jenkins]
url = "{fake.url}"
user = "alice"
token = "env:JENKINS_TOKEN"
poll_interval = 0

[jenkins.profiles.other]
url = "{other.url}"
"""
        )
        env = {"OPSPACK_CONFIG": str(config), "JENKINS_TOKEN": TOKEN}
        from opspack_testkit import run_command

        main = run_command("jenkins jobs", registry=registry, environ=env)
        assert "deploy" in {r[0] for r in main.results[0].rows}
        second = run_command("jenkins jobs", registry=registry, environ=env, profile="other")
        assert {r[0] for r in second.results[0].rows} == {"only-on-other"}
    finally:
        other.stop()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_tls_false_wins_over_the_environments_ca_bundle(
    registry: Registry, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests takes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE before a session's own verify;
    python-jenkins hands its session's verify to requests, so verify_tls=false still decides."""
    (tmp_path / "other").mkdir()
    ca, other = TestCA(tmp_path), TestCA(tmp_path / "other")
    controller = FakeJenkins()
    controller.add_job("deploy")
    with controller.serve_tls(ca.issue("jenkins", ["127.0.0.1", "localhost"])):
        assert controller.url.startswith("https://")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_path))
        monkeypatch.setenv("CURL_CA_BUNDLE", str(other.ca_path))
        settings = {**env, "OPSPACK_JENKINS_URL": controller.url}
        untrusted = run_command("jenkins jobs", registry=registry, environ=settings)
        assert not untrusted.ok and "TLS certificate" in untrusted.error.message, untrusted.error
        lab_settings = {**settings, "OPSPACK_JENKINS_VERIFY_TLS": "false"}
        lab = run_command("jenkins jobs", registry=registry, environ=lab_settings)
        assert lab.ok, lab.error
        assert [r[0] for r in lab.results[0].rows] == ["deploy"]


def test_access_globs() -> None:
    from opspack_jenkins import access

    assert access.job_allowed("team/app/x", ["team/*"])
    assert not access.job_allowed("deploy", ["team/*"])
    assert access.folder_may_hold("team", ["team/app/*"])
    assert access.folder_may_hold("team/app", ["team/*"])
    assert not access.folder_may_hold("tools", ["team/app/*"])
    assert access.folder_may_hold("anything", ["*"])
    globs: Any = access.job_globs({"allowed_jobs": "a,b", "role_jobs": "ops=*"}, ["dev"])
    assert globs == ["a", "b"]
    assert access.job_globs({"allowed_jobs": "a", "role_jobs": "ops=x|y; dev=z"}, ["ops", "dev"]) == ["x", "y", "z"]
    from opspack.errors import ConfigError

    with pytest.raises(ConfigError):
        access.parse_role_jobs("ops")


def test_command_modules_do_not_import_python_jenkins() -> None:
    code = (
        "import sys, opspack_jenkins, opspack_jenkins.job, opspack_jenkins.build, opspack_jenkins.controller;"
        "print(sorted(m for m in ('jenkins', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
