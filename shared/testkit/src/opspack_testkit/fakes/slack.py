"""A fake Slack (the Web API calls a bot makes, and response URLs) on loopback.

The real slack_sdk ``WebClient`` (``base_url=fake.url + "/api/"``) and Bolt's ``respond``
(to ``fake.url + "/respond/<id>"``) make real HTTP calls to it; it records what the app
posts. Payloads follow Slack's documentation:

- ``auth.test``: https://api.slack.com/methods/auth.test
- ``chat.postMessage`` (JSON or form body): https://api.slack.com/methods/chat.postMessage
- response URLs: https://api.slack.com/interactivity/handling#message_responses
- ``files_upload_v2``: ``files.getUploadURLExternal``, the upload itself, then
  ``files.completeUploadExternal`` (https://api.slack.com/messaging/files#uploading_files)

::

    with FakeSlack() as slack:
        WebClient(token="xoxb-test", base_url=slack.url + "/api/").chat_postMessage(channel="C1", text="hi")
        slack.wait(1)   # [{"via": "chat.postMessage", "channel": "C1", "text": "hi"}]
"""

from __future__ import annotations

import threading
import time
from typing import Any

from opspack_testkit.fakes.http import FakeHTTPServer, FakeService, Request, Response

__all__ = ["FakeSlack"]


def _flat(data: Any) -> dict[str, Any]:
    """A form's one-value lists as plain values."""
    if isinstance(data, dict):
        return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in data.items()}
    return {}


class FakeSlack(FakeService):
    """Slack's Web API and response URLs: records what the app posts (``posted``, ``files``)."""

    def __init__(self) -> None:
        self.server = FakeHTTPServer()
        #: every message posted, in order: ``{"via": <API method or "respond">, **its fields}``
        self.posted: list[dict[str, Any]] = []
        #: the bytes of every file uploaded
        self.files: list[bytes] = []
        self.lock = threading.Condition()
        s = self.server

        @s.route("POST", r"/api/auth\.test")
        def auth_test(req: Request) -> Response:
            return Response.json(
                {"ok": True, "team": "T", "user": "opspack", "team_id": "T1", "user_id": "UBOT", "bot_id": "B1"}
            )

        @s.route("POST", r"/api/chat\.postMessage")
        def post_message(req: Request) -> Response:
            ctype = req.headers.get("content-type", "")
            data = req.json() if ctype.startswith("application/json") else req.form()
            self._record({"via": "chat.postMessage", **_flat(data)})
            return Response.json({"ok": True, "channel": "C1", "ts": "2.1"})

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

    def _record(self, item: dict[str, Any]) -> None:
        with self.lock:
            self.posted.append(item)
            self.lock.notify_all()

    def wait(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until ``count`` posts arrived (Bolt runs listeners after ack, in threads)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.posted) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"only {len(self.posted)} of {count} posts arrived: {self.posted}")
                self.lock.wait(left)
            return list(self.posted)
