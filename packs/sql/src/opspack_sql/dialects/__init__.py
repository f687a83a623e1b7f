"""The diagnostic SQL, one module per database kind, behind one interface.

Each dialect module keeps every statement it sends in one place (module-level
constants) and maps the rows to :mod:`opspack_sql.model` records. Nothing here
imports a driver: :meth:`Dialect.connect` does, when a command runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from opspack_sql.model import Activity

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
