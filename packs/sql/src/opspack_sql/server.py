"""The one-look summary: ``sql health``."""

from __future__ import annotations

import time

from opspack import KV, Context, OpsError, Result, Status, command, worst
from opspack.results import Level

from opspack_sql._render import duration, level_for, where
from opspack_sql.connection import database
from opspack_sql.dialects import Health


@command(group="server", verb="health", words=["sql", "health"], examples=["sql health", "sql health db1"])
def health(ctx: Context, db: str | None = None) -> list[Result]:
    """One status for a database: reachable, version, replication lag, connection use, blocking, longest transaction.

    Args:
        db: the database profile ([sql.profiles.<name>]); default: the [sql] settings
    """
    o = database(ctx, db)
    place = where(o)
    began = time.monotonic()
    try:
        h: Health = o.db.run(o.db.dialect.health)
    except OpsError:
        raise
    elapsed_ms = (time.monotonic() - began) * 1000
    s = o.settings
    checks: list[tuple[str, Level, str]] = [("reachable", "ok", f"answered in {elapsed_ms:.0f} ms")]
    if h.replica:
        lag_level = (
            "unknown"
            if h.lag_seconds is None
            else level_for(h.lag_seconds, float(s["lag_warning_seconds"]), float(s["lag_critical_seconds"]))
        )
        checks.append(("replication lag", lag_level, duration(h.lag_seconds)))
    if h.connections is not None and h.max_connections:
        pct = 100.0 * h.connections / h.max_connections
        checks.append(
            (
                "connections",
                level_for(pct, float(s["connections_warning_percent"]), float(s["connections_critical_percent"])),
                f"{h.connections} of {h.max_connections} ({pct:.0f}%)",
            )
        )
    blocked = h.blocked or 0
    checks.append(
        (
            "blocking",
            level_for(
                h.longest_blocked_seconds, float(s["blocking_warning_seconds"]), float(s["blocking_critical_seconds"])
            )
            if blocked
            else "ok",
            f"{blocked} sessions blocked, longest {duration(h.longest_blocked_seconds)}" if blocked else "none",
        )
    )
    checks.append(
        (
            "longest transaction",
            level_for(
                h.longest_xact_seconds,
                float(s["transaction_warning_seconds"]),
                float(s["transaction_critical_seconds"]),
            ),
            f"{duration(h.longest_xact_seconds)} (session {h.longest_xact_session})"
            if h.longest_xact_session is not None
            else "none open",
        )
    )
    items: dict[str, object] = {"version": h.version, "role": "replica" if h.replica else "primary"}
    if h.replica is None:
        items["role"] = "unknown"
    items.update({name: f"{detail} [{level}]" for name, level, detail in checks})
    for i, note in enumerate(h.notes):
        items[f"note {i + 1}"] = note
    overall = worst(level for _, level, _ in checks)
    bad = [f"{name}: {detail}" for name, level, detail in checks if level in ("warning", "critical")]
    message = "; ".join(bad) if bad else f"healthy: {h.version}"
    return [KV(items, title=f"health of {place}"), Status(overall, message, title=f"health of {place}")]
