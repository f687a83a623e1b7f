"""Errors, settings, secrets and lazy imports of the gitlab pack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Run
from gitlab_helpers import table
from opspack.registry import Registry
from opspack_testkit import check_rendering, free_port, run_command
from opspack_testkit.fakes.gitlab import FakeGitLab
from opspack_testkit.tls import TestCA


def test_wrong_token_is_denied_and_never_shown(fake: FakeGitLab, run: Run) -> None:
    fake.add_project("platform/app", files={"README.md": "x"})
    secret = "glpat-WRONG-secret-value"
    reply = run("gitlab mr list platform/app", extra={"OPSPACK_GITLAB_TOKEN": secret})
    assert reply.error.kind == "denied"
    assert reply.error.message == "GitLab refused the token (401 Unauthorized)"
    assert "OPSPACK_GITLAB_TOKEN" in reply.error.hint
    assert fake.requests[-1].headers["private-token"] == secret
    for rendered in check_rendering(reply).values():
        assert secret not in json.dumps(rendered)


def test_read_only_token_gets_403_as_denied(fake: FakeGitLab, run: Run) -> None:
    fake.add_project("platform/app", files={".gitlab-ci.yml": "x"})
    reply = run("gitlab pipeline run platform/app main", extra={"OPSPACK_GITLAB_TOKEN": "glpat-reporter-only"})
    assert reply.error.kind == "denied" and reply.error.message == "GitLab: 403 Forbidden"
    assert "Maintainer" in reply.error.hint
    readable = run("gitlab repo check platform/app", extra={"OPSPACK_GITLAB_TOKEN": "glpat-reporter-only"})
    assert readable.ok


def test_unreachable_gitlab_is_a_backend_error(registry: Registry) -> None:
    env = {"OPSPACK_GITLAB_URL": f"http://127.0.0.1:{free_port()}", "OPSPACK_GITLAB_TOKEN": "t"}
    reply = run_command("gitlab issues platform/app", registry=registry, environ=env)
    assert reply.error.kind == "backend" and reply.error.message == "cannot reach GitLab: connection failed"
    check_rendering(reply)


def test_missing_settings_and_bad_paths(registry: Registry, fake: FakeGitLab) -> None:
    reply = run_command("gitlab mr list platform/app", registry=registry, environ={})
    assert reply.error.kind == "config" and "OPSPACK_GITLAB_URL" in reply.error.hint
    assert "OPSPACK_GITLAB_TOKEN" in reply.error.hint
    env = {"OPSPACK_GITLAB_URL": fake.url, "OPSPACK_GITLAB_TOKEN": fake.token}
    flat = run_command("gitlab issues justaname", registry=registry, environ=env)
    assert flat.error.kind == "usage" and "group/name" in flat.error.hint


def test_profiles_from_opspack_toml(registry: Registry, fake: FakeGitLab, tmp_path: Path) -> None:
    fake.add_project("platform/app", files={"README.md": "x"})
    config = tmp_path / "opspack.toml"
    config.write_text(
        f'[gitlab]\nurl = "http://127.0.0.1:{free_port()}"\ntoken = "env:NOPE"\n\n'
        f'[gitlab.profiles.lab]\nurl = "{fake.url}"\ntoken = "env:LAB_GITLAB_TOKEN"\n',
        encoding="utf-8",
    )
    environ = {"OPSPACK_CONFIG": str(config), "LAB_GITLAB_TOKEN": fake.token}
    reply = run_command("gitlab repo list platform", registry=registry, environ=environ, profile="lab")
    assert reply.ok and table(reply)["rows"][0][0] == "platform/app"


def test_the_client_is_kept_between_commands(registry: Registry, fake: FakeGitLab) -> None:
    from opspack.context import Caller
    from opspack.runtime import Runtime
    from opspack.settings import Config

    fake.add_project("platform/app", files={"README.md": "x"})
    env = {"OPSPACK_GITLAB_URL": fake.url, "OPSPACK_GITLAB_TOKEN": fake.token}
    runtime = Runtime(registry, config=Config.load(environ=env))
    try:
        for _ in range(3):
            assert runtime.chat("gitlab issues platform/app", Caller(user="t")).ok
        assert runtime.pool.created == 1
    finally:
        runtime.close()


def test_command_modules_import_without_python_gitlab() -> None:
    code = (
        "import sys, opspack_gitlab, opspack_gitlab.repo, opspack_gitlab.mr, opspack_gitlab.pipeline, "
        "opspack_gitlab.issue\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('gitlab', 'requests'))\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_registry_entries(registry: Registry) -> None:
    ids = {c["id"]: c for c in registry.in_pack("gitlab")}
    assert set(ids) == {
        "gitlab.repo.new", "gitlab.repo.check", "gitlab.repo.list", "gitlab.mr.list", "gitlab.mr.show",
        "gitlab.pipeline.status", "gitlab.pipeline.run", "gitlab.pipeline.retry", "gitlab.pipeline.cancel",
        "gitlab.issue.list", "gitlab.issue.new",
    }  # fmt: skip
    assert ids["gitlab.mr.show"]["chat"]["usage"] == "gitlab mr <ref>"
    assert ids["gitlab.repo.new"]["effects"] == {
        "read_only": False, "destructive": False, "idempotent": True, "confirm": False,
    }  # fmt: skip
    assert ids["gitlab.pipeline.cancel"]["effects"]["confirm"] is True
    assert ids["gitlab.pipeline.run"]["args_schema"]["properties"]["variables"]["additionalProperties"] == {
        "type": "string"
    }
    pack = registry.pack("gitlab")
    assert pack is not None
    secret = {s["name"]: s["secret"] for s in pack["settings"]}
    assert secret["token"] is True and secret["url"] is False


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_ca_file_and_verify_tls_win_over_the_environments_ca_bundle(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests takes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE before a session's own verify;
    python-gitlab hands ssl_verify to every request, so ca_file and verify_tls=false still decide."""
    (tmp_path / "other").mkdir()
    ca, other = TestCA(tmp_path), TestCA(tmp_path / "other")
    server = FakeGitLab()
    server.add_project("platform/app", files={"README.md": "x"})
    with server.serve_tls(ca.issue("gitlab", ["127.0.0.1", "localhost"])):
        assert server.url.startswith("https://")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_path))
        monkeypatch.setenv("CURL_CA_BUNDLE", str(other.ca_path))
        env = {"OPSPACK_GITLAB_URL": server.url, "OPSPACK_GITLAB_TOKEN": server.token}
        untrusted = run_command("gitlab issues platform/app", registry=registry, environ=env)
        assert untrusted.error is not None and untrusted.error.kind == "config", untrusted.error
        for extra in ({"OPSPACK_GITLAB_CA_FILE": str(ca.ca_path)}, {"OPSPACK_GITLAB_VERIFY_TLS": "false"}):
            reply = run_command("gitlab issues platform/app", registry=registry, environ={**env, **extra})
            assert reply.ok, (extra, reply.error)
