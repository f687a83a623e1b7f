"""Servers the server pack's tests talk to, all on loopback and started by the tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

import pytest
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack_testkit.tls import TestCA


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_server", metadata.version("opspack-server"))
    return reg


@pytest.fixture
def tcp_port() -> Iterator[int]:
    """A plain TCP listener that accepts and closes connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conn.close()
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join(2)
    sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


@pytest.fixture
def http_server() -> Iterator[str]:
    """An HTTP server: /ok answers 200, /missing 404, /broken 500."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = {"/ok": 200, "/missing": 404, "/broken": 500}.get(self.path, 404)
            body = b"hello"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(Path(tmp_path_factory.mktemp("ca")))
