"""The pack against a real Samba 4 AD domain controller, over LDAPS (and StartTLS)."""

from __future__ import annotations

import json
import ssl
import sys
from pathlib import Path
from typing import Any

import ldap3
import pytest
from conftest import BIG, PEOPLE_PASSWORD, READER_PASSWORD, ad_env, run
from ldap3.core import exceptions as lx
from opspack.context import Caller
from opspack.policy import Policy
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_directory.client import Directory
from opspack_directory.flavors import ActiveDirectory
from opspack_testkit import check_rendering
from opspack_testkit.servers.samba import SambaDC


def _bind(dc: SambaDC, user: str, password: str, **options: Any) -> ldap3.Connection:
    server = ldap3.Server(dc.url, tls=ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file)))
    conn = ldap3.Connection(server, user=user, password=password, raise_exceptions=True, **options)
    conn.open()
    conn.bind()
    return conn


def _items(reply: Any, index: int = 0) -> dict[str, Any]:
    assert reply.ok, reply.error
    items: dict[str, Any] = reply.to_dict()["results"][index]["items"]
    return items


def _rows(reply: Any, index: int = 0) -> list[list[Any]]:
    assert reply.ok, reply.error
    rows: list[list[Any]] = reply.to_dict()["results"][index]["rows"]
    return rows


def test_user_info_shows_the_account_and_its_groups(registry: Registry, dc: SambaDC) -> None:
    reply = run(registry, "user info bmartin", ad_env(dc))
    items = _items(reply)
    assert items["name"] == "Bruno Martin"
    assert items["mail"] == "bruno.martin@corp.example.com"
    assert items["enabled"] == "yes"
    assert items["locked out"] == "no"
    assert items["manager"] == "Alice Dupont"
    assert items["OU"] == f"OU=Staff,{dc.base_dn}"
    assert items["pw expires"].startswith("20")  # maxPwdAge of the domain (42 days)
    groups = {r[0]: r[1] for r in _rows(reply, 1)}
    assert groups == {"Domain Users": "direct (primary group)", "Sales": "direct"}
    check_rendering(reply)

    nested = run(registry, "user info cnguyen --nested", ad_env(dc))
    groups = {r[0]: r[1] for r in _rows(nested, 1)}
    assert groups["Sales-EU"] == "direct"
    assert groups["Sales"] == "via Sales-EU"
    assert groups["VPN-Users"] == "via Sales-EU > Sales"


def test_user_search_by_name_login_or_mail(registry: Registry, dc: SambaDC) -> None:
    rows = _rows(run(registry, "user search dupont", ad_env(dc)))
    assert [r[0] for r in rows] == ["adupont"]
    rows = _rows(run(registry, "user search elena.rossi@", ad_env(dc)))
    assert [r[0] for r in rows] == ["erossi"]
    capped = run(registry, "user search bulk0 --limit 5", ad_env(dc))
    assert len(_rows(capped)) == 5 and capped.to_dict()["results"][0]["total"] > 5


def test_a_real_lockout_is_shown_and_unlocked(registry: Registry, dc: SambaDC) -> None:
    """Three wrong passwords lock dschmidt (the domain's policy); unlock lets them in again."""
    upn = "dschmidt@corp.example.com"
    for _ in range(3):
        with pytest.raises(lx.LDAPInvalidCredentialsResult):
            _bind(dc, upn, "wrong-password")
    with pytest.raises(lx.LDAPInvalidCredentialsResult) as locked_bind:
        _bind(dc, upn, PEOPLE_PASSWORD)
    assert "data 775" in str(locked_bind.value.message)  # AD's "account locked out"

    info = _items(run(registry, "user info dschmidt", ad_env(dc)))
    assert info["locked out"].startswith("yes, until 20")
    unlocked = run(registry, "user unlock dschmidt", ad_env(dc))
    assert unlocked.ok and "unlocked" in unlocked.results[0].message
    _bind(dc, upn, PEOPLE_PASSWORD).unbind()
    assert _items(run(registry, "user info dschmidt", ad_env(dc)))["locked out"] == "no"
    again = run(registry, "user unlock dschmidt", ad_env(dc))
    assert "not locked out" in again.results[0].message


def test_disable_asks_first_then_enable(registry: Registry, dc: SambaDC) -> None:
    asked = run(registry, "user disable erossi", ad_env(dc))
    assert not asked.ok and asked.error.confirm is not None
    missing = run(registry, "user disable nobody-here", ad_env(dc))
    assert missing.error.kind == "not_found" and missing.error.confirm is None
    done = run(registry, "user disable erossi", ad_env(dc), confirmed=True)
    assert done.ok, done.error
    assert _items(run(registry, "user info erossi", ad_env(dc)))["enabled"] == "no (disabled)"
    with pytest.raises(lx.LDAPInvalidCredentialsResult) as refused:
        _bind(dc, "erossi@corp.example.com", PEOPLE_PASSWORD)
    assert "data 533" in str(refused.value.message)  # AD's "account disabled"
    assert run(registry, "user enable erossi", ad_env(dc)).ok
    _bind(dc, "erossi@corp.example.com", PEOPLE_PASSWORD).unbind()


def test_range_retrieval_and_paged_search_read_every_member(registry: Registry, dc: SambaDC) -> None:
    """Big-2000 has more members than AD answers at once (1,500): every one is listed."""
    reply = run(registry, "group members Big-2000", ad_env(dc))
    rows = _rows(reply)
    assert len(rows) == BIG
    assert {r[0] for r in rows} == {f"bulk{i:04d}" for i in range(BIG)}
    check_rendering(reply)

    conn = _bind(dc, dc.admin_user, dc.admin_password, auto_range=False, return_empty_attributes=False)
    d = Directory(conn, ActiveDirectory(), dc.base_dn, page_size=1000)
    group = d.group("Big-2000")
    d.round_trips = 0
    assert len(d.ranged(group.dn, "member")) == BIG
    assert d.round_trips == 2  # member;range=0-1499, then member;range=1500-2999 (answered as 1500-*)
    d.round_trips = 0
    assert len(d.search(f"(memberOf={group.dn})", ["sAMAccountName"])) == BIG
    # two pages of 1,000 (and one empty page when the server could not tell the second was the last)
    assert d.round_trips in (2, 3)
    conn.unbind()


def test_nested_members_say_through_which_group(registry: Registry, dc: SambaDC) -> None:
    direct = {r[0]: r[1] for r in _rows(run(registry, "group members VPN-Users", ad_env(dc)))}
    assert direct == {"fokafor": "user", "Sales": "group"}
    reply = run(registry, "group members VPN-Users --nested", ad_env(dc))
    rows = {r[0]: r[3] for r in _rows(reply)}
    assert rows == {
        "fokafor": "direct",
        "Sales": "direct",
        "bmartin": "via Sales",
        "Sales-EU": "via Sales",
        "cnguyen": "via Sales-EU",
    }


def test_access_why_gives_the_chain(registry: Registry, dc: SambaDC) -> None:
    reply = run(registry, "access why cnguyen VPN-Users", ad_env(dc))
    assert reply.ok
    assert reply.results[0].message.endswith("cnguyen > Sales-EU > Sales > VPN-Users.") or "Chloe" in (
        reply.results[0].message
    )
    assert [r[1] for r in _rows(reply, 1)] == ["Chloe Nguyen", "Sales-EU", "Sales", "VPN-Users"]
    check_rendering(reply)
    direct = run(registry, "access why fokafor VPN-Users", ad_env(dc))
    assert "directly" in direct.results[0].message
    primary = run(registry, 'access why bmartin "Domain Users"', ad_env(dc))
    assert primary.ok and "directly" in primary.results[0].message  # the primary group
    outside = run(registry, "access why adupont VPN-Users", ad_env(dc))
    assert outside.ok and outside.results[0].level == "warning"
    assert "not a member" in outside.results[0].message


POLICY = """
[users]
desk1 = ["desk"]
lead1 = ["leads"]

[roles.desk]
allow = ["directory.group.change", "directory.read"]

[roles.leads]
allow = ["directory.*"]
"""


def test_group_globs_follow_the_policy_roles(registry: Registry, dc: SambaDC) -> None:
    env = ad_env(dc, role_groups="desk=VPN-*", managed_groups="")
    runtime = Runtime(registry, config=Config.load(environ=env), policy=Policy.from_toml(POLICY), audit=None)
    desk = Caller(user="desk1", frontend="test")
    lead = Caller(user="lead1", frontend="test")
    try:
        added = runtime.chat("group add VPN-Users erossi", desk)
        assert added.ok, added.error
        assert "Added erossi to VPN-Users" in added.results[0].message
        assert "already a member" in runtime.chat("group add VPN-Users erossi", desk).results[0].message
        refused = runtime.chat("group add Finance adupont", desk)
        assert refused.error.kind == "denied" and "Finance" in refused.error.message
        assert "VPN-*" in (refused.error.hint or "")
        # no role_groups entry for leads, and managed_groups is empty: no group at all
        assert runtime.chat("group remove VPN-Users erossi", lead).error.kind == "denied"
        assert runtime.chat("group remove VPN-Users erossi", desk).ok
        assert "not a direct member" in runtime.chat("group remove VPN-Users erossi", desk).results[0].message
    finally:
        runtime.close()
    members = {r[0] for r in _rows(run(registry, "group members VPN-Users", ad_env(dc)))}
    assert "erossi" not in members


def test_group_changes_can_need_an_approval(registry: Registry, dc: SambaDC) -> None:
    policy = POLICY + '\n[approvals]\n"directory.group.change" = ["leads"]\n'
    runtime = Runtime(registry, config=Config.load(environ=ad_env(dc)), policy=Policy.from_toml(policy), audit=None)
    try:
        asked = runtime.chat("group add VPN-Admins fokafor", Caller(user="desk1", frontend="test"))
        assert asked.error.kind == "denied" and asked.error.confirm is not None
        assert asked.error.confirm.approvers == ["leads"]
        approved = runtime.chat(
            "group add VPN-Admins fokafor", Caller(user="desk1", frontend="test", approved_by="lead1")
        )
        assert approved.ok, approved.error
        assert runtime.chat("group remove VPN-Admins fokafor", Caller(user="desk1", approved_by="lead1")).ok
    finally:
        runtime.close()


TEMPLATES = {
    "staff": {
        "ou": "OU=Staff,DC=corp,DC=example,DC=com",
        "groups": ["VPN-Users"],
        "attributes": {"department": "Sales", "description": "{first} {last}, hired from chat"},
    },
    # employeeID is single-valued: two values are a constraint violation
    "bad": {"ou": "OU=Staff,DC=corp,DC=example,DC=com", "attributes": {"employeeID": ["1", "2"]}},
    # c takes a two-letter country code: a value of the wrong syntax
    "worse": {"ou": "OU=Staff,DC=corp,DC=example,DC=com", "attributes": {"c": "FRANCE"}},
}


def test_user_new_dry_run_then_create(registry: Registry, dc: SambaDC, tmp_path: Path) -> None:
    sink = tmp_path / "delivered"
    deliver = tmp_path / "deliver.py"
    deliver.write_text(f"import sys; open({str(sink)!r}, 'w').write(sys.argv[1] + ' ' + sys.stdin.read())\n")
    env = ad_env(dc, templates=json.dumps(TEMPLATES), password_delivery=f"{sys.executable} {deliver} {{login}}")
    dry = run(registry, "user new jdoe --first John --last Doe --template staff --dry-run", env)
    plan = _items(dry)
    assert plan["DN"] == f"CN=John Doe,OU=Staff,{dc.base_dn}"
    assert plan["department"] == "Sales" and plan["description"] == "John Doe, hired from chat"
    assert plan["initial pw"] == "random, never shown" and "unicodePwd" not in plan
    assert plan["groups"] == ["VPN-Users"]
    assert not run(registry, "user info jdoe", env).ok  # nothing was created

    made = run(registry, "user new jdoe --first John --last Doe --template staff", env)
    assert made.ok, made.error
    login, password = sink.read_text().split(" ", 1)
    password = password.strip()
    assert login == "jdoe" and len(password) >= 16
    for text in check_rendering(made).values():
        assert password not in str(text)
    assert "handed to" in made.results[1].message
    info = _items(run(registry, "user info jdoe", env))
    assert info["enabled"] == "no (disabled)" and info["pw expires"] == "must be changed at next logon"
    assert "VPN-Users" in {r[0] for r in _rows(run(registry, "user info jdoe", env), 1)}
    assert run(registry, "user enable jdoe", env).ok
    with pytest.raises(lx.LDAPInvalidCredentialsResult) as must_change:
        _bind(dc, "jdoe@corp.example.com", password)
    assert "data 773" in str(must_change.value.message)  # the delivered password, which must be changed

    again = run(registry, "user new jdoe --first John --last Doe --template staff", env)
    assert again.error.kind == "usage" and "already exists" in again.error.message
    violated = run(registry, "user new jbad --first J --last Bad --template bad", env)
    assert violated.error.kind == "usage" and "user jbad" in violated.error.message, violated.error
    assert "constraint" in violated.error.message
    syntax = run(registry, "user new jbad --first J --last Bad --template worse", env)
    assert syntax.error.kind == "usage" and "user jbad" in syntax.error.message, syntax.error


def test_computers_stale(registry: Registry, dc: SambaDC) -> None:
    reply = run(registry, "computers stale --days 90", ad_env(dc))
    names = [r[0] for r in _rows(reply)]
    assert "WS-0001" in names and "WS-0002" not in names
    check_rendering(reply)


def test_clean_errors_never_show_the_password(registry: Registry, dc: SambaDC) -> None:
    wrong = run(registry, "user info bmartin", ad_env(dc, password="Not-The-Passw0rd"))
    assert wrong.error.kind == "config" and "password is wrong" in wrong.error.message
    for text in check_rendering(wrong).values():
        assert "Not-The-Passw0rd" not in str(text)
    unknown = run(registry, "user info bmartinn", ad_env(dc))
    assert unknown.error.kind == "not_found" and "bmartin" in (unknown.error.hint or "")
    no_group = run(registry, "group members VPN-User", ad_env(dc))
    assert no_group.error.kind == "not_found" and "VPN-Users" in (no_group.error.hint or "")
    down = run(registry, "user info bmartin", ad_env(dc, url="ldaps://127.0.0.1:1", timeout="2"))
    assert down.error.kind == "backend" and "unreachable" in down.error.message
    reader = ad_env(dc, user="svc-reader@corp.example.com", password=READER_PASSWORD)
    assert run(registry, "user info bmartin", reader).ok  # reading is allowed
    refused = run(registry, "group add VPN-Users erossi", reader)
    assert refused.error.kind == "denied" and "group VPN-Users" in refused.error.message
    # the server's own words are quoted (AD: "00000005: SecErr ...", Samba: "insufficient access rights")
    assert "insufficient access rights" in refused.error.message
    for text in check_rendering(refused).values():
        assert READER_PASSWORD not in str(text)


def test_tls_rules(registry: Registry, dc: SambaDC) -> None:
    untrusted = run(registry, "user info bmartin", ad_env(dc, ca_file=""))
    assert untrusted.error.kind == "config" and "not trusted" in untrusted.error.message
    assert run(registry, "user info bmartin", ad_env(dc, ca_file="", verify_tls="false")).ok
    starttls = run(registry, "user info bmartin", ad_env(dc, url=f"ldap://{dc.host}"))
    assert starttls.ok, starttls.error
    plain = run(registry, "user info bmartin", ad_env(dc, url=f"ldap://{dc.host}", allow_plain_bind="true"))
    assert plain.error.kind == "config" and "encryption" in plain.error.message  # Samba: strong auth required
