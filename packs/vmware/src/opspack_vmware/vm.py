"""``vm list``, ``vm info`` and the power commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from opspack import KV, Context, Status, Table, UsageError, command

if TYPE_CHECKING:
    from opspack_vmware._vsphere import Inventory, Obj, Session

Power = Literal["on", "off", "suspended"]

#: What `vm list` shows, and nothing more.
LIST_PROPS = [
    "name",
    "runtime.powerState",
    "summary.config.numCpu",
    "summary.config.memorySizeMB",
    "summary.config.guestFullName",
    "guest.ipAddress",
    "runtime.host",
]
LIST_COLUMNS = ["name", "power", "cpus", "memory_mb", "guest_os", "ip", "host", "cluster"]

INFO_PROPS = [
    "name",
    "runtime.powerState",
    "runtime.host",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.guestFullName",
    "config.uuid",
    "config.annotation",
    "guest.ipAddress",
    "guest.hostName",
    "guest.toolsRunningStatus",
    "guest.toolsVersionStatus2",
    "summary.quickStats.uptimeSeconds",
    "config.hardware.device",
    "snapshot",
]


@command(
    words=["vm", "list"],
    examples=["vm list", "vm list --cluster prod --power on", "vm list --name 'web*' --limit 20"],
    timeout=120,
)
def list_(
    ctx: Context,
    *,
    cluster: str | None = None,
    host: str | None = None,
    folder: str | None = None,
    power: Power | None = None,
    name: str | None = None,
    limit: int = 200,
) -> Table:
    """List virtual machines: power state, CPUs, memory, guest OS, IP, host and cluster.

    One PropertyCollector read for the whole inventory, whatever its size.

    Args:
        cluster: only VMs running in this cluster
        host: only VMs running on this host
        folder: only VMs under this VM folder (name or inventory path)
        power: only VMs in this power state
        name: only VMs whose name matches this glob (web*), or contains it when it has no wildcard
        limit: show at most this many rows (0: all)
    """
    from opspack_vmware import _vsphere

    if limit < 0:
        raise UsageError(f"limit: got {limit}, expected 0 (all) or more")
    return _vsphere.run(ctx, lambda s: _list(s, cluster, host, folder, power, name, limit))


def _list(
    s: Session,
    cluster: str | None,
    host: str | None,
    folder: str | None,
    power: Power | None,
    name: str | None,
    limit: int,
) -> Table:
    from opspack_vmware import _vsphere as v

    wanted: dict[str, list[str]] = {
        "VirtualMachine": list(LIST_PROPS),
        "HostSystem": ["name", "parent"],
        "ClusterComputeResource": ["name", "parent"],
    }
    if folder is not None:
        wanted["VirtualMachine"].append("parent")
        wanted.update(v.PATH_TYPES)
    data = s.retrieve(wanted)
    inventory = v.Inventory(data)
    clusters = {c.id: c for c in data["ClusterComputeResource"]}
    hosts = {h.id: h for h in data["HostSystem"]}

    def cluster_of(h: Obj | None) -> Obj | None:
        parent = h.get("parent") if h is not None else None
        return clusters.get(str(parent._moId)) if parent is not None else None

    want_cluster = v.pick("cluster", cluster, data["ClusterComputeResource"], inventory).id if cluster else None
    want_host = v.pick("host", host, data["HostSystem"], inventory).id if host else None
    want_folder = None
    if folder is not None:
        folders = [f for f in data["Folder"] if f.get("parent") is not None]
        want_folder = v.pick("folder", folder, folders, inventory).id
    want_power = {"on": "poweredOn", "off": "poweredOff", "suspended": "suspended"}[power] if power else None

    rows: list[list[Any]] = []
    for vm in data["VirtualMachine"]:
        if want_power is not None and vm.get("runtime.powerState") != want_power:
            continue
        if name is not None and not v.name_matches(vm.name, name):
            continue
        host_ref = vm.get("runtime.host")
        h = hosts.get(str(host_ref._moId)) if host_ref is not None else None
        c = cluster_of(h)
        if want_host is not None and (h is None or h.id != want_host):
            continue
        if want_cluster is not None and (c is None or c.id != want_cluster):
            continue
        if want_folder is not None and all(a.id != want_folder for a in inventory.ancestors(vm)):
            continue
        rows.append(
            [
                vm.name,
                v.POWER_WORDS.get(str(vm.get("runtime.powerState")), str(vm.get("runtime.powerState", ""))),
                vm.get("summary.config.numCpu"),
                vm.get("summary.config.memorySizeMB"),
                vm.get("summary.config.guestFullName", ""),
                vm.get("guest.ipAddress", ""),
                h.name if h is not None else "",
                c.name if c is not None else "",
            ]
        )
    rows.sort(key=lambda r: (str(r[0]).lower(), str(r[6])))
    total = len(rows)
    shown = rows[:limit] if limit else rows
    title = f"VMs ({len(shown)} of {total})" if len(shown) < total else f"VMs ({total})"
    return Table(columns=list(LIST_COLUMNS), rows=shown, title=title, total=total)


@command(words=["vm", "info"], examples=["vm info web01", "vm info DC0/vm/prod/web01"])
def info(ctx: Context, vm: str) -> KV:
    """Show one VM: power, guest OS and tools, uptime, CPUs, memory, disks, NICs and snapshots.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
    """
    from opspack_vmware import _vsphere

    return _vsphere.run(ctx, lambda s: _info(s, vm))


def _find_vm(s: Session, query: str) -> tuple[Obj, Inventory]:
    from opspack_vmware import _vsphere as v

    return v.resolve(
        s,
        "VirtualMachine",
        query,
        "VM",
        extra={"HostSystem": ["name", "parent"], "ClusterComputeResource": ["name", "parent"], "Network": ["name"]},
    )


def _info(s: Session, query: str) -> KV:
    from opspack_vmware import _vmdetail
    from opspack_vmware import _vsphere as v

    found, inventory = _find_vm(s, query)
    vm = s.retrieve_objects([found.ref], {"VirtualMachine": INFO_PROPS})["VirtualMachine"][0]
    host_ref = vm.get("runtime.host")
    host = inventory.by_id.get(str(host_ref._moId)) if host_ref is not None else None
    parent = host.get("parent") if host is not None else None
    cluster = inventory.by_id.get(str(parent._moId)) if parent is not None else None
    power = str(vm.get("runtime.powerState", ""))
    devices = vm.get("config.hardware.device", [])
    snapshots = _vmdetail.snapshot_rows(vm.get("snapshot"))
    current = next((r.name for r in snapshots if r.current), "")
    tools = str(vm.get("guest.toolsRunningStatus", "") or "unknown")
    version = vm.get("guest.toolsVersionStatus2")
    items: dict[str, Any] = {
        "name": vm.name,
        "path": inventory.path(found),
        "power": v.POWER_WORDS.get(power, power),
        "guest_os": vm.get("config.guestFullName", ""),
        "ip": vm.get("guest.ipAddress", ""),
        "guest_hostname": vm.get("guest.hostName", ""),
        "tools": f"{tools} ({version})" if version else tools,
        "uptime": v.duration(vm.get("summary.quickStats.uptimeSeconds")) if power == "poweredOn" else "",
        "cpus": vm.get("config.hardware.numCPU"),
        "memory_mb": vm.get("config.hardware.memoryMB"),
        "host": host.name if host is not None else "",
        "cluster": cluster.name
        if cluster is not None and cluster.ref.__class__.__name__.endswith("ClusterComputeResource")
        else "",
        "disks": _vmdetail.disks(devices),
        "nics": _vmdetail.nics(devices, inventory),
        "snapshots": len(snapshots),
        "current_snapshot": current,
        "uuid": vm.get("config.uuid", ""),
        "notes": vm.get("config.annotation", ""),
    }
    return KV(items, title=f"VM {vm.name}")


def _check_vm(ctx: Context, vm: str) -> None:
    """Before a confirmation: the VM exists, and the name names one."""
    from opspack_vmware import _vsphere as v

    v.run(ctx, lambda s: v.resolve(s, "VirtualMachine", vm, "VM"))


def _power(ctx: Context, query: str, action: str) -> Status:
    from opspack_vmware import _vsphere as v

    def use(s: Session) -> Status:
        found, _ = _find_vm(s, query)
        vm = found.ref
        if action == "shutdown-guest":
            return _shutdown_guest(s, found)
        start = {"power-on": vm.PowerOnVM_Task, "power-off": vm.PowerOffVM_Task, "reset": vm.ResetVM_Task}[action]
        done = v.run_task(s, start, f"{action} of VM {found.name}")
        state = s.retrieve_objects([vm], {"VirtualMachine": ["runtime.powerState"]})["VirtualMachine"][0]
        power = str(state.get("runtime.powerState", ""))
        return Status(
            "ok",
            f"{action} of VM {found.name}: task {done.task_id} succeeded in {done.seconds:.1f} s; "
            f"the VM is now powered {v.POWER_WORDS.get(power, power)}",
            title=f"vm {action} {found.name}",
        )

    return v.run(ctx, use)


def _shutdown_guest(s: Session, found: Obj) -> Status:
    import time

    from opspack.errors import BackendError, CommandTimeout
    from pyVmomi import vim, vmodl

    from opspack_vmware.errors import fault_text

    try:
        found.ref.ShutdownGuest()  # no task: the guest is asked, vCenter answers at once
    except Exception as exc:
        if isinstance(exc, vim.fault.NotAuthenticated):
            raise
        if isinstance(exc, vmodl.MethodFault):
            raise BackendError(
                f"shutdown-guest of VM {found.name} failed: vCenter says: {fault_text(exc)}",
                f"Check the VM with `vm info {found.name}`"
                + ("." if isinstance(exc, vim.fault.InvalidPowerState) else "; a guest shutdown needs VMware Tools."),
            ) from None
        raise
    began = time.monotonic()
    delay = 0.05
    while True:
        obj = s.retrieve_objects([found.ref], {"VirtualMachine": ["runtime.powerState"]})["VirtualMachine"][0]
        if obj.get("runtime.powerState") == "poweredOff":
            return Status(
                "ok",
                f"VM {found.name}: the guest shut down; powered off after {time.monotonic() - began:.1f} s",
                title=f"vm shutdown-guest {found.name}",
            )
        if time.monotonic() - began > s.task_timeout:
            raise CommandTimeout(
                f"VM {found.name} was asked to shut down but is still powered on after {s.task_timeout:g} s",
                "The guest may still be shutting down; check with `vm info`, or use `vm power-off`.",
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


@command(group="vm", verb="power_on", mutating=True, examples=["vm power-on web01"], timeout=300)
def power_on(ctx: Context, vm: str) -> Status:
    """Power on a virtual machine and wait for the vSphere task.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
    """
    return _power(ctx, vm, "power-on")


@command(group="vm", verb="power_off", destructive=True, examples=["vm power-off web01"], timeout=300, check=_check_vm)
def power_off(ctx: Context, vm: str) -> Status:
    """Power off a virtual machine at once (no guest shutdown) and wait for the vSphere task.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
    """
    return _power(ctx, vm, "power-off")


@command(group="vm", verb="reset", destructive=True, examples=["vm reset web01"], timeout=300, check=_check_vm)
def reset(ctx: Context, vm: str) -> Status:
    """Reset (hard restart) a virtual machine and wait for the vSphere task.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
    """
    return _power(ctx, vm, "reset")


@command(group="vm", verb="shutdown_guest", mutating=True, examples=["vm shutdown-guest web01"], timeout=300)
def shutdown_guest(ctx: Context, vm: str) -> Status:
    """Ask the guest OS to shut down (needs VMware Tools) and wait until the VM is off.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
    """
    return _power(ctx, vm, "shutdown-guest")
