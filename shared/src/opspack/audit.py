"""The audit trail: every invocation recorded, searchable as history; and the friction log.

Storage goes through SQLAlchemy: SQLite by default (``audit.db`` in the user's data
folder, WAL mode), PostgreSQL when ``[audit] url`` in opspack.toml or
``OPSPACK_AUDIT_URL`` says ``postgresql://...``. ``OPSPACK_AUDIT_URL=off`` turns it off.
Records are written by one background thread in batches (it waits up to 20 ms after a
record for more, so a burst is one transaction), so recording never slows a command and
nothing is lost under load: :meth:`AuditLog.flush` and :meth:`AuditLog.close` store what is
queued at once and wait for it.
Arguments are stored with secret values masked.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("opspack.audit")
_SECRET_ARG = re.compile(r"(?i)(pass(word)?|secret|token|api[_-]?key|credential)")
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = dt.datetime.fromtimestamp(self.at, dt.UTC).isoformat(timespec="seconds")
        out["args"] = json.loads(self.args) if self.args else {}
        return out


def parse_since(value: str, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m``, ``2w`` or an ISO date → an epoch timestamp."""
    now = time.time() if now is None else now
    m = _DURATION.match(value.strip().lower())
    if m:
        return now - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        from opspack.errors import UsageError

        raise UsageError(
            f"since: got {value!r}, expected a duration like 7d, 12h, 30m or a date like 2026-11-01"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def mask_args(args: Mapping[str, Any], masker: Any) -> str:
    """Arguments as JSON with secret-looking names and registered secrets masked."""
    from opspack.masking import MASK

    def clean(key: str, value: Any) -> Any:
        if _SECRET_ARG.search(key):
            return MASK
        if isinstance(value, dict):
            return {k: clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(key, v) for v in value]
        if isinstance(value, str):
            return masker(value)
        return value if isinstance(value, int | float | bool) or value is None else masker(str(value))

    return json.dumps({k: clean(k, v) for k, v in args.items()}, ensure_ascii=False, sort_keys=True)


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


#: how long the writer waits after a record for more, to store them in one transaction
LINGER_S = 0.02


class AuditLog:
    """Records invocations and friction notes; answers history queries."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        if url.startswith(("postgresql://", "postgres://")):
            # SQLAlchemy's default PostgreSQL driver is psycopg2; opspack[audit-postgres] brings psycopg 3
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":

            @sa.event.listens_for(self.engine, "connect")
            def _wal(dbapi_conn: Any, _: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()

        meta = sa.MetaData()
        self.invocations = sa.Table(
            "opspack_invocations",
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", sa.Float, nullable=False, index=True),
            sa.Column("user", sa.String(200), nullable=False, index=True),
            sa.Column("channel", sa.String(200)),
            sa.Column("frontend", sa.String(50), nullable=False),
            sa.Column("command", sa.String(200), index=True),
            sa.Column("text", sa.Text),
            sa.Column("args", sa.Text, nullable=False),
            sa.Column("ok", sa.Boolean, nullable=False),
            sa.Column("error_kind", sa.String(20)),
            sa.Column("duration_ms", sa.Float, nullable=False),
        )
        self.friction = sa.Table(
            "opspack_friction",
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", sa.Float, nullable=False, index=True),
            sa.Column("user", sa.String(200), nullable=False),
            sa.Column("channel", sa.String(200)),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("tags", sa.String(500), nullable=False, default=""),
            sa.Column("done_at", sa.Float),
            sa.Column("done_by", sa.String(200)),
        )
        meta.create_all(self.engine)
        self._queue: queue.Queue[Record | None] = queue.Queue()
        #: set by flush() and close(): store what is queued now, without lingering
        self._hurry = threading.Event()
        self._thread = threading.Thread(target=self._writer, name="opspack-audit", daemon=True)
        self._thread.start()
        self._closed = False

    # -- writing ------------------------------------------------------------------
    def record(self, rec: Record) -> None:
        """Queue a record (returns at once; the writer thread stores it)."""
        if self._closed:
            self._insert([rec])
            return
        self._queue.put(rec)

    def _insert(self, batch: list[Record]) -> None:
        rows = [{k: v for k, v in asdict(r).items() if k != "id"} for r in batch]
        with self.engine.begin() as conn:
            conn.execute(self.invocations.insert(), rows)

    def _store(self, batch: list[Record]) -> None:
        """Insert a batch; on failure retry with backoff, then record by record, so one
        bad record never costs the others."""
        for attempt in range(5):
            try:
                if batch:
                    self._insert(batch)
                return
            except Exception as exc:  # noqa: BLE001 - the writer must survive a database hiccup
                log.warning("audit write of %d records failed (attempt %d): %s", len(batch), attempt + 1, exc)
                time.sleep(0.2 * (attempt + 1))
        for rec in batch:
            try:
                self._insert([rec])
            except Exception as exc:  # noqa: BLE001
                log.error("audit record of %s by %s could not be stored: %s", rec.command, rec.user, exc)

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            if item is not None and not self._hurry.is_set():
                # Linger a moment so that a burst of commands is one transaction, not one
                # each: an insert costs the writer ~0.3 ms of the interpreter's time, which
                # the commands running meanwhile would otherwise wait for.
                self._hurry.wait(LINGER_S)
            batch: list[Record] = []
            stop = item is None
            if item is not None:
                batch.append(item)
            while len(batch) < 500:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    self._queue.task_done()
                    continue
                batch.append(more)
            self._store(batch)
            for _ in batch:
                self._queue.task_done()
            if item is None:
                self._queue.task_done()
            if stop:
                return

    def flush(self) -> None:
        """Wait until every queued record is stored."""
        self._hurry.set()
        try:
            self._queue.join()
        finally:
            self._hurry.clear()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hurry.set()
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.engine.dispose()

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
        import sqlalchemy as sa

        self.flush()
        t = self.invocations
        q = sa.select(t).order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
        if commands is not None:
            q = q.where(t.c.command.in_(commands))
        elif command_prefix:
            q = q.where(t.c.command.like(command_prefix.replace("%", "") + "%"))
        if user:
            q = q.where(t.c.user == user)
        if since is not None:
            q = q.where(t.c.at >= since)
        if failed:
            q = q.where(t.c.ok.is_(False))
        with self.engine.connect() as conn:
            return [Record(**dict(row._mapping)) for row in conn.execute(q)]

    def count(self) -> int:
        import sqlalchemy as sa

        self.flush()
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.invocations)).scalar_one())

    def stats(self, *, since: float | None = None, limit: int = 15) -> list[dict[str, Any]]:
        """Per command: runs, failures, failure rate, median and slowest duration."""
        import sqlalchemy as sa

        self.flush()
        t = self.invocations
        q = sa.select(t.c.command, t.c.ok, t.c.duration_ms).where(t.c.command.is_not(None))
        if since is not None:
            q = q.where(t.c.at >= since)
        per: dict[str, list[tuple[bool, float]]] = {}
        with self.engine.connect() as conn:
            for command, ok, ms in conn.execute(q):
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
        with self.engine.begin() as conn:
            result = conn.execute(
                self.friction.insert().values(
                    at=time.time(), user=user, channel=channel, text=text, tags=",".join(sorted(set(tags)))
                )
            )
            key = result.inserted_primary_key
            return int(key[0]) if key else 0

    def friction_list(
        self, *, tag: str | None = None, since: float | None = None, include_done: bool = False, limit: int = 50
    ) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        t = self.friction
        q = sa.select(t).order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
        if not include_done:
            q = q.where(t.c.done_at.is_(None))
        if since is not None:
            q = q.where(t.c.at >= since)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        if tag:
            rows = [r for r in rows if tag in (r["tags"] or "").split(",")]
        return rows

    def friction_done(self, item: int, user: str) -> bool:
        t = self.friction
        with self.engine.begin() as conn:
            result = conn.execute(
                t.update().where(t.c.id == item, t.c.done_at.is_(None)).values(done_at=time.time(), done_by=user)
            )
            return bool(result.rowcount)
