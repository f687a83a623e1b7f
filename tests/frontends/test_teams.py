"""Teams outgoing webhook on `opspack serve`: HMAC-signed activities in, Adaptive Cards out.

The activity shape follows
https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook
and the cards are checked with the `adaptivecards` npm parser (opspack_testkit.cards).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from opspack.frontends.serve import build_app
from opspack.frontends.teams import sign
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import need
from starlette.testclient import TestClient

SECRET = base64.b64encode(b"teams-shared-secret-0123456789ab").decode()


@pytest.fixture
def client(registry: Registry) -> Iterator[TestClient]:
    environ = {
        "OPSPACK_SERVE_TOKENS": "bearer-token",
        "OPSPACK_TEAMS_SECRET": "env:TEAMS_SECRET",
        "TEAMS_SECRET": SECRET,
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


def test_server_test_answers_with_an_adaptive_card(client: TestClient, open_port: int) -> None:
    answer = post(client, activity(f"server test 127.0.0.1 --ports {open_port}")).json()
    found = cards(answer)
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
