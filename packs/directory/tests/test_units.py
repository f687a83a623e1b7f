"""The pack's pure parts: FILETIME and GeneralizedTime, filters, DNs, group globs, templates, flavors."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from opspack.errors import ConfigError
from opspack.registry import Registry
from opspack_directory.flavors import (
    ADMIN_LOCK,
    ActiveDirectory,
    Entry,
    LockPolicy,
    OpenLDAP,
    escape,
    flavor,
    from_filetime,
    from_generalized,
    parent_dn,
    rdn_value,
    to_filetime,
)
from opspack_directory.group import group_globs, may_change, parse_role_groups
from opspack_directory.user import random_password, templates
from opspack_testkit import run_command

NOW = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)


def test_filetime_round_trip_and_its_special_values() -> None:
    assert from_filetime("116444736000000000") == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert from_filetime(to_filetime(NOW)) == NOW
    assert from_filetime("0") is None  # never / must change
    assert from_filetime(str(0x7FFFFFFFFFFFFFFF)) is None  # never expires
    assert from_generalized("20261206101208.375208Z") == dt.datetime(2026, 12, 6, 10, 12, 8, tzinfo=dt.UTC)
    assert from_generalized("000001010000Z") is None


def test_filters_and_dns() -> None:
    assert escape("a*b(c)\\d") == "a\\2ab\\28c\\29\\5cd"
    dn = "CN=Doe\\, John,OU=Staff,DC=corp,DC=example,DC=com"
    assert rdn_value(dn) == "Doe\\, John"
    assert parent_dn(dn) == "OU=Staff,DC=corp,DC=example,DC=com"


def test_active_directory_account_flags() -> None:
    ad = ActiveDirectory()
    locked_at = NOW - dt.timedelta(minutes=5)
    entry = Entry(
        "CN=J,OU=Staff,DC=x",
        {
            "samaccountname": ["j"],
            "useraccountcontrol": [str(0x200 | 0x2)],
            "msds-user-account-control-computed": ["16"],
            "lockouttime": [str(to_filetime(locked_at))],
            "pwdlastset": ["0"],
            "msds-userpasswordexpirytimecomputed": ["0"],
        },
    )
    a = ad.account(entry, LockPolicy(lockout_duration=1800), NOW)
    assert not a.enabled and a.locked and a.must_change_password
    assert a.locked_until == locked_at + dt.timedelta(minutes=30)
    assert ad.set_enabled(entry, True) == {"userAccountControl": [("MODIFY_REPLACE", ["512"])]}
    assert ad.unlock(entry) == {"lockoutTime": [("MODIFY_REPLACE", ["0"])]}
    policy = ad.lock_policy(Entry("DC=x", {"lockoutduration": ["-18000000000"], "maxpwdage": ["-36288000000000"]}))
    assert policy.lockout_duration == 1800 and policy.max_password_age == 42 * 86400


def test_openldap_admin_lock_is_disabled_not_locked() -> None:
    ol = OpenLDAP()
    disabled = Entry("uid=j,ou=people,dc=x", {"uid": ["j"], "pwdaccountlockedtime": [ADMIN_LOCK]})
    a = ol.account(disabled, LockPolicy(lockout_duration=1800), NOW)
    assert not a.enabled and not a.locked
    assert ol.unlock(disabled) == {}  # an unlock does not enable
    assert ol.set_enabled(disabled, True) == {"pwdAccountLockedTime": [("MODIFY_DELETE", [])]}
    locked = Entry("uid=j,ou=people,dc=x", {"pwdaccountlockedtime": ["20261206095500Z"]})
    a = ol.account(locked, LockPolicy(lockout_duration=1800), NOW)
    assert a.enabled and a.locked and a.locked_until == dt.datetime(2026, 12, 6, 10, 25, tzinfo=dt.UTC)
    expired = ol.account(locked, LockPolicy(lockout_duration=60), NOW)
    assert not expired.locked  # the lockout ran out


def test_flavor_setting() -> None:
    assert flavor("AD").name == "ad" and flavor("openldap").name == "openldap" and flavor("samba").name == "ad"
    with pytest.raises(ConfigError):
        flavor("novell")


def test_group_globs_by_role() -> None:
    settings = {"managed_groups": "App-*", "role_groups": "desk=VPN-*|Print-*; admins=*"}
    assert group_globs(settings, ["desk"]) == ["VPN-*", "Print-*"]
    assert group_globs(settings, ["someone"]) == ["App-*"]
    assert may_change("vpn-users", ["VPN-*"]) and not may_change("Finance", ["VPN-*"])
    assert parse_role_groups("a=x") == {"a": ["x"]}
    with pytest.raises(ConfigError):
        parse_role_groups("desk")


def test_templates_setting_in_json_toml_or_a_toml_table() -> None:
    as_json = templates('{"staff": {"ou": "OU=Staff,DC=x", "groups": ["VPN-Users"]}}')
    as_toml = templates('[staff]\nou = "OU=Staff,DC=x"\ngroups = ["VPN-Users"]\n')
    as_table = templates(str({"staff": {"ou": "OU=Staff,DC=x", "groups": ["VPN-Users"]}}))
    assert as_json == as_toml == as_table == {"staff": {"ou": "OU=Staff,DC=x", "groups": ["VPN-Users"]}}
    assert templates("") == {}
    with pytest.raises(ConfigError):
        templates("not a template")


def test_random_passwords_are_complex_and_differ() -> None:
    seen = {random_password() for _ in range(20)}
    assert len(seen) == 20
    for pw in seen:
        assert any(c.isupper() for c in pw) and any(c.islower() for c in pw) and any(c.isdigit() for c in pw)


def test_missing_settings_are_a_config_error(registry: Registry) -> None:
    reply = run_command("user info jdoe", registry=registry, environ={})
    assert reply.error.kind == "config" and "OPSPACK_DIRECTORY_URL" in (reply.error.hint or "")


def test_bad_url_and_listing_imports_no_command_module(registry: Registry) -> None:
    env = {"OPSPACK_DIRECTORY_URL": "http://dc", "OPSPACK_DIRECTORY_USER": "u", "OPSPACK_DIRECTORY_PASSWORD": "p"}
    reply = run_command("user info jdoe", registry=registry, environ=env)
    assert reply.error.kind == "config" and "ldaps://" in reply.error.message
    code = (
        "import sys, opspack_directory; "
        "print(sorted(m for m in sys.modules if m.startswith(('opspack_directory', 'ldap3'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['opspack_directory', 'opspack_directory.errors']"  # no command module, no ldap3
