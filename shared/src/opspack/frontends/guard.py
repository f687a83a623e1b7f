"""The HTTP front-ends' guard: bearer tokens (401), the body-size limit (413), and the
result-object shape of a request's own errors. Shared by :mod:`opspack.frontends.serve`
and :mod:`opspack.frontends.teams`.

Each bearer token has a name (:class:`BearerToken`); the guard puts the token a request
came with in the request's scope under :data:`TOKEN_SCOPE_KEY`, so the runner checks whom
it may speak for and the audit trail names it."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PUBLIC_PATHS = frozenset({"/healthz"})
#: where the guard leaves the :class:`BearerToken` of an authorized request in its ASGI scope
TOKEN_SCOPE_KEY = "opspack.token"  # noqa: S105 - a key, not a secret
#: the token name the audit trail gives calls from the Teams outgoing webhook (its HMAC
#: secret authenticates them, not a bearer token); no bearer token may take it
TEAMS_TOKEN_NAME = "teams"  # noqa: S105 - a name, not a secret


@dataclass(frozen=True)
class BearerToken:
    """A bearer token the runner accepts: its ``name`` (what the audit trail records), its
    ``value``, the chat ``users`` it may speak for (None: any, ``"*"``) and whether it may
    pass ``groups`` (group names the policy maps to roles)."""

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


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Guard:
    """ASGI middleware: bearer tokens (401) and the body-size limit (413)."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: Iterable[BearerToken | str],
        max_body: int,
        public: frozenset[str] = PUBLIC_PATHS,
    ):
        self.app = app
        self.tokens = [(t, t.value.encode()) for t in bearer_tokens(tokens)]
        self.max_body = max_body
        self.public = public

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
                    if hmac.compare_digest(given, known):
                        found = token
                return found
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        token = self.authorized(scope)
        if token is not None:
            scope[TOKEN_SCOPE_KEY] = token
        elif path not in self.public:
            await send_error(
                send,
                401,
                "A valid bearer token is required.",
                "Send `Authorization: Bearer <token>` with a token from OPSPACK_SERVE_TOKENS.",
                {"www-authenticate": "Bearer"},
            )
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
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
    return (f"The request body is over the limit of {limit} bytes.", "Send a smaller request.")


def limited(receive: Receive, limit: int) -> Receive:
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


def failure_body(message: str, hint: str | None, kind: str = "usage") -> dict[str, Any]:
    return {"ok": False, "command": None, "results": [], "error": {"kind": kind, "message": message, "hint": hint}}


async def send_error(
    send: Send, status: int, message: str, hint: str | None, headers: dict[str, str] | None = None
) -> None:
    kind = {401: "denied", 413: "usage"}.get(status, "usage")
    body = json.dumps(failure_body(message, hint, kind)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "PUBLIC_PATHS",
    "TEAMS_TOKEN_NAME",
    "TOKEN_SCOPE_KEY",
    "BearerToken",
    "BodyTooLarge",
    "Guard",
    "bearer_tokens",
    "default_name",
    "failure_body",
    "limited",
    "send_error",
    "too_large",
]
