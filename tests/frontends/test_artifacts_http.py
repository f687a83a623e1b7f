"""The runner's artifacts: `GET /artifacts/<id>?exp=&sig=` serves what replies link, without a
bearer token, while the signature and the expiry hold; nothing else answers there.

A `vm list`-shaped table of 1,200 rows (`echo table`) and a 90 KB PNG (`echo picture`) go
through /chat in every platform format; Teams answers (the runner's rendering and the
outgoing webhook's) are checked with the real `adaptivecards` parser.
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from frontend_helpers import Runner
from opspack.frontends.artifacts import ArtifactStore
from opspack.frontends.serve import build_app
from opspack.frontends.teams import sign
from opspack.registry import Registry
from opspack.renderers.teams import MAX_BYTES, size_of
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import need
from opspack_testkit.samples import png_bytes, vm_list_table
from starlette.testclient import TestClient

TOKEN = "bearer-token-0123456789"
SECRET = base64.b64encode(b"teams-shared-secret-0123456789ab").decode()
KEY = "artifact-signing-key-0123456789abcdef"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def client(registry: Registry, folder: Path) -> Iterator[TestClient]:
    environ = {
        "OPSPACK_SERVE_TOKENS": TOKEN,
        "OPSPACK_SERVE_ARTIFACT_DIR": str(folder),
        "OPSPACK_SERVE_ARTIFACT_KEY": "env:ARTIFACT_KEY",
        "ARTIFACT_KEY": KEY,
        "OPSPACK_TEAMS_SECRET": SECRET,
    }
    config = Config(data={"serve": {"artifact_ttl_s": 600}}, path=None, environ=environ)
    runtime = Runtime(registry, config=config)
    with TestClient(build_app(runtime, config=config)) as c:
        yield c
    runtime.close()


def chat(client: TestClient, text: str, fmt: str) -> Any:
    answer = client.post("/chat", json={"text": text, "format": fmt}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def links(rendered: Any) -> list[str]:
    """Every link to an artifact in a rendering."""
    text = json.dumps(rendered)
    found = []
    for part in text.split("http://testserver/artifacts/")[1:]:
        end = min(i for i in (part.find(c) for c in ('"', ")", " ", "\\")) if i >= 0)
        found.append("/artifacts/" + part[:end])
    return found


def query_of(link: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))


def validate(cards: list[dict[str, Any]]) -> None:
    need(shutil.which("node") is not None and shutil.which("npm") is not None, "Node.js and npm are not installed")
    from opspack_testkit.cards import validate_adaptive_cards

    assert validate_adaptive_cards(cards) == [[] for _ in cards]


def test_teams_gets_1200_rows_and_a_90_kb_picture_within_24000_bytes(client: TestClient) -> None:
    table = chat(client, "echo table --rows 1200", "teams")
    picture = chat(client, "echo picture", "teams")
    cards = []
    for body in (table, picture):
        for activity in body["rendered"]:
            assert size_of(activity) <= MAX_BYTES
            cards += [a["content"] for a in activity["attachments"]]
    validate(cards)
    (csv_link,) = links(table["rendered"])
    got = client.get(csv_link)  # no bearer token: a chat user's browser has none
    assert got.status_code == 200
    assert got.text == vm_list_table(1200).to_csv() and len(got.text.splitlines()) == 1201
    assert got.headers["content-type"].startswith("text/csv")
    assert (
        got.headers["content-disposition"].startswith("attachment;")
        and "vms-1200.csv" in got.headers["content-disposition"]
    )
    assert got.headers["x-content-type-options"] == "nosniff"
    image_links = set(links(picture["rendered"]))  # the Image element and its button
    (image_link,) = image_links
    got = client.get(image_link)
    assert got.status_code == 200 and got.content == png_bytes()
    assert got.headers["content-type"] == "image/png" and got.headers["content-disposition"].startswith("inline")


def test_the_teams_outgoing_webhook_answers_one_activity_under_24000_bytes(client: TestClient) -> None:
    for text in ("echo table --rows 1200", "echo picture"):
        body = json.dumps({"type": "message", "text": f"<at>opspack</at> {text}", "from": {"id": "29:1"}}).encode()
        answer = client.post(
            "/teams/messages", content=body, headers={"Authorization": sign(body, SECRET), "Content-Type": "x"}
        )
        assert answer.status_code == 200
        activity = answer.json()
        assert size_of(activity) <= MAX_BYTES
        (link, *_) = links(activity)
        assert client.get(link).status_code == 200
        validate([a["content"] for a in activity["attachments"]])


@pytest.mark.parametrize("fmt", ["slack", "mattermost", "text", "markdown"])
def test_every_format_links_what_it_cannot_carry(client: TestClient, fmt: str) -> None:
    picture = chat(client, "echo picture", fmt)
    (link, *_) = links(picture["rendered"])
    assert client.get(link).content == png_bytes()
    if fmt in ("slack", "mattermost"):
        table = chat(client, "echo table", fmt)
        uploads = [m["upload"] for m in table["rendered"] if "upload" in m]
        (csv_link,) = {u["url"].removeprefix("http://testserver") for u in uploads}
        assert client.get(csv_link).text == vm_list_table(1200).to_csv()


def test_a_forged_altered_or_expired_link_answers_403_or_404_and_nothing_more(client: TestClient, folder: Path) -> None:
    (link,) = set(links(chat(client, "echo picture", "teams")["rendered"]))
    artifact_id = urllib.parse.urlsplit(link).path.rsplit("/", 1)[-1]
    q = query_of(link)
    store = ArtifactStore(folder, KEY.encode())
    forged = [
        f"/artifacts/{artifact_id}",  # no signature
        f"/artifacts/{artifact_id}?exp={q['exp']}&sig=AAAA",
        f"/artifacts/{artifact_id}?exp={int(q['exp']) + 3600}&sig={q['sig']}",  # a longer life
        f"/artifacts/{'a' * 32}?exp={q['exp']}&sig={q['sig']}",  # another id, same signature
        f"/artifacts/{artifact_id}?exp={q['exp']}&sig={q['sig']}&sig=x",  # the last sig counts
        f"/artifacts/.key?exp={q['exp']}&sig={q['sig']}",
        f"/artifacts/{artifact_id}.json?exp={q['exp']}&sig={q['sig']}",
    ]
    bodies = set()
    for url in forged:
        got = client.get(url)
        assert got.status_code == 403, url
        assert artifact_id not in got.text and str(folder) not in got.text and KEY not in got.text
        bodies.add(got.text)
    assert len(bodies) == 1  # the same words whatever is wrong
    for url in (
        f"/artifacts/%2E%2E%2F.key?exp={q['exp']}&sig={q['sig']}",
        f"/artifacts/..%2F..%2F..%2Fetc%2Fpasswd?exp={q['exp']}&sig={q['sig']}",
        f"/artifacts/{artifact_id}/..%2F{artifact_id}?exp={q['exp']}&sig={q['sig']}",
    ):
        got = client.get(url)
        assert got.status_code in (403, 404), url
        assert "root:" not in got.text and str(folder) not in got.text
    # a link signed with the runner's key but expired: 404, and the same answer as a file that is gone
    past = 1_000_000_000
    expired = client.get(f"/artifacts/{artifact_id}?exp={past}&sig={store.signature(artifact_id, past)}")
    assert expired.status_code == 404
    for name in (artifact_id, f"{artifact_id}.json"):
        (folder / name).unlink()
    gone = client.get(link)
    assert gone.status_code == 404 and gone.text == expired.text
    # nothing but GET /artifacts/<id> is open without a token
    for path in ("/artifacts/", "/artifacts/../invoke", "/artifacts/x/../../registry"):
        assert client.get(path).status_code in (401, 404)
    assert client.post("/artifacts/" + artifact_id, json={}).status_code in (401, 405)


def test_links_use_public_url_when_it_is_set(registry: Registry, folder: Path) -> None:
    environ = {
        "OPSPACK_SERVE_TOKENS": TOKEN,
        "OPSPACK_SERVE_ARTIFACT_DIR": str(folder),
        "OPSPACK_SERVE_PUBLIC_URL": "https://ops.example.com/opspack",
    }
    config = Config(data={}, path=None, environ=environ)
    runtime = Runtime(registry, config=config)
    try:
        with TestClient(build_app(runtime, config=config)) as c:
            rendered = chat(c, "echo picture", "text")["rendered"]
            assert "https://ops.example.com/opspack/artifacts/" in rendered
            path = rendered.split("https://ops.example.com/opspack", 1)[1].split()[0]
            assert c.get(path).content == png_bytes()
    finally:
        runtime.close()


def test_a_real_runner_serves_its_links(runner: Runner) -> None:
    """`opspack serve` itself (uvicorn): the link in a Teams answer downloads the full CSV."""
    answer = httpx.post(
        runner.url + "/chat",
        json={"text": "echo table --rows 1200", "format": "teams"},
        headers={"Authorization": f"Bearer {runner.token}"},
        timeout=60,
    )
    assert answer.status_code == 200
    text = json.dumps(answer.json()["rendered"])
    start = text.index(runner.url + "/artifacts/")
    link = text[start : text.index('"', start)]
    got = httpx.get(link, timeout=30)
    assert got.status_code == 200 and len(got.text.splitlines()) == 1201
