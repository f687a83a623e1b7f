"""The diagnostic SQL, one module per database kind, behind one interface.

Each dialect module keeps every statement it sends in one place (module-level
constants) and says how its rows map to :mod:`opspack_sql.model` records where its
database differs; :class:`Dialect` runs the statements and maps what every database
answers alike. Nothing here imports a driver: :meth:`Dialect.connect` does, when a
command runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from opspack_sql.model import Activity, as_float, as_int, as_text

TopBy = Literal["time", "calls", "io"]


class Runner(Protocol):
    """Sends one statement (one round trip) and returns its rows as dicts."""

    server_version: str

    def query(self, sql: str, params: tuple[Any, ...] | None = None) -> list[dict[str, Any]]: ...


@dataclass(slots=True)
class TopStatements:
    """Top statements, or why there are none (``missing``: how to enable the source)."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    missing: str | None = None


@dataclass(slots=True)
class Sizes:
    databases: list[tuple[str, int]]
    tables: list[dict[str, Any]]


@dataclass(slots=True)
class ConnectionUse:
    max_connections: int | None
    reserved: int
    rows: list[tuple[str, str, int]]  # user, state, count

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.rows)


@dataclass(slots=True)
class Health:
    version: str
    replica: bool | None
    lag_seconds: float | None
    connections: int | None
    max_connections: int | None
    blocked: int | None
    longest_blocked_seconds: float | None
    longest_xact_session: int | None
    longest_xact_seconds: float | None
    notes: list[str] = field(default_factory=list)


class Dialect:
    """A database kind: its driver, its statements, and how its rows read.

    The commands every database answers alike are written once here, against the
    statements a dialect names (class attributes pointing at its module's constants,
    whose result columns every dialect names alike); a dialect overrides a method only
    where its database really differs. See postgres.py for the reference one."""

    name = "?"
    title = "?"
    default_port = 0
    extra = "?"
    driver = "?"
    double_quoted_strings = False

    #: sessions that run, wait or hold a transaction open
    waits_sql: str
    #: sessions that block or are blocked (``blocked_by``: the sessions they wait for)
    blocking_sql: str
    #: statements running for at least some seconds (parameters: see :meth:`running`)
    running_sql: str
    #: top statements, ordered by ``{order}``: one of :attr:`top_order`'s values
    top_sql: str
    top_order: Mapping[TopBy, str]
    #: where the top statements come from, and the columns of their IO and schema
    top_source: str
    top_io: str
    top_schema: str | None = None
    #: the size of every database
    size_databases_sql: str
    #: the largest tables (parameter: how many)
    size_tables_sql: str
    #: sessions by user and state; the first row carries the server's maximum
    connections_sql: str
    #: everything :meth:`health` needs, in one row
    health_sql: str
    #: one session by its id, never our own: what :meth:`kill` ends
    kill_lookup_sql: str

    def connect(self, target: Any, password: str | None, statement_timeout: float, connect_timeout: float) -> Any:
        """A new autocommit connection with the statement time limit set."""
        raise NotImplementedError

    def is_alive(self, conn: Any) -> bool:
        """Whether a kept connection still looks usable (without a round trip)."""
        raise NotImplementedError

    def is_disconnect(self, exc: BaseException) -> bool:
        """``exc`` says a kept connection died (so a fresh one may succeed)."""
        raise NotImplementedError

    def activity(self, row: dict[str, Any]) -> Activity:
        """A session row as an :class:`Activity` (each database tells state and waits its own way)."""
        raise NotImplementedError

    def activities(self, run: Runner, sql: str, params: tuple[Any, ...] | None = None) -> list[Activity]:
        """The session rows ``sql`` returns, as activities. A row whose session is gone (it
        ended between the lock views and the session list being read) is no activity."""
        return [self.activity(r) for r in run.query(sql, params) if r.get("session_id") is not None]

    def waits(self, run: Runner) -> list[Activity]:
        """Sessions that run, wait or hold a transaction open (not our own)."""
        return self.activities(run, self.waits_sql)

    def blocking(self, run: Runner) -> list[Activity]:
        """Sessions that block others or are blocked."""
        return self.activities(run, self.blocking_sql)

    def running(self, run: Runner, min_seconds: float, limit: int) -> list[Activity]:
        """At most ``limit`` statements running for ``min_seconds`` or more, longest first."""
        return self.activities(run, self.running_sql, (float(min_seconds), int(limit)))

    def top(self, run: Runner, by: TopBy, limit: int) -> TopStatements:
        """The ``limit`` statements that cost most by ``by``."""
        rows = run.query(self.top_sql.format(order=self.top_order[by]), (int(limit),))
        return TopStatements(self.top_source, rows=[self._top_row(r) for r in rows])

    def _top_row(self, r: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"id": as_text(r["query_id"])}
        if self.top_schema is not None:
            row["schema"] = as_text(r[self.top_schema])
        row.update(
            query=as_text(r["query_text"]),
            calls=as_int(r["calls"]),
            total_ms=as_float(r["total_ms"]),
            mean_ms=as_float(r["mean_ms"]),
            rows=as_int(r["row_count"]),
            io=as_int(r[self.top_io]),
        )
        return row

    def sizes(self, run: Runner, limit: int) -> Sizes:
        """Every database's size and the ``limit`` largest tables."""
        databases = run.query(self.size_databases_sql)
        tables = run.query(self.size_tables_sql, (int(limit),))
        return Sizes(
            [(str(as_text(r["db_name"])), int(r["total_bytes"] or 0)) for r in databases],
            [
                {
                    "schema": as_text(r["schema_name"]),
                    "table": as_text(r["table_name"]),
                    "total_bytes": as_int(r["total_bytes"]),
                    "table_bytes": as_int(r["table_bytes"]),
                    "rows": as_int(r["rows_estimate"]),
                }
                for r in tables
            ],
        )

    def connections(self, run: Runner) -> ConnectionUse:
        """Sessions by user and state, with the server's maximum (and, where the
        database has them, the connections reserved for superusers)."""
        rows = run.query(self.connections_sql)
        first = rows[0] if rows else {}
        return ConnectionUse(
            max_connections=as_int(first.get("max_connections")),
            reserved=as_int(first.get("reserved")) or 0,
            rows=[(str(as_text(r["user_name"])), str(as_text(r["state"])), int(r["sessions"])) for r in rows],
        )

    def health(self, run: Runner) -> Health:
        """The server's version, load, blocking, oldest transaction and replication."""
        (r,) = run.query(self.health_sql)
        health = Health(
            version=self.version(r),
            replica=None,
            lag_seconds=None,
            connections=as_int(r["connections"]),
            max_connections=as_int(r["max_connections"]),
            blocked=as_int(r["blocked"]),
            longest_blocked_seconds=as_float(r["longest_blocked_seconds"]),
            longest_xact_session=as_int(r["longest_xact_session"]),
            longest_xact_seconds=as_float(r["longest_xact_seconds"]),
        )
        self.replication(run, r, health)
        return health

    def version(self, row: dict[str, Any]) -> str:
        """The product and its version, from the health row."""
        raise NotImplementedError

    def replication(self, run: Runner, row: dict[str, Any], health: Health) -> None:
        """Fill in whether the server is a replica, and its lag: by default from the
        health row's ``replica`` and ``lag_seconds`` columns."""
        health.replica = bool(row["replica"])
        health.lag_seconds = as_float(row["lag_seconds"])

    def kill(self, run: Runner, session: int, *, cancel: bool) -> Activity | None:
        """End ``session`` (or only its statement); None when there is no such session.

        By default the session is looked up first, then :meth:`kill_statement` is sent."""
        rows = run.query(self.kill_lookup_sql, (int(session),))
        if not rows:
            return None
        run.query(*self.kill_statement(int(session), cancel=cancel))
        return self.activity(rows[0])

    def kill_statement(self, session: int, *, cancel: bool) -> tuple[str, tuple[Any, ...] | None]:
        """The statement (and its parameters) that ends ``session``, or only its statement."""
        raise NotImplementedError


SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "pg": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "mssql",
    "sqlserver": "mssql",
}


def dialect_for(scheme: str) -> Dialect:
    """The dialect for a URL scheme (``postgresql``, ``mysql``, ``mariadb``, ``mssql`` ...)."""
    module = importlib.import_module(f"opspack_sql.dialects.{SCHEMES[scheme]}")
    dialect: Dialect = module.DIALECT
    return dialect
