"""A private MariaDB server for tests and the demo, standard library only.

::

    with MariaDBServer() as db:                  # mariadb-install-db + mariadbd on a free port
        db.sql("CREATE DATABASE app")
        url = db.url(database="app")             # mysql://root@127.0.0.1:PORT/app
        with db.blocking_workload("app") as work:   # one holder, two waiters on one row
            print(work.holder, work.waiters)

The server runs in a temporary directory removed afterwards; under root (CI) it
runs as an ordinary user (``$OPSPACK_TEST_USER``, default ``opspack-test``).
``root`` logs in over the socket without a password and over TCP from 127.0.0.1
with ``password``. ``performance_schema`` is on. Needs ``apt-get install
mariadb-server``; client sessions use the ``mariadb`` command-line client.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from opspack_testkit.servers._unprivileged import BlockingWorkload, KeptClient
from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = ["APT_PACKAGES", "BlockingWorkload", "MariaDBServer", "MariaDBSession", "MariaDBUnavailable"]

APT_PACKAGES = ("mariadb-server",)


class MariaDBUnavailable(RuntimeError):
    """mariadbd or mariadb-install-db is not installed."""


def _binary(name: str, *extra_dirs: str) -> str:
    found = shutil.which(name) or next((str(Path(d) / name) for d in extra_dirs if (Path(d) / name).is_file()), None)
    if found is None:
        raise MariaDBUnavailable(f"{name} not found; install: apt-get install -y mariadb-server")
    return found


class MariaDBServer(ManagedProcess):
    """A running MariaDB server; use as a context manager.

    Args:
        port: TCP port on 127.0.0.1 (0: a free one).
        password: root's password over TCP (default: random).
        max_connections: the server's ``max_connections``.
        options: more ``--name=value`` server options.
    """

    name = "mariadb"
    unprivileged = True  # mariadbd wants a --user when run as root
    poll_interval = 0.1

    def __init__(
        self,
        *,
        port: int = 0,
        password: str | None = None,
        max_connections: int = 300,
        options: dict[str, str] | None = None,
    ) -> None:
        # runuser forwards SIGTERM to mariadbd, which shuts down cleanly (in up to a minute)
        super().__init__(port=port, start_timeout=60.0, stop_timeout=60.0)
        #: the administrator account
        self.user = "root"
        self.password = password or "mdb-" + secrets.token_hex(8)
        self.max_connections = max_connections
        self.options = dict(options or {})
        self._mariadbd = ""
        self._client = ""
        self._sessions: list[MariaDBSession] = []

    @property
    def socket(self) -> Path:
        """The server's Unix socket (root logs in there without a password)."""
        return self.workdir / "mysqld.sock"

    # -- ManagedProcess ------------------------------------------------------------------
    def prepare(self) -> None:
        """``mariadb-install-db`` a data directory."""
        install_db = _binary("mariadb-install-db", "/usr/bin")
        self._mariadbd = _binary("mariadbd", "/usr/sbin")
        self._client = _binary("mariadb", "/usr/bin")
        self.run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={self.workdir / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            timeout=180,
        )

    def command(self) -> list[str]:
        """``mariadbd`` in the foreground (its error log is its output), tuned for throwaway data."""
        options = {
            "datadir": str(self.workdir / "data"),
            "socket": str(self.socket),
            "port": str(self.port),
            "bind-address": self.host,
            "pid-file": str(self.workdir / "mysqld.pid"),
            "max-connections": str(self.max_connections),
            "innodb-buffer-pool-size": "32M",
            "innodb-log-file-size": "16M",
            "innodb-flush-log-at-trx-commit": "0",
            "innodb-lock-wait-timeout": "3600",
            "performance-schema": "ON",
            "skip-name-resolve": "1",
            **self.options,
        }
        return [self._mariadbd, "--no-defaults", *(f"--{k}={v}" for k, v in options.items())]

    def ready(self) -> bool:
        """root runs ``SELECT 1`` over the socket."""
        try:
            self._socket_sql("SELECT 1")
        except ServerError:
            return False
        return True

    def after_start(self) -> None:
        """root's password over TCP."""
        pw = self.password.replace("'", "''")
        self._socket_sql(
            f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '{pw}'; ALTER USER 'root'@'::1' IDENTIFIED BY '{pw}'"
        )

    def before_stop(self) -> None:
        """Close the client sessions."""
        for session in list(self._sessions):
            session.close()

    # -- clients ----------------------------------------------------------------
    def url(self, *, user: str | None = None, database: str = "", password: bool = False, scheme: str = "mysql") -> str:
        """A ``mysql://`` URL for this server (the password only when ``password=True``)."""
        who = user or self.user
        secret = f":{self.password}" if password and who == self.user else ""
        return f"{scheme}://{who}{secret}@{self.host}:{self.port}/{database}"

    def _client_cmd(self, database: str) -> list[str]:
        cmd = [self._client, "--no-defaults", f"--socket={self.socket}", "-u", "root", "-N", "-B", "-n"]
        return [*cmd, database] if database else cmd

    def _socket_sql(self, sql: str, database: str = "") -> str:
        proc = subprocess.run(
            [*self._client_cmd(database), "-e", sql], capture_output=True, text=True, timeout=60, check=False
        )
        if proc.returncode != 0:
            raise ServerError(f"mariadb client failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def sql(self, sql: str, *, database: str = "") -> str:
        """Run SQL as root; return the tab-separated output without column names."""
        return self._socket_sql(sql, database)

    def session(self, *, database: str = "") -> MariaDBSession:
        """An open client session that reads SQL sent with :meth:`MariaDBSession.send`."""
        proc = subprocess.Popen(
            self._client_cmd(database),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        session = MariaDBSession(proc, self)
        self._sessions.append(session)
        session.send("SELECT CONNECTION_ID();")
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            session.close()
            raise ServerError(f"mariadb session did not start: {line!r}")
        session.id = int(line)
        return session

    def wait_until(self, sql: str, expected: str, *, timeout: float = 30.0) -> None:
        """Poll ``sql`` (one value) until it returns ``expected``."""
        deadline = time.monotonic() + timeout
        got = ""
        while time.monotonic() < deadline:
            got = self.sql(sql)
            if got == expected:
                return
            # InnoDB refreshes its information_schema.INNODB_* cache only when it was last
            # read more than 0.1 s ago: polling faster would keep reading a stale snapshot
            time.sleep(0.25)
        sessions = self.sql("SELECT ID, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST")
        raise TimeoutError(f"{sql!r} returned {got!r}, not {expected!r}, after {timeout:g} s; sessions:\n{sessions}")

    @contextlib.contextmanager
    def blocking_workload(self, database: str, *, waiters: int = 2) -> Iterator[BlockingWorkload]:
        """One session holds a row lock (open transaction, asleep), ``waiters`` sessions wait on it."""
        self.sql(
            f"CREATE DATABASE IF NOT EXISTS `{database}`;"
            f"CREATE TABLE IF NOT EXISTS `{database}`.opspack_demo_lock "
            "(id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB;"
            f"INSERT IGNORE INTO `{database}`.opspack_demo_lock VALUES (1, 0);"
        )
        work = BlockingWorkload()
        try:
            holder = self.session(database=database)
            work.sessions.append(holder)
            holder.send("BEGIN; UPDATE opspack_demo_lock SET v = v + 1 WHERE id = 1;")
            work.holder = holder.id
            self.wait_until(
                f"SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = {holder.id}", "1"
            )
            for i in range(waiters):
                waiter = self.session(database=database)
                work.sessions.append(waiter)
                waiter.send("UPDATE opspack_demo_lock SET v = v + 1 WHERE id = 1;")
                work.waiters.append(waiter.id)
                self.wait_until(
                    "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' "
                    f"AND trx_mysql_thread_id IN ({','.join(str(w) for w in work.waiters)})",
                    str(i + 1),
                )
            yield work
        finally:
            for s in reversed(work.sessions):
                s.close()


class MariaDBSession(KeptClient):
    """One ``mariadb`` client process, kept open; :meth:`send` writes SQL without waiting."""

    def __init__(self, proc: subprocess.Popen[str], server: MariaDBServer) -> None:
        super().__init__(proc, server._sessions)
        self.id = 0
        self._server = server

    def end_on_server(self) -> None:
        """KILL the connection (a running statement too)."""
        if self.id and self._server.running:
            self._server.sql(f"KILL {self.id}")
