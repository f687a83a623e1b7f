"""Slapd and SambaDC: private directory servers that leave nothing behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from opspack_testkit import need
from opspack_testkit.servers.samba import SambaDC, SambaError, SambaUnavailable, samba_binaries
from opspack_testkit.servers.slapd import Slapd, SlapdError, SlapdUnavailable, slapd_binaries


def test_slapd_serves_its_tree_and_is_gone_afterwards() -> None:
    try:
        slapd_binaries()
    except SlapdUnavailable as exc:
        need(False, str(exc))
    with Slapd(suffix="dc=kit,dc=test") as ldap:
        folder = ldap.workdir
        ldap.add(
            "dn: cn=g,ou=groups,dc=kit,dc=test\nobjectClass: groupOfNames\ncn: g\nmember: cn=admin,dc=kit,dc=test\n"
        )
        with pytest.raises(SlapdError, match="ldapadd failed"):
            ldap.add("dn: cn=g,ou=groups,dc=kit,dc=test\nobjectClass: groupOfNames\ncn: g\nmember: cn=x\n")
        out = subprocess.run(
            ["ldapsearch", "-x", "-H", ldap.url, "-b", "ou=policies,dc=kit,dc=test", "-LLL", "pwdMaxFailure"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "pwdMaxFailure: 3" in out
        assert ldap.ca_file.is_file()
    assert not Path(folder).exists()


def test_samba_dc_that_cannot_be_provisioned_leaves_nothing_behind() -> None:
    """An administrator password the domain refuses fails the provisioning: no folder, and the
    loopback address is taken off lo again."""
    try:
        samba_binaries()
    except SambaUnavailable as exc:
        need(False, str(exc))
    dc = SambaDC(admin_password="short")
    try:
        with pytest.raises(SambaError, match="password"):
            dc.start()
    finally:
        dc.stop()
    address = dc.host
    assert address.startswith("127.0.0.") and dc.running is False
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
    assert f"{address}/32" not in shown
