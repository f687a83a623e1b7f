"""Permissions from a policy file, the audit trail, history and the friction log."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from opspack.audit import AuditLog
from opspack.confirm import REMEMBER_S, Confirmations
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.frontends.gateway import Gateway
from opspack.grammar import parse_since
from opspack.policy import Policy
from opspack.registry import Registry
from opspack.renderers import render
from opspack.runtime import Runtime
from opspack.settings import Config

POLICY = """
[defaults]
read_only = "allow"
mutating = "deny"
contact = "#ops-admins"

[users]
alice = ["ops"]
bob = ["viewer"]
carol = ["dba-leads"]

[groups]
"ops-team" = ["ops"]
"dba" = ["dba-leads"]

[channels]
"#incident" = ["responder"]

[roles.ops]
allow = ["sample.thing.*", "core.*"]
deny = ["sample.thing.slow"]
granted_by = "@ops-leads"

[roles.viewer]
allow = ["*.read"]

[roles.responder]
allow = ["sample.thing.power"]

[roles.dba-leads]
allow = ["*.read"]

[approvals]
"sample.thing.config" = ["dba-leads"]
"""


@pytest.fixture
def full_registry(registry: Registry) -> Registry:
    core = registry_from_package("opspack_core", metadata.version("opspack"))
    return Registry(packs=registry.packs + core.packs, commands=registry.commands + core.commands)


@pytest.fixture
def audit(audit_url: str) -> AuditLog:
    log = AuditLog(audit_url)
    yield log  # type: ignore[misc]
    log.close()


@pytest.fixture
def secured(full_registry: Registry, environ: dict[str, str], audit: AuditLog) -> Runtime:
    rt = Runtime(full_registry, config=Config(data={}, environ=environ), policy=Policy.from_toml(POLICY), audit=audit)
    yield rt  # type: ignore[misc]
    rt.close()


def test_reads_are_allowed_for_known_users_only(secured: Runtime) -> None:
    assert secured.chat("thing list", Caller(user="bob")).ok
    stranger = secured.chat("thing list", Caller(user="mallory"))
    assert stranger.error is not None and stranger.error.kind == "denied"
    assert "needs permission sample.thing.list" in stranger.error.message
    assert stranger.error.hint == "Ask @ops-leads to grant sample.thing.list."


def test_mutating_needs_a_role_and_deny_wins(secured: Runtime) -> None:
    bob = secured.chat("thing power-off web01", Caller(user="bob", confirmed=True))
    assert bob.error is not None and bob.error.kind == "denied" and "sample.thing.power" in bob.error.message
    alice = secured.chat("thing power-off web01", Caller(user="alice", confirmed=True))
    assert alice.ok
    slow = secured.chat("thing slow --seconds 0", Caller(user="alice"))
    assert slow.error is not None and "role ops denies sample.thing.slow" in slow.error.message


def test_groups_and_channels_grant_roles(secured: Runtime) -> None:
    via_group = secured.chat("thing power-off w1", Caller(user="dave", groups=("ops-team",), confirmed=True))
    assert via_group.ok
    in_incident = secured.chat("thing power-off w1", Caller(user="erin", channel="#incident", confirmed=True))
    assert in_incident.ok
    elsewhere = secured.chat("thing power-off w1", Caller(user="erin", channel="#random", confirmed=True))
    assert elsewhere.error is not None and elsewhere.error.kind == "denied"


def test_a_group_named_like_a_role_grants_nothing(secured: Runtime, audit: AuditLog) -> None:
    """What a front-end passes are group names: `ops` is no group of the policy, so mallory
    gets no role from it, and what a front-end puts in `roles` is replaced by the policy's."""
    claims = secured.chat("thing power-off w1", Caller(user="mallory", groups=("ops",), confirmed=True))
    assert claims.error is not None and claims.error.kind == "denied"
    forged = secured.chat("thing power-off w1", Caller(user="mallory", roles=("ops",), confirmed=True))
    assert forged.error is not None and forged.error.kind == "denied"
    assert secured.with_roles(Caller(user="dave", groups=("ops-team", "ops"), roles=("admin",))).roles == ("ops",)
    assert secured.with_roles(Caller(user="erin", channel="#incident")).roles == ("responder",)
    assert [(r.user, r.error_kind, r.reason) for r in audit.history(limit=5)] == [
        ("mallory", "denied", "no role of the user allows it"),
        ("mallory", "denied", "no role of the user allows it"),
    ]


def test_second_person_approval(secured: Runtime) -> None:
    alone = secured.chat("thing config sw1 x", Caller(user="alice"))
    assert alone.error is not None and "needs a second person's approval" in alone.error.message
    self_approved = secured.chat("thing config sw1 x", Caller(user="alice", approved_by="alice"))
    assert self_approved.error is not None
    wrong = secured.chat("thing config sw1 x", Caller(user="alice", approved_by="bob"))
    assert wrong.error is not None and "bob may not approve" in wrong.error.message
    approved = secured.chat("thing config sw1 x", Caller(user="alice", approved_by="carol"))
    assert approved.ok


def test_an_approver_through_a_group_approves_and_is_recorded(secured: Runtime, audit: AuditLog) -> None:
    """The approver's groups and channel count for the runtime's check as for the gateway's:
    one check, so a token is never used up by an approval the runtime then refuses."""
    gw = Gateway(secured)
    asked = gw.chat("thing config sw1 x", Caller(user="alice", channel="#ops"))
    token = asked.error.confirm.token if asked.error and asked.error.confirm else None
    assert token
    approved = gw.chat(f"confirm {token}", Caller(user="erin", groups=("dba",), channel="#dba"))
    assert approved.ok, approved.error
    run = audit.history(limit=1)[0]
    assert (run.user, run.channel, run.approver, run.ok) == ("alice", "#ops", "erin", True)
    assert run.reason == "role ops allows sample.thing.*; approved by erin"
    requested = audit.history(limit=2)[1]
    assert (requested.user, requested.error_kind, requested.approver) == ("alice", "confirm_requested", None)
    table = secured.chat("history thing config", Caller(user="alice")).to_dict()["results"][0]
    # the request is not a denial: it awaits its confirmation
    assert [(r[1], r[5]) for r in table["rows"]] == [
        ("alice", "ok, approved by erin"),
        ("alice", "awaiting confirmation"),
    ]
    assert table["row_status"] == ["ok", "unknown"]


def test_help_shows_only_what_the_user_may_run(secured: Runtime) -> None:
    gateway = Gateway(secured)
    alice = render(gateway.chat("help", Caller(user="alice")), "text")
    bob = render(gateway.chat("help", Caller(user="bob")), "text")
    assert "thing power-off" in alice and "thing power-off" not in bob
    assert "thing list" in bob


def test_invalid_policies_are_config_errors() -> None:
    from opspack.errors import ConfigError

    with pytest.raises(ConfigError, match="undefined roles ghost"):
        Policy.from_toml('[users]\nalice = ["ghost"]\n')
    with pytest.raises(ConfigError, match=r"approvals\.x\.y names undefined roles nobody"):
        Policy.from_toml('[approvals]\n"x.y" = ["nobody"]\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        Policy.from_toml("[users\n")
    with pytest.raises(ConfigError, match=r"roles\.ops must be a table"):
        Policy.from_toml('roles = {ops = "all"}\n')


def test_policy_check_names_every_problem(full_registry: Registry) -> None:
    from opspack.policy import check

    assert check(POLICY, full_registry.commands, "p.toml") == []
    text = (
        '[defaults]\ncolour = "red"\n[users]\nalice = ["ops"]\ndave = []\n[groups]\n"g" = ["ghost"]\n'
        '[roles.ops]\nallow = ["sample.thing.list", "vmware.vm.power", "*.read"]\ndeny = ["sample.nothing"]\n'
        'grant_by = "@x"\n[approvals]\n"sql.session.kill" = ["ops"]\n[role.typo]\nallow = ["*"]\n'
    )
    assert check(text, full_registry.commands, "p.toml") == [
        "p.toml: groups.g names undefined roles ghost",
        "p.toml: unknown table [role]",
        "p.toml: defaults.colour is not a setting",
        "p.toml: roles.ops.grant_by is not a setting",
        "p.toml: users.dave has no roles",
        "p.toml: roles.ops.allow: vmware.vm.power matches no command",
        "p.toml: roles.ops.deny: sample.nothing matches no command",
        "p.toml: approvals: sql.session.kill matches no command",
    ]
    assert check("[users\n", full_registry.commands, "p.toml")[0].startswith("policy p.toml is not valid TOML")


def test_cli_policy_check(tmp_path: Path, full_registry: Registry) -> None:
    """`opspack policy check` against the repository's registry.json passes the docs' example,
    names the problems of another and exits 1; the file in force by default."""
    root = Path(__file__).resolve().parents[2]

    def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "opspack.frontends.cli", *args]
        environ = {k: v for k, v in os.environ.items() if k != "OPSPACK_POLICY"} | env
        return subprocess.run(cmd, env=environ, capture_output=True, text=True, check=False, timeout=60)

    docs = cli("--registry", str(root / "registry.json"), "policy", "check", str(root / "docs/examples/policy.toml"))
    assert docs.returncode == 0, docs.stdout + docs.stderr
    assert "every pattern matches" in docs.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[users]\nalice = ["ops"]\n[roles.ops]\nallow = ["vmware.vm.power"]\n')
    reg = tmp_path / "registry.json"
    reg.write_text(json.dumps(full_registry.to_data()))
    refused = cli("--registry", str(reg), "policy", "check", OPSPACK_POLICY=str(bad))
    assert refused.returncode == 1
    assert refused.stdout == f"{bad}: roles.ops.allow: vmware.vm.power matches no command\n"
    assert cli("policy", "check").returncode == 2


def test_a_long_running_front_end_refuses_a_policy_that_does_not_load(
    full_registry: Registry, environ: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from opspack.errors import ConfigError

    policy = tmp_path / "policy.toml"
    policy.write_text('[channels]\n"#incident" = ["responder"]\n')
    rt = Runtime(full_registry, config=Config(data={}, environ={**environ, "OPSPACK_POLICY": str(policy)}), audit=None)
    with pytest.raises(ConfigError, match=r"channels\.#incident names undefined roles responder"):
        rt.require_policy()
    policy.write_text('[users]\nal = ["ops"]\n[roles.ops]\nallow = ["vmware.*"]\n')
    with caplog.at_level("WARNING", logger="opspack.policy"):
        loaded = rt.require_policy()
    assert loaded is not None and loaded.users == {"al": ["ops"]}
    assert f"{policy}: roles.ops.allow: vmware.* matches no command" in caplog.text
    rt.close()


def test_every_invocation_is_recorded_with_secrets_masked(secured: Runtime, audit: AuditLog) -> None:
    secured.masker.add("hunter2-secret")
    secured.chat("thing list --limit 1", Caller(user="alice", channel="#ops", frontend="slack"))
    secured.chat("thing build deploy PASSWORD=hunter2-secret TOKEN=abc ENV=prod", Caller(user="alice"))
    secured.chat("thing lst", Caller(user="alice"))
    records = audit.history(limit=10)
    assert [r.command for r in records] == [None, "sample.thing.build", "sample.thing.list"]
    unknown, build, listing = records
    assert listing.user == "alice" and listing.channel == "#ops" and listing.frontend == "slack" and listing.ok
    assert json.loads(build.args) == {
        "job": "deploy",
        "params": {"ENV": "prod", "PASSWORD": "••••••", "TOKEN": "••••••"},
    }
    assert "hunter2-secret" not in (build.text or "")
    assert unknown.ok is False and unknown.error_kind == "usage" and unknown.text == "thing lst"


def test_nothing_is_lost_under_load(secured: Runtime, audit: AuditLog) -> None:
    def worker(n: int) -> None:
        for i in range(50):
            secured.chat(f"thing list --limit {i % 5}", Caller(user=f"user{n}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert audit.count() == 1000


def test_history_and_stats_in_chat(secured: Runtime) -> None:
    for text in ["thing list --limit 1", "thing list --limit 2", "thing broken --how backend"]:
        secured.chat(text, Caller(user="alice"))
    history = secured.chat("history thing list", Caller(user="alice")).to_dict()["results"][0]
    assert [r[4] for r in history["rows"]] == ["thing list --limit 2", "thing list --limit 1"]
    failed = secured.chat("history --failed", Caller(user="alice")).to_dict()["results"][0]
    assert [r[5] for r in failed["rows"]] == ["backend"]
    stats = secured.chat("history stats", Caller(user="alice")).to_dict()["results"][0]
    by_command = {r[0]: r for r in stats["rows"]}
    assert by_command["sample.thing.list"][1:4] == [2, 0, "0%"]
    assert by_command["sample.thing.broken"][1:4] == [1, 1, "100%"]


def test_friction_log(secured: Runtime) -> None:
    added = secured.chat('friction add "had to ssh to restart nginx" --tag manual,nginx', Caller(user="alice"))
    assert added.ok and "Logged as #1" in added.to_dict()["results"][0]["message"]
    secured.chat("friction add no permission to restart jobs --tag permission", Caller(user="alice"))
    manual = secured.chat("friction list --tag manual", Caller(user="alice")).to_dict()["results"][0]
    assert [r[3] for r in manual["rows"]] == ["had to ssh to restart nginx"]
    assert secured.chat("friction done 1", Caller(user="alice")).ok
    again = secured.chat("friction done 1", Caller(user="alice"))
    assert again.error is not None and again.error.kind == "not_found"
    open_items = secured.chat("friction list", Caller(user="alice")).to_dict()["results"][0]
    assert [r[0] for r in open_items["rows"]] == [2]


def test_parse_since() -> None:
    assert parse_since("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert parse_since("2026-11-01") > 0
    from opspack.errors import UsageError

    with pytest.raises(UsageError, match="expected a duration"):
        parse_since("last tuesday")


def test_cli_history_json(tmp_path: Path, full_registry: Registry, audit_url: str) -> None:
    reg = tmp_path / "registry.json"
    reg.write_text(json.dumps(full_registry.to_data()))
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent / "sample_pack"),
        "OPSPACK_AUDIT_URL": audit_url,
    }
    for text in ["thing list --limit 1", "thing nope"]:
        subprocess.run(
            [sys.executable, "-m", "opspack.frontends.cli", "--registry", str(reg), "run", "--", text],
            env=env,
            capture_output=True,
            check=False,
            timeout=60,
        )
    proc = subprocess.run(
        [sys.executable, "-m", "opspack.frontends.cli", "--registry", str(reg), "history", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert [r["text"] for r in records] == ["thing nope", "thing list --limit 1"]
    assert records[1]["command"] == "sample.thing.list" and records[1]["ok"] is True


def test_audit_trail_on_postgresql_loses_nothing_under_load(
    full_registry: Registry, environ: dict[str, str], postgres_url: str
) -> None:
    """The same guarantee on PostgreSQL (a private server the tests start)."""

    audit = AuditLog(postgres_url)
    rt = Runtime(full_registry, config=Config(data={}, environ=environ), audit=audit)
    # nine more "processes" on the same database
    others = [
        Runtime(full_registry, config=Config(data={}, environ=environ), audit=AuditLog(audit.url)) for _ in range(9)
    ]
    try:

        def worker(n: int) -> None:
            for i in range(50):
                rt.chat(f"thing list --limit {i % 3}", Caller(user=f"pg{n}", channel="#load"))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert audit.count() == 1000
        assert audit.database.dialect == "postgresql"
        recent = audit.history(user="pg3", limit=100)
        assert len(recent) == 50 and all(r.channel == "#load" for r in recent)

        # confirmations in PostgreSQL: a token redeemed by ten processes at once runs once
        gateways = [Gateway(r) for r in (rt, *others)]
        asked = gateways[0].chat("thing power-off pg-race", Caller(user="al"))
        token = asked.error.confirm.token if asked.error and asked.error.confirm else None
        assert token
        outcomes: list[bool] = []

        def redeem(g: Gateway) -> None:
            outcomes.append(g.chat(None, Caller(user="al"), confirm_token=token).ok)

        racers = [threading.Thread(target=redeem, args=(g,)) for g in gateways]
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        assert sorted(outcomes) == [False] * 9 + [True]
    finally:
        for r in (rt, *others):
            r.close()


def test_cli_list_help_and_run_follow_the_policy(tmp_path: Path, full_registry: Registry) -> None:
    reg = tmp_path / "registry.json"
    reg.write_text(json.dumps(full_registry.to_data()))
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent / "sample_pack"),
        "OPSPACK_POLICY": str(policy),
        "OPSPACK_AUDIT_URL": "off",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "opspack.frontends.cli", "--registry", str(reg), *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=60)

    bob = json.loads(cli("list", "--json", "--user", "bob").stdout)
    alice = json.loads(cli("list", "--json", "--user", "alice").stdout)
    assert "sample.thing.list" in {e["id"] for e in bob}
    assert "sample.thing.power_off" not in {e["id"] for e in bob}
    assert "sample.thing.power_off" in {e["id"] for e in alice}
    assert json.loads(cli("list", "--json", "--user", "mallory").stdout) == []
    via_role = json.loads(cli("list", "--json", "--user", "dave", "--role", "ops-team").stdout)
    assert "sample.thing.power_off" in {e["id"] for e in via_role}
    assert "thing power-off" not in cli("help", "--user", "bob").stdout
    denied = cli("run", "--user", "mallory", "--format", "json", "--", "thing", "list")
    assert denied.returncode == 1 and json.loads(denied.stdout)["error"]["kind"] == "denied"
    assert cli("run", "--user", "bob", "--", "thing", "list").returncode == 0


def test_second_person_approval_through_a_front_end(full_registry: Registry, environ: dict[str, str]) -> None:
    """The requester gets a token; the requester cannot use it, a non-approver is refused
    without using it up, and an approver's `confirm <token>` runs it as the requester."""
    from opspack.frontends.gateway import Gateway

    rt = Runtime(full_registry, config=Config(data={}, environ=environ), policy=Policy.from_toml(POLICY), audit=None)
    gw = Gateway(rt)
    asked = gw.chat("thing config sw1 'no shutdown'", Caller(user="alice", channel="#ops"))
    assert asked.error is not None and asked.error.confirm is not None
    confirm = asked.error.confirm
    assert confirm.approvers == ["dba-leads"] and confirm.text == "thing config sw1 'no shutdown'"
    assert confirm.token and f"`confirm {confirm.token}`" in (asked.error.hint or "")
    own = gw.chat(f"confirm {confirm.token}", Caller(user="alice"))
    assert own.error is not None and "cannot approve your own request" in own.error.message
    wrong = gw.chat(f"confirm {confirm.token}", Caller(user="bob"))
    assert wrong.error is not None and "bob may not approve this" in wrong.error.message
    approved = gw.chat(f"confirm {confirm.token}", Caller(user="carol"))
    assert approved.ok, approved.error
    assert approved.to_dict()["results"][0]["text"] == "sw1: no shutdown color=red ratio=0.5"
    again = gw.chat(f"confirm {confirm.token}", Caller(user="carol"))
    assert again.error is not None and "already used" in again.error.message
    rt.close()


def test_a_declined_mcp_confirmation_cannot_be_redeemed_later(runtime: Runtime) -> None:
    """MCP elicitation: when the user says no, the token is gone, whoever holds it."""
    from opspack.frontends.gateway import Gateway
    from opspack.frontends.mcp import McpFrontend
    from opspack_sample import thing

    frontend = McpFrontend(Gateway(runtime))
    asked = frontend.call("sample_thing_power_off", {"thing": "mcp-no-1"})
    confirm = asked.error.confirm if asked.error is not None else None
    assert confirm is not None and confirm.token
    declined = frontend.decline(confirm, "decline")
    assert declined.error is not None and declined.error.kind == "denied"
    assert declined.error.message == "Not run: the user declined `thing power-off mcp-no-1`."
    late = frontend.call("opspack_confirm", {"token": confirm.token})
    assert late.error is not None and "unknown, expired or already used" in late.error.message
    assert not any("power_off mcp-no-1" in c for c in thing.CALLS)
    accepted = frontend.call("sample_thing_power_off", {"thing": "mcp-yes-1"})
    assert accepted.error is not None and accepted.error.confirm is not None
    assert frontend.confirm(str(accepted.error.confirm.token)).ok
    assert "power_off mcp-yes-1 force=False" in thing.CALLS


def test_confirmations_in_the_audit_database_serve_every_process(registry: Registry, audit_url: str) -> None:
    """Two runtimes on one audit database (two runner processes behind one address)."""
    import time as _time

    from opspack.confirm import SqlConfirmations
    from opspack.frontends.gateway import Gateway

    a_rt, b_rt = (Runtime(registry, config=Config(data={}, environ={}), audit=AuditLog(audit_url)) for _ in range(2))
    try:
        a, b = Gateway(a_rt), Gateway(b_rt)
        assert isinstance(a.confirmations, SqlConfirmations)
        caller = Caller(user="al")
        asked = a.chat("thing power-off sql-1", caller)
        token = asked.error.confirm.token if asked.error and asked.error.confirm else None
        assert token
        assert b.chat(None, Caller(user="mallory"), confirm_token=token).error is not None  # not theirs
        done = b.chat(None, caller, confirm_token=token)  # the other process runs it
        assert done.ok, done.error
        again = a.chat(None, caller, confirm_token=token)
        assert again.error is not None and "already used" in again.error.message

        asked = b.chat("thing power-off sql-2", caller)
        token = asked.error.confirm.token if asked.error and asked.error.confirm else None
        assert token and a.confirmations.discard(token)  # declined in one process ...
        late = b.chat(None, caller, confirm_token=token)  # ... is gone in the other
        assert late.error is not None and "unknown" in late.error.message

        # only a hash of the token is stored; an expired one is refused
        assert a_rt.audit is not None
        short = SqlConfirmations(a_rt.audit.database, ttl=0.05)
        asked = Gateway(a_rt, short).chat("thing power-off sql-3", caller)
        token = asked.error.confirm.token if asked.error and asked.error.confirm else None
        assert token and short.peek(token) is not None
        keys = [r[0] for r in a_rt.audit.database.query("SELECT token_sha256 FROM opspack_confirmations")]
        assert keys == [hashlib.sha256(token.encode()).hexdigest()]
        _time.sleep(0.1)
        assert short.peek(token) is None and len(short) == 0
    finally:
        a_rt.close()
        b_rt.close()


def test_one_record_the_database_refuses_never_costs_the_rest_of_its_batch(audit_url: str) -> None:
    from typing import Any

    from opspack.audit import Record

    audit = AuditLog(audit_url)
    bad_user: Any = None  # NOT NULL in the table: the batch insert fails, then record by record

    def rec(user: Any) -> Record:
        return Record(
            at=1.0, user=user, channel=None, frontend="cli", command="c", text=None, args="{}", ok=True,
            error_kind=None, duration_ms=1.0,
        )  # fmt: skip

    try:
        for user in ("al", bad_user, "bo"):
            audit.record(rec(user))
        audit.flush()
        assert audit.count() == 2
        assert {r.user for r in audit.history(limit=10)} == {"al", "bo"}
    finally:
        audit.close()


def _refusal_reasons(confirmations: Confirmations, let_expire: Callable[[], None]) -> None:
    """Each way a token is refused, with the reason the audit trail gets."""
    from opspack.confirm import Refused
    from opspack.results import Confirmation, Error, Reply

    cid = "sample.thing.power_off"

    def ask(approvers: list[str] | None = None) -> str:
        confirm = Confirmation(command=cid, args={}, prompt="?", text="thing power-off x", approvers=approvers)
        issued = confirmations.issue(Reply.failure(Error("denied", "?", confirm=confirm)), "al")
        assert issued.error is not None and issued.error.confirm is not None and issued.error.confirm.token
        return issued.error.confirm.token

    def why(token: str, user: str = "al", text: str | None = None) -> tuple[str, str | None]:
        with pytest.raises(Refused) as refused:
            confirmations.redeem(token, user, text)
        assert refused.value.message in (
            "This confirmation is unknown, expired or already used.",
            "This confirmation belongs to another user, not bo.",
            "This confirmation is for `thing power-off x`, not `thing power-off y`.",
            "You cannot approve your own request.",
        )
        return refused.value.reason, refused.value.command

    token = ask()
    assert why(token, "bo") == ("wrong user: the confirmation is al's", cid)
    assert why(token, text="thing power-off y") == ("other command: presented with `thing power-off y`", cid)
    assert confirmations.redeem(token, "al", "thing power-off x").command == cid  # still good after both
    assert why(token) == ("reused: already used by al", cid)
    declined = ask()
    assert confirmations.discard(declined, "al")
    assert why(declined) == ("declined: al said no", cid)
    assert why("never-issued") == ("unknown token", None)
    assert why(ask(["dba-leads"])) == ("own request: the requester cannot approve it", cid)
    late = ask()
    let_expire()
    assert why(late) == ("expired", cid)
    ask()  # issuing another one clears the expired ones away: still known as expired
    assert why(late) == ("expired", cid)
    gone = confirmations.gone(late)
    assert gone is not None and gone.why == "expired"


def test_a_refused_confirmation_says_why_in_this_process() -> None:
    now = [1000.0]
    confirmations = Confirmations(ttl=60, clock=lambda: now[0])

    def let_expire() -> None:
        now[0] += 61

    _refusal_reasons(confirmations, let_expire)
    now[0] += REMEMBER_S + 61
    assert confirmations.gone("never-issued") is None and len(confirmations._spent) == 0


def test_a_refused_confirmation_says_why_in_the_database(audit: AuditLog) -> None:
    """The same reasons with the tokens in the audit trail's database (SQLite, PostgreSQL)."""
    from opspack.confirm import SqlConfirmations

    _refusal_reasons(SqlConfirmations(audit.database, ttl=0.5), lambda: time.sleep(0.6))
    spent = audit.database.query("SELECT why, by_user, command FROM opspack_confirmations_spent ORDER BY at")
    assert sorted(spent) == sorted(
        [("used", "al", "sample.thing.power_off"), ("declined", "al", "sample.thing.power_off")]
        + [("expired", None, "sample.thing.power_off")] * 2  # the approval asked for and `late`
    )
