"""A real Samba AD domain controller and a real OpenLDAP, each started once per test session.

Samba: a domain provisioned into a temporary folder on its own loopback address, seeded with
a small company (opspack_testkit.servers.samba.company_ldif: nested groups VPN-Users > Sales >
Sales-EU), a group of 2,000 members (Big-2000, past Active Directory's 1,500-value range), a
lockout policy (3 wrong passwords lock an account for 30 minutes), and a read-only service
account. OpenLDAP: the same shape in groupOfNames with the memberof and ppolicy overlays.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata

import pytest
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.results import Reply
from opspack_testkit import need, run_command
from opspack_testkit.servers.samba import SambaDC, SambaUnavailable, company_ldif, samba_binaries
from opspack_testkit.servers.slapd import Slapd, SlapdUnavailable, slapd_binaries

#: every person of the seeded company logs in with this
PEOPLE_PASSWORD = "Company-Passw0rd!"
#: the read-only service account's
READER_PASSWORD = "Reader-Passw0rd!"
BIG = 2000


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_directory", metadata.version("opspack-directory"))
    return reg


def _bulk_ldif(base_dn: str, count: int) -> str:
    ou = f"OU=Bulk,{base_dn}"
    blocks = [f"dn: {ou}\nobjectClass: organizationalUnit\n"]
    for i in range(count):
        blocks.append(
            f"dn: CN=bulk{i:04d},{ou}\nobjectClass: user\nsAMAccountName: bulk{i:04d}\n"
            f"displayName: Bulk User {i:04d}\nuserAccountControl: 514\n"
        )
    members = "".join(f"member: CN=bulk{i:04d},{ou}\n" for i in range(count))
    blocks.append(f"dn: CN=Big-2000,OU=Groups,{base_dn}\nobjectClass: group\nsAMAccountName: Big-2000\n{members}")
    return "\n".join(blocks)


@pytest.fixture(scope="session")
def dc() -> Iterator[SambaDC]:
    try:
        samba_binaries()
    except SambaUnavailable as exc:
        need(False, str(exc))
    with SambaDC() as server:
        server.add_ldif(company_ldif(server.base_dn, password=PEOPLE_PASSWORD) + "\n" + _bulk_ldif(server.base_dn, BIG))
        server.samba_tool(
            "domain",
            "passwordsettings",
            "set",
            "--account-lockout-threshold=3",
            "--account-lockout-duration=30",
            "--reset-account-lockout-after=30",
        )
        server.samba_tool("user", "create", "svc-reader", READER_PASSWORD)
        yield server


def ad_env(dc: SambaDC, **extra: str) -> dict[str, str]:
    """Settings for the pack against the domain controller, as the Administrator."""
    env = {
        "OPSPACK_DIRECTORY_URL": dc.url,
        "OPSPACK_DIRECTORY_USER": dc.admin_user,
        "OPSPACK_DIRECTORY_PASSWORD": dc.admin_password,
        "OPSPACK_DIRECTORY_CA_FILE": str(dc.ca_file),
        "OPSPACK_DIRECTORY_FLAVOR": "ad",
    }
    env.update({f"OPSPACK_DIRECTORY_{k.upper()}": v for k, v in extra.items()})
    return env


SUFFIX = "dc=example,dc=org"


def _openldap_seed() -> str:
    people = [
        ("adupont", "Alice", "Dupont", None),
        ("bmartin", "Bruno", "Martin", "adupont"),
        ("cnguyen", "Chloe", "Nguyen", "bmartin"),
        ("dschmidt", "Dieter", "Schmidt", "bmartin"),
        ("fokafor", "Femi", "Okafor", "adupont"),
    ]
    blocks = []
    for login, first, last, manager in people:
        lines = [
            f"dn: uid={login},ou=people,{SUFFIX}",
            "objectClass: inetOrgPerson",
            f"uid: {login}",
            f"cn: {first} {last}",
            f"givenName: {first}",
            f"sn: {last}",
            f"displayName: {first} {last}",
            f"mail: {first.lower()}.{last.lower()}@example.org",
            f"userPassword: {PEOPLE_PASSWORD}",
        ]
        if manager:
            lines.append(f"manager: uid={manager},ou=people,{SUFFIX}")
        blocks.append("\n".join(lines) + "\n")

    def group(name: str, members: list[str]) -> str:
        return f"dn: cn={name},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {name}\n" + "".join(
            f"member: {m}\n" for m in members
        )

    def person(login: str) -> str:
        return f"uid={login},ou=people,{SUFFIX}"

    blocks.append(group("Sales-EU", [person("cnguyen")]))
    blocks.append(group("Sales", [person("bmartin"), f"cn=Sales-EU,ou=groups,{SUFFIX}"]))
    blocks.append(group("VPN-Users", [person("fokafor"), f"cn=Sales,ou=groups,{SUFFIX}"]))
    blocks.append(group("Finance", [person("dschmidt")]))
    return "\n".join(blocks)


@pytest.fixture(scope="session")
def ldap() -> Iterator[Slapd]:
    try:
        slapd_binaries()
    except SlapdUnavailable as exc:
        need(False, str(exc))
    with Slapd(suffix=SUFFIX) as server:
        server.add(_openldap_seed())
        yield server


def ol_env(ldap: Slapd, **extra: str) -> dict[str, str]:
    """Settings for the pack against OpenLDAP (StartTLS), as the root DN."""
    env = {
        "OPSPACK_DIRECTORY_URL": ldap.url,
        "OPSPACK_DIRECTORY_USER": ldap.root_dn,
        "OPSPACK_DIRECTORY_PASSWORD": ldap.root_password,
        "OPSPACK_DIRECTORY_CA_FILE": str(ldap.ca_file),
        "OPSPACK_DIRECTORY_FLAVOR": "openldap",
        "OPSPACK_DIRECTORY_BASE_DN": SUFFIX,
    }
    env.update({f"OPSPACK_DIRECTORY_{k.upper()}": v for k, v in extra.items()})
    return env


def run(registry: Registry, text: str, env: dict[str, str], confirmed: bool = False) -> Reply:
    reply: Reply = run_command(text, registry=registry, environ=env, confirmed=confirmed)
    return reply
