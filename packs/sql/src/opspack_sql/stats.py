"""What the database has been doing: ``sql top`` and ``sql size``."""

from __future__ import annotations

from typing import Literal

from opspack import Context, Result, Status, Table, Text, UsageError, command

from opspack_sql._render import where
from opspack_sql.connection import database
from opspack_sql.model import human_bytes, mask_literals


@command(
    group="stats",
    verb="top",
    words=["sql", "top"],
    examples=["sql top", "sql top db1 --by calls", "sql top db1 --by io --limit 5"],
)
def top(
    ctx: Context, db: str | None = None, *, by: Literal["time", "calls", "io"] = "time", limit: int = 10
) -> list[Result]:
    """Top statements by total time, calls or IO since the statistics were reset.

    PostgreSQL: pg_stat_statements (the reply says how to enable it when it is absent);
    MariaDB/MySQL: performance_schema statement digests (io: rows examined); SQL Server:
    the plan cache's sys.dm_exec_query_stats (io: logical + physical reads + writes).

    Args:
        db: the database profile ([sql.profiles.<name>]); default: the [sql] settings
        by: order by total time, number of calls, or IO
        limit: how many statements
    """
    if not 1 <= limit <= 100:
        raise UsageError(f"limit: got {limit}, expected 1 to 100")
    o = database(ctx, db)
    result = o.db.run(lambda run: o.db.dialect.top(run, by, limit))
    place = where(o)
    if result.missing:
        return [
            Status("unknown", f"no statement statistics: {result.source} is not enabled", title=f"top on {place}"),
            Text(result.missing, title="how to enable it"),
        ]
    if not result.rows:
        return [Status("ok", f"{result.source} has recorded no statements yet", title=f"top on {place}")]
    chars = int(o.settings["statement_chars"])
    quoted = o.db.dialect.double_quoted_strings
    table = Table(
        columns=["statement", "calls", "total_ms", "mean_ms", "rows", "io"],
        rows=[
            [
                mask_literals(r["query"], limit=chars, double_quoted_strings=quoted),
                r["calls"],
                r["total_ms"],
                r["mean_ms"],
                r["rows"],
                r["io"],
            ]
            for r in result.rows
        ],
        title=f"top {len(result.rows)} statements by {by} on {place} ({result.source})",
    )
    return [table]


@command(group="stats", verb="size", words=["sql", "size"], examples=["sql size", "sql size db1 --limit 20"])
def size(ctx: Context, db: str | None = None, *, limit: int = 10) -> list[Result]:
    """Database sizes and the largest tables.

    Args:
        db: the database profile ([sql.profiles.<name>]); default: the [sql] settings
        limit: how many of the largest tables (of the profile's database)
    """
    if not 1 <= limit <= 100:
        raise UsageError(f"limit: got {limit}, expected 1 to 100")
    o = database(ctx, db)
    sizes = o.db.run(lambda run: o.db.dialect.sizes(run, limit))
    place = where(o)
    return [
        Table(
            columns=["database", "size", "bytes"],
            rows=[[name, human_bytes(n), n] for name, n in sizes.databases],
            title=f"databases on {place}",
        ),
        Table(
            columns=["table", "total", "table_size", "rows_estimate", "total_bytes"],
            rows=[
                [
                    f"{t['schema']}.{t['table']}",
                    human_bytes(t["total_bytes"]),
                    human_bytes(t["table_bytes"]),
                    t["rows"],
                    t["total_bytes"],
                ]
                for t in sizes.tables
            ],
            title=f"largest tables on {place}",
        ),
    ]
