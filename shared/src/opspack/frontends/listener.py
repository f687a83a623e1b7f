"""How ``opspack serve`` holds its connections: uvicorn's httptools protocol with the
runner's limits, the file-descriptor limit, and the access log through the masker.

uvicorn gives the keep-alive timeout after an answer; the rest is added here, in the
protocol, where it costs nothing per request beyond two timers:

- **idle**: a connection with no request in progress (a new one that has sent nothing,
  or a kept-alive one between requests) is closed after ``keep_alive`` seconds (up to a
  quarter more, so that a burst of connections is not closed all at once);
- **head**: a request's line and headers must arrive within ``header_timeout`` seconds of
  its first byte, else ``408``; and be at most ``max_header`` bytes, else ``431`` (counted
  as they arrive: a 1 MB header is refused after one read, never kept whole);
- **body**: the body must arrive within ``body_timeout`` seconds of the head, else ``408``;
- **connections**: at most ``max_connections`` at once. At the cap, a new connection closes
  at once the oldest one that no application is answering (idle, or still sending its
  head); when every connection is being answered, the new one is closed. So idle
  connections, however many, cannot keep out a client that asks something. (Closing idle
  ones sooner than ``keep_alive`` before the cap would only make attackers that reconnect
  come back sooner: each close and accept costs the runner more than a held connection.)

Those answers carry a result object and close the connection. :func:`raise_fd_limit` lifts
the soft ``RLIMIT_NOFILE`` to the hard limit at start, and :func:`connection_cap` keeps the
cap below it, with room for the database, the workers' pipes and the log files.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from opspack.frontends.guard import error_bytes
from opspack.masking import MASK, Masker, is_secret_name

log = logging.getLogger("opspack.frontends.serve")

#: connections held at most by default (each idle one costs a few kilobytes)
DEFAULT_MAX_CONNECTIONS = 10_000
#: an idle connection is closed between keep_alive and (1 + IDLE_SPREAD) * keep_alive seconds
IDLE_SPREAD = 0.25
#: how often the runner says that it dropped or refused connections
REPORT_EVERY_S = 60.0


@dataclass(frozen=True)
class Limits:
    """What one connection may take (see the module's documentation)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    keep_alive: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header: int = 16 * 1024


class _Count:
    """Connections dropped (the oldest idle ones) and refused since the last report."""

    def __init__(self) -> None:
        self.dropped = 0
        self.refused = 0
        self.reported = time.monotonic()

    def report(self, limit: int) -> None:
        now = time.monotonic()
        if now - self.reported < REPORT_EVERY_S:
            return
        log.warning(
            "at the connection limit (%d, [serve] max_connections): %d idle connections closed and "
            "%d refused in the last %.0f s",
            limit,
            self.dropped,
            self.refused,
            now - self.reported,
        )
        self.dropped = self.refused = 0
        self.reported = now


class HeldProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`Limits`; :func:`protocol_class` makes one
    per server (its limits and its line of waiting connections)."""

    limits: ClassVar[Limits]
    #: connections no application is answering (idle, or sending their head), oldest first
    waiting: ClassVar[OrderedDict[HeldProtocol, None]]
    counted: ClassVar[_Count]

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None  # the head's, then the body's
        self._in_head = False
        self._head_read = 0  # bytes received since the request began, while its head is incomplete
        self._head_size = 0  # the head's size as parsed: the URL, names and values
        self._closed = False  # answered here (or dropped): nothing more is read or answered

    # -- the connection ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not self._drop_oldest():
            self.counted.refused += 1
            self.counted.report(self.limits.max_connections)
            self._closed = True
            transport.close()
            return
        self._wait()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting.pop(self, None)
        self._cancel_deadline()
        super().connection_lost(exc)

    def _drop_oldest(self) -> bool:
        """Close the connection that has waited longest for a request; False if none waits."""
        while self.waiting:
            oldest, _ = self.waiting.popitem(last=False)
            if oldest is self or oldest._closed:
                continue
            oldest._closed = True
            oldest._cancel_deadline()
            oldest.transport.close()
            self.counted.dropped += 1
            self.counted.report(self.limits.max_connections)
            return True
        return False

    def _wait(self) -> None:
        """The connection waits for a request: last in the line, closed when idle too long."""
        self.waiting[self] = None
        self.waiting.move_to_end(self)
        self._unset_keepalive_if_required()
        # a little later for some than for others: connections opened in one burst are not all
        # closed in one turn of the event loop
        idle = self.limits.keep_alive * (1.0 + IDLE_SPREAD * random.random())  # noqa: S311 - not a secret
        self.timeout_keep_alive_task = self.loop.call_later(idle, self.timeout_keep_alive_handler)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # kept alive, nothing pipelined: it waits
            self._wait()

    # -- reading a request ------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        super().data_received(data)
        if self._in_head and not self._closed:
            self._head_read += len(data)
            if self._head_read > self.limits.max_header:
                self._answer(431, *_head_too_large(self.limits.max_header))

    def on_message_begin(self) -> None:
        if self._closed:
            return
        super().on_message_begin()
        self._in_head = True
        self._head_read = self._head_size = 0
        self._set_deadline(self.limits.header_timeout, self._head_late)

    def on_url(self, url: bytes) -> None:
        if self._closed:
            return
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._closed:
            return
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_deadline()
        if self._closed:
            return
        if self._head_size > self.limits.max_header:
            self._answer(431, *_head_too_large(self.limits.max_header))
            return
        self.waiting.pop(self, None)  # an application answers it now
        super().on_headers_complete()
        if not self.pipeline:  # (a pipelined request's body is read once the one before is answered)
            self._set_deadline(self.limits.body_timeout, self._body_late)

    def on_body(self, body: bytes) -> None:
        if not self._closed:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        if self._closed:
            return
        super().on_message_complete()
        if self.cycle.response_complete and not self.pipeline and not self.transport.is_closing():
            self._wait()  # answered before its body was read (a 401): now it waits for the next request

    def send_400_response(self, msg: str) -> None:
        if not self._closed:
            self._closed = True
            super().send_400_response(msg)

    # -- deadlines ---------------------------------------------------------------------
    def _set_deadline(self, seconds: float, late: Any) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, late)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_late(self) -> None:
        self._deadline = None
        if not self._closed:
            seconds = self.limits.header_timeout
            self._answer(408, f"The request's headers did not arrive within {seconds:g} s.", "Send them at once.")

    def _body_late(self) -> None:
        self._deadline = None
        if self._closed:
            return
        cycle = self.cycle
        if cycle is None or cycle.response_started:  # answered already: only the rest of the body is missing
            self._closed = True
            self.transport.close()
            return
        # the application waiting for the body is told the client left, and its answer goes nowhere
        cycle.disconnected = True
        cycle.message_event.set()
        seconds = self.limits.body_timeout
        self._answer(408, f"The request's body did not arrive within {seconds:g} s.", "Send it at once.")

    def _answer(self, status: int, message: str, hint: str | None) -> None:
        """Answer here, before any application, and close the connection."""
        self._closed = True
        self._cancel_deadline()
        self.waiting.pop(self, None)
        if not self.transport.is_closing():
            self.transport.write(error_bytes(status, message, hint))
            self.transport.close()


def _head_too_large(limit: int) -> tuple[str, str]:
    return (f"The request's headers are over the limit of {limit} bytes.", "Send shorter headers.")


def protocol_class(limits: Limits) -> type[asyncio.Protocol]:
    """The protocol class for one server: ``uvicorn.Config(http=protocol_class(limits))``."""

    class Protocol(HeldProtocol):
        pass

    Protocol.limits = limits
    Protocol.waiting = OrderedDict()
    Protocol.counted = _Count()
    return Protocol


# -- file descriptors --------------------------------------------------------------------
def raise_fd_limit() -> int | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; the soft limit in force after
    (None: no limit, or a platform without one)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or want <= soft:
        return None if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-files limit from %d to %d: %s", soft, want, exc)
        return soft
    return want


def connection_cap(configured: int | None, fd_limit: int | None, reserve: int) -> int:
    """How many connections the runner holds at most: ``configured`` (else
    :data:`DEFAULT_MAX_CONNECTIONS`), and never so many that the files left for everything
    else drop below ``reserve`` (or half the limit, when that is smaller)."""
    cap = configured if configured is not None else DEFAULT_MAX_CONNECTIONS
    if fd_limit is not None:
        room = max(1, fd_limit - min(reserve, fd_limit // 2))
        if cap > room:
            if configured is not None:
                log.warning(
                    "[serve] max_connections is %d, but the open-files limit is %d: holding at most %d",
                    configured,
                    fd_limit,
                    room,
                )
            cap = room
    return max(1, cap)


# -- the access log --------------------------------------------------------------------
class AccessLogMasking(logging.Filter):
    """Masks uvicorn's access log lines: the path and query string through the masker (the
    runner's tokens and every registered secret), and the value of every query parameter
    whose name looks secret (``token``, ``access_token``, ``password``...). The record keeps
    uvicorn's five arguments, which its formatter needs."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], masked_path(args[2], self.masker), args[3], args[4])
        else:
            record.msg = self.masker(record.getMessage())
            record.args = None
        return True


def masked_path(path: str, masker: Masker) -> str:
    """A request's path with query string, secrets masked (also when percent-encoded)."""
    base, sep, query = path.partition("?")
    if sep and query:
        pairs = parse_qsl(query, keep_blank_values=True)
        hidden = [is_secret_name(k) or masker(v) != v or masker(k) != k for k, v in pairs]
        if any(hidden):
            query = "&".join(
                f"{quote(masker(k))}={MASK}" if secret else urlencode([(k, v)], quote_via=quote)
                for (k, v), secret in zip(pairs, hidden, strict=True)
            )
    return masker(base + sep + query)


__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "AccessLogMasking",
    "HeldProtocol",
    "Limits",
    "connection_cap",
    "masked_path",
    "protocol_class",
    "raise_fd_limit",
]
