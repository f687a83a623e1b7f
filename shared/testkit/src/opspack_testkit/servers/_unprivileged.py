"""Run database servers as an ordinary user when the tests run as root.

PostgreSQL's ``initdb``/``postgres`` refuse to run as root and MariaDB wants a
``--user``; CI runs as root. :func:`service_user` gives the account to run them
as (``$OPSPACK_TEST_USER``, default ``opspack-test``, created with ``useradd
--system`` when running as root and it is missing), and :func:`as_user` wraps a
command line with ``runuser`` when needed. Not root: commands run as is.
:class:`KeptClient` is a client process held open as one server session, and
:class:`BlockingWorkload` the sessions of a blocking workload (the sql tests and the demo
make them).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from opspack_testkit import stop_process

DEFAULT_USER = "opspack-test"


def service_user() -> str | None:
    """The user servers run as when we are root (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("OPSPACK_TEST_USER", DEFAULT_USER)
    try:
        pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
    return name


def as_user(cmd: list[str], user: str | None) -> list[str]:
    """``cmd`` run as ``user`` (through runuser), or unchanged when ``user`` is None."""
    if user is None:
        return cmd
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", user, "--", *cmd]


def give_to(path: Path, user: str | None) -> None:
    """Make ``path`` (a directory tree) belong to ``user`` (no-op when None)."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


class KeptClient:
    """A database command-line client (psql, mariadb) kept open as one server session:
    :meth:`send` writes SQL without waiting, :meth:`close` ends the session on the server
    (with :meth:`end_on_server`) and then the client process."""

    def __init__(self, proc: subprocess.Popen[str], sessions: list[Any]) -> None:
        self.proc = proc
        self._sessions = sessions

    def send(self, sql: str) -> None:
        """Write ``sql`` to the client, without waiting for its result."""
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        stdin.write(sql.rstrip() + "\n")
        stdin.flush()

    def end_on_server(self) -> None:
        """End this session on the server (a running statement too); best effort."""

    def close(self) -> None:
        """End the session on the server (best effort), then the client process."""
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError, OSError):
            self.end_on_server()
        stop_process(self.proc)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(ValueError):
            self._sessions.remove(self)


@dataclass
class BlockingWorkload:
    """The sessions of a server's ``blocking_workload()``: one holds a lock, the others wait.

    ``holder`` and ``waiters`` are the server's ids of the sessions (backend pids,
    connection ids)."""

    holder: int = 0
    waiters: list[int] = field(default_factory=list)
    sessions: list[KeptClient] = field(default_factory=list)
