"""``host list`` and ``host maintenance enter|exit``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opspack import Context, Status, Table, command
from opspack.results import Level

if TYPE_CHECKING:
    from opspack_vmware._vsphere import Session

LIST_PROPS = [
    "name",
    "parent",
    "runtime.connectionState",
    "runtime.powerState",
    "runtime.inMaintenanceMode",
    "summary.quickStats.overallCpuUsage",
    "summary.quickStats.overallMemoryUsage",
    "summary.hardware.cpuMhz",
    "summary.hardware.numCpuCores",
    "summary.hardware.memorySize",
    "vm",
]
POWER = {"poweredOn": "on", "poweredOff": "off", "standBy": "standby", "unknown": "unknown"}


@command(group="host", verb="list", examples=["host list", "host list --cluster prod"], timeout=120)
def list_(ctx: Context, *, cluster: str | None = None) -> Table:
    """List ESXi hosts: connection, power, maintenance mode, CPU and memory use, VM count.

    Rows are critical when a host is not connected, warning when it is in maintenance mode.

    Args:
        cluster: only hosts of this cluster
    """
    from opspack_vmware import _vsphere

    return _vsphere.run(ctx, lambda s: _list(s, cluster))


def _list(s: Session, cluster: str | None) -> Table:
    from opspack_vmware import _vsphere as v

    data = s.retrieve({"HostSystem": LIST_PROPS, "ClusterComputeResource": ["name", "parent"]})
    inventory = v.Inventory(data)
    clusters = {c.id: c for c in data["ClusterComputeResource"]}
    want = v.pick("cluster", cluster, data["ClusterComputeResource"], inventory).id if cluster else None
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for h in sorted(data["HostSystem"], key=lambda o: o.name.lower()):
        parent = h.get("parent")
        c = clusters.get(str(parent._moId)) if parent is not None else None
        if want is not None and (c is None or c.id != want):
            continue
        connection = str(h.get("runtime.connectionState", "unknown"))
        maintenance = bool(h.get("runtime.inMaintenanceMode", False))
        cpu_capacity = (h.get("summary.hardware.cpuMhz") or 0) * (h.get("summary.hardware.numCpuCores") or 0)
        mem_bytes = h.get("summary.hardware.memorySize")
        mem_mb = mem_bytes / 1024**2 if mem_bytes else None
        rows.append(
            [
                h.name,
                c.name if c is not None else "",
                connection,
                POWER.get(str(h.get("runtime.powerState")), str(h.get("runtime.powerState", ""))),
                "yes" if maintenance else "no",
                v.pct(h.get("summary.quickStats.overallCpuUsage"), cpu_capacity),
                v.pct(h.get("summary.quickStats.overallMemoryUsage"), mem_mb),
                len(h.get("vm", [])),
            ]
        )
        levels.append("critical" if connection != "connected" else "warning" if maintenance else "ok")
    return Table(
        columns=["name", "cluster", "connection", "power", "maintenance", "cpu_pct", "mem_pct", "vms"],
        rows=rows,
        row_status=levels,
        title=f"Hosts ({len(rows)})",
    )


def _maintenance(ctx: Context, query: str, enter: bool) -> Status:
    from opspack_vmware import _vsphere as v

    def use(s: Session) -> Status:
        found, _ = v.resolve(s, "HostSystem", query, "host")
        host = found.ref
        if enter:
            done = v.run_task(
                s,
                lambda: host.EnterMaintenanceMode_Task(timeout=0, evacuatePoweredOffVms=False),
                f"maintenance mode for host {found.name}",
            )
        else:
            done = v.run_task(
                s, lambda: host.ExitMaintenanceMode_Task(timeout=0), f"exit from maintenance of {found.name}"
            )
        state = "in" if enter else "out of"
        return Status(
            "ok",
            f"host {found.name} is {state} maintenance mode (task {done.task_id}, {done.seconds:.1f} s)",
            title=f"host maintenance {'enter' if enter else 'exit'} {found.name}",
        )

    return v.run(ctx, use)


def _check_host(ctx: Context, host: str) -> None:
    """Before the confirmation: the host exists, and the name names one."""
    from opspack_vmware import _vsphere as v

    v.run(ctx, lambda s: v.resolve(s, "HostSystem", host, "host"))


@command(
    group="host",
    verb="maintenance_enter",
    words=["host", "maintenance", "enter"],
    destructive=True,
    examples=["host maintenance enter esx01"],
    timeout=900,
    check=_check_host,
)
def maintenance_enter(ctx: Context, host: str) -> Status:
    """Put a host in maintenance mode and wait for the vSphere task (VMs must move or stop first).

    In a DRS cluster, fully automated DRS moves the running VMs away; otherwise the
    task waits for them until the task_timeout setting.

    Args:
        host: the host's name, or its inventory path
    """
    return _maintenance(ctx, host, enter=True)


@command(
    group="host",
    verb="maintenance_exit",
    words=["host", "maintenance", "exit"],
    destructive=True,
    examples=["host maintenance exit esx01"],
    timeout=900,
    check=_check_host,
)
def maintenance_exit(ctx: Context, host: str) -> Status:
    """Take a host out of maintenance mode and wait for the vSphere task.

    Args:
        host: the host's name, or its inventory path
    """
    return _maintenance(ctx, host, enter=False)
