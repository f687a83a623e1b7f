"""A fake Slack (the Web API calls a bot makes, and response URLs) on loopback.

The real slack_sdk ``WebClient`` (``base_url=fake.url + "/api/"``) and Bolt's ``respond``
(to ``fake.url + "/respond/<id>"``) make real HTTP calls to it; it records what the app
posts and keeps the messages, so a message can be updated and replied to in its thread.
Payloads follow Slack's documentation:

- ``auth.test``: https://api.slack.com/methods/auth.test
- ``chat.postMessage`` (JSON or form body): https://api.slack.com/methods/chat.postMessage.
  The answer names the channel and the new message's ``ts`` (its id), with the message.
  ``thread_ts``: "Provide another message's ts value to make this message a reply"; a reply
  is kept in its parent's ``replies`` (https://api.slack.com/messaging/managing#threading).
  An app may post only in channels it is in: elsewhere ``{"ok": false, "error": "not_in_channel"}``
  (HTTP 200, as every Web API error).
- ``chat.update``: https://api.slack.com/methods/chat.update. ``channel`` and ``ts`` name the
  message; text and blocks replace its own; the answer is ``{"ok", "channel", "ts", "text",
  "message"}``; an unknown ``ts`` is ``message_not_found``, a message the app did not post
  ``cant_update_message``, a channel it is not in ``channel_not_found``.
- response URLs: https://api.slack.com/interactivity/handling#message_responses
- ``files_upload_v2``: ``files.getUploadURLExternal``, the upload itself, then
  ``files.completeUploadExternal`` (https://api.slack.com/messaging/files#uploading_files)

::

    with FakeSlack() as slack:
        WebClient(token="xoxb-test", base_url=slack.url + "/api/").chat_postMessage(channel="C1", text="hi")
        slack.wait(1)   # [{"via": "chat.postMessage", "channel": "C1", "text": "hi", "ts": "1700000000.000001"}]
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from opspack_testkit.fakes.http import FakeHTTPServer, FakeService, Request, Response

__all__ = ["FakeSlack"]


def _flat(data: Any) -> dict[str, Any]:
    """A form's one-value lists as plain values."""
    if isinstance(data, dict):
        return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in data.items()}
    return {}


def _body(req: Request) -> dict[str, Any]:
    """A Web API call's arguments: a JSON body, or a form (where ``blocks`` is JSON text)."""
    if req.headers.get("content-type", "").startswith("application/json"):
        data = req.json()
        return data if isinstance(data, dict) else {}
    data = _flat(req.form())
    if isinstance(data.get("blocks"), str):
        data["blocks"] = json.loads(data["blocks"])
    return data


def _error(code: str) -> Response:
    """A Web API error: HTTP 200 with ``ok`` false (https://api.slack.com/web#evaluating_responses)."""
    return Response.json({"ok": False, "error": code})


class FakeSlack(FakeService):
    """Slack's Web API and response URLs: records what the app posts (``posted``, ``files``)."""

    def __init__(self, channels: Iterable[str] = ("C1",)) -> None:
        """``channels``: the channels the app is a member of (it may post only there)."""
        self.server = FakeHTTPServer()
        self.channels = set(channels)
        #: every message posted or updated, in order: ``{"via": <API method or "respond">, **its
        #: fields}``; a message posted or updated through the Web API also carries its ``ts``
        self.posted: list[dict[str, Any]] = []
        #: when each item of ``posted`` arrived (``time.monotonic()``)
        self.arrived: list[float] = []
        #: the messages in the channels, by channel and ``ts``: ``{"text", "blocks", "user",
        #: "thread_ts", "replies": [ts, ...], "edited": <count>}``
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}
        #: the bytes of every file uploaded
        self.files: list[bytes] = []
        self.lock = threading.Condition()
        self._clock = 0
        s = self.server

        @s.route("POST", r"/api/auth\.test")
        def auth_test(req: Request) -> Response:
            return Response.json(
                {"ok": True, "team": "T", "user": "opspack", "team_id": "T1", "user_id": "UBOT", "bot_id": "B1"}
            )

        @s.route("POST", r"/api/chat\.postMessage")
        def post_message(req: Request) -> Response:
            data = _body(req)
            channel = str(data.get("channel") or "")
            if not channel:
                return _error("channel_not_found")
            if channel not in self.channels:
                return _error("not_in_channel")
            if not data.get("text") and not data.get("blocks"):
                return _error("no_text")
            with self.lock:
                ts = self._ts()
                parent = data.get("thread_ts")
                kept = self.messages.setdefault(channel, {})
                if parent and parent in kept:
                    kept[parent]["replies"].append(ts)
                kept[ts] = {
                    "text": data.get("text"),
                    "blocks": data.get("blocks"),
                    "user": "UBOT",
                    "thread_ts": parent,
                    "replies": [],
                    "edited": 0,
                }
                self._record({"via": "chat.postMessage", **data, "ts": ts})
            message = {"type": "message", "subtype": "bot_message", "bot_id": "B1", "text": data.get("text"), "ts": ts}
            if parent:
                message["thread_ts"] = parent
            return Response.json({"ok": True, "channel": channel, "ts": ts, "message": message})

        @s.route("POST", r"/api/chat\.update")
        def update(req: Request) -> Response:
            data = _body(req)
            channel, ts = str(data.get("channel") or ""), str(data.get("ts") or "")
            if channel not in self.channels:
                return _error("channel_not_found")
            if not data.get("text") and "blocks" not in data:
                return _error("no_text")
            with self.lock:
                message = self.messages.get(channel, {}).get(ts)
                if message is None:
                    return _error("message_not_found")
                if message["user"] != "UBOT":
                    return _error("cant_update_message")
                if data.get("text"):
                    message["text"] = data["text"]
                    if "blocks" not in data:
                        message["blocks"] = None  # text without blocks removes the old blocks
                if "blocks" in data:
                    message["blocks"] = data["blocks"]
                message["edited"] += 1
                self._record({"via": "chat.update", **data})
                text = message["text"]
            return Response.json(
                {"ok": True, "channel": channel, "ts": ts, "text": text, "message": {"text": text, "user": "UBOT"}}
            )

        @s.route("POST", r"/respond/\w+")
        def respond(req: Request) -> Response:
            self._record({"via": "respond", **req.json()})
            return Response.text("ok")

        @s.route("POST", r"/api/files\.getUploadURLExternal")
        def upload_url(req: Request) -> Response:
            return Response.json({"ok": True, "upload_url": self.server.url + "/upload/F1", "file_id": "F1"})

        @s.route("POST", r"/upload/F1")
        def upload(req: Request) -> Response:
            self.files.append(req.body)
            return Response.text("OK - 1")

        @s.route("POST", r"/api/files\.completeUploadExternal")
        def complete(req: Request) -> Response:
            self._record({"via": "files.completeUploadExternal", **_flat(req.form() or {})})
            return Response.json({"ok": True, "files": [{"id": "F1", "title": "pixel.png"}]})

    def _ts(self) -> str:
        """A new message's ``ts``: epoch seconds and a counter, unique and rising."""
        self._clock += 1
        return f"{int(time.time())}.{self._clock:06d}"

    def _record(self, item: dict[str, Any]) -> None:
        with self.lock:
            self.posted.append(item)
            self.arrived.append(time.monotonic())
            self.lock.notify_all()

    def post(self, channel: str, text: str, user: str = "U1") -> str:
        """A message someone else (``user``) posted in ``channel``; its ``ts``."""
        with self.lock:
            ts = self._ts()
            self.messages.setdefault(channel, {})[ts] = {
                "text": text,
                "blocks": None,
                "user": user,
                "thread_ts": None,
                "replies": [],
                "edited": 0,
            }
            return ts

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The replies posted in the thread of message ``ts``, in order."""
        with self.lock:
            kept = self.messages.get(channel, {})
            return [dict(kept[r], ts=r) for r in kept.get(ts, {}).get("replies", [])]

    def wait(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until ``count`` posts arrived (Bolt runs listeners after ack, in threads)."""
        return self.wait_for(lambda posted: len(posted) >= count, timeout, f"{count} posts")

    def wait_for(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0, what: str = "the posts"
    ) -> list[dict[str, Any]]:
        """Wait until ``done(posted)`` is true; then a copy of ``posted``."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not done(list(self.posted)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{what} did not arrive; {len(self.posted)} did: {self.posted}")
                self.lock.wait(left)
            return list(self.posted)
