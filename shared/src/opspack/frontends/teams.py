"""Microsoft Teams outgoing webhook: ``POST /teams/messages`` on ``opspack serve``.

Teams posts an activity (``{"type": "message", "text": "<at>opspack</at> vm list", "from": ...}``)
signed with the webhook's security token: ``Authorization: HMAC <base64 HMAC-SHA256 of the
body, keyed with the base64-decoded token>``
(https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook).
The answer is one message activity whose attachments are the Adaptive Cards of the
shared Teams renderer (schema 1.5), under 24,000 bytes: cards that would not fit it are
left out, and the whole answer (Markdown) is linked from the last card instead. A cut
table's CSV and an image over a card's size are links to the runner's artifacts
(:mod:`opspack.frontends.artifacts`). Outgoing webhooks cannot receive card button
clicks, so a destructive command is confirmed by typing ``confirm <token>``, as the
card's hint says.

The route is on only when a secret is set: ``OPSPACK_TEAMS_SECRET`` or ``secret`` in the
``[teams]`` table of opspack.toml (an ``env:``, ``file:`` or ``vault:`` reference allowed).
It is exempt from the runner's bearer tokens; the HMAC signature is its authentication.

Teams gives an outgoing webhook 5 seconds to answer. A quick command answers within the
request. A long one (:meth:`~opspack.frontends.gateway.Gateway.is_long`: a timeout over
60 s, or declared ``long=True``) answers at once "Started job N"; when the channel's
incoming webhook is configured (``OPSPACK_TEAMS_INCOMING_WEBHOOK`` or ``incoming_webhook``
in ``[teams]``, a secret: a reference allowed, masked everywhere) a thread of the runner
posts the result there when the job ends (each activity the Teams renderer makes, retried
on 5xx, 429 and network failures, failures logged); without one, the first answer says to
follow it with ``job N``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import html
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opspack.context import Caller
from opspack.errors import ConfigError
from opspack.frontends.guard import (
    DEFAULT_JSON_DEPTH,
    TEAMS_TOKEN_NAME,
    BadJson,
    BodyTooLarge,
    failure_body,
    read_json,
)
from opspack.settings import Config, resolve_reference
from opspack.threads import start_thread

if TYPE_CHECKING:
    from opspack.frontends.artifacts import ArtifactStore
    from opspack.frontends.gateway import Gateway
    from opspack.jobs import Job
    from opspack.renderers.common import Linker
    from opspack.results import Reply

log = logging.getLogger("opspack.frontends.teams")

TEAMS_PATH = "/teams/messages"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
#: pauses between the attempts to post to an incoming webhook
RETRY_PAUSES: tuple[float, ...] = (1.0, 4.0, 15.0)
_MENTION = re.compile(r"<at>.*?</at>", re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass
class TeamsSettings:
    """The ``[teams]`` table of opspack.toml (or ``OPSPACK_TEAMS_<NAME>``)."""

    #: the outgoing webhook's security token (base64): the route is on when it is set
    secret: str | None = None
    #: the channel's incoming webhook URL: where the results of long commands are posted
    incoming_webhook: str | None = None

    @classmethod
    def load(cls, config: Config) -> TeamsSettings:
        table = config.table("teams")

        def secret_value(name: str) -> str | None:
            raw = config.environ.get(f"OPSPACK_TEAMS_{name.upper()}") or table.get(name)
            if not raw:
                return None
            value, _ = resolve_reference(str(raw), config.environ)
            return value or None

        hook = secret_value("incoming_webhook")
        if hook is not None and urllib.parse.urlsplit(hook).scheme not in ("https", "http"):
            raise ConfigError(
                "the Teams incoming_webhook is not an http(s) URL",
                "Copy the URL Teams shows for the channel's incoming webhook (https://...).",
            )
        return cls(secret=secret_value("secret"), incoming_webhook=hook)


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
    # no groups: Teams sends no memberships a policy could trust; the webhook's secret is the token
    return Caller(
        user=str(user), channel=conversation.get("id"), frontend="teams", format="teams", token=TEAMS_TOKEN_NAME
    )


def reply_activity(reply: Reply, artifacts: Linker | None = None) -> dict[str, Any]:
    """One message activity (under the Teams renderer's size limit) holding the Adaptive Cards
    of ``reply`` that fit it (a table takes one card); when some do not, the last card says
    so and links the whole answer as Markdown."""
    from opspack.renderers import render
    from opspack.renderers.common import linked, slug
    from opspack.renderers.markdown import render_markdown
    from opspack.renderers.teams import MAX_BYTES, size_of

    messages = render(reply, "teams", max_messages=1, artifacts=artifacts)
    cards = [a for m in messages for a in m.get("attachments", []) if a.get("contentType") == ADAPTIVE_CARD]
    answer: dict[str, Any] = {"type": "message", "attachments": cards}
    if size_of(answer) <= MAX_BYTES:
        return answer
    kept = list(cards)
    total = len(cards)
    url = linked(
        artifacts, slug(reply.command, "answer") + ".md", render_markdown(reply).encode("utf-8"), "text/markdown"
    )
    while kept:
        kept.pop()
        rest = _rest_card(total - len(kept), url)
        answer = {"type": "message", "attachments": [*kept, rest]}
        if size_of(answer) <= MAX_BYTES:
            return answer
    return {"type": "message", "attachments": [_rest_card(total, url)]}


def _rest_card(left_out: int, url: str | None) -> dict[str, Any]:
    """The card that ends an answer too large for one message: how much is missing, and the link."""
    text = f"{left_out} more card(s) of this answer do not fit one Teams message."
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": True, "isSubtle": True, "color": "Warning"}],
    }
    if url is not None:
        card["body"].append(
            {"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": "The whole answer", "url": url}]}
        )
    else:
        card["body"][0]["text"] = text + " Ask `job <id>` through the runner, or use --format json."
    return {"contentType": ADAPTIVE_CARD, "content": card}


def started_reply(job: Job, *, posting: bool) -> Reply:
    """The first answer to a long command: its job started, and where its result will show."""
    from opspack.results import Progress, Reply, Text

    what = f"Started job {job.id}: `{job.text or job.command}`."
    if posting:
        follow = "It runs in the background; I'll post the result here when it ends."
    else:
        follow = f"It runs in the background; follow it with `job {job.id}`, stop it with `job cancel {job.id}`."
    return Reply(
        ok=True, command=job.command, results=[Text(f"{what} {follow}"), Progress(f"job {job.id} {job.state}")]
    )


def webhook_activities(reply: Reply, artifacts: Linker | None = None) -> list[dict[str, Any]]:
    """What an incoming webhook receives for ``reply``: each message activity the Teams renderer
    makes (each under its size limit), holding its Adaptive Cards (what they cannot carry is
    linked through ``artifacts``)."""
    from opspack.renderers import render

    out = []
    for message in render(reply, "teams", artifacts=artifacts):
        cards = [a for a in message.get("attachments", []) if a.get("contentType") == ADAPTIVE_CARD]
        if cards:
            out.append({"type": "message", "attachments": cards})
    return out


class IncomingWebhook:
    """Posts the results of long commands to a channel's incoming webhook, each from its own
    thread once the job ends; never raises (a failure is logged)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, pauses: tuple[float, ...] = RETRY_PAUSES) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.pauses = pauses

    def follow(self, gateway: Gateway, job: Job, caller: Caller, artifacts: Linker | None = None) -> threading.Thread:
        """Wait for ``job`` in a background thread, then post its reply (``artifacts`` links
        what its cards cannot carry)."""
        return start_thread(self._deliver, gateway, job, caller, artifacts, name=f"opspack-teams-job-{job.id}")

    def _deliver(self, gateway: Gateway, job: Job, caller: Caller, artifacts: Linker | None = None) -> None:
        try:
            reply = gateway.wait(job, caller)
            activities = webhook_activities(reply, artifacts)
        except Exception:
            log.exception("the result of job %s could not be made for the Teams incoming webhook", job.id)
            return
        for number, activity in enumerate(activities, 1):
            if not self.post(activity):
                log.error(
                    "the Teams incoming webhook did not take the result of job %s (message %d of %d); "
                    "`job %s` shows it",
                    job.id,
                    number,
                    len(activities),
                    job.id,
                )
                return

    def post(self, activity: dict[str, Any]) -> bool:
        """POST one activity; retried on 5xx, 429 and network failures. Whether it was taken."""
        body = json.dumps(activity, ensure_ascii=False).encode("utf-8")
        for attempt in range(len(self.pauses) + 1):
            request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked when loaded
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                    answer.read()
                return True
            except urllib.error.HTTPError as exc:
                retry = exc.code >= 500 or exc.code == 429
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out
                retry = True
                problem = type(getattr(exc, "reason", exc)).__name__
            if not retry or attempt == len(self.pauses):
                log.warning("the Teams incoming webhook answered %s; giving up", problem)
                return False
            log.info("the Teams incoming webhook answered %s; trying again in %g s", problem, self.pauses[attempt])
            time.sleep(self.pauses[attempt])
        return False


def teams_routes(
    gateway: Gateway,
    settings: TeamsSettings,
    *,
    max_json_depth: int = DEFAULT_JSON_DEPTH,
    artifacts: ArtifactStore | None = None,
) -> list[Any]:
    """Starlette routes for the outgoing webhook (the caller checks ``settings.secret``);
    an activity's JSON nests at most ``max_json_depth`` deep; ``artifacts`` stores and links
    what cards cannot carry."""
    import anyio
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from opspack.jobs import Job

    secret = settings.secret or ""
    gateway.runtime.masker.add(secret)
    webhook = IncomingWebhook(settings.incoming_webhook) if settings.incoming_webhook else None
    if webhook is not None:
        gateway.runtime.masker.add(webhook.url)

    async def messages(request: Request) -> Response:
        try:
            body = await request.body()
        except BodyTooLarge:
            return JSONResponse(failure_body("The request body is too large.", None), status_code=413)
        except ClientDisconnect:  # gone, or too slow (the listener answered 408): nobody reads this
            return JSONResponse(failure_body("The request's body did not arrive.", None, "timeout"), status_code=408)
        if not verify(body, request.headers.get("authorization"), secret):
            return JSONResponse(
                failure_body("The HMAC signature is missing or wrong.", None, "denied"), status_code=401
            )
        try:
            activity = read_json(body, max_json_depth)
        except BadJson as exc:
            return JSONResponse(failure_body(str(exc), None), status_code=400)
        if not isinstance(activity, dict):
            return JSONResponse(failure_body("The body must be an activity object.", None), status_code=400)
        text = chat_text(activity)
        caller = caller_of(activity)
        linker = artifacts.linker(str(request.base_url)) if artifacts is not None else None
        started = await anyio.to_thread.run_sync(
            functools.partial(gateway.start_chat, text or "help", caller, only_long=True)
        )
        if not isinstance(started, Job):
            return JSONResponse(reply_activity(started, linker))
        # a long command: answer now, within Teams' 5 seconds; the result follows
        if webhook is not None:
            webhook.follow(gateway, started, caller, linker)
        return JSONResponse(reply_activity(started_reply(started, posting=webhook is not None), linker))

    return [Route(TEAMS_PATH, messages, methods=["POST"])]


__all__ = [
    "TEAMS_PATH",
    "IncomingWebhook",
    "TeamsSettings",
    "caller_of",
    "chat_text",
    "reply_activity",
    "sign",
    "started_reply",
    "teams_routes",
    "verify",
    "webhook_activities",
]
