"""Renderers: every kind in every format, within each platform's limits, nothing dropped."""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

import pytest
from opspack.renderers import FORMATS, render
from opspack.renderers.mattermost import MESSAGE_CHARS as MM_CHARS
from opspack.renderers.teams import MAX_BYTES, size_of
from opspack.results import KV, Error, Reply, Status, Table, Text
from opspack.runtime import Runtime
from opspack_testkit import check_rendering
from opspack_testkit.validate import validate_reply_json


def _uploads(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["upload"] for m in messages if "upload" in m]


def _csv_rows(upload: dict[str, Any]) -> list[list[str]]:
    return list(csv.reader(io.StringIO(base64.b64decode(upload["content_base64"]).decode())))


def _table_reply(rows: int, cols: int = 4, width: int = 10) -> Reply:
    return Reply(
        ok=True,
        command="sample.thing.big",
        results=[
            Table(
                columns=[f"c{j}" for j in range(cols)],
                rows=[[f"r{i}c{j}".ljust(width, "x") for j in range(cols)] for i in range(rows)],
                title="Big table",
            )
        ],
    )


def test_json_is_exactly_the_contract_shape(runtime: Runtime) -> None:
    reply = runtime.chat("thing list --limit 2")
    data = render(reply, "json")
    assert data == {
        "ok": True,
        "command": "sample.thing.list",
        "results": [
            {
                "kind": "table",
                "title": "Things",
                "columns": ["name", "power", "cpu"],
                "rows": [["thing0", "off", 0], ["thing1", "on", 1]],
            }
        ],
        "error": None,
    }
    failure = render(runtime.chat("thing list --limit x"), "json")
    assert failure["ok"] is False and failure["results"] == [] and failure["error"]["kind"] == "usage"
    validate_reply_json(failure)


def test_text_table_is_aligned() -> None:
    reply = Reply(ok=True, command=None, results=[Table(["name", "cpu"], [["web01", 2], ["db", 16]])])
    assert render(reply, "text").splitlines() == ["name   cpu", "-----  ---", "web01  2", "db     16"]


def test_markdown_escapes_pipes() -> None:
    reply = Reply(ok=True, command=None, results=[Table(["a"], [["x|y"]])])
    assert "| x\\|y |" in render(reply, "markdown")


@pytest.mark.parametrize("rows", [0, 1, 99, 100, 250])
def test_slack_splits_tables_into_messages_of_one_table_each(rows: int) -> None:
    messages = check_rendering(_table_reply(rows))["slack"]
    tables = [b for m in messages if "blocks" in m for b in m["blocks"] if b["type"] == "table"]
    shown = sum(len(t["rows"]) - 1 for t in tables)
    assert shown == rows
    assert not _uploads(messages)


def test_slack_cuts_huge_tables_with_a_note_and_the_full_csv() -> None:
    messages = check_rendering(_table_reply(5000))["slack"]
    (upload,) = _uploads(messages)
    assert upload["filename"] == "big-table.csv"
    assert len(_csv_rows(upload)) == 5001
    notes = [b for m in messages if "blocks" in m for b in m["blocks"] if b["type"] == "context"]
    assert any("of 5,000 rows" in n["elements"][0]["text"] for n in notes)
    assert sum(1 for m in messages if "blocks" in m) == 5


def test_slack_wide_tables_keep_20_cells_and_attach_the_rest() -> None:
    messages = check_rendering(_table_reply(3, cols=30))["slack"]
    (upload,) = _uploads(messages)
    assert len(_csv_rows(upload)[0]) == 30


def test_slack_long_cells_respect_the_message_budget() -> None:
    messages = check_rendering(_table_reply(300, cols=6, width=200))["slack"]
    for m in messages:
        if "blocks" in m:
            assert len(json.dumps(m["blocks"], ensure_ascii=False)) <= 14000


def test_slack_long_text_is_split_into_sections() -> None:
    reply = Reply(ok=True, command=None, results=[Text("line of log\n" * 2000, mono=True, title="log")])
    messages = check_rendering(reply)["slack"]
    sections = [b for m in messages if "blocks" in m for b in m["blocks"] if b["type"] == "section"]
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert len(sections) > 5


def test_slack_kv_uses_at_most_ten_fields_per_section() -> None:
    reply = Reply(ok=True, command=None, results=[KV({f"k{i}": i for i in range(25)})])
    messages = check_rendering(reply)["slack"]
    sections = [b for b in messages[0]["blocks"] if b["type"] == "section"]
    assert [len(s["fields"]) for s in sections] == [10, 10, 5]


def test_slack_confirmation_has_buttons() -> None:
    from opspack.results import Confirmation

    err = Error("denied", "needs confirmation", "confirm", confirm=Confirmation("a.b.c", {"x": 1}, "Run it?", "b c 1"))
    messages = check_rendering(Reply.failure(err, "a.b.c"))["slack"]
    actions = [b for b in messages[0]["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions[0]["elements"]] == ["Confirm", "Cancel"]
    assert json.loads(actions[0]["elements"][0]["value"])["command"] == "a.b.c"


@pytest.mark.parametrize("rows", [1, 200, 3000])
def test_teams_cards_stay_under_the_size_limit(rows: int) -> None:
    activities = render(_table_reply(rows), "teams")
    shown = 0
    for act in activities:
        assert act["type"] == "message"
        assert size_of(act) <= MAX_BYTES
        for att in act["attachments"]:
            assert att["contentType"] == "application/vnd.microsoft.card.adaptive"  # never a file
            card = att["content"]
            assert card["version"] == "1.5" and card["type"] == "AdaptiveCard"
            shown += sum(len(b["rows"]) - 1 for b in card["body"] if b["type"] == "Table")
    if rows > 1000:  # the rest is linked by the runner's store (test_artifacts.py); without one, said so
        assert shown < rows
        assert f"Showing {shown:,} of {rows:,} rows. The full table (big-table.csv) cannot be linked" in str(activities)
    else:
        assert shown == rows and "cannot be linked" not in str(activities)


def test_mattermost_messages_stay_under_16383_characters() -> None:
    messages = render(_table_reply(4000, width=30), "mattermost")
    posts = [m for m in messages if "message" in m]
    assert all(len(p["message"]) <= MM_CHARS for p in posts)
    (upload,) = _uploads(messages)
    assert len(_csv_rows(upload)) == 4001


def test_mattermost_statuses_are_colored_attachments() -> None:
    reply = Reply(ok=True, command=None, results=[Status("critical", "disk full", title="db1")])
    (post,) = render(reply, "mattermost")
    (att,) = post["props"]["attachments"]
    assert att["color"] == "#a30200" and "disk full" in att["text"]


def test_every_format_renders_an_empty_reply() -> None:
    reply = Reply(ok=True, command="x.y.z", results=[])
    for fmt in FORMATS:
        assert render(reply, fmt) is not None
    check_rendering(reply)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(Reply(ok=True, command=None), "pdf")


def test_teams_cards_validate_with_the_adaptivecards_parser(runtime: Runtime) -> None:
    import shutil

    from opspack.results import Confirmation
    from opspack_testkit import need
    from opspack_testkit.cards import validate_adaptive_cards

    need(shutil.which("node") is not None and shutil.which("npm") is not None, "node and npm are not installed")
    replies = [
        runtime.chat("thing everything"),
        _table_reply(500),
        Reply(ok=True, command=None, results=[KV({"a": 1}), Status("ok", "fine"), Text("x" * 9000, mono=True)]),
        Reply.failure(Error("denied", "confirm", "h", confirm=Confirmation("a.b.c", {}, "Run?", "b c")), "a.b.c"),
    ]
    cards = [
        att["content"]
        for reply in replies
        for act in render(reply, "teams")
        for att in act["attachments"]
        if att["contentType"] == "application/vnd.microsoft.card.adaptive"
    ]
    assert len(cards) >= 4
    assert validate_adaptive_cards(cards) == [[] for _ in cards]


def test_mattermost_confirmation_says_how_to_confirm_in_chat() -> None:
    from opspack.results import Confirmation

    err = Error("denied", "needs confirmation", None, confirm=Confirmation("a.b.c", {}, "Run?", "b c", token="tok123"))
    (post,) = render(Reply.failure(err, "a.b.c"), "mattermost")
    text = post["props"]["attachments"][0]["text"]
    assert "`confirm tok123`" in text and "--yes" not in text


def test_slack_fallback_text_says_the_title_once() -> None:
    """The notification text of a key-value result (its fields over two sections) and of a
    table: the title once, not again for each block."""
    items = {f"key{i}": f"value {i}" for i in range(14)}
    kv = render(Reply(ok=True, command="x", results=[KV(items, title="VM DC0_C0_RP0_VM0")]), "slack")
    assert len(kv) == 1 and len([b for b in kv[0]["blocks"] if b["type"] == "section"]) == 2
    assert kv[0]["text"] == "VM DC0_C0_RP0_VM0"
    table = Table(columns=["a"], rows=[[1], [2]], title="Things")
    assert render(Reply(ok=True, command="x", results=[table]), "slack")[0]["text"] == "Things"


def test_text_fits_a_width_and_cuts_the_widest_column_first() -> None:
    table = Table(columns=["name", "note"], rows=[["web01", "n" * 200], ["db1", "short"]], title="T" * 100)
    lines = render(Reply(ok=True, command="x", results=[table]), "text", width=40).splitlines()
    assert max(len(line) for line in lines) <= 40, lines
    assert lines[0] == "T" * 39 + "…" and lines[1] == "=" * 40
    assert lines[4].startswith("web01  nnn") and lines[4].endswith("…")  # the narrow column is whole
    assert lines[5].rstrip() == "db1    short"
    assert render(Reply(ok=True, command="x", results=[table]), "text").splitlines()[4].endswith("n" * 200)
