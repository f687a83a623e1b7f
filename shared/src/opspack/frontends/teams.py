"""Microsoft Teams outgoing webhook: ``POST /teams/messages`` on ``opspack serve``.

Teams posts an activity (``{"type": "message", "text": "<at>opspack</at> vm list", "from": ...}``)
signed with the webhook's security token: ``Authorization: HMAC <base64 HMAC-SHA256 of the
body, keyed with the base64-decoded token>``
(https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook).
The answer is one message activity whose attachments are the Adaptive Cards of the
shared Teams renderer (schema 1.5). Outgoing webhooks cannot receive card button
clicks, so a destructive command is confirmed by typing ``confirm <token>``, as the
card's hint says.

The route is on only when a secret is set: ``OPSPACK_TEAMS_SECRET`` or ``secret`` in the
``[teams]`` table of opspack.toml (an ``env:``, ``file:`` or ``vault:`` reference allowed).
It is exempt from the runner's bearer tokens; the HMAC signature is its authentication.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opspack.context import Caller
from opspack.frontends.guard import BodyTooLarge, failure_body
from opspack.settings import Config, resolve_reference

if TYPE_CHECKING:
    from opspack.frontends.gateway import Gateway
    from opspack.results import Reply

TEAMS_PATH = "/teams/messages"
_MENTION = re.compile(r"<at>.*?</at>", re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass
class TeamsSettings:
    secret: str | None = None

    @classmethod
    def load(cls, config: Config) -> TeamsSettings:
        raw = config.environ.get("OPSPACK_TEAMS_SECRET") or config.table("teams").get("secret")
        if not raw:
            return cls()
        value, _ = resolve_reference(str(raw), config.environ)
        return cls(secret=value or None)


def sign(body: bytes, secret: str) -> str:
    """The ``Authorization`` header value Teams sends for ``body``."""
    digest = hmac.new(base64.b64decode(secret), body, hashlib.sha256).digest()
    return "HMAC " + base64.b64encode(digest).decode("ascii")


def verify(body: bytes, header: str | None, secret: str) -> bool:
    if not header or not header.startswith("HMAC "):
        return False
    try:
        expected = sign(body, secret)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(header.strip().encode(), expected.encode())


def chat_text(activity: dict[str, Any]) -> str:
    """The command text of a Teams message: mentions and markup removed."""
    text = str(activity.get("text") or "")
    text = _MENTION.sub(" ", text)
    text = _TAG.sub(" ", text.replace("<br>", "\n"))
    return " ".join(html.unescape(text).replace("\xa0", " ").split())


def caller_of(activity: dict[str, Any]) -> Caller:
    sender = activity.get("from") or {}
    conversation = activity.get("conversation") or {}
    user = sender.get("aadObjectId") or sender.get("id") or sender.get("name") or "teams-user"
    return Caller(user=str(user), channel=conversation.get("id"), frontend="teams", format="teams")


def reply_activity(reply: Reply) -> dict[str, Any]:
    """One message activity holding every Adaptive Card the Teams renderer made."""
    from opspack.renderers import render

    messages = render(reply, "teams")
    attachments = [a for m in messages for a in m.get("attachments", [])]
    return {"type": "message", "attachments": attachments}


def teams_routes(gateway: Gateway, settings: TeamsSettings) -> list[Any]:
    """Starlette routes for the outgoing webhook (the caller checks ``settings.secret``)."""
    import anyio
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    secret = settings.secret or ""
    gateway.runtime.masker.add(secret)

    async def messages(request: Request) -> Response:
        try:
            body = await request.body()
        except BodyTooLarge:
            return JSONResponse(failure_body("The request body is too large.", None), status_code=413)
        if not verify(body, request.headers.get("authorization"), secret):
            return JSONResponse(
                failure_body("The HMAC signature is missing or wrong.", None, "denied"), status_code=401
            )
        try:
            activity = json.loads(body)
        except ValueError:
            return JSONResponse(failure_body("The body is not JSON.", None), status_code=400)
        if not isinstance(activity, dict):
            return JSONResponse(failure_body("The body must be an activity object.", None), status_code=400)
        text = chat_text(activity)
        caller = caller_of(activity)
        reply = await anyio.to_thread.run_sync(gateway.chat, text or "help", caller)
        return JSONResponse(reply_activity(reply))

    return [Route(TEAMS_PATH, messages, methods=["POST"])]


__all__ = ["TEAMS_PATH", "TeamsSettings", "caller_of", "chat_text", "reply_activity", "sign", "teams_routes", "verify"]
