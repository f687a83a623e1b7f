"""Connecting: TLS on and off, credentials, unreachable vCenters, kept and expired sessions, profiles."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from conftest import Bot, pyvmomi_login, settings_env
from opspack_testkit import check_rendering, free_port
from opspack_testkit.servers.vcsim import Vcsim
from opspack_testkit.tls import TestCA


def logins() -> int:
    from opspack_vmware import _vsphere

    return _vsphere.login_count()


def session_keys(sim: Vcsim) -> set[str]:
    """The sessions vCenter knows, seen through a separate pyvmomi login (minus that login)."""
    from pyVim.connect import Disconnect

    si = pyvmomi_login(sim)
    try:
        manager = si.content.sessionManager
        mine = manager.currentSession.key
        return {s.key for s in manager.sessionList or [] if s.key != mine}
    finally:
        Disconnect(si)


def test_second_command_logs_in_zero_more_times(scratch: Vcsim, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(settings_env(scratch))
    before = logins()
    first = bot("vm list")
    assert first.ok and logins() == before + 1
    sessions = session_keys(scratch)
    assert len(sessions) == 1
    for text in ("vm list --power on", "host list", "vm info DC0_C0_RP0_VM0", "datastore list", "vcenter status"):
        assert bot(text).ok
    assert logins() == before + 1  # every later command reused the session
    assert session_keys(scratch) == sessions  # vCenter agrees: still the one session
    since = [bot("vcenter status").to_dict()["results"][0]["items"]["session_since"] for _ in range(2)]
    assert since[0] == since[1]
    bot.close()
    assert session_keys(scratch) == set()  # closing the runtime logs out


def test_expired_session_logs_in_again(vcsim_bin: Path, make_bot: Callable[..., Bot]) -> None:
    with Vcsim(binary=vcsim_bin, hosts=1, vms=2, tls=False, session_idle_timeout=0.5) as sim:
        bot = make_bot(settings_env(sim))
        before = logins()
        assert bot("vm list").ok and logins() == before + 1
        time.sleep(1.5)  # vcsim ends the idle session
        again = bot("vm list")
        assert again.ok, again.error
        assert len(again.to_dict()["results"][0]["rows"]) == 2
        assert logins() == before + 2
        assert bot("vm power-off DC0_C0_RP0_VM0", confirmed=True).ok
        time.sleep(1.5)
        info = bot("vm info DC0_C0_RP0_VM0")
        assert info.ok and info.to_dict()["results"][0]["items"]["power"] == "off"
        assert logins() == before + 3


def test_tls_with_vcsims_own_certificate(vcsim_bin: Path, make_bot: Callable[..., Bot]) -> None:
    with Vcsim(binary=vcsim_bin, hosts=1, vms=1, tls=True) as sim:
        assert sim.url.startswith("https://")
        lab = make_bot(settings_env(sim))  # verify_tls=false
        listed = lab("vm list")
        assert listed.ok and [r[0] for r in listed.to_dict()["results"][0]["rows"]] == ["DC0_C0_RP0_VM0"]

        strict_env = {k: v for k, v in settings_env(sim).items() if k != "OPSPACK_VMWARE_VERIFY_TLS"}
        refused = make_bot(strict_env)("vm list")  # verification is on by default
        assert refused.error.kind == "config"
        assert f"the TLS certificate of vCenter {sim.url} could not be verified" in refused.error.message
        assert "verify_tls=false" in refused.error.hint and "ca_file" in refused.error.hint
        check_rendering(refused)
        explicit = make_bot({**strict_env, "OPSPACK_VMWARE_VERIFY_TLS": "true"})("host list")
        assert explicit.error.kind == "config"


def test_tls_verified_with_our_own_ca(vcsim_bin: Path, tmp_path: Path, make_bot: Callable[..., Bot]) -> None:
    ca = TestCA(tmp_path)
    files = ca.issue("vcsim", ["127.0.0.1", "localhost"])
    with Vcsim(binary=vcsim_bin, hosts=1, vms=1, tls=True, tls_cert=files.cert, tls_key=files.key) as sim:
        env = {k: v for k, v in settings_env(sim).items() if k != "OPSPACK_VMWARE_VERIFY_TLS"}
        trusted = make_bot({**env, "OPSPACK_VMWARE_CA_FILE": str(ca.ca_path)})("vm list")
        assert trusted.ok, trusted.error
        untrusted = make_bot(env)("vm list")  # the system's CAs do not know our test CA
        assert untrusted.error.kind == "config" and "could not be verified" in untrusted.error.message
        (tmp_path / "other").mkdir()
        other = TestCA(tmp_path / "other")
        wrong_ca = make_bot({**env, "OPSPACK_VMWARE_CA_FILE": str(other.ca_path)})("vm list")
        assert wrong_ca.error.kind == "config"
        missing = make_bot({**env, "OPSPACK_VMWARE_CA_FILE": str(tmp_path / "nope.pem")})("vm list")
        assert missing.error.kind == "config" and "ca_file" in missing.error.message


def test_wrong_credentials_are_a_config_error(vcsim_bin: Path, make_bot: Callable[..., Bot]) -> None:
    with Vcsim(binary=vcsim_bin, hosts=1, vms=1, tls=False, username="alice", password="Sup3r-s3cret") as sim:
        assert make_bot(settings_env(sim))("vm list").ok
        env = {**settings_env(sim), "OPSPACK_VMWARE_PASSWORD": "Wr0ng-pa55word"}
        reply = make_bot(env)("vm list")
        assert reply.error.kind == "config"
        assert f"vCenter {sim.url} refused the login for user 'alice'" in reply.error.message
        assert "OPSPACK_VMWARE_PASSWORD" in reply.error.hint
        for rendered in check_rendering(reply).values():
            text = rendered if isinstance(rendered, str) else json.dumps(rendered)
            assert "Wr0ng-pa55word" not in text and "Sup3r-s3cret" not in text


def test_unreachable_vcenter_is_a_backend_error_with_the_url(make_bot: Callable[..., Bot]) -> None:
    url = f"http://127.0.0.1:{free_port()}/sdk"
    env = {"OPSPACK_VMWARE_URL": url, "OPSPACK_VMWARE_USER": "u", "OPSPACK_VMWARE_PASSWORD": "p"}
    reply = make_bot(env)("vm list")
    assert reply.error.kind == "backend"
    assert f"vCenter {url} is unreachable" in reply.error.message
    assert "OPSPACK_VMWARE_URL" in reply.error.hint
    check_rendering(reply)
    nowhere = make_bot({**env, "OPSPACK_VMWARE_URL": "https://vcenter.invalid/sdk"})("vm list")
    assert nowhere.error.kind == "backend" and "does not resolve" in nowhere.error.message
    bad = make_bot({**env, "OPSPACK_VMWARE_URL": "ftp://vc/sdk"})("vm list")
    assert bad.error.kind == "config" and "setting url" in bad.error.message


def test_wrong_path_is_not_an_sdk_endpoint(scratch: Vcsim, make_bot: Callable[..., Bot]) -> None:
    env = {**settings_env(scratch), "OPSPACK_VMWARE_URL": scratch.url.replace("/sdk", "/nothing-here")}
    reply = make_bot(env)("vm list")
    assert reply.error.kind == "backend" and "does not answer as a vSphere SDK endpoint" in reply.error.message


def test_profiles_talk_to_different_vcenters(vcsim_bin: Path, tmp_path: Path, make_bot: Callable[..., Bot]) -> None:
    with (
        Vcsim(binary=vcsim_bin, hosts=1, vms=1, tls=False) as one,
        Vcsim(binary=vcsim_bin, datacenters=2, hosts=1, vms=1, tls=True) as two,
    ):
        config = tmp_path / "opspack.toml"
        config.write_text(
            f"""
[vmware]
user = "user"
password = "env:VC_PASSWORD"

[vmware.profiles.prod]
url = "{one.url}"

[vmware.profiles.lab]
url = "{two.url}"
verify_tls = false
""",
            encoding="utf-8",
        )
        bot = make_bot({"OPSPACK_CONFIG": str(config), "VC_PASSWORD": "pass"})
        before = logins()
        prod = bot("vm list", profile="prod")
        lab = bot("vm list", profile="lab")
        assert [r[0] for r in prod.to_dict()["results"][0]["rows"]] == ["DC0_C0_RP0_VM0"]
        assert [r[0] for r in lab.to_dict()["results"][0]["rows"]] == ["DC0_C0_RP0_VM0", "DC1_C0_RP0_VM0"]
        assert bot("host list", profile="prod").ok and bot("host list", profile="lab").ok
        assert logins() == before + 2  # one session per profile, each kept
        assert bot("vm list", profile="nope").error.kind == "config"


def test_command_modules_do_not_import_pyvmomi() -> None:
    code = (
        "import sys, opspack_vmware\n"
        "for m in ('vm', 'snapshot', 'host', 'datastore', 'cluster', 'vcenter', 'errors'):\n"
        "    __import__('opspack_vmware.' + m)\n"
        "from opspack.devtools.registry_build import registry_from_package\n"
        "registry_from_package('opspack_vmware')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyVmomi', 'pyVim')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registry_entries() -> None:
    data = json.loads((Path(__file__).parents[1] / "src/opspack_vmware/opspack-pack.json").read_text())
    commands = {c["id"]: c for c in data["commands"]}
    assert commands["vmware.vm.power_off"]["effects"]["destructive"] is True
    assert commands["vmware.vm.reset"]["effects"]["confirm"] is True
    assert commands["vmware.vm.power_on"]["effects"] == {
        "read_only": False,
        "destructive": False,
        "idempotent": False,
        "confirm": False,
    }
    assert commands["vmware.vm.shutdown_guest"]["effects"]["destructive"] is False
    for cid in ("vmware.snapshot.revert", "vmware.snapshot.remove", "vmware.host.maintenance_enter"):
        assert commands[cid]["effects"]["confirm"] is True, cid
    assert commands["vmware.snapshot.create"]["chat"]["words"] == ["vm", "snapshot", "create"]
    assert commands["vmware.host.maintenance_exit"]["chat"]["words"] == ["host", "maintenance", "exit"]
    assert commands["vmware.vm.list"]["effects"]["read_only"] is True
