"""Trivial commands: the work is nothing, so what is measured is the core."""

from __future__ import annotations

from opspack import Table, command

ROWS = [[f"vm{i:02d}", "poweredOn", 2, 4096] for i in range(10)]


def ten_rows(cluster: str | None = None, limit: int = 10) -> Table:
    return Table(columns=["name", "power", "cpu", "memory_mb"], rows=ROWS[:limit], title=f"VMs in {cluster}")


@command(group="vm", verb="list", words=["vm", "list"])
def vm_list(*, cluster: str | None = None, limit: int = 10) -> Table:
    """List VMs (a fixed 10-row table).

    Args:
        cluster: the cluster
        limit: rows
    """
    return ten_rows(cluster, limit)
