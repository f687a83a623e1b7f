"""Who is calling, through the runner (`opspack serve`'s app with its guard, the policy on, an
SQLite audit trail, the jenkins pack against its fake): named bearer tokens bound to users,
group names mapped to roles only by the policy, every decision in the audit trail with the
token's name and the approver, and the attacks that used to work."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from frontend_helpers import child_env, opspack_exe
from opspack.audit import AuditLog, Record
from opspack.confirm import SqlConfirmations
from opspack.frontends.gateway import Gateway
from opspack.frontends.serve import ServeSettings, build_app, create_app
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.jenkins import FakeJenkins, choice
from starlette.testclient import TestClient

POLICY = """
[defaults]
contact = "#ops-admins"

[users]
alice = ["deployer"]
bob = ["viewer"]
carol = ["release-managers"]

[groups]
"ops-team" = ["deployer"]
"rm-team" = ["release-managers"]

[roles.deployer]
allow = ["jenkins.*", "echo.*"]

[roles.viewer]
allow = ["*.read"]

[roles.release-managers]
allow = ["*.read"]

[approvals]
"jenkins.build.start" = ["release-managers"]
"""

#: bearer tokens: a chat bridge that may speak for anyone and pass groups, a bot bound to
#: alice, one bound to bob that may not pass groups; plus OPSPACK_SERVE_TOKENS' `default`
TOKENS = {"hubot": "hubot-token-0123456789", "alicebot": "alicebot-token-0123456789", "bobbot": "bobbot-token-012345"}
LEGACY = "legacy-token-0123456789"
CONFIG = f"""
[serve.tokens.hubot]
token = "env:HUBOT_TOKEN"
users = "*"
groups = true

[serve.tokens.alicebot]
token = "{TOKENS["alicebot"]}"
users = ["alice"]

[serve.tokens.bobbot]
token = "{TOKENS["bobbot"]}"
users = ["bob", "mallory"]
groups = false
"""


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS.get(name, LEGACY)}"}


@dataclass
class Setup:
    client: TestClient
    audit: AuditLog
    fake: FakeJenkins
    runtime: Runtime
    audit_url: str

    def records(self, **filters: Any) -> list[Record]:
        """The audit trail, oldest first."""
        return list(reversed(self.audit.history(limit=100, **filters)))

    def builds(self) -> list[str]:
        return [r.path for r in self.fake.requests if r.method == "POST" and "/build" in r.path]


@pytest.fixture
def fake() -> Iterator[FakeJenkins]:
    f = FakeJenkins()
    f.users["chatbot"] = ("chatbot-api-token-0123", {"read", "build"})
    f.add_job("deploy", params=[choice("ENV", ["dev", "prod"])], script=["Deploying to ${ENV}", "Deployed."])
    f.start()
    yield f
    f.stop()


@pytest.fixture
def setup(registry: Registry, fake: FakeJenkins, tmp_path: Path) -> Iterator[Setup]:
    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "opspack.toml").write_text(CONFIG)
    audit_url = f"sqlite:///{tmp_path / 'audit.db'}"
    environ = {
        "OPSPACK_CONFIG": str(tmp_path / "opspack.toml"),
        "OPSPACK_POLICY": str(tmp_path / "policy.toml"),
        "OPSPACK_AUDIT_URL": audit_url,
        "OPSPACK_SERVE_TOKENS": LEGACY,
        "HUBOT_TOKEN": TOKENS["hubot"],
        "OPSPACK_JENKINS_URL": fake.url,
        "OPSPACK_JENKINS_USER": "chatbot",
        "OPSPACK_JENKINS_TOKEN": "chatbot-api-token-0123",
        "OPSPACK_JENKINS_POLL_INTERVAL": "0",
    }
    config = Config.load(environ=environ)
    runtime = Runtime(registry, config=config)
    runtime.require_policy()
    with TestClient(build_app(runtime, config=config)) as client:
        assert runtime.audit is not None
        yield Setup(client, runtime.audit, fake, runtime, audit_url)
    runtime.close()


def chat(setup: Setup, token: str, text: str | None, user: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    r = setup.client.post("/chat", json={"text": text, "user": user, **extra}, headers=auth(token))
    return r.status_code, r.json()


# -- named tokens ------------------------------------------------------------------------
def test_the_tokens_are_named_and_every_record_names_its_token(setup: Setup) -> None:
    for token in ("hubot", "alicebot", "default"):
        status, body = chat(setup, token, "echo hi", "alice")
        assert status == 200 and body["ok"] is True, body
    assert [(r.token, r.user, r.command) for r in setup.records()] == [
        ("hubot", "alice", "echo.msg.say"),
        ("alicebot", "alice", "echo.msg.say"),
        ("default", "alice", "echo.msg.say"),
    ]
    assert all(r.reason == "role deployer allows echo.*" for r in setup.records())


def test_a_token_used_for_a_user_outside_its_users_is_403_and_recorded(setup: Setup) -> None:
    status, body = chat(setup, "alicebot", "jenkins build deploy ENV=prod", "mallory")
    assert status == 403
    assert body["ok"] is False and body["results"] == []
    assert body["error"]["kind"] == "denied"
    assert body["error"]["message"] == "The token alicebot may not speak for mallory."
    r = setup.client.post(
        "/invoke", json={"command": "echo.msg.say", "args": {"text": "x"}, "user": "bob"}, headers=auth("alicebot")
    )
    assert r.status_code == 403 and r.json()["command"] == "echo.msg.say"
    assert setup.client.get("/registry?user=carol", headers=auth("alicebot")).status_code == 403
    assert setup.client.get("/jobs?user=carol", headers=auth("alicebot")).status_code == 403
    assert setup.client.get("/registry?user=alice", headers=auth("alicebot")).status_code == 200
    refused = setup.records()
    assert [(r.user, r.token, r.command, r.ok, r.error_kind) for r in refused] == [
        ("mallory", "alicebot", None, False, "denied"),
        ("bob", "alicebot", "echo.msg.say", False, "denied"),
    ]
    assert refused[0].text == "jenkins build deploy ENV=prod"
    assert refused[0].reason == "The token alicebot may not speak for mallory."
    assert setup.builds() == []


def test_a_token_without_groups_may_not_pass_them(setup: Setup) -> None:
    for field in ("groups", "roles"):
        status, body = chat(setup, "bobbot", "echo hi", "bob", **{field: ["rm-team"]})
        assert status == 403 and body["error"]["kind"] == "denied"
        assert body["error"]["message"] == "The token bobbot may not pass groups (rm-team)."
    assert setup.client.get("/registry?user=bob&groups=ops-team", headers=auth("bobbot")).status_code == 403
    status, body = chat(setup, "bobbot", "echo hi", "bob")
    assert status == 200 and body["ok"] is True
    assert [(r.user, r.token, r.ok) for r in setup.records()] == [
        ("bob", "bobbot", False),
        ("bob", "bobbot", False),
        ("bob", "bobbot", True),
    ]


def test_a_jobs_reply_is_only_for_a_token_that_speaks_for_its_user(setup: Setup) -> None:
    r = setup.client.post("/chat", json={"text": "echo hi", "user": "alice", "async": True}, headers=auth("hubot"))
    assert r.status_code == 202, r.text
    job = r.json()["job"]["id"]
    assert setup.client.get(f"/jobs/{job}", headers=auth("bobbot")).status_code == 403
    assert setup.client.get(f"/jobs/{job}/events", headers=auth("bobbot")).status_code == 403
    assert job not in [j["id"] for j in setup.client.get("/jobs", headers=auth("bobbot")).json()["jobs"]]
    assert setup.client.get(f"/jobs/{job}", headers=auth("alicebot")).status_code == 200
    assert job in [j["id"] for j in setup.client.get("/jobs", headers=auth("alicebot")).json()["jobs"]]


# -- groups are group names ---------------------------------------------------------------
def test_a_request_never_grants_itself_a_role(setup: Setup) -> None:
    """mallory, unknown to the policy, claims the role that may build: refused, nothing built."""
    for field in ("roles", "groups"):
        status, body = chat(setup, "hubot", "jenkins build deploy ENV=prod", "mallory", **{field: ["deployer"]})
        assert status == 200 and body["ok"] is False
        assert body["error"]["kind"] == "denied" and body["error"].get("confirm") is None
        assert "mallory may not run jenkins.build.start" in body["error"]["message"]
    # a group of the policy maps to its roles: dave in ops-team asks (and needs an approval)
    status, body = chat(setup, "hubot", "jenkins build deploy ENV=prod", "dave", groups=["ops-team"])
    assert body["error"]["confirm"]["approvers"] == ["release-managers"]
    assert setup.builds() == []
    mallory = setup.records(user="mallory")
    assert [(r.error_kind, r.token, r.reason) for r in mallory] == [
        ("denied", "hubot", "no role of the user allows it"),
        ("denied", "hubot", "no role of the user allows it"),
    ]


# -- approvals -------------------------------------------------------------------------
def test_a_viewer_claiming_an_approver_role_cannot_burn_the_approval(setup: Setup) -> None:
    status, asked = chat(setup, "hubot", "jenkins build deploy ENV=prod", "alice", channel="#deploys")
    assert status == 200 and asked["error"]["kind"] == "denied"
    token = asked["error"]["confirm"]["token"]
    # bob claims the approvers' role, by its name, through a bridge that may pass groups
    status, body = chat(setup, "hubot", f"confirm {token}", "bob", roles=["release-managers"])
    assert status == 200 and body["ok"] is False
    assert body["error"]["message"] == "bob may not approve this: approvers are release-managers."
    # and through his own token, which may not pass groups
    status, body = chat(setup, "bobbot", None, "bob", confirm_token=token, roles=["release-managers"])
    assert status == 403
    assert setup.builds() == []
    # the token is still good for a real approver, who approves through a group
    status, done = chat(setup, "hubot", None, "erin", confirm_token=token, groups=["rm-team"], channel="#rm")
    assert status == 200 and done["ok"] is True, done
    assert len(setup.builds()) == 1
    records = setup.records()
    assert [(r.user, r.error_kind, r.token, r.approver) for r in records] == [
        ("alice", "confirm_requested", "hubot", None),
        ("bob", "denied", "hubot", None),
        ("bob", "denied", "bobbot", None),
        ("alice", None, "hubot", "erin"),
    ]
    requested, not_approver, groups_refused, approved = records
    assert requested.reason == ("role deployer allows jenkins.*; awaits approval by a member of release-managers")
    assert not_approver.command == "jenkins.build.start" and not_approver.text == "jenkins build deploy ENV=prod"
    assert not_approver.reason == "not an approver: approvers are release-managers"
    assert groups_refused.reason == "The token bobbot may not pass groups (release-managers)."
    # the approved run is alice's, in her channel, approved by erin
    assert approved.ok and approved.channel == "#deploys" and approved.command == "jenkins.build.start"
    assert approved.reason == "role deployer allows jenkins.*; approved by erin"


def test_a_self_approval_and_a_second_use_are_refused_and_recorded(setup: Setup) -> None:
    _, asked = chat(setup, "alicebot", "jenkins build deploy ENV=dev", "alice")
    token = asked["error"]["confirm"]["token"]
    _, own = chat(setup, "alicebot", f"confirm {token}", "alice")
    assert own["error"]["message"] == "You cannot approve your own request."
    _, done = chat(setup, "hubot", f"confirm {token}", "carol")
    assert done["ok"] is True, done
    _, again = chat(setup, "hubot", f"confirm {token}", "carol")
    assert again["error"]["message"] == "This confirmation is unknown, expired or already used."
    assert [(r.user, r.error_kind, r.approver, r.reason) for r in setup.records()[1:]] == [
        ("alice", "denied", None, "own request: the requester cannot approve it"),
        ("alice", None, "carol", "role deployer allows jenkins.*; approved by carol"),
        ("carol", "denied", None, "reused: already used by carol"),
    ]
    assert setup.records()[-1].command == "jenkins.build.start"


# -- confirmations -------------------------------------------------------------------------
def test_every_failed_redemption_is_recorded_with_why(setup: Setup) -> None:
    _, asked = chat(setup, "hubot", "disk wipe sdb", "alice")
    assert asked["error"]["kind"] == "denied" and asked["error"]["confirm"]["text"] == "disk wipe sdb"
    token = asked["error"]["confirm"]["token"]
    _, wrong = chat(setup, "hubot", None, "bob", confirm_token=token)
    assert "belongs to another user" in wrong["error"]["message"]
    _, other = chat(setup, "hubot", "disk wipe sda", "alice", confirm_token=token)
    assert "not `disk wipe sda`" in other["error"]["message"]
    _, done = chat(setup, "hubot", "disk wipe sdb", "alice", confirm_token=token)
    assert done["ok"] is True, done
    _, reused = chat(setup, "hubot", f"confirm {token}", "alice")
    _, unknown = chat(setup, "hubot", "confirm not-a-token", "alice")
    for body in (reused, unknown):
        assert body["error"]["message"] == "This confirmation is unknown, expired or already used."
    records = setup.records()
    assert [(r.user, r.command, r.ok, r.error_kind, r.reason) for r in records] == [
        ("alice", "echo.disk.wipe", False, "confirm_requested", "role deployer allows echo.*"),
        ("bob", "echo.disk.wipe", False, "denied", "wrong user: the confirmation is alice's"),
        ("alice", "echo.disk.wipe", False, "denied", "other command: presented with `disk wipe sda`"),
        ("alice", "echo.disk.wipe", True, None, "role deployer allows echo.*; confirmed"),
        ("alice", "echo.disk.wipe", False, "denied", "reused: already used by alice"),
        ("alice", None, False, "denied", "unknown token"),
    ]
    assert all(r.token == "hubot" for r in records)
    assert token not in json.dumps([r.to_dict() for r in records])  # the token itself is never stored


def test_an_expired_confirmation_is_recorded_as_expired(setup: Setup) -> None:
    assert setup.runtime.audit is not None
    short = SqlConfirmations(setup.runtime.audit.database, ttl=0.2)
    settings = ServeSettings(tokens=[TOKENS["hubot"]])
    with TestClient(create_app(Gateway(setup.runtime, short), settings)) as client:
        asked = client.post("/chat", json={"text": "disk wipe sdc", "user": "alice"}, headers=auth("hubot")).json()
        token = asked["error"]["confirm"]["token"]
        time.sleep(0.3)
        late = client.post("/chat", json={"confirm_token": token, "user": "alice"}, headers=auth("hubot")).json()
    assert late["error"]["message"] == "This confirmation is unknown, expired or already used."
    last = setup.records()[-1]
    assert (last.command, last.reason, last.token) == ("echo.disk.wipe", "expired", "default")


def test_history_json_prints_the_token_and_the_approver(setup: Setup, registry_file: Path, tmp_path: Path) -> None:
    _, asked = chat(setup, "alicebot", "jenkins build deploy ENV=dev", "alice")
    chat(setup, "hubot", f"confirm {asked['error']['confirm']['token']}", "carol")
    setup.audit.flush()
    env = child_env(OPSPACK_AUDIT_URL=setup.audit_url)
    proc = subprocess.run(
        [opspack_exe(), "--registry", str(registry_file), "history", "--json", "jenkins", "build"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert [(r["user"], r["token"], r["approver"], r["error_kind"]) for r in printed] == [
        ("alice", "hubot", "carol", None),
        ("alice", "alicebot", None, "confirm_requested"),
    ]
    assert printed[0]["reason"] == "role deployer allows jenkins.*; approved by carol"


# -- a real runner ---------------------------------------------------------------------------
@pytest.mark.parametrize("frontend", [["serve", "--port", "1"], ["mcp"], ["slack"]], ids=["serve", "mcp", "slack"])
def test_a_front_end_does_not_start_with_a_policy_that_does_not_load(
    registry_file: Path, tmp_path: Path, frontend: list[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[users]\nalice = ["ops"]\n[channels]\n"#incident" = ["responder"]\n[roles.ops]\nallow = ["*"]\n')
    proc = subprocess.run(
        [opspack_exe(), "--registry", str(registry_file), *frontend],
        env=child_env(OPSPACK_SERVE_TOKENS=LEGACY, OPSPACK_POLICY=str(policy)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert f"policy {policy}: channels.#incident names undefined roles responder" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_real_runner_binds_its_tokens(registry_file: Path, tmp_path: Path) -> None:
    """`opspack serve` from opspack.toml: named tokens, the policy, the refusals over HTTP."""
    import httpx
    from conftest import start_runner

    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "opspack.toml").write_text(CONFIG)
    env = {
        "OPSPACK_CONFIG": str(tmp_path / "opspack.toml"),
        "OPSPACK_POLICY": str(tmp_path / "policy.toml"),
        "OPSPACK_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "HUBOT_TOKEN": TOKENS["hubot"],
    }
    with start_runner(registry_file, tmp_path, **env) as runner, httpx.Client(base_url=runner.url, timeout=30) as http:
        mallory = http.post("/chat", json={"text": "disk wipe sdz", "user": "mallory"}, headers=auth("alicebot"))
        assert mallory.status_code == 403 and mallory.json()["error"]["kind"] == "denied"
        claims = http.post(
            "/chat", json={"text": "disk wipe sdz", "user": "mallory", "roles": ["deployer"]}, headers=auth("hubot")
        ).json()
        assert claims["ok"] is False and "mallory may not run echo.disk.wipe" in claims["error"]["message"]
        alice = http.post("/chat", json={"text": "disk wipe sdz", "user": "alice"}, headers=auth("alicebot")).json()
        assert alice["error"]["confirm"]["token"]
    audit = AuditLog(env["OPSPACK_AUDIT_URL"])
    try:
        records = [(r.user, r.token, r.error_kind) for r in reversed(audit.history(limit=10))]
    finally:
        audit.close()
    assert records == [
        ("mallory", "alicebot", "denied"),
        ("mallory", "hubot", "denied"),
        ("alice", "alicebot", "confirm_requested"),
    ]
    assert TOKENS["alicebot"] not in runner.log.read_text()
