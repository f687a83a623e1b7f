"""One way to run a server a test needs: :class:`ManagedProcess`, the base of every launcher.

A launcher says what to run and how to tell that it answers; the base class does the rest::

    class HTTPServer(ManagedProcess):
        name = "http"

        def command(self) -> list[str]:
            return [sys.executable, "-m", "http.server", "--bind", self.host, str(self.port)]

    with HTTPServer() as server:        # ready once its port accepts a connection
        urlopen(f"http://127.0.0.1:{server.port}/")

:meth:`ManagedProcess.start`

1. makes a temporary folder, :attr:`~ManagedProcess.workdir` (given to an ordinary user
   when the tests run as root and the server refuses root: ``unprivileged = True``);
2. takes a free loopback port for :attr:`~ManagedProcess.port`, unless one was given or
   the server picks its own and says so in its output (``own_port = True``);
3. calls :meth:`~ManagedProcess.prepare` (configuration files, ``initdb`` ...), then runs
   :meth:`~ManagedProcess.command` in the folder; every line the server writes (stdout and
   stderr) goes to ``workdir/output.log`` and to :meth:`~ManagedProcess.on_output`;
4. waits until :meth:`~ManagedProcess.ready` is true, then calls
   :meth:`~ManagedProcess.after_start`. A server that exits first, or does not answer
   within ``start_timeout`` seconds, raises :attr:`~ManagedProcess.error` with the end of
   its output, and is cleaned up.

:meth:`ManagedProcess.stop` calls :meth:`~ManagedProcess.before_stop`, stops the process
with :func:`~opspack_testkit.stop_process` (SIGTERM, then SIGKILL after ``stop_timeout``
seconds) and removes the folder. A ``with`` block does both.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

from opspack_testkit import free_port, stop_process
from opspack_testkit.servers._unprivileged import as_user, give_to, service_user

__all__ = ["ManagedProcess", "ServerError"]

#: how much of a server's output a start-up failure quotes
_QUOTED = 3000


class ServerError(RuntimeError):
    """A server did not start, exited before it answered, or a helper program failed."""


class ManagedProcess:
    """A server process started for tests: a temporary folder, a loopback port, a context manager.

    Subclasses implement :meth:`command` and, where needed, the other hooks; see the
    module's documentation for the order they are called in.
    """

    #: names the server in messages and in the temporary folder's name
    name: ClassVar[str] = "server"
    #: the exception raised when the server does not start (a subclass of :class:`ServerError`)
    error: ClassVar[type[ServerError]] = ServerError
    #: run as an ordinary user when the tests run as root (PostgreSQL and MariaDB refuse root)
    unprivileged: ClassVar[bool] = False
    #: the server binds a port of its choosing and reports it (through :meth:`on_output`)
    own_port: ClassVar[bool] = False
    #: give the server a stdin pipe, closed when it stops (for servers that exit when it closes)
    stdin_pipe: ClassVar[bool] = False
    #: seconds between two calls of :meth:`ready`
    poll_interval: ClassVar[float] = 0.05

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.host = host
        #: the TCP port (0 until start() when none was given)
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        #: the account the server runs as (None: the tests' own)
        self.os_user: str | None = None
        #: seconds from starting the command until it answered
        self.startup_seconds = 0.0
        self._workdir: Path | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._log: IO[str] | None = None

    # -- what a server says ---------------------------------------------------------------
    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The server's environment (None: the tests' own)."""
        return None

    def prepare(self) -> None:
        """Before the command runs, with :attr:`workdir` made and :attr:`port` chosen."""

    def ready(self) -> bool:
        """Whether the server answers; by default, whether its port accepts a connection."""
        if not self.port:
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def on_output(self, line: str) -> None:
        """Called (from a reader thread) with each line the server writes."""

    def after_start(self) -> None:
        """Once the server answers (passwords to set, accounts to make)."""

    def before_stop(self) -> None:
        """Before the process is stopped (client sessions to end, a clean shutdown)."""

    # -- state ------------------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        """The server's temporary folder (while it runs)."""
        if self._workdir is None:
            raise self.error(f"{self.name} is not started")
        return self._workdir

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the command (while it runs)."""
        return self._proc.pid if self._proc is not None else None

    def log_text(self) -> str:
        """What the server wrote so far (stdout and stderr); empty once it is stopped."""
        if self._workdir is None:
            return ""
        try:
            return (self._workdir / "output.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def run(self, cmd: list[str], *, timeout: float = 120.0) -> str:
        """Run a helper program (``initdb`` ...) as the server's user; return its stdout.

        Raises :attr:`error` with the program's output when it fails."""
        try:
            proc = subprocess.run(
                as_user(cmd, self.os_user), capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise self.error(f"{Path(cmd[0]).name}: {exc}") from exc
        if proc.returncode != 0:
            output = proc.stderr.strip() or proc.stdout.strip()
            raise self.error(f"{Path(cmd[0]).name} failed ({proc.returncode}): {output}")
        return proc.stdout

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the server; return once :meth:`ready` says it answers."""
        if self._proc is not None or self._workdir is not None:
            raise self.error(f"{self.name} is already started")
        self._workdir = Path(tempfile.mkdtemp(prefix=f"opspack-{self.name}-"))
        try:
            if self.unprivileged:
                self.os_user = service_user()
                give_to(self._workdir, self.os_user)
            if not self.port and not self.own_port:
                self.port = free_port()
            self.prepare()
            cmd = as_user(self.command(), self.os_user)
            self._log = (self._workdir / "output.log").open("w", encoding="utf-8")
            began = time.monotonic()
            self._proc = subprocess.Popen(
                cmd,
                cwd=self._workdir,
                env=self.environment(),
                stdin=subprocess.PIPE if self.stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
            self._reader = threading.Thread(
                target=self._read, args=(self._proc, self._log), name=f"{self.name}-output", daemon=True
            )
            self._reader.start()
            self._wait_ready(self._proc, began + self.start_timeout)
            self.startup_seconds = time.monotonic() - began
            self.after_start()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, proc: subprocess.Popen[str], deadline: float) -> None:
        while not self.ready():
            if proc.poll() is not None:
                raise self._failure(f"{self.name} exited with {proc.returncode} before it answered")
            if time.monotonic() > deadline:
                raise self._failure(f"{self.name} did not answer within {self.start_timeout:g} s")
            time.sleep(self.poll_interval)

    def _failure(self, message: str) -> ServerError:
        if self._reader is not None:
            self._reader.join(timeout=0.5)  # the last lines of a server that exited
        output = self.log_text().strip()[-_QUOTED:]
        return self.error(f"{message}; its output:\n{output}" if output else f"{message} (no output)")

    def _read(self, proc: subprocess.Popen[str], log: IO[str]) -> None:
        stdout = proc.stdout
        assert stdout is not None
        # read to the end, so the server never blocks on a full pipe
        with contextlib.suppress(OSError, ValueError):  # ValueError: stopped while reading
            for line in stdout:
                log.write(line)
                log.flush()
                self.on_output(line)

    def stop(self) -> None:
        """Stop the server (:meth:`before_stop`, then SIGTERM and SIGKILL) and remove its folder."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                self.before_stop()
        finally:
            stop_process(proc, timeout=self.stop_timeout)
            if proc is not None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            if self._reader is not None:
                self._reader.join(timeout=5)  # sees the end of the output: the server is gone
                self._reader = None
            if proc is not None and proc.stdout is not None:
                with contextlib.suppress(OSError):
                    proc.stdout.close()
            if self._log is not None:
                self._log.close()
                self._log = None
            workdir, self._workdir = self._workdir, None
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.host}:{self.port}" if self.running else "stopped"
        return f"{type(self).__name__}({state})"
