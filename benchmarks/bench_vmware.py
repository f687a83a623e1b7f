"""vmware pack: `vm list` over 2,000+ VMs against vcsim, versus the naive way and the raw call.

Prints, from one run against one simulator:

* `vm list --limit 0` through the pack (the real runtime: parse, validate, kept session,
  one PropertyCollector read, table), median of several runs after a warm-up;
* one raw ``PropertyCollector.RetrieveContents`` of the same properties over a ready
  ContainerView, with pyvmomi directly (the floor);
* the naive loop: the same properties read VM by VM with pyvmomi attribute access
  (what per-object code does: one round trip per property group per VM);
* how many logins the later commands in the same process made (expected: zero).

Usage: python benchmarks/bench_vmware.py [--vms-per-host 100] [--hosts 10] [--clusters 2]
       [--repeat 5] [--naive-sample N]   (N>0 times N VMs and extrapolates; default all)
Needs Go + govmomi sources (scripts/install-test-deps.sh) and the core + vmware pack installed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--vms-per-host", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--naive-sample", type=int, default=0)
    opts = parser.parse_args()

    from opspack.context import Caller
    from opspack.devtools.registry_build import registry_from_package
    from opspack.runtime import Runtime
    from opspack.settings import Config
    from opspack_testkit.servers.vcsim import Vcsim, vmware_pack_environ
    from opspack_vmware import _vsphere
    from opspack_vmware.vm import LIST_PROPS
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl

    sim = Vcsim(clusters=opts.clusters, hosts=opts.hosts, vms=opts.vms_per_host, tls=False)
    print(f"starting vcsim with {sim.vm_count} VMs on {sim.host_count} hosts ...", flush=True)
    with sim:
        print(f"vcsim up in {sim.startup_seconds:.1f} s at {sim.url}")
        runtime = Runtime(registry_from_package("opspack_vmware"), config=Config.load(environ=vmware_pack_environ(sim)))
        caller = Caller(user="bench", frontend="bench")

        # -- the pack -------------------------------------------------------------
        began = time.perf_counter()
        first = runtime.chat("vm list --limit 0", caller)
        first_s = time.perf_counter() - began
        assert first.ok, first.error
        rows = len(first.results[0].rows)  # type: ignore[attr-defined]
        assert rows == sim.vm_count, rows
        logins_after_first = _vsphere.login_count()

        # -- raw pyvmomi: one RetrieveContents, same properties ------------------------
        si = SmartConnect(**sim.connect_kwargs())
        content = si.RetrieveContent()
        pc: Any = vmodl.query.PropertyCollector
        kinds = [vim.VirtualMachine, vim.HostSystem, vim.ClusterComputeResource]
        view = content.viewManager.CreateContainerView(content.rootFolder, kinds, True)
        spec = pc.FilterSpec(
            objectSet=[
                pc.ObjectSpec(
                    obj=view,
                    skip=True,
                    selectSet=[pc.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)],
                )
            ],
            propSet=[
                pc.PropertySpec(type=vim.VirtualMachine, pathSet=LIST_PROPS, all=False),
                pc.PropertySpec(type=vim.HostSystem, pathSet=["name", "parent"], all=False),
                pc.PropertySpec(type=vim.ClusterComputeResource, pathSet=["name", "parent"], all=False),
            ],
        )
        content.propertyCollector.RetrieveContents([spec])  # warm-up
        # Pack and raw call alternate, so both see the same machine load.
        pack_times, raw_times = [], []
        for _ in range(opts.repeat):
            began = time.perf_counter()
            reply = runtime.chat("vm list --limit 0", caller)
            pack_times.append(time.perf_counter() - began)
            assert reply.ok and len(reply.results[0].rows) == rows  # type: ignore[attr-defined]
            del reply
            began = time.perf_counter()
            objects = content.propertyCollector.RetrieveContents([spec])
            raw_times.append(time.perf_counter() - began)
            assert len(objects) >= rows
            del objects
        for text in ("host list", "vm info DC0_C0_RP0_VM0", "cluster summary", "vcenter status"):
            assert runtime.chat(text, caller).ok, text
        extra_logins = _vsphere.login_count() - logins_after_first
        runtime.close()

        # -- naive: VM by VM -------------------------------------------------------------
        vm_view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        vms = list(vm_view.view)
        sample = vms[: opts.naive_sample] if opts.naive_sample > 0 else vms
        began = time.perf_counter()
        naive_rows = []
        for vm in sample:  # one round trip per top-level property read, as per-object code does
            summary = vm.summary
            runtime_info = vm.runtime
            host = runtime_info.host
            parent = host.parent if host is not None else None
            naive_rows.append(
                [
                    vm.name,
                    runtime_info.powerState,
                    summary.config.numCpu,
                    summary.config.memorySizeMB,
                    summary.config.guestFullName,
                    vm.guest.ipAddress,
                    host.name if host is not None else "",
                    parent.name if isinstance(parent, vim.ClusterComputeResource) else "",
                ]
            )
        naive_s = (time.perf_counter() - began) * len(vms) / len(sample)
        view.Destroy()
        vm_view.Destroy()
        Disconnect(si)

    pack_s = statistics.median(pack_times)
    raw_s = statistics.median(raw_times)
    extrapolated = f" (extrapolated from {len(sample)})" if len(sample) < len(vms) else ""
    print()
    print(f"vm list over {rows} VMs ({sim.host_count} hosts), median of {opts.repeat}:")
    print(f"  first command (login + view + read):   {first_s:8.3f} s")
    print(f"  pack `vm list --limit 0` (kept session): {pack_s:8.3f} s")
    ratio = pack_s / raw_s
    print(f"  raw RetrieveContents, same properties:   {raw_s:8.3f} s   pack/raw = {ratio:.2f}x (target <= 1.5x)")
    print(f"  naive VM-by-VM pyvmomi reads:            {naive_s:8.3f} s{extrapolated}")
    print(f"  speed-up of the pack over naive:         {naive_s / pack_s:8.1f}x (target >= 15x)")
    print(f"  logins by the {opts.repeat}+4 commands after the first: {extra_logins} (target 0)")


if __name__ == "__main__":
    main()
