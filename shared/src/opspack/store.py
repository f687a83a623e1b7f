"""The core's SQL database: SQLite through the standard library, PostgreSQL through psycopg 3.

One :class:`Database` is opened from a URL and shared by whatever keeps tables in it
(the audit trail, confirmation tokens):

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (``~`` is expanded),
  ``sqlite://`` or ``sqlite:///:memory:`` for a private in-memory database;
- ``postgresql://user:password@host:5432/db?sslmode=require`` (also ``postgres://``,
  ``postgresql+psycopg://`` and ``postgresql+psycopg2://``): any libpq URL. psycopg is
  imported only then; it comes with ``pip install 'opspack[postgres]'``.

SQL is written once for both: ``?`` placeholders (turned into psycopg's ``%s``),
identifiers that are keywords in PostgreSQL double-quoted (``"user"``), no ``?`` or
``%`` in comments. Tables are declared with :class:`Table` and :class:`Column` and
created with :meth:`Database.create_tables` (``CREATE ... IF NOT EXISTS``; in a table made by
an earlier version it adds the nullable columns declared since, ``ALTER TABLE ... ADD COLUMN``,
and their indexes, and changes nothing else)::

    JOBS = Table("jobs", (
        Column("id", "INTEGER", nullable=False, primary_key=True, autoincrement=True),
        Column("command", "VARCHAR(200)", nullable=False),
        Column("state", "VARCHAR(20)", nullable=False, index=True),
    ))
    db = Database("sqlite:///jobs.db")
    db.create_tables(JOBS)
    with db.transaction() as tx:
        job_id = tx.insert(JOBS, {"command": "vm.list", "state": "queued"})
        tx.execute("UPDATE jobs SET state = ? WHERE id = ?", ("running", job_id))
    rows = db.query("SELECT id, state FROM jobs WHERE state = ?", ("running",))

The audit trail's database is ``runtime.audit.database``: new tables go there with
:meth:`Database.create_tables`, beside the audit trail's own.

What several stores keep behind (the audit trail's records, the jobs' rows) goes through
the database's one :class:`Writer`: a thread that writes everything pending in one
transaction per round (group commit) and then releases whoever waits for that round, so
that an answer can leave once its audit record is committed, at the price of one commit
per burst rather than one per call.

Connections come from a small pool (one connection per thread using the database at
the same moment, at most ``max_connections``), so a multi-threaded runner reads and
writes in parallel. SQLite runs in WAL mode with a busy timeout, and a write transaction
takes the write lock when it begins (``BEGIN IMMEDIATE``), so concurrent writers queue
instead of failing. An idle PostgreSQL connection is checked before reuse and replaced
when the server dropped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from opspack.errors import ConfigError
from opspack.threads import start_thread

Dialect = Literal["sqlite", "postgresql"]

log = logging.getLogger("opspack.store")

#: the URL forms accepted, for error hints
URL_FORMS = "sqlite:///path/to/file.db, sqlite:// (in memory) or postgresql://user@host:5432/db"
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2", "postgresql+psycopg3")
#: seconds a SQLite statement waits for another connection's write lock
SQLITE_BUSY_TIMEOUT_S = 10.0
#: seconds to wait for a PostgreSQL server to accept a connection (unless the URL says connect_timeout=)
PG_CONNECT_TIMEOUT_S = 10
#: seconds a caller waits for a free connection when all ``max_connections`` are in use
POOL_TIMEOUT_S = 30.0
#: an advisory lock that serialises schema creation among processes sharing a PostgreSQL database
_SCHEMA_LOCK = 0x6F70737061636B  # "opspack"


# -- tables ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """A column of a :class:`Table`.

    ``type`` is a SQL type both databases know: ``INTEGER``, ``BIGINT``, ``FLOAT``
    (double precision), ``BOOLEAN``, ``TEXT``, ``VARCHAR(n)``. ``autoincrement`` marks an
    integer primary key that the database numbers (SQLite's rowid, PostgreSQL's SERIAL).
    ``index`` adds an index named ``ix_<table>_<column>``.
    """

    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    autoincrement: bool = False
    index: bool = False


@dataclass(frozen=True)
class Table:
    """A table's declaration: its name and columns, rendered to each database's DDL."""

    name: str
    columns: tuple[Column, ...]
    #: the autoincrement key, if any (what :meth:`Transaction.insert` returns)
    key: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        auto = [c.name for c in self.columns if c.autoincrement]
        if len(auto) > 1 or (auto and [c.name for c in self.columns if c.primary_key] != auto):
            raise ValueError(f"{self.name}: an autoincrement column must be the only primary key")
        object.__setattr__(self, "key", auto[0] if auto else None)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The columns' names, in declaration order."""
        return tuple(c.name for c in self.columns)

    def ddl(self, dialect: Dialect) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` and ``CREATE INDEX IF NOT EXISTS`` statements."""
        lines = []
        for c in self.columns:
            kind = c.type
            if c.autoincrement and dialect == "postgresql":
                kind = "BIGSERIAL" if c.type.upper() == "BIGINT" else "SERIAL"
            lines.append(f"\t{quote(c.name)} {kind}{'' if c.nullable and not c.primary_key else ' NOT NULL'}")
        keys = [quote(c.name) for c in self.columns if c.primary_key]
        if keys:
            lines.append(f"\tPRIMARY KEY ({', '.join(keys)})")
        body = ",\n".join(lines)
        out = [f"CREATE TABLE IF NOT EXISTS {quote(self.name)} (\n{body}\n)"]
        out += [
            f"CREATE INDEX IF NOT EXISTS {quote(f'ix_{self.name}_{c.name}')} ON {quote(self.name)} ({quote(c.name)})"
            for c in self.columns
            if c.index
        ]
        return out


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (the same name in SQLite and PostgreSQL when lower case)."""
    return '"' + identifier.replace('"', '""') + '"'


@functools.lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (and ``%`` to ``%%``), leaving quoted text alone."""
    out: list[str] = []
    in_quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")  # psycopg reads % everywhere, quoted or not
        elif in_quote is not None:
            out.append(ch)
            if ch == in_quote:
                in_quote = None
        elif ch in ("'", '"'):
            in_quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


# -- transactions -------------------------------------------------------------------
class Transaction:
    """Statements on one connection inside one transaction (see :meth:`Database.transaction`)."""

    def __init__(self, database: Database, connection: Any) -> None:
        self.database = database
        self._conn = connection

    def _sql(self, sql: str) -> str:
        return _pyformat(sql) if self.database.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed (-1 when not known)."""
        cur = self._conn.cursor()
        try:
            cur.execute(self._sql(sql), tuple(params))
            return int(cur.rowcount)
        finally:
            cur.close()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""
        cur = self._conn.cursor()
        try:
            cur.executemany(self._sql(sql), [tuple(r) for r in rows])
        finally:
            cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query; its rows as tuples."""
        cur = self._conn.cursor()
        try:
            cur.execute(self._sql(sql), tuple(params))
            return [tuple(row) for row in cur.fetchall()]
        finally:
            cur.close()

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a query; its rows as dicts keyed by column name."""
        cur = self._conn.cursor()
        try:
            cur.execute(self._sql(sql), tuple(params))
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def insert(self, table: Table, row: Mapping[str, Any]) -> int | None:
        """Insert one row; the new value of the table's autoincrement key (None without one)."""
        names = list(row)
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608 - names from code
            f"VALUES ({', '.join('?' * len(names))})"
        )
        if table.key is None:
            self.execute(sql, list(row.values()))
            return None
        cur = self._conn.cursor()
        try:
            if self.database.dialect == "postgresql":
                cur.execute(_pyformat(f"{sql} RETURNING {quote(table.key)}"), tuple(row.values()))
                return int(cur.fetchone()[0])
            cur.execute(sql, tuple(row.values()))  # the key is SQLite's rowid
            return int(cur.lastrowid)
        finally:
            cur.close()

    def insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows that all have the same keys, in one statement run once per row."""
        if not rows:
            return
        names = list(rows[0])
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608 - names from code
            f"VALUES ({', '.join('?' * len(names))})"
        )
        self.executemany(sql, ([r[n] for n in names] for r in rows))


# -- the connection pool ------------------------------------------------------------
class _Pool:
    """Idle connections kept for reuse, at most ``size`` in use at once.

    A forked child does not touch the connections it inherited (closing them there would
    end the parent's sessions, using them would garble them): it makes its own."""

    def __init__(self, connect: Callable[[], Any], size: int, ping: Callable[[Any], bool] | None) -> None:
        self._connect = connect
        self._ping = ping
        self._size = size
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[Any] = []
        self._inherited: list[Any] = []

    def _after_fork(self) -> None:
        with self._lock:
            if os.getpid() != self._pid:
                self._inherited += self._idle  # kept referenced: never closed in this process
                self._pid, self._slots, self._idle = os.getpid(), threading.BoundedSemaphore(self._size), []

    def acquire(self, timeout: float, what: str) -> tuple[Any, int]:
        """A connection and the process it belongs to (give both back to :meth:`release`)."""
        if os.getpid() != self._pid:
            self._after_fork()
        pid, slots = self._pid, self._slots
        if not slots.acquire(timeout=timeout):
            raise TimeoutError(f"{what}: no free database connection within {timeout:g} s")
        try:
            while True:
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
                if conn is None:
                    return self._connect(), pid
                if self._ping is None or self._ping(conn):
                    return conn, pid
                _close_quietly(conn)
        except BaseException:
            slots.release()
            raise

    def release(self, conn: Any, pid: int, reusable: bool) -> None:
        """Give back a connection from :meth:`acquire`: kept for reuse or closed."""
        if pid != os.getpid() or pid != self._pid:
            self._inherited.append(conn)  # taken before a fork: not this process's to use or close
            return
        if reusable:
            with self._lock:
                self._idle.append(conn)
        else:
            _close_quietly(conn)
        self._slots.release()

    def close_idle(self) -> None:
        """Close the connections nobody is using."""
        if os.getpid() != self._pid:
            self._after_fork()
            return
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):  # a connection that cannot close is gone anyway
        conn.close()


# -- the database -----------------------------------------------------------------------
class Database:
    """A SQLite or PostgreSQL database opened from a URL; thread-safe.

    Args:
        url: ``sqlite:///path``, ``sqlite://`` or ``postgresql://...`` (see the module's doc).
        max_connections: connections open at once at most (an in-memory SQLite database has one).
    """

    dialect: Dialect

    def __init__(self, url: str, *, max_connections: int = 10) -> None:
        self.url = url
        self.path: Path | None = None
        scheme, sep, rest = url.partition("://")
        scheme = scheme.lower()
        if not sep:
            raise ConfigError(f"not a database URL: {redact(url)!r}", f"Use {URL_FORMS}.")
        if scheme == "sqlite":
            self.dialect = "sqlite"
            self._init_sqlite(rest, max_connections)
        elif scheme in _POSTGRES_SCHEMES:
            self.dialect = "postgresql"
            self._init_postgres(rest, max_connections)
        else:
            raise ConfigError(
                f"{redact(url)}: the database {scheme} is not supported here",
                f"Use {URL_FORMS}.",
            )

    def _init_sqlite(self, rest: str, max_connections: int) -> None:
        location, _, query = rest.partition("?")
        options = urllib.parse.parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(options) - {"timeout"})
        if unknown:
            raise ConfigError(
                f"{self.url}: unknown SQLite option {', '.join(unknown)}",
                "The only option is timeout=<seconds> (how long to wait for another writer).",
            )
        timeout = float(options["timeout"][-1]) if "timeout" in options else SQLITE_BUSY_TIMEOUT_S
        if location in ("", "/", "/:memory:"):
            # one connection, so that every thread sees the same private database
            target, size = ":memory:", 1
        else:
            if not location.startswith("/"):
                raise ConfigError(f"{self.url}: expected sqlite:///path (three slashes)", f"Use {URL_FORMS}.")
            self.path = Path(urllib.parse.unquote(location[1:])).expanduser()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target, size = str(self.path), max_connections

        import sqlite3

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            return conn

        self._pool = _Pool(connect, size, ping=None)

    def _init_postgres(self, rest: str, max_connections: int) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise ConfigError(
                f"{redact(self.url)}: PostgreSQL needs the psycopg driver, which is not installed",
                "Install it: pip install 'opspack[postgres]'",
            ) from exc
        conninfo = "postgresql://" + rest
        # without a timeout in the URL, an unreachable server would hold a caller for minutes
        timeout: dict[str, Any] = {} if "connect_timeout=" in rest else {"connect_timeout": PG_CONNECT_TIMEOUT_S}

        def connect() -> Any:
            return psycopg.connect(conninfo, autocommit=True, **timeout)

        def alive(conn: Any) -> bool:
            if conn.closed or conn.broken:
                return False
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                return False
            return True

        self._pool = _Pool(connect, max_connections, ping=alive)

    def __repr__(self) -> str:
        return f"Database({redact(self.url)!r})"

    # -- using it ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        conn, pid = self._pool.acquire(POOL_TIMEOUT_S, redact(self.url))
        reusable = False
        try:
            yield conn
            reusable = True
        finally:
            if not reusable:
                reusable = self._healthy(conn)
            self._pool.release(conn, pid, reusable)

    def _healthy(self, conn: Any) -> bool:
        if self.dialect == "sqlite":
            return not conn.in_transaction
        return not (conn.closed or conn.broken) and conn.info.transaction_status == 0  # idle

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A transaction: committed when the block ends, rolled back when it raises.

        On SQLite it holds the database's write lock from the start (other writers wait).
        Use ``tx``, not the database, inside the block: another call would take a second
        connection, which waits for this one (an in-memory database has only one)."""
        with self._connection() as conn:
            if self.dialect == "postgresql":
                with conn.transaction():
                    yield Transaction(self, conn)
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self, conn)
            except BaseException:
                if conn.in_transaction:  # SQLite ends it by itself after some errors
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; the number of rows it changed."""
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query; its rows as tuples."""
        with self._connection() as conn:
            return Transaction(self, conn).query(sql, params)

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a query; its rows as dicts keyed by column name."""
        with self._connection() as conn:
            return Transaction(self, conn).query_dicts(sql, params)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row of a query, or None when there is no row."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def create_tables(self, *tables: Table) -> None:
        """Create the tables and their indexes unless they exist. A table an earlier version
        made gets the columns declared since (each must be nullable: the rows it holds have
        no value for it), added at its end, as a new table has them; nothing else changes."""
        with self.transaction() as tx:
            if self.dialect == "postgresql":
                # two processes creating the same table at once would collide in the catalog
                tx.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            for table in tables:
                statements = table.ddl(self.dialect)
                tx.execute(statements[0])  # CREATE TABLE IF NOT EXISTS
                present = self._columns(tx, table.name)
                for column in table.columns:
                    if column.name in present:
                        continue
                    if not column.nullable or column.primary_key:
                        raise ConfigError(
                            f"{redact(self.url)}: table {table.name} lacks column {column.name}, "
                            "which cannot be added to rows that exist",
                            "Use a database made by this version, or move the table aside.",
                        )
                    tx.execute(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {column.type}")
                for statement in statements[1:]:  # the indexes
                    tx.execute(statement)

    @functools.cached_property
    def writer(self) -> Writer:
        """The one thread that writes what the stores of this database keep behind."""
        return Writer(self)

    def _columns(self, tx: Transaction, table: str) -> set[str]:
        """The names of the columns ``table`` has in this database."""
        if self.dialect == "sqlite":
            return {str(row[0]) for row in tx.query("SELECT name FROM pragma_table_info(?)", (table,))}
        rows = tx.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ?",
            (table,),
        )
        return {str(row[0]) for row in rows}

    def close(self) -> None:
        """Write what is pending (:attr:`writer`), then close the idle connections (those
        in use close when released).

        The database stays usable: later calls open new connections. An in-memory SQLite
        database is gone once its connection is closed."""
        if "writer" in self.__dict__:
            self.writer.close()
        self._pool.close_idle()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["URL_FORMS", "Column", "Database", "Dialect", "Source", "Table", "Transaction", "Writer", "quote", "redact"]


# -- writing behind, committed in groups -----------------------------------------------------
class Source(Protocol):
    """Something a :class:`Writer` writes for: a store with changes kept behind."""

    def take(self) -> Any:
        """What is pending now (taken away), or something false-y when nothing is."""
        ...

    def write(self, tx: Transaction, taken: Any) -> None:
        """Write ``taken`` in the round's transaction."""
        ...

    def written(self, taken: Any) -> None:
        """``taken`` is committed."""
        ...

    def failed(self, taken: Any, error: Exception) -> None:
        """The round's transaction failed, again and again: do what can be done with
        ``taken`` (write it in parts, keep it for later); never raise."""
        ...


#: how long the writer waits for more changes when nobody waits for them to be committed
LINGER_S = 0.02
#: tries of a round's transaction before each source is left to deal with its part
ROUND_TRIES = 4


class Writer:
    """One thread per :class:`Database` that writes what its sources keep behind: each
    round takes everything pending from every source and writes it in one transaction,
    then releases the callers waiting for that round (group commit).

    A source calls :meth:`changed` after it keeps something new; the number it answers
    is a round that will hold it, for :meth:`wait` or :meth:`wait_async`. While nobody
    waits, the writer lingers :data:`LINGER_S` for more (a burst is one transaction); a
    waiter makes it write at once. A round whose transaction fails is tried again a few
    times, then each source deals with its part (:meth:`Source.failed`); either way the
    round ends, so nobody waits forever."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._sources: list[Source] = []
        self._reset()
        _WRITERS.add(self)

    def _reset(self) -> None:
        """A fresh state (a new process: a forked child has no thread of its parent's)."""
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the thread waits on it for something to do
        self._ended = threading.Condition(self._lock)  # callers wait on it for their round
        self._pid = os.getpid()
        self._pending = False  # a source changed since the last round was taken
        self._taken = 0  # rounds taken
        self._done = 0  # rounds ended
        self._urgent = 0  # the highest round somebody waits for
        self._loops: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        self._idle = False  # the thread waits for something to do
        self._hot = False  # the last round had callers waiting for it

    def add(self, source: Source) -> None:
        """Write for ``source`` from now on."""
        with self._lock:
            self._sources.append(source)

    def changed(self) -> int:
        """A source keeps something new: the round that will have written it."""
        with self._lock:
            self._pending = True
            if self._thread is None:
                self._start()
            elif self._idle:
                self._work.notify()
            return self._taken + 1

    def mark(self) -> int:
        """The round that will have written everything kept so far."""
        with self._lock:
            # not pending: what was kept is in a round already taken (it may still be running)
            return self._taken + 1 if self._pending else self._taken

    def _urge(self, round_: int) -> None:
        """Somebody waits for ``round_``: no lingering (under the lock)."""
        if round_ > self._urgent:
            self._urgent = round_
            if self._thread is None:
                self._start()
            self._work.notify()

    def wait(self, round_: int, timeout: float | None = None) -> bool:
        """Wait until ``round_`` has ended; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if self._done >= round_:
                return True
            self._urge(round_)
            while self._done < round_:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._ended.wait(left)
            return True

    async def wait_async(self, round_: int) -> None:
        """:meth:`wait`, for an event loop (no thread blocks)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._done >= round_:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._loops.append((round_, loop, future))
            self._urge(round_)
        await future

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything kept so far and wait for it."""
        return self.wait(self.mark(), timeout)

    def close(self) -> None:
        """Write what is pending and stop the thread (a later change starts it again)."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._closed = True
            self._work.notify()
        thread.join(timeout=30)
        with self._lock:
            self._thread = None
            self._closed = False

    # -- the thread ---------------------------------------------------------------------
    def _start(self) -> None:
        self._thread = start_thread(self._run, name="opspack-writer")

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed and self._urgent <= self._done:
                    self._idle = True
                    self._work.wait()
                    self._idle = False
                if not self._pending and self._closed:
                    return
                if self._urgent <= self._done and not self._closed and not self._hot:
                    # nobody waits: linger, so that a burst of changes is one transaction
                    # (not while calls wait round after round: the next round starts at
                    # once, and their wake-ups find the thread busy rather than asleep)
                    self._work.wait_for(lambda: self._urgent > self._done or self._closed, LINGER_S)
                self._pending = False
                self._taken += 1
                round_ = self._taken
                sources = list(self._sources)
            taken = []
            for source in sources:
                try:
                    part = source.take()
                except Exception:
                    log.exception("taking what %r keeps behind failed", source)
                    continue
                if part:
                    taken.append((source, part))
            if taken:
                self._commit(taken)
            with self._lock:
                self._done = round_
                self._hot = self._urgent >= round_  # somebody waited for this round
                due = [w for w in self._loops if w[0] <= round_]
                if due:
                    self._loops = [w for w in self._loops if w[0] > round_]
                self._ended.notify_all()
            for loop in {id(w[1]): w[1] for w in due}.values():
                futures = [w[2] for w in due if w[1] is loop]
                with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits there
                    loop.call_soon_threadsafe(_release, futures)

    def _commit(self, taken: list[tuple[Source, Any]]) -> None:
        error: Exception | None = None
        for attempt in range(ROUND_TRIES):
            try:
                with self.database.transaction() as tx:
                    for source, part in taken:
                        source.write(tx, part)
            except Exception as exc:  # noqa: BLE001 - the writer must survive a database hiccup
                error = exc
                log.warning(
                    "writing to %s failed (try %d of %d): %s", redact(self.database.url), attempt + 1, ROUND_TRIES, exc
                )
                time.sleep(0.1 * (attempt + 1))
                continue
            for source, part in taken:
                with contextlib.suppress(Exception):
                    source.written(part)
            return
        assert error is not None
        for source, part in taken:
            try:
                source.failed(part, error)
            except Exception:
                log.exception("%r could not deal with a failed write", source)


#: every writer of this process, reset in a forked child (its parent's threads are not there)
_WRITERS: weakref.WeakSet[Writer] = weakref.WeakSet()


def _after_fork() -> None:
    for writer in list(_WRITERS):
        writer._reset()


os.register_at_fork(after_in_child=_after_fork)


def _release(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
