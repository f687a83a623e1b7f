"""What sessions do now: ``sql waits``, ``sql blocking``, ``sql running``, ``sql connections``, ``sql kill``."""

from __future__ import annotations

from opspack import Context, NotFound, Result, Status, Table, UsageError, command, worst
from opspack.results import Level

from opspack_sql._render import duration, level_for, secs, statement, where
from opspack_sql.connection import database
from opspack_sql.model import blocking_tree, group_waits

_DB_DOC = "the database profile ([sql.profiles.<name>]); default: the [sql] settings"


@command(group="activity", verb="waits", words=["sql", "waits"], examples=["sql waits", "sql waits db1"])
def waits(ctx: Context, db: str | None = None) -> list[Result]:
    """What the database is waiting on now: sessions grouped by wait type and event.

    Counts the sessions that run or hold a transaction open, by what they wait on
    (a lock, IO, the client ...), with the longest time in that state and which session
    it is. Idle sessions are left out.

    Args:
        db: the database profile ([sql.profiles.<name>]); default: the [sql] settings
    """
    o = database(ctx, db)
    activities = o.db.run(o.db.dialect.waits)
    groups = group_waits(activities)
    place = where(o)
    if not groups:
        return [Status("ok", "no session is running or waiting", title=f"waits on {place}")]
    rows: list[list[object]] = []
    for g in groups:
        top = g.longest
        rows.append([g.wait_type, g.wait_event, len(g.sessions), secs(top.seconds), top.session])
    table = Table(
        columns=["wait_type", "wait_event", "sessions", "longest_s", "longest_session"],
        rows=rows,  # type: ignore[arg-type]
        title=f"waits on {place}: {len(activities)} sessions",
    )
    locks = sum(len(g.sessions) for g in groups if g.wait_type.lower() == "lock")
    message = (
        f"{len(activities)} sessions busy; {locks} waiting on locks" if locks else f"{len(activities)} sessions busy"
    )
    level: Level = "warning" if locks else "ok"
    return [table, Status(level, message, title=f"waits on {place}")]


@command(
    group="activity",
    verb="blocking",
    words=["sql", "blocking"],
    examples=["sql blocking", "sql blocking db1"],
)
def blocking(ctx: Context, db: str | None = None) -> list[Result]:
    """Who blocks whom: the blocking tree, since when, and the statements.

    Each root is a session holding what others wait for; the sessions it blocks
    follow, indented. Statements are cut and their literals masked. The status is
    critical when a chain has waited longer than blocking_critical_seconds.

    Args:
        db: the database profile ([sql.profiles.<name>]); default: the [sql] settings
    """
    o = database(ctx, db)
    activities = o.db.run(o.db.dialect.blocking)
    place = where(o)
    if not activities:
        return [Status("ok", "no session is blocked", title=f"blocking on {place}")]
    nodes = blocking_tree(activities)
    warn = float(o.settings["blocking_warning_seconds"])
    crit = float(o.settings["blocking_critical_seconds"])
    rows: list[list[object]] = []
    levels: list[Level] = []
    chain_age: dict[int, float] = {}
    for n in nodes:
        a = n.activity
        waiting = a.seconds if n.depth else None
        if n.depth:
            chain_age[n.root] = max(chain_age.get(n.root, 0.0), a.seconds or 0.0)
        label = str(a.session) if n.depth == 0 else "  " * (n.depth - 1) + "└ " + str(a.session)
        rows.append(
            [
                label,
                ", ".join(str(b) for b in a.blocked_by) or None,
                a.user,
                a.database,
                a.state,
                f"{a.wait_type}/{a.wait_event}" if n.depth else None,
                secs(waiting),
                secs(a.xact_seconds),
                statement(o.settings, o.db, a),
            ]
        )
        levels.append(level_for(waiting, warn, crit) if n.depth else "ok")
    for i, n in enumerate(nodes):
        if n.depth == 0:
            levels[i] = level_for(chain_age.get(n.root), warn, crit)
    blocked = [n for n in nodes if n.depth]
    roots = [n for n in nodes if n.depth == 0]
    oldest = max(chain_age.values(), default=0.0)
    overall = level_for(oldest, warn, crit)
    table = Table(
        columns=[
            "session",
            "blocked_by",
            "user",
            "database",
            "state",
            "wait",
            "waiting_s",
            "xact_s",
            "statement",
        ],
        rows=rows,  # type: ignore[arg-type]
        row_status=levels,
        title=f"blocking tree on {place}",
    )
    message = (
        f"{len(blocked)} sessions blocked by {len(roots)} "
        f"({', '.join(str(r.activity.session) for r in roots)}); oldest chain waiting {duration(oldest)}"
    )
    if overall == "critical":
        message += f" (over {duration(crit)})"
    return [table, Status(overall, message, title=f"blocking on {place}")]


@command(
    group="activity",
    verb="running",
    words=["sql", "running"],
    examples=["sql running", "sql running db1 --min-seconds 30"],
)
def running(ctx: Context, db: str | None = None, *, min_seconds: float | None = None, limit: int = 50) -> list[Result]:
    """Long-running statements, longest first.

    Args:
        db: the database profile ([sql.profiles.<name>]); default: the [sql] settings
        min_seconds: only statements running at least this long (default: running_min_seconds)
        limit: at most this many statements
    """
    if limit < 1:
        raise UsageError(f"limit: got {limit}, expected 1 or more")
    o = database(ctx, db)
    threshold = float(o.settings["running_min_seconds"]) if min_seconds is None else float(min_seconds)
    if threshold < 0:
        raise UsageError(f"min_seconds: got {threshold:g}, expected 0 or more")
    activities = o.db.run(lambda run: o.db.dialect.running(run, threshold, limit))
    place = where(o)
    if not activities:
        return [Status("ok", f"no statement has run for {threshold:g} s or more", title=f"running on {place}")]
    table = Table(
        columns=["session", "user", "database", "running_s", "wait", "client", "statement"],
        rows=[
            [
                a.session,
                a.user,
                a.database,
                secs(a.seconds),
                f"{a.wait_type}/{a.wait_event}" if a.wait_type else None,
                a.client,
                statement(o.settings, o.db, a),
            ]
            for a in activities
        ],
        title=f"statements running {threshold:g} s or more on {place}",
    )
    return [table]


@command(
    group="activity",
    verb="connections",
    words=["sql", "connections"],
    examples=["sql connections", "sql connections db1"],
)
def connections(ctx: Context, db: str | None = None) -> list[Result]:
    """Connections by user and by state, against the server's maximum.

    Args:
        db: the database profile ([sql.profiles.<name>]); default: the [sql] settings
    """
    o = database(ctx, db)
    use = o.db.run(o.db.dialect.connections)
    place = where(o)
    by_user: dict[str, int] = {}
    by_state: dict[str, int] = {}
    for user, state, n in use.rows:
        by_user[user] = by_user.get(user, 0) + n
        by_state[state] = by_state.get(state, 0) + n
    results: list[Result] = [
        Table(
            columns=["user", "connections"],
            rows=[[u, n] for u, n in sorted(by_user.items(), key=lambda x: -x[1])],
            title=f"connections by user on {place}",
        ),
        Table(
            columns=["state", "connections"],
            rows=[[s or "(none)", n] for s, n in sorted(by_state.items(), key=lambda x: -x[1])],
            title=f"connections by state on {place}",
        ),
    ]
    results.append(_connection_status(o.settings, use.total, use.max_connections, place))
    return results


def _connection_status(settings: object, total: int, maximum: int | None, place: str) -> Status:
    from opspack.settings import Settings

    assert isinstance(settings, Settings)
    if not maximum:
        return Status("unknown", f"{total} connections; the server did not tell its maximum", title=place)
    percent = 100.0 * total / maximum
    level = level_for(
        percent, float(settings["connections_warning_percent"]), float(settings["connections_critical_percent"])
    )
    return Status(level, f"{total} of {maximum} connections in use ({percent:.0f}%)", title=f"connections on {place}")


@command(
    group="activity",
    verb="kill",
    words=["sql", "kill"],
    examples=["sql kill db1 12345", "sql kill db1 12345 --cancel"],
    destructive=True,
    idempotent=True,
    permission="sql.kill",
)
def kill(ctx: Context, db: str, session: int, *, cancel: bool = False) -> list[Result]:
    """End a database session (its open transaction rolls back), or with --cancel only its statement.

    Args:
        db: the database profile ([sql.profiles.<name>]); "default" for the [sql] settings
        session: the session id (PostgreSQL pid, MariaDB/MySQL connection id, SQL Server session_id)
        cancel: only cancel the running statement and keep the session (PostgreSQL, MariaDB/MySQL)
    """
    if session <= 0:
        raise UsageError(f"session: got {session}, expected a session id (a positive number)")
    o = database(ctx, db)
    ended = o.db.run(lambda run: o.db.dialect.kill(run, session, cancel=cancel))
    place = where(o)
    if ended is None:
        raise NotFound(
            f"session {session} not found on {place}",
            "List sessions with `sql blocking` or `sql running`; the pack never ends its own session.",
        )
    what = "cancelled the statement of" if cancel else "ended"
    who = f" ({ended.user}@{ended.database or '-'})" if ended.user else ""
    return [
        Status(
            "ok",
            f"{what} session {session}{who}: {statement(o.settings, o.db, ended) or 'no statement'}",
            title=f"sql kill on {place}",
        )
    ]


__all__ = ["blocking", "connections", "kill", "running", "waits", "worst"]
