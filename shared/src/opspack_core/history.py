"""``history``: how colleagues used commands, and which commands fail or are slow."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from opspack import Context, Table, command
from opspack.grammar import parse_since
from opspack.registry import Registry
from opspack.results import Level

from opspack_core._store import audit_of

if TYPE_CHECKING:
    from opspack.audit import Record


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@command(
    group="history",
    verb="list",
    words=["history"],
    examples=["history", "history vm power-off --since 7d", "history --user alice --failed"],
    settings=[],
)
def list_(
    ctx: Context,
    words: list[str] | None = None,
    *,
    user: str | None = None,
    since: str = "30d",
    failed: bool = False,
    limit: int = 20,
) -> Table:
    """Show recent invocations: who ran what, where, how it ended, how long it took.

    Learn a command from how colleagues used it: `history jenkins build` shows the
    exact texts people typed.

    Args:
        words: only invocations of the commands these words name (`vm list`, `jenkins`)
        user: only this user's invocations
        since: how far back: 7d, 12h, 30m or a date
        failed: only invocations that ended with an error
        limit: at most this many rows
    """
    audit = audit_of(ctx)
    commands: list[str] | None = None
    prefix: str | None = None
    if words:
        registry = Registry(commands=ctx.visible_commands())
        entries, n = registry.match(words)
        if entries and n == len(words):
            commands = [e["id"] for e in entries]
        else:
            commands = [e["id"] for e in registry.with_prefix(words)]
            if not commands:
                prefix = ".".join(words)
    records = audit.history(
        commands=commands,
        command_prefix=prefix,
        user=user,
        since=parse_since(since),
        failed=failed,
        limit=max(1, min(limit, 500)),
    )
    rows = [
        [
            _when(r.at),
            r.user,
            r.channel or "",
            r.frontend,
            r.text or r.command or "",
            _outcome(r),
            round(r.duration_ms),
        ]
        for r in records
    ]
    return Table(
        columns=["when (UTC)", "user", "channel", "via", "command", "outcome", "ms"],
        rows=rows,
        row_status=[_status(r) for r in records],
        title=f"History ({len(rows)} most recent)",
    )


def _outcome(record: Record) -> str:
    """``ok``, ``awaiting confirmation`` (a request for confirmation or approval: not a
    denial) or the error kind, and who approved it."""
    from opspack.audit import CONFIRM_REQUESTED

    if record.ok:
        outcome = "ok"
    elif record.error_kind == CONFIRM_REQUESTED:
        outcome = "awaiting confirmation"
    else:
        outcome = str(record.error_kind)
    return f"{outcome}, approved by {record.approver}" if record.approver else outcome


def _status(record: Record) -> Level:
    """A row's status: ok, unknown while it awaits a confirmation, else warning."""
    from opspack.audit import CONFIRM_REQUESTED

    if record.ok:
        return "ok"
    return "unknown" if record.error_kind == CONFIRM_REQUESTED else "warning"


@command(group="history", verb="stats", words=["history", "stats"], examples=["history stats --since 7d"], settings=[])
def stats(ctx: Context, *, since: str = "30d", limit: int = 15) -> Table:
    """Show the most used commands with their failure rates and durations.

    Args:
        since: how far back: 7d, 12h, 30m or a date
        limit: at most this many commands
    """
    rows = audit_of(ctx).stats(since=parse_since(since), limit=max(1, min(limit, 200)))
    return Table(
        columns=["command", "runs", "failures", "failure rate", "median ms", "slowest ms"],
        rows=[
            [r["command"], r["runs"], r["failures"], f"{r['failure_rate']:.0%}", r["median_ms"], r["slowest_ms"]]
            for r in rows
        ],
        row_status=["critical" if r["failure_rate"] >= 0.5 else "warning" if r["failures"] else "ok" for r in rows],
        title="Most used commands",
    )
