"""Teams outgoing webhook on `opspack serve`: HMAC-signed activities in, Adaptive Cards out.

The activity shape follows
https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook
and the cards are checked with the `adaptivecards` npm parser (opspack_testkit.cards).
A long command answers "Started job N" at once; a real `opspack serve` posts its result to
the channel's incoming webhook (a loopback fake that records what Teams would show).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from frontend_helpers import Runner
from opspack.frontends.serve import build_app
from opspack.frontends.teams import sign
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import need
from opspack_testkit.fakes.http import FakeHTTPServer, Request, Response
from starlette.testclient import TestClient

SECRET = base64.b64encode(b"teams-shared-secret-0123456789ab").decode()


@pytest.fixture
def client(registry: Registry) -> Iterator[TestClient]:
    environ = {
        "OPSPACK_SERVE_TOKENS": "bearer-token",
        "OPSPACK_TEAMS_SECRET": "env:TEAMS_SECRET",
        "TEAMS_SECRET": SECRET,
        "OPSPACK_JOBS_ASYNC_GRACE_S": "0",  # long commands start as jobs at once: what is tested
    }
    config = Config(data={}, path=None, environ=environ)
    runtime = Runtime(registry, config=config)
    with TestClient(build_app(runtime, config=config)) as c:
        yield c
    runtime.close()


def activity(text: str, user: str = "29:1abc") -> bytes:
    return json.dumps(
        {
            "type": "message",
            "id": "1485983408511",
            "timestamp": "2017-02-01T21:10:07.437Z",
            "serviceUrl": "https://smba.trafficmanager.net/amer/",
            "channelId": "msteams",
            "from": {"id": user, "name": "Al", "aadObjectId": f"aad-{user}"},
            "conversation": {"id": "19:253b1f341670408fb6fcb491d7b3ea7e@thread.skype;messageid=1485983194839"},
            "text": f"<at>opspack</at>&nbsp;{text}",
            "entities": [
                {"type": "mention", "mentioned": {"id": "28:bot", "name": "opspack"}, "text": "<at>opspack</at>"}
            ],
        }
    ).encode()


def post(client: TestClient, body: bytes, signature: str | None = None) -> Any:
    return client.post(
        "/teams/messages",
        content=body,
        headers={"Authorization": signature or sign(body, SECRET), "Content-Type": "application/json"},
    )


def cards(answer: dict[str, Any]) -> list[dict[str, Any]]:
    assert answer["type"] == "message"
    return [
        a["content"] for a in answer["attachments"] if a["contentType"] == "application/vnd.microsoft.card.adaptive"
    ]


def validate(found: list[dict[str, Any]]) -> None:
    need(shutil.which("node") is not None and shutil.which("npm") is not None, "Node.js and npm are not installed")
    from opspack_testkit.cards import validate_adaptive_cards

    assert validate_adaptive_cards(found) == [[] for _ in found]


def test_signature_is_required(client: TestClient) -> None:
    body = activity("echo hi")
    assert post(client, body, signature="HMAC bm9wZQ==").status_code == 401
    assert client.post("/teams/messages", content=body).status_code == 401
    # The bearer tokens of the runner are not what Teams sends, and not needed here.
    assert post(client, body).status_code == 200


def test_a_signed_activity_nested_too_deep_is_400_not_500(client: TestClient) -> None:
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"type": "message", "text": ' + b"[" * 5000 + b"1" + b"]" * 5000 + b"}",
    ):
        r = post(client, body)
        assert r.status_code == 400 and r.json()["error"]["kind"] == "usage", r.text
        assert "deeper than 32" in r.json()["error"]["message"]


def test_server_test_answers_with_an_adaptive_card(client: TestClient, open_port: int) -> None:
    # server test may run 120 s: a long command, it answers with its job; `job N` shows the result
    started = json.dumps(cards(post(client, activity(f"server test 127.0.0.1 --ports {open_port}")).json()))
    job = re.search(r"Started job (\d+)", started)
    assert job, started
    found = cards(post(client, activity(f"job {job.group(1)}")).json())
    assert found and f"127.0.0.1:{open_port}" in json.dumps(found)
    validate(found)


def test_destructive_command_through_its_confirmation(client: TestClient) -> None:
    asked = cards(post(client, activity("disk wipe sdt")).json())
    validate(asked)
    token = re.search(r"confirm ([A-Za-z0-9_-]{20,})", json.dumps(asked))
    assert token
    other = json.dumps(cards(post(client, activity(f"confirm {token.group(1)}", user="29:2xyz")).json()))
    assert "another user" in other
    done = json.dumps(cards(post(client, activity(f"confirm {token.group(1)}")).json()))
    assert "sdt wiped" in done


def test_a_long_command_without_an_incoming_webhook_says_how_to_follow_it(client: TestClient) -> None:
    started = cards(post(client, activity("echo steps --count 2 --pause 0")).json())
    validate(started)
    text = json.dumps(started)
    found = re.search(r"Started job (\d+): `echo steps --count 2 --pause 0`", text)
    assert found, text
    job = found.group(1)
    assert f"follow it with `job {job}`" in text
    shown = json.dumps(cards(post(client, activity(f"job {job}")).json()))
    assert "succeeded" in shown and "2 steps done" in shown


class IncomingWebhook:
    """A channel's incoming webhook on loopback: what was posted to it; it can fail first."""

    PATH = "/webhookb2/team@tenant/IncomingWebhook/abc/def"

    def __init__(self) -> None:
        self.server = FakeHTTPServer()
        self.posted: list[dict[str, Any]] = []
        self.fail_next = 0
        self.changed = threading.Condition()

        @self.server.route("POST", re.escape(self.PATH))
        def receive(req: Request) -> Response:
            with self.changed:
                if self.fail_next:
                    self.fail_next -= 1
                    return Response.text("Service Unavailable", 503)
                self.posted.append(req.json())
                self.changed.notify_all()
            return Response.text("1")  # what a Teams connector answers

    @property
    def url(self) -> str:
        return self.server.url + self.PATH

    def wait_for(self, count: int, seconds: float = 30) -> list[dict[str, Any]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.posted) >= count, seconds), self.posted
            return list(self.posted)


@pytest.fixture(scope="module")
def webhook() -> Iterator[IncomingWebhook]:
    hook = IncomingWebhook()
    with hook.server:
        yield hook


@pytest.fixture(scope="module")
def teams_runner(
    registry_file: Path, webhook: IncomingWebhook, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runner]:
    """A real `opspack serve` with the Teams route and the channel's incoming webhook (a reference)."""
    from conftest import start_runner

    with start_runner(
        registry_file,
        tmp_path_factory.mktemp("teams-runner"),
        OPSPACK_TEAMS_SECRET=SECRET,
        OPSPACK_TEAMS_INCOMING_WEBHOOK="env:TEAMS_HOOK",
        TEAMS_HOOK=webhook.url,
        OPSPACK_JOBS_ASYNC_GRACE_S="0",
    ) as runner:
        yield runner


def send(runner: Runner, text: str) -> list[dict[str, Any]]:
    body = activity(text)
    headers = {"Authorization": sign(body, SECRET), "Content-Type": "application/json"}
    answer = httpx.post(f"{runner.url}/teams/messages", content=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return cards(answer.json())


def test_a_long_command_answers_at_once_and_posts_its_result_to_the_incoming_webhook(
    teams_runner: Runner, webhook: IncomingWebhook
) -> None:
    before = len(webhook.posted)
    started = send(teams_runner, "echo steps --count 3 --pause 0.3")
    validate(started)
    text = json.dumps(started)
    found = re.search(r"Started job (\d+): `echo steps --count 3 --pause 0.3`", text)
    assert found and "post the result here" in text, text
    posted = webhook.wait_for(before + 1)[before:]
    assert len(posted) == 1
    result = cards(posted[0])
    validate(result)
    assert "3 steps done" in json.dumps(result)
    assert all(len(json.dumps(p, ensure_ascii=False).encode()) < 24_000 for p in posted)


def test_a_quick_command_answers_in_the_request_and_posts_nothing(
    teams_runner: Runner, webhook: IncomingWebhook
) -> None:
    before = len(webhook.posted)
    answer = json.dumps(send(teams_runner, "echo quick --times 2"))
    assert "quick quick" in answer and "Started job" not in answer
    time.sleep(0.5)
    assert len(webhook.posted) == before


def test_the_incoming_webhook_is_tried_again_after_a_server_error(
    teams_runner: Runner, webhook: IncomingWebhook
) -> None:
    before = len(webhook.posted)
    requests = len(webhook.server.requests)
    webhook.fail_next = 1
    assert "Started job" in json.dumps(send(teams_runner, "echo steps --count 1 --pause 0"))
    posted = webhook.wait_for(before + 1)[before:]
    assert "1 steps done" in json.dumps(posted)
    assert len(webhook.server.requests) - requests == 2  # a 503, then taken


def test_new_commands_are_announced_through_the_incoming_webhook(webhook: IncomingWebhook, registry: Registry) -> None:
    """[serve] announce_channel: after a reload that added commands, the runner posts them."""
    from opspack.registry import RegistryChange

    teams = {"incoming_webhook": webhook.url}
    config = Config(data={"serve": {"announce_channel": "#ops"}, "teams": teams}, path=None, environ={})
    runtime = Runtime(registry, config=config, audit=None)
    try:
        build_app(runtime, config=config)
        older = Registry(packs=registry.packs, commands=[c for c in registry if c["pack"]["name"] != "server"])
        change = RegistryChange.between(older, registry, "SIGHUP")
        assert change.added
        before = len(webhook.posted)
        for listener in runtime.reload_listeners:
            listener(change)
        # (other tests' long jobs may post to the same webhook meanwhile)
        deadline = time.monotonic() + 30
        while "server test" not in json.dumps(
            ours := [a for a in webhook.posted[before:] if "What's new" in json.dumps(a)]
        ):
            assert time.monotonic() < deadline, webhook.posted[before:]
            time.sleep(0.05)
        assert any("New commands" in json.dumps(a) for a in webhook.posted[before:])
        validate([card for activity in ours for card in cards(activity)])
    finally:
        runtime.close()
