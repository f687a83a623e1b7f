"""``datastore list``: capacity, free space and a status per datastore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opspack import Context, Result, Status, Table, UsageError, command, worst
from opspack.results import Level

if TYPE_CHECKING:
    from opspack_vmware._vsphere import Session

LIST_PROPS = ["summary.name", "summary.type", "summary.capacity", "summary.freeSpace", "summary.accessible"]


def level_for(used_pct: float | None, accessible: bool, warning: int, critical: int) -> Level:
    """critical from ``critical`` percent used (or inaccessible), warning from ``warning``."""
    if not accessible:
        return "critical"
    if used_pct is None:
        return "unknown"
    if used_pct >= critical:
        return "critical"
    if used_pct >= warning:
        return "warning"
    return "ok"


@command(
    group="datastore",
    verb="list",
    examples=["datastore list", "datastore list --warning 70 --critical 85"],
    timeout=120,
)
def list_(ctx: Context, *, warning: int | None = None, critical: int | None = None) -> list[Result]:
    """List datastores: type, capacity, free space, percent used and a status per row.

    A row is a warning from 80% used and critical from 90% (settings
    datastore_warning_pct and datastore_critical_pct, or these options).

    Args:
        warning: percent used from which a datastore is a warning
        critical: percent used from which a datastore is critical
    """
    from opspack_vmware import _vsphere

    warn = int(ctx.settings["datastore_warning_pct"]) if warning is None else warning
    crit = int(ctx.settings["datastore_critical_pct"]) if critical is None else critical
    if not 0 <= warn <= crit <= 100:
        raise UsageError(
            f"thresholds: got warning {warn}% and critical {crit}%, expected 0 <= warning <= critical <= 100"
        )
    return _vsphere.run(ctx, lambda s: _list(s, warn, crit))


def _list(s: Session, warn: int, crit: int) -> list[Result]:
    from opspack_vmware import _vsphere as v

    data = s.retrieve({"Datastore": LIST_PROPS})
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for ds in sorted(data["Datastore"], key=lambda o: o.name.lower()):
        capacity = ds.get("summary.capacity")
        free = ds.get("summary.freeSpace")
        used = v.pct(capacity - free, capacity) if capacity is not None and free is not None else None
        level = level_for(used, bool(ds.get("summary.accessible", True)), warn, crit)
        rows.append([ds.name, ds.get("summary.type", ""), v.gb(capacity), v.gb(free), used])
        levels.append(level)
    table = Table(
        columns=["name", "type", "capacity_gb", "free_gb", "used_pct"],
        rows=rows,
        row_status=levels,
        title=f"Datastores ({len(rows)}; warning at {warn}%, critical at {crit}%)",
    )
    attention = [r[0] for r, lv in zip(rows, levels, strict=True) if lv != "ok"]
    if not rows:
        return [table, Status("unknown", "no datastores found")]
    if attention:
        message = f"{len(attention)} of {len(rows)} datastores need attention: {', '.join(attention[:10])}"
    else:
        message = f"all {len(rows)} datastores below {warn}% used"
    return [table, Status(worst(levels), message, title="datastores")]
