"""A private PostgreSQL server for tests and the demo, standard library only.

::

    with PostgresServer() as pg:                 # initdb + postgres on a free loopback port
        pg.psql("CREATE DATABASE app")
        url = pg.url(database="app")             # postgresql://postgres@127.0.0.1:PORT/app
        with pg.blocking_workload("app") as work:   # one holder, two waiters on one row
            print(work.holder, work.waiters)

The server runs in a temporary directory that is removed afterwards. Under root
(CI) it runs as an ordinary user (``$OPSPACK_TEST_USER``, default ``opspack-test``,
created if missing) because ``initdb`` and ``postgres`` refuse root. Local
connections over the socket are trusted; TCP connections need ``password``
(scram-sha-256) for the ``postgres`` superuser. ``pg_stat_statements`` is
preloaded (``CREATE EXTENSION pg_stat_statements`` in a database to use it).

Needs ``apt-get install postgresql`` (binaries in /usr/lib/postgresql/<major>/bin;
``$OPSPACK_PG_BIN`` names another directory). Client sessions use ``psql``, so
this module needs no Python driver.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from opspack_testkit.servers._unprivileged import BlockingWorkload, KeptClient, give_to
from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = [
    "APT_PACKAGES",
    "BlockingWorkload",
    "PostgresServer",
    "PostgresUnavailable",
    "PsqlSession",
    "pg_bin_dir",
]

APT_PACKAGES = ("postgresql",)


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def pg_bin_dir() -> Path:
    """Where initdb, pg_ctl and psql live: ``$OPSPACK_PG_BIN`` or the newest /usr/lib/postgresql/N/bin."""
    env = os.environ.get("OPSPACK_PG_BIN")
    if env:
        return Path(env)
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise PostgresUnavailable("PostgreSQL is not installed; install: apt-get install -y postgresql")
    return versions[-1]


class PostgresServer(ManagedProcess):
    """A running PostgreSQL server; use as a context manager.

    Args:
        port: TCP port on 127.0.0.1 (0: a free one).
        password: the ``postgres`` superuser's password (default: random).
        max_connections: the server's ``max_connections``.
        settings: more ``-c name=value`` server settings.
    """

    name = "postgres"
    unprivileged = True  # initdb and postgres refuse root
    poll_interval = 0.1

    def __init__(
        self,
        *,
        port: int = 0,
        password: str | None = None,
        max_connections: int = 300,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(port=port, start_timeout=60.0, stop_timeout=60.0)
        #: the superuser
        self.user = "postgres"
        self.password = password or "pg-" + secrets.token_hex(8)
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.bin: Path | None = None
        self._sessions: list[PsqlSession] = []

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.workdir / "data"

    # -- ManagedProcess ------------------------------------------------------------------
    def prepare(self) -> None:
        """``initdb`` a cluster whose superuser logs in with :attr:`password` over TCP."""
        self.bin = pg_bin_dir()
        (self.workdir / "sock").mkdir()
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(self.password + "\n")
        give_to(self.workdir, self.os_user)
        self.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
            ]
        )
        pwfile.unlink()

    def command(self) -> list[str]:
        """``postgres`` in the foreground (its log is its output), tuned for throwaway data."""
        assert self.bin is not None
        options = {
            "port": str(self.port),
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.workdir / "sock"),
            "max_connections": str(self.max_connections),
            "shared_preload_libraries": "pg_stat_statements",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            **self.settings,
        }
        settings = [arg for k, v in options.items() for arg in ("-c", f"{k}={v}")]
        return [str(self.bin / "postgres"), "-D", str(self.data), *settings]

    def ready(self) -> bool:
        """``pg_isready``: the server accepts connections (not only TCP: recovery is over)."""
        assert self.bin is not None
        check = [str(self.bin / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-t", "2"]
        return subprocess.run(check, capture_output=True, timeout=30, check=False).returncode == 0

    def before_stop(self) -> None:
        """Close the sessions, then a fast shutdown (a smart one would wait for every client)."""
        for session in list(self._sessions):
            session.close()
        if self.bin is not None and (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ServerError):
                self.run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], timeout=60)

    # -- clients ----------------------------------------------------------------
    def url(self, *, user: str | None = None, database: str = "postgres", password: bool = False) -> str:
        """A ``postgresql://`` URL for this server (the password only when ``password=True``)."""
        who = user or self.user
        secret = f":{self.password}" if password and who == self.user else ""
        return f"postgresql://{who}{secret}@{self.host}:{self.port}/{database}"

    def _psql_cmd(
        self, database: str, user: str | None = None, password: str | None = None
    ) -> tuple[list[str], dict[str, str]]:
        assert self.bin is not None, "not started"
        env = dict(os.environ, PGPASSWORD=password or self.password, PGCONNECT_TIMEOUT="10", PGAPPNAME="opspack-test")
        cmd = [
            str(self.bin / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            user or self.user,
            "-d",
            database,
        ]
        return cmd, env

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser with psql; return its unaligned, tuples-only output."""
        cmd, env = self._psql_cmd(database)
        proc = subprocess.run([*cmd, "-c", sql], capture_output=True, text=True, env=env, timeout=60, check=False)
        if proc.returncode != 0:
            raise ServerError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def session(
        self,
        *,
        database: str = "postgres",
        application_name: str = "opspack-test",
        user: str | None = None,
        password: str | None = None,
    ) -> PsqlSession:
        """An open psql session (as ``user``, default the superuser) reading SQL sent with :meth:`PsqlSession.send`."""
        cmd, env = self._psql_cmd(database, user, password)
        cmd[cmd.index("ON_ERROR_STOP=1")] = "ON_ERROR_STOP=0"  # a cancelled statement keeps the session
        env["PGAPPNAME"] = application_name
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        session = PsqlSession(proc, self)
        self._sessions.append(session)
        assert proc.stdout is not None
        session.send("SELECT pg_backend_pid();")
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            session.close()
            raise ServerError(f"psql session did not start: {line!r}")
        session.pid = int(line)
        return session

    def wait_until(self, sql: str, expected: str, *, database: str = "postgres", timeout: float = 30.0) -> None:
        """Poll ``sql`` (one value) until it returns ``expected``."""
        deadline = time.monotonic() + timeout
        got = ""
        while time.monotonic() < deadline:
            got = self.psql(sql, database=database)
            if got == expected:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{sql!r} returned {got!r}, not {expected!r}, after {timeout:g} s")

    @contextlib.contextmanager
    def blocking_workload(
        self,
        database: str = "postgres",
        *,
        waiters: int = 2,
        user: str | None = None,
        password: str | None = None,
    ) -> Iterator[BlockingWorkload]:
        """One session holds a row lock (idle in transaction), ``waiters`` sessions wait for it.

        The sessions log in as ``user`` (default: the superuser). The table
        ``opspack_demo_lock`` is made if missing. Yields once every waiter is waiting
        on a lock; the sessions end when the block exits."""
        self.psql(
            "CREATE TABLE IF NOT EXISTS opspack_demo_lock (id int PRIMARY KEY, v int NOT NULL);"
            "INSERT INTO opspack_demo_lock VALUES (1, 0) ON CONFLICT DO NOTHING;"
            "GRANT SELECT, UPDATE ON opspack_demo_lock TO PUBLIC;",
            database=database,
        )
        login = {"user": user, "password": password}
        work = BlockingWorkload()
        try:
            holder = self.session(database=database, application_name="opspack-holder", **login)
            work.sessions.append(holder)
            holder.send("BEGIN; UPDATE opspack_demo_lock SET v = v + 1 WHERE id = 1;")
            work.holder = holder.pid
            self.wait_until(
                f"SELECT state FROM pg_stat_activity WHERE pid = {holder.pid}", "idle in transaction", database=database
            )
            for i in range(waiters):
                waiter = self.session(database=database, application_name=f"opspack-waiter{i + 1}", **login)
                work.sessions.append(waiter)
                waiter.send("UPDATE opspack_demo_lock SET v = v + 1 WHERE id = 1;")
                work.waiters.append(waiter.pid)
                self.wait_until(
                    f"SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid IN "
                    f"({','.join(str(p) for p in work.waiters)})",
                    str(i + 1),
                    database=database,
                )
            yield work
        finally:
            for s in reversed(work.sessions):
                s.close()


class PsqlSession(KeptClient):
    """One psql process, kept open; :meth:`send` writes SQL without waiting for it."""

    def __init__(self, proc: subprocess.Popen[str], server: PostgresServer) -> None:
        super().__init__(proc, server._sessions)
        self.pid = 0
        self._server = server

    def end_on_server(self) -> None:
        """Terminate the backend (a running statement too)."""
        if self.pid and self._server.running:
            self._server.psql(f"SELECT pg_terminate_backend({self.pid})")
