"""The Slack app: the real Bolt App object fed signed, recorded request payloads.

Slack's Web API and response URLs are the test kit's fake Slack on loopback
(opspack_testkit.fakes.slack), so the app's real WebClient and `respond` make real HTTP
calls the test can read. Payload shapes:
- slash command: https://api.slack.com/interactivity/slash-commands#app_command_handling
- app_mention: https://api.slack.com/events/app_mention
- block_actions: https://api.slack.com/reference/interaction-payloads/block-actions
- files_upload_v2: files.getUploadURLExternal + upload + files.completeUploadExternal
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

import pytest
from opspack.frontends.gateway import Gateway
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.slack import FakeSlack
from opspack_testkit.validate import validate_slack_messages

pytest.importorskip("slack_bolt")

from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def app(registry: Registry, slack: FakeSlack) -> Iterator[App]:
    from opspack.frontends.slack import create_app

    runtime = Runtime(registry, config=Config(data={}, path=None, environ={}))
    client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
    yield create_app(
        Gateway(runtime),
        client=client,
        signing_secret=SECRET,
        token_verification_enabled=False,
    )
    runtime.close()


def dispatch(app: App, body: str, content_type: str) -> Any:
    ts = str(int(time.time()))
    headers: dict[str, str | Sequence[str]] = {
        "content-type": [content_type],
        "x-slack-request-timestamp": [ts],
        "x-slack-signature": [SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)],
    }
    return app.dispatch(BoltRequest(body=body, headers=headers))


def slash(app: App, slack: FakeSlack, text: str, user: str = "U1") -> Any:
    body = urlencode(
        {
            "token": "verification-token",
            "team_id": "T1",
            "team_domain": "example",
            "channel_id": "C1",
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/ops",
            "text": text,
            "api_app_id": "A1",
            "response_url": slack.url + "/respond/1",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )
    return dispatch(app, body, "application/x-www-form-urlencoded")


def click(app: App, slack: FakeSlack, button: dict[str, Any], user: str = "U1") -> Any:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "verification-token",
        "container": {"type": "message", "message_ts": "2.1", "channel_id": "C1", "is_ephemeral": False},
        "trigger_id": "12466734323.1395872398",
        "team": {"id": "T1", "domain": "example"},
        "channel": {"id": "C1", "name": "ops"},
        "response_url": slack.url + "/respond/2",
        "actions": [{**button, "block_id": "b1", "action_ts": "3.1"}],
    }
    return dispatch(app, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def test_slash_command_acks_then_responds(app: App, slack: FakeSlack, open_port: int) -> None:
    response = slash(app, slack, f"server test 127.0.0.1 --ports {open_port}")
    assert response.status == 200  # the ack, before the command ran
    posted = slack.wait(1)
    message = posted[0]
    assert message["via"] == "respond" and message["response_type"] == "in_channel"
    validate_slack_messages([{"text": message["text"], "blocks": message["blocks"]}])
    assert f"127.0.0.1:{open_port}" in json.dumps(message["blocks"])


def test_app_mention_answers_in_the_thread(app: App, slack: FakeSlack) -> None:
    event = {
        "token": "verification-token",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": {
            "type": "app_mention",
            "user": "U1",
            "text": "<@UBOT> echo join a b --sep /",
            "ts": "1515449522.000016",
            "channel": "C1",
            "event_ts": "1515449522000016",
        },
        "type": "event_callback",
        "event_id": "Ev0LAN670R",
        "event_time": 1515449522,
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
    }
    assert dispatch(app, json.dumps(event), "application/json").status == 200
    message = slack.wait(1)[0]
    assert message["via"] == "chat.postMessage" and message["thread_ts"] == "1515449522.000016"
    assert "a/b" in message["text"] + json.dumps(message.get("blocks"))


def test_images_are_uploaded(app: App, slack: FakeSlack) -> None:
    slash(app, slack, "echo pixel")
    posted = slack.wait(2)
    assert any(p["via"] == "files.completeUploadExternal" for p in posted)
    assert slack.files and slack.files[0].startswith(b"\x89PNG")


def test_destructive_command_through_the_confirm_button(app: App, slack: FakeSlack) -> None:
    slash(app, slack, "disk wipe sdx")
    asked = slack.wait(1)[0]
    validate_slack_messages([{"text": asked["text"], "blocks": asked["blocks"]}])
    buttons = [e for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"]]
    confirm = next(b for b in buttons if b["text"]["text"] == "Confirm")
    assert json.loads(confirm["value"])["token"]

    click(app, slack, confirm, user="U2")  # someone else clicks: refused
    refused = slack.wait(2)[1]
    assert "another user" in refused["text"] + json.dumps(refused.get("blocks"))

    click(app, slack, confirm, user="U1")
    done = slack.wait(3)[2]
    assert "sdx wiped" in done["text"] + json.dumps(done.get("blocks"))

    cancel = next(b for b in buttons if b["text"]["text"] == "Cancel")
    click(app, slack, cancel)
    assert slack.wait(4)[3]["text"] == "Cancelled."


def test_menu_buttons_run_their_follow_up_commands(app: App, slack: FakeSlack) -> None:
    slash(app, slack, "echo menu disk7")
    offered = slack.wait(1)[0]
    validate_slack_messages([{"text": offered["text"], "blocks": offered["blocks"]}])
    assert "What next for disk7?" in offered["text"] + json.dumps(offered["blocks"])
    buttons = {e["text"]["text"]: e for b in offered["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert set(buttons) == {"Say disk7 twice", "Wipe disk7"}

    click(app, slack, buttons["Say disk7 twice"])  # the command id and its arguments ride in the value
    said = slack.wait(2)[1]
    assert "disk7 disk7" in said["text"] + json.dumps(said.get("blocks"))

    click(app, slack, buttons["Wipe disk7"])  # a destructive follow-up still asks first
    asked = slack.wait(3)[2]
    confirm = next(
        e for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"] if e["text"]["text"] == "Confirm"
    )
    assert "disk7 wiped" not in asked["text"] + json.dumps(asked.get("blocks"))
    click(app, slack, confirm)
    assert "disk7 wiped" in json.dumps(slack.wait(4)[3])
