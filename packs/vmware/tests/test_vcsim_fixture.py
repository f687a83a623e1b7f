"""opspack_testkit.servers.vcsim against a real vcsim, checked with pyvmomi.

Needs Go + govmomi sources (apt-get install golang-go
golang-github-vmware-govmomi-dev) and pyvmomi; without them these tests
skip, or fail when CI=true.
"""

from __future__ import annotations

import os
import ssl
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from opspack_testkit.servers.vcsim import (
    APT_PACKAGES,
    Vcsim,
    VcsimError,
    VcsimUnavailable,
    build_vcsim,
)


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def vcsim_bin() -> Path:
    try:
        return build_vcsim()
    except VcsimUnavailable as exc:
        _missing(str(exc))


class Py:
    """pyvmomi, imported lazily so that a missing pyvmomi skips or fails."""

    def __init__(self) -> None:
        try:
            from pyVim import connect, task
            from pyVmomi import vim, vmodl
        except ImportError:
            _missing("pyvmomi is not installed (pip install pyvmomi)")
        self.connect: Any = connect
        self.task: Any = task
        self.vim: Any = vim
        self.vmodl: Any = vmodl

    def login(self, sim: Vcsim, **overrides: object) -> Any:
        return self.connect.SmartConnect(**{**sim.connect_kwargs(), **overrides})

    def view(self, si: Any, kind: Any) -> Any:
        content = si.RetrieveContent()
        return content.viewManager.CreateContainerView(content.rootFolder, [kind], True)

    def names(self, si: Any, kind: Any) -> list[str]:
        view = self.view(si, kind)
        try:
            return sorted(obj.name for obj in view.view)
        finally:
            view.Destroy()

    def retrieve(self, si: Any, kind: Any, paths: list[str]) -> list[Any]:
        """One RetrieveContents over a ContainerView: all objects, given paths."""
        pc = self.vmodl.query.PropertyCollector
        view = self.view(si, kind)
        try:
            spec = pc.FilterSpec(
                objectSet=[
                    pc.ObjectSpec(
                        obj=view,
                        skip=True,
                        selectSet=[pc.TraversalSpec(name="view", path="view", skip=False, type=type(view))],
                    )
                ],
                propSet=[pc.PropertySpec(type=kind, pathSet=paths, all=False)],
            )
            return list(si.content.propertyCollector.RetrieveContents([spec]))
        finally:
            view.Destroy()


@pytest.fixture(scope="module")
def py() -> Py:
    return Py()


def test_plain_http_inventory(vcsim_bin: Path, py: Py) -> None:
    with Vcsim(
        binary=vcsim_bin,
        clusters=1,
        hosts=2,
        vms=3,
        standalone_hosts=1,
        tls=False,
        guest_ip_base="198.18.0.10",
    ) as sim:
        assert sim.url == f"http://127.0.0.1:{sim.port}/sdk"
        assert sim.vm_count == 9
        si = py.login(sim)  # protocol="http"
        try:
            assert si.content.about.apiType == "VirtualCenter"
            vms = {
                o.obj.name: {p.name: p.val for p in o.propSet}
                for o in py.retrieve(
                    si,
                    py.vim.VirtualMachine,
                    ["runtime.host", "runtime.powerState", "guest.ipAddress"],
                )
            }
            expected = [f"DC0_C0_RP0_VM{n}" for n in range(6)]
            expected += [f"DC0_H0_VM{n}" for n in range(3)]
            assert sorted(vms) == sorted(expected)
            for n in range(6):  # cluster VM n runs on host n // vms
                vm = vms[f"DC0_C0_RP0_VM{n}"]
                assert vm["runtime.host"].name == f"DC0_C0_H{n // 3}"
                assert vm["runtime.powerState"] == "poweredOn"
            assert vms["DC0_C0_RP0_VM0"]["guest.ipAddress"] == "198.18.0.10"
            assert vms["DC0_H0_VM2"]["guest.ipAddress"] == "198.18.0.18"
            assert py.names(si, py.vim.HostSystem) == ["DC0_C0_H0", "DC0_C0_H1", "DC0_H0"]
            assert py.names(si, py.vim.ClusterComputeResource) == ["DC0_C0"]
            assert py.names(si, py.vim.Datastore) == ["LocalDS_0"]
            assert "DC0_DVPG0" in py.names(si, py.vim.Network)
            vm0 = si.content.searchIndex.FindByInventoryPath("DC0/vm/DC0_C0_RP0_VM0")
            assert vm0 is not None and vm0.guest.hostName == "DC0_C0_RP0_VM0"
        finally:
            py.connect.Disconnect(si)
    assert not sim.running


def test_tls_inventory_and_certificate(vcsim_bin: Path, py: Py) -> None:
    with Vcsim(binary=vcsim_bin, datacenters=2, clusters=1, hosts=1, vms=2, tls=True) as sim:
        assert sim.url == f"https://127.0.0.1:{sim.port}/sdk"
        si = py.login(sim)  # disableSslCertValidation=True
        try:
            names = py.names(si, py.vim.VirtualMachine)
            assert len(names) == sim.vm_count == 4
            assert names[0] == "DC0_C0_RP0_VM0" and names[-1] == "DC1_C0_RP0_VM1"
            assert py.names(si, py.vim.Datacenter) == ["DC0", "DC1"]
        finally:
            py.connect.Disconnect(si)
        # vcsim's default certificate is self-signed with a 1024-bit key:
        # verification fails, even with the certificate itself as CA.
        strict = {k: v for k, v in sim.connect_kwargs().items() if k != "disableSslCertValidation"}
        pem = sim.server_certificate_pem()
        for context in (
            ssl.create_default_context(),
            ssl.create_default_context(cadata=pem),
        ):
            with pytest.raises(ssl.SSLCertVerificationError):
                py.connect.SmartConnect(**strict, sslContext=context)


def test_credentials(vcsim_bin: Path, py: Py) -> None:
    with Vcsim(binary=vcsim_bin, hosts=1, vms=1, username="alice", password="s3cret") as sim:
        assert sim.login == ("alice", "s3cret")
        si = py.login(sim)
        assert si.content.sessionManager.currentSession.userName == "alice"
        py.connect.Disconnect(si)
        for user, pwd in (("alice", "wrong"), ("bob", "s3cret")):
            with pytest.raises(py.vim.fault.InvalidLogin):
                py.login(sim, user=user, pwd=pwd)


def test_terminated_and_idle_sessions(vcsim_bin: Path, py: Py) -> None:
    with Vcsim(binary=vcsim_bin, hosts=1, vms=1, tls=False) as sim:
        admin, victim = py.login(sim), py.login(sim)
        key = victim.content.sessionManager.currentSession.key
        admin.content.sessionManager.TerminateSession([key])
        with pytest.raises(py.vim.fault.NotAuthenticated):
            victim.CurrentTime()
        assert admin.CurrentTime() is not None
    with Vcsim(binary=vcsim_bin, hosts=1, vms=1, tls=False, session_idle_timeout=0.3) as sim:
        si = py.login(sim)
        si.CurrentTime()
        time.sleep(1.0)
        with pytest.raises(py.vim.fault.NotAuthenticated):
            si.CurrentTime()


def test_tasks(vcsim_bin: Path, py: Py) -> None:
    with Vcsim(binary=vcsim_bin, hosts=1, vms=1, tls=False) as sim:
        si = py.login(sim)
        find = si.content.searchIndex.FindByInventoryPath
        vm = find("DC0/vm/DC0_C0_RP0_VM0")
        wait: Callable[[Any], Any] = py.task.WaitForTask
        assert wait(vm.PowerOffVM_Task()) == "success"
        assert vm.runtime.powerState == "poweredOff"
        with pytest.raises(py.vim.fault.InvalidPowerState):
            wait(vm.PowerOffVM_Task())
        assert wait(vm.CreateSnapshot_Task("s1", "", False, False)) == "success"
        assert vm.snapshot.rootSnapshotList[0].name == "s1"
        assert wait(vm.PowerOnVM_Task()) == "success"
        host = find("DC0/host/DC0_C0/DC0_C0_H0")
        assert wait(host.EnterMaintenanceMode_Task(timeout=0)) == "success"
        assert host.runtime.inMaintenanceMode is True


def test_method_delay_holds_only_those_calls(vcsim_bin: Path, py: Py) -> None:
    """A delayed *_Task call returns after the delay with its task already ended (vcsim
    runs tasks inside the call, reporting no progress); other calls are not delayed."""
    with pytest.raises(ValueError, match="method_delay_ms"):
        Vcsim(binary=vcsim_bin, method_delay_ms={"PowerOffVM_Task; rm": 1})
    with Vcsim(binary=vcsim_bin, hosts=1, vms=1, tls=False, method_delay_ms={"PowerOffVM_Task": 700}) as sim:
        si = py.login(sim)
        vm = si.content.searchIndex.FindByInventoryPath("DC0/vm/DC0_C0_RP0_VM0")
        began = time.monotonic()
        task = vm.PowerOffVM_Task()
        assert time.monotonic() - began >= 0.7
        assert task.info.state == "success" and task.info.progress is None
        began = time.monotonic()
        assert py.task.WaitForTask(vm.PowerOnVM_Task()) == "success" and vm.runtime.powerState == "poweredOn"
        assert time.monotonic() - began < 0.5
        py.connect.Disconnect(si)


def test_start_failure_and_build_cache(vcsim_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "missing.pem"
    sim = Vcsim(binary=vcsim_bin, tls_cert=missing, tls_key=missing)
    with pytest.raises(VcsimError, match=r"missing\.pem"):
        sim.start()
    assert not sim.running

    assert build_vcsim() == vcsim_bin  # cached
    monkeypatch.setenv("OPSPACK_VCSIM_BIN", str(vcsim_bin))
    assert build_vcsim(tmp_path) == vcsim_bin
    plain = tmp_path / "not-executable"
    plain.write_text("")
    plain.chmod(stat.S_IRUSR)
    monkeypatch.setenv("OPSPACK_VCSIM_BIN", str(plain))
    with pytest.raises(VcsimUnavailable):
        build_vcsim()
    monkeypatch.delenv("OPSPACK_VCSIM_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(VcsimUnavailable, match=APT_PACKAGES[0]):
        build_vcsim(tmp_path)


def test_2000_vms(vcsim_bin: Path, py: Py, capsys: pytest.CaptureFixture[str]) -> None:
    sim = Vcsim(binary=vcsim_bin, clusters=2, hosts=10, vms=100, tls=False)
    assert sim.vm_count == 2000
    with sim:
        si = py.login(sim)
        paths = ["name", "runtime.powerState", "config.hardware.numCPU"]

        began = time.perf_counter()
        rows = py.retrieve(si, py.vim.VirtualMachine, paths)
        bulk = time.perf_counter() - began
        assert len(rows) == 2000
        assert all(len(row.propSet) == 3 for row in rows)

        vms = [row.obj for row in rows[:200]]
        began = time.perf_counter()
        for vm in vms:  # three round trips per VM
            assert vm.name and vm.runtime.powerState and vm.config.hardware.numCPU
        one_by_one = (time.perf_counter() - began) * len(rows) / len(vms)
        py.connect.Disconnect(si)
    with capsys.disabled():
        print(
            f"\nvcsim 2000 VMs: start {sim.startup_seconds:.1f}s; "
            f"name/powerState/numCpu via one RetrieveContents {bulk:.2f}s, "
            f"VM by VM ~{one_by_one:.1f}s (extrapolated from 200)"
        )
