"""``cluster summary [<cluster>]``: hosts, VMs, CPU and memory, HA and DRS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opspack import KV, Context, Table, command

if TYPE_CHECKING:
    from opspack_vmware._vsphere import Obj, Session

CLUSTER_PROPS = [
    "name",
    "parent",
    "summary.numHosts",
    "summary.numEffectiveHosts",
    "summary.totalCpu",
    "summary.totalMemory",
    "configurationEx",
]
HOST_PROPS = ["parent", "summary.quickStats.overallCpuUsage", "summary.quickStats.overallMemoryUsage", "vm"]


@command(group="cluster", verb="summary", examples=["cluster summary", "cluster summary prod"], timeout=120)
def summary(ctx: Context, cluster: str | None = None) -> Table | KV:
    """Summarise clusters: hosts, VMs, CPU and memory totals and use, HA and DRS state.

    Without a name, one row per cluster; with a name, that cluster's details.

    Args:
        cluster: the cluster's name (default: all clusters)
    """
    from opspack_vmware import _vsphere

    return _vsphere.run(ctx, lambda s: _summary(s, cluster))


def _facts(c: Obj, hosts: list[Obj]) -> dict[str, Any]:
    from opspack_vmware import _vsphere as v

    config = c.get("configurationEx")
    das = getattr(config, "dasConfig", None)
    drs = getattr(config, "drsConfig", None)
    cpu_used = sum(h.get("summary.quickStats.overallCpuUsage", 0) for h in hosts)
    mem_used_mb = sum(h.get("summary.quickStats.overallMemoryUsage", 0) for h in hosts)
    total_cpu = c.get("summary.totalCpu")
    total_mem = c.get("summary.totalMemory")
    drs_on = bool(getattr(drs, "enabled", False))
    behavior = str(getattr(drs, "defaultVmBehavior", "") or "")
    return {
        "name": c.name,
        "hosts": c.get("summary.numHosts", len(hosts)),
        "effective_hosts": c.get("summary.numEffectiveHosts"),
        "vms": sum(len(h.get("vm", [])) for h in hosts),
        "cpu_total_ghz": round(total_cpu / 1000, 1) if total_cpu is not None else None,
        "cpu_used_ghz": round(cpu_used / 1000, 1),
        "cpu_pct": v.pct(cpu_used, total_cpu),
        "mem_total_gb": v.gb(total_mem),
        "mem_used_gb": v.gb(mem_used_mb * 1024**2),
        "mem_pct": v.pct(mem_used_mb * 1024**2, total_mem),
        "ha": "on" if getattr(das, "enabled", False) else "off",
        "drs": (f"on ({behavior})" if behavior else "on") if drs_on else "off",
    }


def _summary(s: Session, cluster: str | None) -> Table | KV:
    from opspack_vmware import _vsphere as v

    data = s.retrieve({"ClusterComputeResource": CLUSTER_PROPS, "HostSystem": HOST_PROPS})
    by_cluster: dict[str, list[Obj]] = {}
    for h in data["HostSystem"]:
        parent = h.get("parent")
        if parent is not None:
            by_cluster.setdefault(str(parent._moId), []).append(h)
    if cluster is not None:
        c = v.pick("cluster", cluster, data["ClusterComputeResource"], v.Inventory(data))
        return KV(_facts(c, by_cluster.get(c.id, [])), title=f"Cluster {c.name}")
    facts = [_facts(c, by_cluster.get(c.id, [])) for c in sorted(data["ClusterComputeResource"], key=lambda o: o.name)]
    columns = ["name", "hosts", "vms", "cpu_total_ghz", "cpu_pct", "mem_total_gb", "mem_pct", "ha", "drs"]
    return Table.from_records(facts, columns, title=f"Clusters ({len(facts)})")
