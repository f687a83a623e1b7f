"""The audit trail: every invocation recorded, searchable as history; and the friction log.

Storage is a :class:`~opspack.store.Database`: SQLite by default (``audit.db`` in the
user's data folder, WAL mode), PostgreSQL when ``[audit] url`` in opspack.toml or
``OPSPACK_AUDIT_URL`` says ``postgresql://...`` (with ``pip install 'opspack[postgres]'``).
``OPSPACK_AUDIT_URL=off`` turns it off.
Records are written by the database's writer thread (:class:`opspack.store.Writer`), a
burst in one transaction; :meth:`AuditLog.record` answers the writer round that commits the
record, and the runtime waits for that round before a call's answer leaves (group commit):
nothing answered is missing from the trail, even when the process is killed right after.
:meth:`AuditLog.flush` and :meth:`AuditLog.close` store what is kept and wait for it.
Arguments and chat text are stored with secrets masked (:mod:`opspack.masking`), friction
notes too. Each record names the runner's bearer token the call came with (``token``), who
approved it (``approver``) and why it was allowed or refused (``reason``); a request for
confirmation is recorded as ``confirm_requested``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opspack.store import Column, Database, Table, Transaction, quote

if TYPE_CHECKING:
    from opspack.registry import Registry
    from opspack.results import Reply

log = logging.getLogger("opspack.audit")


@dataclass
class Record:
    """One invocation as recorded."""

    at: float
    user: str
    channel: str | None
    frontend: str
    command: str | None
    text: str | None
    args: str
    ok: bool
    error_kind: str | None
    duration_ms: float
    id: int | None = None
    #: the name of the runner's bearer token the call came with (None off the runner)
    token: str | None = None
    #: who approved the run, for a command that needed a second person's approval
    approver: str | None = None
    #: why the runner decided as it did: the policy's reason for allowing or denying,
    #: "confirmed", "approved by <who>", or why a confirmation token was refused
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = dt.datetime.fromtimestamp(self.at, dt.UTC).isoformat(timespec="seconds")
        out["args"] = json.loads(self.args) if self.args else {}
        return out


def default_url(config_data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str | None:
    """The audit database URL in force, or None when auditing is off."""
    env = os.environ if environ is None else environ
    # where the trail lives is the process's choice: fall back to the real environment
    url = env.get("OPSPACK_AUDIT_URL", os.environ.get("OPSPACK_AUDIT_URL"))
    if url is None:
        table = config_data.get("audit", {})
        url = table.get("url") if isinstance(table, dict) else None
    if url is not None and str(url).lower() in ("off", "none", "false", ""):
        return None
    if url:
        from opspack.settings import resolve_reference

        resolved, _ = resolve_reference(str(url), env)
        return resolved
    base = Path(env.get("XDG_DATA_HOME") or os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    base = base / "opspack"
    return f"sqlite:///{base / 'audit.db'}"


#: how long a call waits for its audit record to be committed before it answers anyway
#: (the database is down: the writer has tried again and logged the loss)
RECORD_WAIT_S = 10.0


#: the invocations, as the audit trail has always stored them
INVOCATIONS = Table(
    "opspack_invocations",
    (
        Column("id", "INTEGER", nullable=False, primary_key=True, autoincrement=True),
        Column("at", "FLOAT", nullable=False, index=True),
        Column("user", "VARCHAR(200)", nullable=False, index=True),
        Column("channel", "VARCHAR(200)"),
        Column("frontend", "VARCHAR(50)", nullable=False),
        Column("command", "VARCHAR(200)", index=True),
        Column("text", "TEXT"),
        Column("args", "TEXT", nullable=False),
        Column("ok", "BOOLEAN", nullable=False),
        Column("error_kind", "VARCHAR(20)"),
        Column("duration_ms", "FLOAT", nullable=False),
        # added later: an audit database made before gets them (NULL in its old rows)
        Column("token", "VARCHAR(200)"),
        Column("approver", "VARCHAR(200)"),
        Column("reason", "TEXT"),
    ),
)
#: what an audit record's ``error_kind`` says of a request for confirmation or approval
#: (the reply's error is of kind ``denied``, carrying a ``confirm`` object)
CONFIRM_REQUESTED = "confirm_requested"
#: the friction log
FRICTION = Table(
    "opspack_friction",
    (
        Column("id", "INTEGER", nullable=False, primary_key=True, autoincrement=True),
        Column("at", "FLOAT", nullable=False, index=True),
        Column("user", "VARCHAR(200)", nullable=False),
        Column("channel", "VARCHAR(200)"),
        Column("text", "TEXT", nullable=False),
        Column("tags", "VARCHAR(500)", nullable=False),
        Column("done_at", "FLOAT"),
        Column("done_by", "VARCHAR(200)"),
    ),
)
#: the registry each time the runner's loaded registry changed (``whats-new`` diffs them)
SNAPSHOTS = Table(
    "opspack_registry_snapshots",
    (
        Column("id", "INTEGER", nullable=False, primary_key=True, autoincrement=True),
        Column("at", "FLOAT", nullable=False, index=True),
        # who or what changed it: "runner start", "SIGHUP", "core.packs.reload by al" ...
        Column("reason", "TEXT", nullable=False),
        # JSON: {pack: version}
        Column("packs", "TEXT", nullable=False),
        # JSON: {command id: {"pack", "version", "usage", "summary", "digest"}}
        Column("commands", "TEXT", nullable=False),
    ),
)
_RECORD_COLUMNS = ", ".join(quote(c) for c in INVOCATIONS.column_names)
_STORED_COLUMNS = [c for c in INVOCATIONS.column_names if c != "id"]
_INSERT = (
    f"INSERT INTO {quote(INVOCATIONS.name)} ({', '.join(quote(c) for c in _STORED_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_STORED_COLUMNS))})"
)


def _row(rec: Record) -> list[Any]:
    return [getattr(rec, c) for c in _STORED_COLUMNS]


_FRICTION_COLUMNS = ", ".join(quote(c) for c in FRICTION.column_names)


def error_kind(reply: Reply) -> str | None:
    """The ``error_kind`` a reply is recorded with: its error's kind, except that a request
    for confirmation or approval is :data:`CONFIRM_REQUESTED`, not a denial."""
    if reply.error is None:
        return None
    return CONFIRM_REQUESTED if reply.error.confirm is not None else reply.error.kind


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching text that starts with ``prefix`` (with ``ESCAPE '\\'``)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _record(row: tuple[Any, ...]) -> Record:
    data = dict(zip(INVOCATIONS.column_names, row, strict=True))
    data["ok"] = bool(data["ok"])  # SQLite keeps booleans as 0 and 1
    return Record(**data)


class AuditLog:
    """Records invocations and friction notes; answers history queries.

    ``url`` is a database URL (see :mod:`opspack.store`), or a :class:`~opspack.store.Database`
    that other tables share: then :meth:`close` leaves it open for its owner. The database
    is :attr:`database`; confirmation tokens live in it too."""

    def __init__(self, url: str | Database) -> None:
        if isinstance(url, Database):
            self.database, self._owns_database = url, False
        else:
            self.database, self._owns_database = Database(url), True
        self.url = self.database.url
        self.database.create_tables(INVOCATIONS, FRICTION, SNAPSHOTS)
        self._pending: list[Record] = []
        self._lock = threading.Lock()
        self._closed = False
        self.writer = self.database.writer
        self.writer.add(self)

    # -- writing ------------------------------------------------------------------
    def record(self, rec: Record) -> int:
        """Keep a record for the database's writer (returns at once): the writer round that
        commits it, for :meth:`committed`."""
        with self._lock:
            self._pending.append(rec)
        return self.writer.changed()

    def committed(self, round_: int, timeout: float | None = RECORD_WAIT_S) -> bool:
        """Wait until the records kept up to ``round_`` are committed (or given up after
        retries, and logged); False when ``timeout`` passed first."""
        return self.writer.wait(round_, timeout)

    # what the database's writer calls (opspack.store.Source)
    def take(self) -> list[Record]:
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def write(self, tx: Transaction, taken: list[Record]) -> None:
        tx.executemany(_INSERT, [_row(r) for r in taken])

    def written(self, taken: list[Record]) -> None:
        pass

    def failed(self, taken: list[Record], error: Exception) -> None:
        """Record by record, so that one bad record never costs the others."""
        for rec in taken:
            try:
                with self.database.transaction() as tx:
                    self.write(tx, [rec])
            except Exception as exc:  # noqa: BLE001
                log.error("audit record of %s by %s could not be stored: %s", rec.command, rec.user, exc)

    def flush(self) -> None:
        """Wait until every record kept so far is stored."""
        self.writer.flush()

    def close(self) -> None:
        """Store what is kept and close the database's connections (when this log owns them)."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        if self._owns_database:
            self.database.close()

    # -- reading ------------------------------------------------------------------
    def history(
        self,
        *,
        command_prefix: str | None = None,
        commands: list[str] | None = None,
        user: str | None = None,
        since: float | None = None,
        failed: bool = False,
        limit: int = 20,
    ) -> list[Record]:
        """The most recent invocations, newest first, matching every filter given."""
        self.flush()
        where: list[str] = []
        params: list[Any] = []
        if commands is not None:
            if not commands:
                return []
            where.append(f"command IN ({', '.join('?' * len(commands))})")
            params += commands
        elif command_prefix:
            where.append("command LIKE ? ESCAPE '\\'")
            params.append(_like_prefix(command_prefix))
        if user:
            where.append('"user" = ?')
            params.append(user)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if failed:
            where.append("ok = ?")
            params.append(False)
        sql = f"SELECT {_RECORD_COLUMNS} FROM opspack_invocations"  # noqa: S608 - built from constants
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at DESC, id DESC LIMIT ?"
        return [_record(row) for row in self.database.query(sql, [*params, int(limit)])]

    def count(self) -> int:
        """How many invocations are recorded."""
        self.flush()
        return int(self.database.scalar("SELECT COUNT(*) FROM opspack_invocations"))

    def stats(self, *, since: float | None = None, limit: int = 15) -> list[dict[str, Any]]:
        """Per command: runs, failures, failure rate, median and slowest duration (a request
        for confirmation is not a run)."""
        self.flush()
        sql = (
            "SELECT command, ok, duration_ms FROM opspack_invocations WHERE command IS NOT NULL"
            " AND (error_kind IS NULL OR error_kind <> ?)"
        )
        params: list[Any] = [CONFIRM_REQUESTED]
        if since is not None:
            sql += " AND at >= ?"
            params.append(since)
        per: dict[str, list[tuple[bool, float]]] = {}
        for command, ok, ms in self.database.query(sql, params):
            per.setdefault(command, []).append((bool(ok), float(ms)))
        out: list[dict[str, Any]] = []
        for command, runs in per.items():
            durations = sorted(ms for _, ms in runs)
            failures = sum(1 for ok, _ in runs if not ok)
            out.append(
                {
                    "command": command,
                    "runs": len(runs),
                    "failures": failures,
                    "failure_rate": round(failures / len(runs), 3),
                    "median_ms": round(durations[len(durations) // 2], 1),
                    "slowest_ms": round(durations[-1], 1),
                }
            )
        out.sort(key=lambda r: (-r["runs"], r["command"]))
        return out[:limit]

    # -- friction -------------------------------------------------------------------
    def friction_add(self, user: str, channel: str | None, text: str, tags: list[str]) -> int:
        """Log a friction note; its number. What looks like a secret in its text or tags
        (:func:`opspack.masking.mask_text`) is masked before it is stored."""
        from opspack.masking import mask_text

        row = {
            "at": time.time(),
            "user": user,
            "channel": channel,
            "text": mask_text(text),
            "tags": ",".join(sorted({mask_text(t) for t in tags})),
        }
        with self.database.transaction() as tx:
            return tx.insert(FRICTION, row) or 0

    def friction_list(
        self, *, tag: str | None = None, since: float | None = None, include_done: bool = False, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Friction notes, newest first (open ones only unless ``include_done``)."""
        where: list[str] = []
        params: list[Any] = []
        if not include_done:
            where.append("done_at IS NULL")
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if tag:
            where.append("(',' || tags || ',') LIKE ? ESCAPE '\\'")
            params.append("%," + _like_prefix(tag)[:-1] + ",%")
        sql = f"SELECT {_FRICTION_COLUMNS} FROM opspack_friction"  # noqa: S608 - built from constants
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at DESC, id DESC LIMIT ?"
        return self.database.query_dicts(sql, [*params, int(limit)])

    def friction_done(self, item: int, user: str) -> bool:
        """Mark a note done; False when there is no such open note."""
        changed = self.database.execute(
            "UPDATE opspack_friction SET done_at = ?, done_by = ? WHERE id = ? AND done_at IS NULL",
            (time.time(), user, int(item)),
        )
        return changed == 1

    # -- registry snapshots ---------------------------------------------------------------
    def snapshot(self, registry: Registry, reason: str) -> int | None:
        """Keep the registry's packs and commands, with why it changed; its number, or None
        when it is the same as the newest snapshot (a restart of an unchanged runner)."""
        import hashlib

        packs = {str(p["name"]): str(p.get("version")) for p in registry.packs}
        commands = {
            c["id"]: {
                "pack": c["pack"]["name"],
                "version": str(c["pack"].get("version")),
                "usage": c.get("chat", {}).get("usage") or c["id"],
                "summary": c.get("summary", ""),
                "digest": hashlib.sha256(
                    json.dumps({k: v for k, v in c.items() if k not in ("pack", "install")}, sort_keys=True).encode()
                ).hexdigest()[:16],
            }
            for c in registry
        }
        latest = self.snapshots(limit=1)
        if latest and latest[0]["packs"] == packs and latest[0]["commands"] == commands:
            return None
        row = {
            "at": time.time(),
            "reason": reason,
            "packs": json.dumps(packs, sort_keys=True),
            "commands": json.dumps(commands, sort_keys=True),
        }
        with self.database.transaction() as tx:
            return tx.insert(SNAPSHOTS, row)

    def snapshots(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Registry snapshots, newest first: ``id``, ``at``, ``reason``, ``packs``, ``commands``."""
        rows = self.database.query_dicts(
            "SELECT id, at, reason, packs, commands FROM opspack_registry_snapshots ORDER BY id DESC LIMIT ?",
            [int(limit)],
        )
        for row in rows:
            row["packs"], row["commands"] = json.loads(row["packs"]), json.loads(row["commands"])
        return rows
