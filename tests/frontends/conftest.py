"""Fixtures for the front-end tests: the echo test pack beside the installed packs, runners.

The registry the front-ends load is the installed packs' (the `server` pack at least)
plus the echo pack of this folder (trivial, slow, image and destructive commands with
no backend). Processes the tests start (``opspack serve``, ``opspack mcp``, Hubot) get
it as a registry.json file and find the echo pack through PYTHONPATH; the tests import it
through the ``pythonpath`` option of tests/pytest.ini.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from frontend_helpers import TOKEN, Runner, child_env, listening, opspack_exe
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack_testkit import free_port


@pytest.fixture(scope="session")
def registry() -> Registry:
    installed = Registry.from_installed()
    echo = registry_from_package("opspack_echo", "0.0.1")
    assert installed.get("server.host.test") is not None, "the server pack must be installed"
    return Registry(packs=[*installed.packs, *echo.packs], commands=[*installed.commands, *echo.commands])


@pytest.fixture(scope="session")
def registry_file(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry") / "registry.json"
    path.write_text(json.dumps(registry.to_data()), encoding="utf-8")
    return path


@pytest.fixture
def open_port() -> Iterator[int]:
    """A port something listens on (and accepts), for `server test ... --ports N`."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join()
    sock.close()


@contextlib.contextmanager
def start_runner(
    registry_file: Path, log_dir: Path, *, access_log: bool = False, open_files: int | None = None, **env: str
) -> Iterator[Runner]:
    """A real `opspack serve` (uvicorn) on a free loopback port, stopped on exit; ``env``: more
    environment variables for it; ``open_files``: its RLIMIT_NOFILE (soft and hard). Every
    runner of the session shares the audit trail the pytest plugin points OPSPACK_AUDIT_URL at."""
    port = free_port()
    log = log_dir / "serve.log"
    command = [opspack_exe(), "--registry", str(registry_file), "serve", "--port", str(port)]
    if not access_log:
        command.append("--no-access-log")
    if open_files is not None:  # set in the child itself, then exec: no preexec_fn in a threaded process
        limit = f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, {open_files}))"
        command = [sys.executable, "-c", f"{limit}; os.execv(sys.argv[1], sys.argv[1:])", *command]
    environ = child_env(OPSPACK_SERVE_TOKENS="other-token,env:RUNNER_TOKEN", RUNNER_TOKEN=TOKEN, **env)
    with listening(command, port=port, log=log, env=environ) as proc:
        yield Runner(f"http://127.0.0.1:{port}", TOKEN, proc, log)


@pytest.fixture(scope="session")
def runner(registry_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """A real `opspack serve` for the session."""
    with start_runner(registry_file, tmp_path_factory.mktemp("runner")) as started:
        yield started
