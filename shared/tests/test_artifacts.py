"""Artifacts: the store's signed, expiring links, and big results on every platform.

A ``vm list`` of 1,200 VMs and a 90 KB PNG render within every platform's limit with
nothing lost: what a message cannot carry is one link away, and the link serves exactly
the data. Teams cards are checked with the real ``adaptivecards`` parser.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import stat
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from opspack.errors import ConfigError
from opspack.frontends.artifacts import ArtifactStore
from opspack.renderers import render
from opspack.renderers.mattermost import MESSAGE_CHARS
from opspack.renderers.teams import MAX_BYTES, size_of
from opspack.results import KV, Error, Image, Reply, Status, Table, Text
from opspack.settings import Config
from opspack_testkit import need
from opspack_testkit.samples import panel_image, png_bytes, vm_list_table
from opspack_testkit.validate import validate_slack_messages

PUBLIC = "https://ops.example.com/bot"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts", public_url=PUBLIC, ttl_s=3600)


def fetch(store: ArtifactStore, url: str) -> bytes:
    """What the runner serves for ``url`` (the checks GET /artifacts/<id> makes)."""
    parts = urllib.parse.urlsplit(url)
    assert url.startswith(PUBLIC + "/artifacts/")
    artifact_id = parts.path.rsplit("/", 1)[-1]
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert store.verify(artifact_id, query["exp"], query["sig"])
    found = store.find(artifact_id)
    assert found is not None
    return found[1].read_bytes()


def cards_of(activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        a["content"]
        for act in activities
        for a in act["attachments"]
        if a["contentType"] == "application/vnd.microsoft.card.adaptive"
    ]


def elements(card: dict[str, Any]) -> list[dict[str, Any]]:
    return list(card["body"])


def open_urls(activities: list[dict[str, Any]], title: str) -> list[str]:
    """The links of the Action.OpenUrl buttons whose title starts with ``title``."""
    return [
        action["url"]
        for card in cards_of(activities)
        for el in elements(card)
        if el["type"] == "ActionSet"
        for action in el["actions"]
        if action["type"] == "Action.OpenUrl" and action["title"].startswith(title)
    ]


def validate_cards(cards: list[dict[str, Any]]) -> None:
    need(shutil.which("node") is not None and shutil.which("npm") is not None, "Node.js and npm are not installed")
    from opspack_testkit.cards import validate_adaptive_cards

    assert validate_adaptive_cards(cards) == [[] for _ in cards]


# -- the store -------------------------------------------------------------------------
def test_a_link_serves_its_file_until_it_expires(tmp_path: Path) -> None:
    clock = Clock()
    store = ArtifactStore(tmp_path / "a", public_url=PUBLIC, ttl_s=600, clock=clock)
    artifact = store.put("vms.csv", b"name\nweb01\n", "text/csv")
    url = store.url(artifact)
    assert fetch(store, url) == b"name\nweb01\n"
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert int(query["exp"]) == int(clock.now) + 600
    clock.now += 601
    assert store.find(artifact.id) is None
    assert not (tmp_path / "a" / artifact.id).exists()  # an expired file is removed when asked for


def test_a_forged_or_altered_link_does_not_verify(store: ArtifactStore) -> None:
    artifact = store.put("x.csv", b"a", "text/csv")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(store.url(artifact)).query))
    exp, sig = query["exp"], query["sig"]
    assert store.verify(artifact.id, exp, sig)
    assert not store.verify(artifact.id, str(int(exp) + 86_400), sig)  # a longer life
    other = store.put("y.csv", b"b", "text/csv")
    assert not store.verify(other.id, exp, sig)  # another file
    assert not store.verify(artifact.id, exp, sig[:-1] + ("A" if sig[-1] != "A" else "B"))
    assert not store.verify(artifact.id, exp, None) and not store.verify(artifact.id, None, sig)
    assert not store.verify(artifact.id, "-1", sig) and not store.verify(artifact.id, "１２", sig)
    # another store's key signs nothing here
    elsewhere = ArtifactStore(store.folder.parent / "elsewhere", b"another key of 32 bytes, at least")
    assert not store.verify(artifact.id, exp, elsewhere.signature(artifact.id, int(exp)))


@pytest.mark.parametrize("artifact_id", ["../../etc/passwd", "..", ".key", "a" * 31, "a/" + "b" * 30, "a" * 33])
def test_an_id_that_is_not_an_id_touches_no_file(store: ArtifactStore, artifact_id: str) -> None:
    store.put("x.csv", b"a", "text/csv")  # the key and the folder exist
    assert not store.verify(artifact_id, "9999999999", store.signature("a" * 32, 9999999999))
    assert store.find(artifact_id) is None


def test_the_key_is_made_once_kept_private_and_shared_by_stores_of_one_folder(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    first = ArtifactStore(folder, public_url=PUBLIC)
    assert not folder.exists()  # nothing written before a file is stored
    url = first.link("a.csv", b"1", "text/csv")
    assert stat.S_IMODE((folder / ".key").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    second = ArtifactStore(folder, public_url=PUBLIC)  # another runner, or after a restart
    assert fetch(second, url) == b"1"


def test_sweep_removes_expired_files_and_leftovers(tmp_path: Path) -> None:
    clock = Clock()
    store = ArtifactStore(tmp_path / "a", b"k" * 32, ttl_s=100, clock=clock)
    old = store.put("old.csv", b"old", "text/csv")
    clock.now += 50
    young = store.put("young.csv", b"young", "text/csv")
    clock.now += 60
    assert store.sweep() == 1
    assert store.find(old.id) is None and not (store.folder / f"{old.id}.json").exists()
    assert store.find(young.id) is not None
    clock.now += 100
    assert store.sweep() == 1
    assert sorted(p.name for p in store.folder.iterdir()) == []


def test_settings_come_from_serve(tmp_path: Path) -> None:
    masked: list[str] = []
    environ = {
        "OPSPACK_SERVE_ARTIFACT_DIR": str(tmp_path / "dir"),
        "OPSPACK_SERVE_ARTIFACT_KEY": "env:KEY",
        "KEY": "a signing key of some length",
        "OPSPACK_SERVE_PUBLIC_URL": "https://ops.example.com/",
    }
    config = Config(data={"serve": {"artifact_ttl_s": 120}}, environ=environ)
    store = ArtifactStore.from_config(config, mask=masked.append)
    assert store.folder == tmp_path / "dir" and store.ttl_s == 120 and store.public_url == "https://ops.example.com"
    assert masked == ["a signing key of some length"]
    url = store.link("a.png", b"png", "image/png")
    assert url.startswith("https://ops.example.com/artifacts/") and not (tmp_path / "dir" / ".key").exists()
    for bad in ({"artifact_ttl_s": "soon"}, {"artifact_ttl_s": 1}, {"public_url": "ftp://x"}, {"public_url": "x"}):
        with pytest.raises(ConfigError):
            ArtifactStore.from_config(Config(data={"serve": bad}, environ={}))


def test_a_file_name_cannot_name_a_folder(store: ArtifactStore) -> None:
    artifact = store.put("../../etc/passwd", b"x", "text/plain; charset=utf-8")
    assert artifact.filename == "passwd" and artifact.mime == "application/octet-stream"
    assert sorted(p.name for p in store.folder.iterdir()) == sorted([artifact.id, f"{artifact.id}.json"])


# -- big results on every platform ---------------------------------------------------------
def big_reply() -> Reply:
    return Reply(ok=True, command="vmware.vm.list", results=[vm_list_table(1200), panel_image()])


def test_the_samples_are_what_they_say() -> None:
    table = vm_list_table(1200)
    assert len(table.rows) == 1200 and table.columns[0] == "name"
    data = png_bytes()
    assert data.startswith(b"\x89PNG") and 89_000 <= len(data) <= 91_000


def test_teams_activities_stay_under_24000_bytes_with_the_full_data_one_link_away(store: ArtifactStore) -> None:
    reply = big_reply()
    activities = render(reply, "teams", artifacts=store.linker())
    assert all(size_of(a) <= MAX_BYTES for a in activities), [size_of(a) for a in activities]
    assert "data:" not in json.dumps(activities)  # neither the CSV nor the 90 KB picture rides along
    cards = cards_of(activities)
    shown = sum(len(el["rows"]) - 1 for card in cards for el in elements(card) if el["type"] == "Table")
    assert 0 < shown < 1200
    (csv_url,) = open_urls(activities, "Download vms-1200.csv")
    assert fetch(store, csv_url).decode() == reply.results[0].to_csv()
    images = [el for card in cards for el in elements(card) if el["type"] == "Image"]
    (image,) = images
    assert fetch(store, image["url"]) == reply.results[1].data
    notes = json.dumps(cards)
    assert f"Showing {shown:,} of 1,200 rows." in notes
    validate_cards(cards)


def test_teams_without_a_store_says_what_it_could_not_link() -> None:
    activities = render(big_reply(), "teams")
    assert all(size_of(a) <= MAX_BYTES for a in activities)
    text = json.dumps(activities)
    assert "data:" not in text
    assert "The full table (vms-1200.csv) cannot be linked here" in text
    assert "too large for a Teams message and cannot be linked here" in text


def test_a_small_picture_stays_inline_in_teams(store: ArtifactStore) -> None:
    reply = Reply(ok=True, command=None, results=[Image(png_bytes(5_000), "image/png", alt="small")])
    activities = render(reply, "teams", artifacts=store.linker())
    assert "data:image/png;base64," in json.dumps(activities)
    assert not store.folder.exists()  # nothing stored


def test_hostile_results_still_fit_teams(store: ArtifactStore) -> None:
    """Long cells, many columns, escapes and four-byte characters, huge key-values: every
    activity stays under the limit, whatever the content."""
    wide = Table(
        columns=[f"column {i} " + "c" * 300 for i in range(60)],
        rows=[["\x01\U0001f600" * 3000 if j % 7 == 0 else f"v{i}" for j in range(60)] for i in range(30)],
        title="t" * 5000,
    )
    reply = Reply(
        ok=False,
        command="x.y.z",
        results=[
            wide,
            KV({"k" * 3000: "\U0001f600" * 20_000, "small": 1}),
            Status("critical", '"\\' * 30_000, title="s" * 3000),
            Text("\x00" * 50_000, mono=True),
        ],
        error=Error("backend", "\U0001f600\x02" * 30_000, "h" * 30_000),
    )
    activities = render(reply, "teams", artifacts=store.linker())
    assert all(size_of(a) <= MAX_BYTES for a in activities), [size_of(a) for a in activities]
    text = json.dumps(activities)
    assert "Showing 20 of 60 columns." in text and "Long cells are cut." in text
    (csv_url,) = open_urls(activities, "Download t")
    assert list(csv.reader(io.StringIO(fetch(store, csv_url).decode()))) == [wide.columns] + [
        [str(v) for v in row] for row in wide.rows
    ]
    validate_cards(cards_of(activities))


def test_slack_keeps_files_upload_v2_and_links_beside_it(store: ArtifactStore) -> None:
    reply = big_reply()
    messages = render(reply, "slack", artifacts=store.linker())
    validate_slack_messages(messages)
    uploads = [m["upload"] for m in messages if "upload" in m]
    assert [u["filename"] for u in uploads] == ["vms-1200.csv", "panel.png"]
    for upload, data in zip(uploads, [reply.results[0].to_csv().encode(), reply.results[1].data], strict=True):
        assert base64.b64decode(upload["content_base64"]) == data
        assert fetch(store, upload["url"]) == data


def test_mattermost_uploads_and_names_the_links(store: ArtifactStore) -> None:
    reply = big_reply()
    messages = render(reply, "mattermost", artifacts=store.linker())
    posts = [m for m in messages if "message" in m]
    assert all(len(p["message"]) <= MESSAGE_CHARS for p in posts)
    uploads = [m["upload"] for m in messages if "upload" in m]
    assert len(uploads) == 2 and all(u["url"] in json.dumps(posts) for u in uploads)
    assert fetch(store, uploads[0]["url"]).decode() == reply.results[0].to_csv()
    assert fetch(store, uploads[1]["url"]) == reply.results[1].data


def test_text_and_markdown_link_pictures_instead_of_saving_them(store: ArtifactStore, tmp_path: Path) -> None:
    reply = Reply(ok=True, command=None, results=[panel_image()])
    text = render(reply, "text", artifacts=store.linker(), image_dir=tmp_path / "images")
    assert not (tmp_path / "images").exists()
    (url,) = [w for w in text.split() if w.startswith(PUBLIC)]
    assert fetch(store, url) == reply.results[0].data
    markdown = render(reply, "markdown", artifacts=store.linker())
    assert f"]({PUBLIC}/artifacts/" in markdown
