"""``net devices``: what the inventory holds (no device is contacted)."""

from __future__ import annotations

from typing import Any

from opspack import Context, NotFound, Table, command

from opspack_network.inventory import SETTINGS as INVENTORY_SETTINGS
from opspack_network.inventory import load


@command(
    group="inventory",
    verb="devices",
    words=["net", "devices"],
    examples=["net devices", "net devices --group core", "net devices --site hq"],
    settings=INVENTORY_SETTINGS,
)
def devices(ctx: Context, *, group: str | None = None, site: str | None = None) -> Table:
    """List the inventory's devices: name, host, platform, groups, site and source (file or NetBox).

    Args:
        group: only the devices of this group
        site: only the devices at this site
    """
    inventory = load(ctx)
    chosen = list(inventory.devices.values())
    if group:
        chosen = inventory.select(group)
    if site:
        sites = sorted({d.site for d in inventory.devices.values() if d.site})
        if site not in sites:
            raise NotFound.with_matches("site", site, sites)
        chosen = [d for d in chosen if d.site == site]
    rows: list[list[str | int | float | bool | None]] = [
        [d.name, d.host, d.port, d.platform, ", ".join(d.groups), d.site, d.source, ""] for d in chosen
    ]
    levels: list[Any] = ["ok"] * len(rows)
    if not group and not site:
        for name, why in inventory.skipped.items():
            rows.append([name, "", None, "", "", "", "netbox", f"skipped: {why}"])
            levels.append("warning")
    title = "devices" + (f" in group {group}" if group else "") + (f" at site {site}" if site else "")
    if inventory.skipped and not group and not site:
        title += f" ({len(inventory.skipped)} NetBox devices skipped)"
    return Table(
        columns=["name", "host", "port", "platform", "groups", "site", "source", "note"],
        rows=rows,
        row_status=levels,
        title=title,
        total=len(rows),
    )
