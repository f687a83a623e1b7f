"""ManagedProcess, the base of every server launcher, with real child processes."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from opspack_testkit import free_port
from opspack_testkit.servers.process import ManagedProcess, ServerError


class FileServer(ManagedProcess):
    """Python's own HTTP server, serving its temporary folder on the port it was given."""

    name = "files"

    def prepare(self) -> None:
        (self.workdir / "hello.txt").write_text(f"port {self.port}\n")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "http.server", "--bind", self.host, str(self.port)]


class OwnPortServer(FileServer):
    """The same server on a port it picks itself, read from what it prints."""

    name = "own-port"
    own_port = True

    def command(self) -> list[str]:
        return [sys.executable, "-m", "http.server", "--bind", self.host, "0"]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def on_output(self, line: str) -> None:
        found = re.search(r" port (\d+) ", line)
        if found and not self.port:
            self.port = int(found.group(1))


class Script(ManagedProcess):
    """A Python script as a server, for the ways a server fails to start."""

    name = "script"

    def __init__(self, code: str, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self.code = code
        #: the process id, seen when the script wrote its first line
        self.seen_pid: int | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.code]

    def on_output(self, line: str) -> None:
        self.seen_pid = self.seen_pid or self.pid


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def logged(server: ManagedProcess, text: str, within: float = 10.0) -> bool:
    """Whether ``text`` reaches the server's log in time (a reader thread copies it there)."""
    deadline = time.monotonic() + within
    while text not in server.log_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_server_runs_in_its_folder_on_a_free_port_and_leaves_nothing() -> None:
    with FileServer() as server:
        folder, pid = server.workdir, server.pid
        assert server.running and pid is not None and server.port > 0
        assert folder.name.startswith("opspack-files-")
        assert fetch(f"http://127.0.0.1:{server.port}/hello.txt") == f"port {server.port}\n"
        assert logged(server, "GET /hello.txt")  # its stderr, captured
        assert server.startup_seconds > 0
    assert not server.running and not folder.exists() and not alive(pid)
    assert server.log_text() == ""


def test_a_given_port_is_used() -> None:
    port = free_port()
    with FileServer(port=port) as server:
        assert fetch(f"http://127.0.0.1:{port}/hello.txt") == f"port {port}\n"
        assert repr(server) == f"FileServer(127.0.0.1:{port})"


def test_a_server_that_picks_its_port_reports_it_in_its_output() -> None:
    with OwnPortServer() as server:
        assert server.port > 0
        assert fetch(f"http://127.0.0.1:{server.port}/hello.txt").startswith("port ")


def test_a_server_that_exits_fails_with_its_output_and_is_cleaned_up() -> None:
    server = Script("import sys; print('no licence key'); sys.exit(3)")
    with pytest.raises(ServerError, match=r"script exited with 3 before it answered; its output:\nno licence key"):
        server.start()
    assert not server.running
    assert not list(Path(tempfile.gettempdir()).glob("opspack-script-*"))


def test_a_server_that_never_answers_times_out_and_is_stopped() -> None:
    server = Script("import time; print('starting', flush=True); time.sleep(60)", start_timeout=0.5)
    with pytest.raises(ServerError, match=r"did not answer within 0\.5 s; its output:\nstarting"):
        server.start()
    assert server.seen_pid is not None and not alive(server.seen_pid)


def test_started_twice_is_an_error_and_a_helper_failure_names_the_program() -> None:
    with FileServer() as server:
        with pytest.raises(ServerError, match="already started"):
            server.start()
        assert server.run([sys.executable, "-c", "print('fine')"]) == "fine\n"
        with pytest.raises(ServerError, match=r"failed \(2\): broken"):
            server.run([sys.executable, "-c", "import sys; sys.stderr.write('broken'); sys.exit(2)"])
    with pytest.raises(ServerError, match="not started"):
        _ = server.workdir
