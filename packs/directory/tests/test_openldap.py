"""The pack against a real OpenLDAP slapd (memberof and ppolicy overlays), over StartTLS."""

from __future__ import annotations

import json
import ssl
from typing import Any

import ldap3
import pytest
from conftest import PEOPLE_PASSWORD, SUFFIX, ol_env, run
from ldap3.core import exceptions as lx
from opspack.registry import Registry
from opspack_testkit import check_rendering
from opspack_testkit.servers.slapd import LOCKOUT_THRESHOLD, Slapd


def _bind(ldap: Slapd, login: str, password: str) -> None:
    server = ldap3.Server(ldap.url, tls=ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ldap.ca_file)))
    conn = ldap3.Connection(server, user=f"uid={login},ou=people,{SUFFIX}", password=password, raise_exceptions=True)
    conn.open()
    conn.start_tls()
    try:
        conn.bind()
    finally:
        conn.unbind()


def _ok(reply: Any) -> dict[str, Any]:
    assert reply.ok, reply.error
    data: dict[str, Any] = reply.to_dict()
    return data


def test_user_info_and_nested_groups(registry: Registry, ldap: Slapd) -> None:
    reply = run(registry, "user info cnguyen --nested", ol_env(ldap))
    data = _ok(reply)
    items = data["results"][0]["items"]
    assert items["name"] == "Chloe Nguyen" and items["mail"] == "chloe.nguyen@example.org"
    assert items["enabled"] == "yes" and items["locked out"] == "no"
    assert items["manager"] == "Bruno Martin"
    assert items["pw expires"].startswith("20")  # pwdChangedTime + the policy's pwdMaxAge
    groups = {r[0]: r[1] for r in data["results"][1]["rows"]}
    assert groups == {"Sales-EU": "direct", "Sales": "via Sales-EU", "VPN-Users": "via Sales-EU > Sales"}
    check_rendering(reply)


def test_a_real_ppolicy_lockout_is_shown_and_unlocked(registry: Registry, ldap: Slapd) -> None:
    for _ in range(LOCKOUT_THRESHOLD):
        with pytest.raises(lx.LDAPInvalidCredentialsResult):
            _bind(ldap, "dschmidt", "wrong-password")
    with pytest.raises(lx.LDAPInvalidCredentialsResult):
        _bind(ldap, "dschmidt", PEOPLE_PASSWORD)  # locked: the right password is refused too
    items = _ok(run(registry, "user info dschmidt", ol_env(ldap)))["results"][0]["items"]
    assert items["locked out"].startswith("yes, until 20")
    assert run(registry, "user unlock dschmidt", ol_env(ldap)).ok
    _bind(ldap, "dschmidt", PEOPLE_PASSWORD)
    assert "not locked out" in run(registry, "user unlock dschmidt", ol_env(ldap)).results[0].message


def test_disable_is_an_administrative_lock(registry: Registry, ldap: Slapd) -> None:
    assert run(registry, "user disable fokafor", ol_env(ldap), confirmed=True).ok
    items = _ok(run(registry, "user info fokafor", ol_env(ldap)))["results"][0]["items"]
    assert items["enabled"] == "no (disabled)" and items["locked out"] == "no"
    with pytest.raises(lx.LDAPInvalidCredentialsResult):
        _bind(ldap, "fokafor", PEOPLE_PASSWORD)
    assert "nothing to do" in run(registry, "user unlock fokafor", ol_env(ldap)).results[0].message
    assert run(registry, "user enable fokafor", ol_env(ldap)).ok
    _bind(ldap, "fokafor", PEOPLE_PASSWORD)


def test_members_walk_and_access_why(registry: Registry, ldap: Slapd) -> None:
    direct = _ok(run(registry, "group members VPN-Users", ol_env(ldap)))
    assert {r[0]: r[1] for r in direct["results"][0]["rows"]} == {"fokafor": "user", "Sales": "group"}
    nested = _ok(run(registry, "group members VPN-Users --nested", ol_env(ldap)))
    assert {r[0]: r[3] for r in nested["results"][0]["rows"]} == {
        "fokafor": "direct",
        "Sales": "direct",
        "bmartin": "via Sales",
        "Sales-EU": "via Sales",
        "cnguyen": "via Sales-EU",
    }
    why = run(registry, "access why cnguyen VPN-Users", ol_env(ldap))
    assert [r[1] for r in _ok(why)["results"][1]["rows"]] == ["cnguyen", "Sales-EU", "Sales", "VPN-Users"]
    not_in = run(registry, "access why dschmidt VPN-Users", ol_env(ldap))
    assert not_in.results[0].level == "warning"


def test_group_add_remove_and_user_new(registry: Registry, ldap: Slapd) -> None:
    env = ol_env(ldap, managed_groups="VPN-*,Sales*")
    assert "Added dschmidt to VPN-Users" in run(registry, "group add VPN-Users dschmidt", env).results[0].message
    assert run(registry, "group add Finance bmartin", env).error.kind == "denied"
    assert "Removed" in run(registry, "group remove VPN-Users dschmidt", env).results[0].message
    templates = {"staff": {"ou": f"ou=people,{SUFFIX}", "groups": ["Sales"], "attributes": {"title": "Engineer"}}}
    env = ol_env(ldap, templates=json.dumps(templates))
    dry = _ok(run(registry, "user new jdoe --first John --last Doe --dry-run", env))
    assert dry["results"][0]["items"]["DN"] == f"uid=jdoe,ou=people,{SUFFIX}"
    made = run(registry, "user new jdoe --first John --last Doe", env)
    assert made.ok, made.error
    assert "password_delivery is none" in made.results[1].message
    items = _ok(run(registry, "user info jdoe", env))["results"][0]["items"]
    assert items["enabled"] == "no (disabled)" and items["pw expires"] == "must be changed at next logon"
    members = _ok(run(registry, "group members Sales", env))["results"][0]["rows"]
    assert "jdoe" in {r[0] for r in members}


def test_computers_stale_and_tls(registry: Registry, ldap: Slapd) -> None:
    stale = run(registry, "computers stale", ol_env(ldap))
    assert stale.error.kind == "usage" and "Active Directory" in stale.error.hint
    untrusted = run(registry, "user info bmartin", ol_env(ldap, ca_file=""))
    assert untrusted.error.kind == "config" and "not trusted" in untrusted.error.message
    plain = run(registry, "user info bmartin", ol_env(ldap, ca_file="", allow_plain_bind="true"))
    assert plain.ok, plain.error  # a lab: OpenLDAP accepts a simple bind in clear
    wrong = run(registry, "user info bmartin", ol_env(ldap, password="nope-nope"))
    assert wrong.error.kind == "config" and "credentials" in wrong.error.message
