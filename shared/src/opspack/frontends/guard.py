"""The HTTP front-ends' guard: bearer tokens (401), the body-size limit (413), and the
result-object shape of a request's own errors. Shared by :mod:`opspack.frontends.serve`
and :mod:`opspack.frontends.teams`."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

PUBLIC_PATHS = frozenset({"/healthz"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Guard:
    """ASGI middleware: bearer tokens (401) and the body-size limit (413)."""

    def __init__(self, app: ASGIApp, tokens: list[str], max_body: int, public: frozenset[str] = PUBLIC_PATHS):
        self.app = app
        self.tokens = [t.encode() for t in tokens]
        self.max_body = max_body
        self.public = public

    def authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() != b"bearer" or not token:
                    return False
                token = token.strip()
                # Compare against every token, so the time taken says nothing.
                found = False
                for known in self.tokens:
                    found |= hmac.compare_digest(token, known)
                return found
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path not in self.public and not self.authorized(scope):
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


__all__ = ["PUBLIC_PATHS", "BodyTooLarge", "Guard", "failure_body", "limited", "send_error", "too_large"]
