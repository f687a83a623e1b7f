"""The HTTP front-ends' guard: bearer tokens (401), the per-token rate limit (429), the
body-size limit (413), JSON read within a depth limit (400), and the result-object shape
of a request's own errors. Shared by :mod:`opspack.frontends.serve` and
:mod:`opspack.frontends.teams`.

A token is taken from the ``Authorization: Bearer`` header only: a token anywhere else
(the query string, a cookie) authenticates nothing. Each bearer token has a name
(:class:`BearerToken`); the guard puts the token a request came with in its ASGI scope under
:data:`TOKEN_SCOPE_KEY`, so the runner checks whom it may speak for and the audit trail
names it; the rate limit keeps one bucket per name.
"""

from __future__ import annotations

import hmac
import itertools
import json
import math
import operator
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PUBLIC_PATHS = frozenset({"/healthz"})
#: where the guard leaves the :class:`BearerToken` of an authorized request in its ASGI scope
TOKEN_SCOPE_KEY = "opspack.token"  # noqa: S105 - a key of the ASGI scope, not a secret
#: the token name the audit trail gives calls from the Teams outgoing webhook (its HMAC
#: secret authenticates them, not a bearer token); no bearer token may take it
TEAMS_TOKEN_NAME = "teams"  # noqa: S105 - a name, not a secret
#: how deep a request's JSON may nest, by default (a call's body is 3 or 4 deep)
DEFAULT_JSON_DEPTH = 32

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the error kind of each status a front-end answers itself
KINDS = {401: "denied", 403: "denied", 404: "not_found", 408: "timeout", 429: "busy"}


@dataclass(frozen=True)
class BearerToken:
    """A bearer token the runner accepts: its ``name`` (what the audit trail records and the
    rate limit counts by), its ``value``, the chat ``users`` it may speak for (None: any,
    ``"*"``) and whether it may pass ``groups`` (group names the policy maps to roles)."""

    name: str
    value: str = field(repr=False)
    users: frozenset[str] | None = None
    groups: bool = False

    def refusal(self, user: str, groups: Sequence[str] = ()) -> str | None:
        """Why this token may not make a call for ``user`` with ``groups`` (None: it may)."""
        if self.users is not None and user not in self.users:
            return f"The token {self.name} may not speak for {user}."
        if groups and not self.groups:
            return f"The token {self.name} may not pass groups ({', '.join(groups)})."
        return None


def default_name(position: int) -> str:
    """The name of the ``position``-th (0-based) token given without a name: ``default``,
    ``default2``, ``default3`` ..."""
    return "default" if position == 0 else f"default{position + 1}"


def token_names(count: int) -> list[str]:
    """The names of ``count`` tokens given as a list: ``default``, ``default2``, ``default3``..."""
    return [default_name(i) for i in range(count)]


def bearer_tokens(tokens: Iterable[BearerToken | str]) -> list[BearerToken]:
    """Tokens as :class:`BearerToken`; a plain value is named by its position
    (:func:`default_name`), speaks for any user and may pass groups."""
    out: list[BearerToken] = []
    unnamed = 0
    for token in tokens:
        if isinstance(token, str):
            token = BearerToken(default_name(unnamed), token, None, True)
            unnamed += 1
        out.append(token)
    return out


class RateLimit:
    """A token bucket per name: ``rate`` requests a second on average, ``burst`` at once.
    Used from the event loop's thread only."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens left, when counted)

    def take(self, name: str, now: float | None = None) -> float:
        """Take one request from ``name``'s bucket: 0 when it may go, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        left, then = self._buckets.get(name, (self.burst, now))
        left = min(self.burst, left + (now - then) * self.rate)
        if left >= 1.0:
            self._buckets[name] = (left - 1.0, now)
            return 0.0
        self._buckets[name] = (left, now)
        return (1.0 - left) / self.rate


class Guard:
    """ASGI middleware: bearer tokens (401), the per-token rate limit (429) and the
    body-size limit (413)."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: Iterable[BearerToken | str],
        max_body: int,
        public: frozenset[str] = PUBLIC_PATHS,
        *,
        rate: float = 0.0,
        burst: float = 1.0,
    ):
        """``tokens``: named tokens, or plain values (named ``default``, ``default2``... by
        position); ``public``: paths open without a token (one ending in ``/``: every path
        under it); ``rate`` requests a second per token on average, ``burst`` at once
        (``rate`` 0: no limit)."""
        self.app = app
        self.tokens = [(t, t.value.encode()) for t in bearer_tokens(tokens)]
        self.max_body = max_body
        self.public = public
        self.public_under = tuple(p for p in public if p.endswith("/"))
        self.limit = RateLimit(rate, burst)

    def authorized(self, scope: Scope) -> BearerToken | None:
        """The token the request's ``Authorization: Bearer`` header names (None: no valid one)."""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() != b"bearer" or not given:
                    return None
                given = given.strip()
                # Compare against every token, so the time taken says nothing.
                found: BearerToken | None = None
                for token, known in self.tokens:
                    if hmac.compare_digest(given, known) and found is None:
                        found = token
                return found
        return None

    def token_name(self, scope: Scope) -> str | None:
        """The name of the token in the request's ``Authorization: Bearer`` header, or None."""
        token = self.authorized(scope)
        return token.name if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        public = path in self.public or (bool(self.public_under) and path.startswith(self.public_under))
        token = self.authorized(scope)
        if token is not None:
            scope[TOKEN_SCOPE_KEY] = token
        elif not public:
            await send_error(
                send,
                401,
                "A valid bearer token is required.",
                "Send `Authorization: Bearer <token>` with a token from [serve.tokens.<name>] or "
                "OPSPACK_SERVE_TOKENS (a token anywhere else is not read).",
                {"www-authenticate": "Bearer"},
            )
            return
        if token is not None and not public:
            wait = self.limit.take(token.name)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                await send_error(
                    send,
                    429,
                    f"Too many requests with token {token.name}: the limit is {self.limit.rate:g} a second "
                    f"(bursts of {self.limit.burst:g}).",
                    f"Try again in {seconds} s.",
                    {"retry-after": str(seconds)},
                )
                return
        for name_, value in scope.get("headers", ()):
            if name_ == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    await send_error(send, 400, "The Content-Length header is not a number.", None)
                    return
                if size > self.max_body:
                    await send_error(send, 413, *too_large(self.max_body))
                    return
        await self.app(scope, limited(receive, self.max_body), send)


class BodyTooLarge(Exception):
    """The request body went over the limit while it was read."""


def too_large(limit: int) -> tuple[str, str]:
    """The message and hint of a 413."""
    return (f"The request body is over the limit of {limit} bytes.", "Send a smaller request.")


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once the body is over ``limit`` bytes."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
        return message

    return wrapped


# -- JSON within limits ----------------------------------------------------------------
class BadJson(ValueError):
    """A request's JSON cannot be read, or nests deeper than allowed; the message says which."""


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: objects count as arrays: only how deep they nest matters here (mixed-up pairs are not JSON anyway)
_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")
_OPENS = re.compile(rb"\[+")
_CLOSES = re.compile(rb"\]+")
#: runs of opening brackets measured one by one at most (else a pass takes the innermost pairs away)
_MEASURED_RUNS = 50_000


def nested_deeper(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects more than ``limit`` deep.

    Cheap whatever the input, and without recursion: only the brackets outside strings are
    kept, then measured run by run with C iterators (the depth after each run of opening
    brackets). While there are too many runs for that (a long flat list), a pass takes away
    the innermost pairs first (one level each, at least half the runs). Brackets that
    cannot pair up are not JSON: :class:`BadJson`."""
    if raw.count(b"[") + raw.count(b"{") <= limit:  # nothing can nest deeper than it opens
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(_AS_ARRAYS, _NOT_BRACKET)
    while brackets.count(b"[]") > _MEASURED_RUNS:
        fewer = brackets.replace(b"[]", b"")  # one level: what a removal joins is not looked at again
        brackets, limit = fewer, limit - 1
        if limit < 0:
            return True
    if not brackets:
        return False
    if brackets[0] != ord("[") or b"[]" not in brackets:
        raise BadJson("The body is not JSON: its brackets do not pair up.")
    opened = itertools.accumulate(map(len, _OPENS.findall(brackets)))
    closed = itertools.chain((0,), itertools.accumulate(map(len, _CLOSES.findall(brackets))))
    deepest: int = max(map(operator.sub, opened, closed))
    return deepest > limit


def read_json(raw: bytes, max_depth: int = DEFAULT_JSON_DEPTH) -> Any:
    """A request body's JSON, nested at most ``max_depth`` deep; :class:`BadJson` otherwise
    (never a ``RecursionError``)."""
    if nested_deeper(raw, max_depth):
        raise BadJson(f"The JSON nests deeper than {max_depth} levels.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadJson(f"The body is not JSON: {exc}.") from None


# -- answers -----------------------------------------------------------------------------
def failure_body(message: str, hint: str | None, kind: str = "usage") -> dict[str, Any]:
    """The result object of a request the front-end answers itself."""
    return {"ok": False, "command": None, "results": [], "error": {"kind": kind, "message": message, "hint": hint}}


def error_bytes(status: int, message: str, hint: str | None, headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 answer (closing the connection) with a result object, for a protocol
    that answers before any application sees the request."""
    from http import HTTPStatus

    body = json.dumps(failure_body(message, hint, KINDS.get(status, "usage"))).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def send_error(
    send: Send, status: int, message: str, hint: str | None, headers: dict[str, str] | None = None
) -> None:
    """Answer ``status`` with a result object (kind from :data:`KINDS`, else ``usage``)."""
    body = json.dumps(failure_body(message, hint, KINDS.get(status, "usage"))).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "DEFAULT_JSON_DEPTH",
    "KINDS",
    "PUBLIC_PATHS",
    "TEAMS_TOKEN_NAME",
    "TOKEN_SCOPE_KEY",
    "BadJson",
    "BearerToken",
    "BodyTooLarge",
    "Guard",
    "RateLimit",
    "bearer_tokens",
    "default_name",
    "error_bytes",
    "failure_body",
    "limited",
    "nested_deeper",
    "read_json",
    "send_error",
    "token_names",
    "too_large",
]
