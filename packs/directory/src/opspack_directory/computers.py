"""``computers stale``: computer accounts that have not logged on for a while (AD hygiene)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from opspack import Context, Table, UsageError, command

if TYPE_CHECKING:
    from opspack_directory.client import Directory


@command(examples=["computers stale", "computers stale --days 180"])
def stale(ctx: Context, *, days: int = 90, limit: int = 200) -> Table:
    """List computer accounts that have not logged on for some days (never-used ones created before then too).

    Active Directory updates lastLogonTimestamp only every 9 to 14 days, so the figure is
    that precise.

    Args:
        days: not logged on for at least this many days
        limit: at most this many rows
    """
    from opspack_directory import client
    from opspack_directory.flavors import from_filetime, from_generalized

    if days < 1:
        raise UsageError(f"days: got {days}, expected at least 1")

    def use(d: Directory) -> Table:
        cutoff = client.now() - dt.timedelta(days=days)
        found = d.search(
            d.flavor.stale_computers(cutoff),
            ["cn", "lastLogonTimestamp", "whenCreated", "operatingSystem", "userAccountControl"],
        )

        def last(e: object) -> dt.datetime:
            assert hasattr(e, "first")
            seen = from_filetime(e.first("lastLogonTimestamp")) or from_generalized(e.first("whenCreated"))
            return seen or dt.datetime.min.replace(tzinfo=dt.UTC)

        found.sort(key=last)
        rows = [d.flavor.computer_row(e) for e in found[:limit]]
        return Table(
            ["computer", "last logon", "created", "operating system", "enabled"],
            list(map(list, rows)),
            title=f"Computers not logged on for {days} days: {len(found)}",
            total=len(found) if len(found) > limit else None,
        )

    return client.call(ctx, use)
