"""The diagnostic SQL, one module per database kind, behind one interface.

Each dialect module keeps every statement it sends in one place (module-level
constants) and maps the rows to :mod:`opspack_sql.model` records. Nothing here
imports a driver: :meth:`Dialect.connect` does, when a command runs.
"""

from __future__ import annotations

import importlib
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


def top_row(r: dict[str, Any], *, io: str, schema: str | None = None) -> dict[str, Any]:
    """One top-statement row; every dialect's TOP query names its columns alike
    (``query_id``, ``query_text``, ``calls``, ``total_ms``, ``mean_ms``, ``row_count``)."""
    row: dict[str, Any] = {"id": as_text(r["query_id"])}
    if schema is not None:
        row["schema"] = as_text(r[schema])
    row.update(
        query=as_text(r["query_text"]),
        calls=as_int(r["calls"]),
        total_ms=as_float(r["total_ms"]),
        mean_ms=as_float(r["mean_ms"]),
        rows=as_int(r["row_count"]),
        io=as_int(r[io]),
    )
    return row


def sizes_from(run: Runner, databases_sql: str, tables_sql: str, limit: int) -> Sizes:
    """Database and largest-table sizes from two queries whose columns every dialect names alike."""
    dbs = [(str(as_text(r["db_name"])), int(r["total_bytes"] or 0)) for r in run.query(databases_sql)]
    tables = [
        {
            "schema": as_text(r["schema_name"]),
            "table": as_text(r["table_name"]),
            "total_bytes": as_int(r["total_bytes"]),
            "table_bytes": as_int(r["table_bytes"]),
            "rows": as_int(r["rows_estimate"]),
        }
        for r in run.query(tables_sql, (int(limit),))
    ]
    return Sizes(dbs, tables)


def connections_from(run: Runner, sql: str) -> ConnectionUse:
    """Sessions by user and state; the first row also carries the server's maximum
    (and, where the database has them, the connections reserved for superusers)."""
    rows = run.query(sql)
    first = rows[0] if rows else {}
    return ConnectionUse(
        max_connections=as_int(first.get("max_connections")),
        reserved=as_int(first.get("reserved")) or 0,
        rows=[(str(as_text(r["user_name"])), str(as_text(r["state"])), int(r["sessions"])) for r in rows],
    )


class Dialect:
    """What a database kind must answer; see postgres.py for the reference one."""

    name = "?"
    title = "?"
    default_port = 0
    extra = "?"
    driver = "?"
    double_quoted_strings = False

    def connect(self, target: Any, password: str | None, statement_timeout: float, connect_timeout: float) -> Any:
        raise NotImplementedError

    def is_alive(self, conn: Any) -> bool:
        raise NotImplementedError

    def is_disconnect(self, exc: BaseException) -> bool:
        """``exc`` says a kept connection died (so a fresh one may succeed)."""
        raise NotImplementedError

    def waits(self, run: Runner) -> list[Activity]:
        raise NotImplementedError

    def blocking(self, run: Runner) -> list[Activity]:
        raise NotImplementedError

    def running(self, run: Runner, min_seconds: float, limit: int) -> list[Activity]:
        raise NotImplementedError

    def top(self, run: Runner, by: TopBy, limit: int) -> TopStatements:
        raise NotImplementedError

    def sizes(self, run: Runner, limit: int) -> Sizes:
        raise NotImplementedError

    def connections(self, run: Runner) -> ConnectionUse:
        raise NotImplementedError

    def health(self, run: Runner) -> Health:
        raise NotImplementedError

    def kill(self, run: Runner, session: int, *, cancel: bool) -> Activity | None:
        """End ``session`` (or only its statement); None when there is no such session."""
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
