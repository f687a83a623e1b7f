"""A loopback HTTP server with routes, for faking vendors that cannot run here.

Real client libraries (python-jenkins, python-gitlab, requests) talk real HTTP to
it; a fake keeps whatever state its routes need and answers with payloads shaped
like the vendor's documented responses::

    fake = FakeHTTPServer()

    @fake.route("GET", r"/api/json")
    def root(req: Request) -> Response:
        return Response.json({"jobs": []})

    with fake:
        client = jenkins.Jenkins(fake.url)

Every request is recorded in ``fake.requests`` so tests can count round trips.
Given a certificate (``FakeHTTPServer(tls=...)``, or ``FakeService.serve_tls``), it
serves HTTPS instead, so clients' certificate settings meet a real TLS handshake.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from opspack_testkit.tls import CertFiles


@dataclass
class Request:
    """One request as a route sees it; ``match`` is the route's regex match."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        """The body parsed as a URL-encoded form."""
        return parse_qs(self.body.decode("utf-8"))

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """What a route answers: status, body and headers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON response."""
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A plain-text response."""
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


Handler = Callable[[Request], Response]


class FakeHTTPServer:
    """Routes by method and path regex; unknown paths answer 404.

    ``tls``: a server certificate and key (:class:`opspack_testkit.tls.CertFiles`);
    the server then speaks HTTPS and :attr:`url` starts with ``https://``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tls: CertFiles | None = None) -> None:
        self.tls = tls
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.before: list[Callable[[Request], Response | None]] = []
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator: ``handler`` answers ``method`` on paths matching ``pattern`` (whole path)."""

        def add(handler: Handler) -> Handler:
            self.routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))
            return handler

        return add

    def dispatch(self, req: Request) -> Response:
        """Record ``req``, run the ``before`` hooks, then the first matching route (404, or 405 for a known path)."""
        with self.lock:
            self.requests.append(req)
        for hook in self.before:
            early = hook(req)
            if early is not None:
                return early
        allowed = False
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if m:
                if method != req.method:
                    allowed = True
                    continue
                req.match = m
                return handler(req)
        return Response.text("Method Not Allowed" if allowed else "Not Found", 405 if allowed else 404)

    @property
    def url(self) -> str:
        """``http://host:port`` (``https://`` with ``tls``) of the running server."""
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def start(self) -> FakeHTTPServer:
        """Serve in a background thread, on a free port unless one was given."""
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in separate writes: without TCP_NODELAY the client's
            # delayed ACK adds ~40 ms to every keep-alive request
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                try:
                    resp = fake.dispatch(req)
                except Exception as exc:  # noqa: BLE001 - a fake answers 500 like a real server
                    resp = Response.text(f"fake server error: {exc!r}", 500)
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(resp.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle  # noqa: N815 - http.server names

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server((self._host, self._port), _Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls.cert, self.tls.key)
            # the handshake runs in the request's thread (on its first read), not in the accepting one
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about a client that refused the certificate or hung up; loud about the rest."""
        import sys

        if isinstance(sys.exc_info()[1], OSError):  # ssl.SSLError and ConnectionError are OSErrors
            return
        super().handle_error(request, client_address)


class FakeService:
    """A vendor's fake built on a :class:`FakeHTTPServer` (its ``server``, made by the subclass):
    :meth:`start`, :meth:`stop`, :attr:`url`, :attr:`requests` and a ``with`` block."""

    server: FakeHTTPServer

    @property
    def url(self) -> str:
        """The fake's base URL (while started)."""
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        """Every request received so far."""
        return self.server.requests

    def serve_tls(self, files: CertFiles) -> Self:
        """Serve HTTPS with this certificate from the next :meth:`start` on."""
        self.server.tls = files
        return self

    def start(self) -> Self:
        """Serve on a free loopback port."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
