"""Slack Block Kit: a list of ``chat.postMessage`` payloads (``{"text", "blocks"}``)
and ``{"upload": ...}`` entries for ``files_upload_v2``.

Limits honoured: 50 blocks per message, section text 3,000 characters, section
fields 10 x 2,000, one table block per message with at most 100 rows x 20 cells,
25 elements per actions block, alt text 2,000, and about 12,000 characters of
block text per message. Longer content continues in the next message; past
``max_messages`` it is cut with a note and attached as a file.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from opspack.renderers.common import (
    ICONS,
    LABELS,
    cell,
    chunks,
    csv_upload,
    cut_note,
    slug,
    upload,
    value_text,
)
from opspack.results import (
    KV,
    Diff,
    Error,
    Image,
    Link,
    Menu,
    Progress,
    Reply,
    Result,
    Status,
    Table,
    Text,
)

if TYPE_CHECKING:
    from opspack.renderers.common import Linker

MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
TABLE_ROWS = 100
TABLE_CELLS = 20
ACTIONS = 25
HEADER_TEXT = 150
MESSAGE_CHARS = 12000
FALLBACK_TEXT = 3000


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_TEXT]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_TEXT]}]}


def _button(text: str, value: dict[str, Any], action_id: str, style: str | None = None) -> dict[str, Any]:
    raw = json.dumps(value, separators=(",", ":"))
    if len(raw) > 2000:
        raw = json.dumps({"command": value.get("command"), "text": (value.get("text") or "")[:1500]})
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75] or "run", "emoji": True},
        "value": raw[:2000],
        "action_id": action_id[:255],
    }
    if style:
        button["style"] = style
    return button


def _block_chars(block: dict[str, Any]) -> int:
    return len(json.dumps(block, ensure_ascii=False))


class _Out:
    """Messages under construction."""

    def __init__(self, max_messages: int, artifacts: Linker | None = None) -> None:
        self.max_messages = max_messages
        self.artifacts = artifacts
        self.messages: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.blocks: list[dict[str, Any]] = []
        self.chars = 0
        self.fallback: list[str] = []
        self.has_table = False
        self._actions = 0

    def flush(self) -> None:
        if self.blocks:
            text = " ".join(self.fallback).strip() or "opspack reply"
            self.messages.append({"text": text[:FALLBACK_TEXT], "blocks": self.blocks})
        self.blocks, self.chars, self.fallback, self.has_table = [], 0, [], False

    def fits(self, block: dict[str, Any]) -> bool:
        if block["type"] == "table" and self.has_table:
            return False
        return len(self.blocks) < MAX_BLOCKS and self.chars + _block_chars(block) <= MESSAGE_CHARS

    def add(self, block: dict[str, Any], fallback: str | None = None) -> None:
        if not self.fits(block):
            self.flush()
        if block.get("type") == "actions":
            self._actions += 1
            for i, el in enumerate(block["elements"]):
                el["action_id"] = f"opspack-{self._actions}-{i}"
        self.blocks.append(block)
        self.chars += _block_chars(block)
        if block["type"] == "table":
            self.has_table = True
        if fallback and fallback not in self.fallback:  # the title once, not again per block
            self.fallback.append(fallback)

    def done(self) -> list[dict[str, Any]]:
        self.flush()
        return self.messages + self.uploads


def _title(out: _Out, title: str | None) -> None:
    if title:
        out.add({"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_TEXT], "emoji": True}}, title)


def _long_text(out: _Out, text: str, *, mono: bool, lang: str, filename: str, budget: int) -> None:
    """Text in sections of ≤3,000 chars; past ``budget`` sections, cut and attach."""
    size = SECTION_TEXT - 20 if mono else SECTION_TEXT
    pieces = chunks(text, size)
    shown = pieces[:budget]
    for piece in shown:
        out.add(_section(f"```{piece}```" if mono else esc(piece)), piece[:200])
    if len(pieces) > budget:
        out.add(
            _context(
                f"_Cut after {sum(len(p) for p in shown):,} of {len(text):,} characters; "
                f"the full text is attached as {filename}._"
            )
        )
        out.uploads.append(
            upload(filename, text.encode("utf-8"), "text/plain", title=filename, artifacts=out.artifacts)
        )


def _table(out: _Out, t: Table) -> None:
    columns = list(t.columns)
    rows = [[cell(v) for v in r] for r in t.rows]
    if t.row_status is not None:
        columns = ["", *columns]
        rows = [[ICONS[s], *r] for s, r in zip(t.row_status, rows, strict=True)]
    notes: list[str] = []
    csv_needed = False
    if len(columns) > TABLE_CELLS:
        notes.append(f"Showing {TABLE_CELLS} of {len(columns)} columns.")
        columns = columns[:TABLE_CELLS]
        rows = [r[:TABLE_CELLS] for r in rows]
        csv_needed = True

    def raw(v: str) -> dict[str, Any]:
        return {"type": "raw_text", "text": v[:FIELD_TEXT] if v else " "}

    header = [raw(c) for c in columns]
    per_message = TABLE_ROWS - 1
    # keep each message under the character budget too
    if rows:
        avg = max(1, sum(len(json.dumps([raw(v) for v in r])) for r in rows[:50]) // min(len(rows), 50))
        per_message = max(1, min(per_message, (MESSAGE_CHARS - 1500) // avg))
    batches = [rows[i : i + per_message] for i in range(0, len(rows), per_message)] or [[]]
    if len(batches) > out.max_messages:
        batches = batches[: out.max_messages]
        csv_needed = True
    shown = sum(len(b) for b in batches)
    if csv_needed:
        fname = slug(t.title, "table") + ".csv"
        if shown < len(rows):
            notes.append(cut_note(shown, len(rows), fname))
        else:
            notes.append(f"The full table is attached as {fname}.")
        out.uploads.append(csv_upload(t, out.artifacts))
    if t.total is not None and t.total > len(t.rows):
        notes.append(f"The command returned {len(t.rows):,} of {t.total:,} rows.")
    for n, batch in enumerate(batches):
        if n > 0 or out.has_table:
            out.flush()
        if n == 0:
            _title(out, t.title)
        elif t.title:
            out.add(_context(f"*{esc(t.title)}* (continued, part {n + 1} of {len(batches)})"))
        if not batch:
            out.add(_section("_(no rows)_"), "no rows")
            continue
        out.add({"type": "table", "rows": [header, *([raw(v) for v in r] for r in batch)]}, t.title or "table")
    for note in notes:
        out.add(_context(f"_{esc(note)}_"))


def _kv(out: _Out, r: KV) -> None:
    _title(out, r.title)
    fields = [{"type": "mrkdwn", "text": f"*{esc(k)}*\n{esc(value_text(v))}"[:FIELD_TEXT]} for k, v in r.items.items()]
    for i in range(0, len(fields), MAX_FIELDS):
        out.add({"type": "section", "fields": fields[i : i + MAX_FIELDS]}, r.title)


def _one(out: _Out, r: Result | Error) -> None:
    if isinstance(r, Table):
        _table(out, r)
    elif isinstance(r, KV):
        _kv(out, r)
    elif isinstance(r, Text):
        _title(out, r.title)
        _long_text(
            out,
            r.text or " ",
            mono=r.mono,
            lang="",
            filename=slug(r.title, "output") + ".txt",
            budget=3 * out.max_messages,
        )
    elif isinstance(r, Status):
        line = f"{ICONS[r.level]} *{LABELS[r.level]}*" + (f" {esc(r.title)}:" if r.title else "")
        out.add(_section(f"{line} {esc(r.message)}"), f"{LABELS[r.level]} {r.message}")
    elif isinstance(r, Image):
        out.uploads.append(
            upload(r.name, r.data, r.mime, title=r.title or r.alt, alt=r.alt[:2000], artifacts=out.artifacts)
        )
        out.add(_context(f"🖼 {esc(r.title or r.alt)} (attached as {esc(r.name)})"), r.alt)
    elif isinstance(r, Link):
        out.add(
            _section(
                f"<{r.url}|{esc(r.text or r.url)}>"
                if r.title is None
                else f"*{esc(r.title)}*: <{r.url}|{esc(r.text or r.url)}>"
            ),
            r.text or r.url,
        )
    elif isinstance(r, Menu):
        _title(out, r.title)
        buttons = [
            _button(o.label, {"command": o.command, "args": o.args, "text": o.text}, f"m{i}")
            for i, o in enumerate(r.options)
        ]
        for i in range(0, len(buttons), ACTIONS):
            out.add({"type": "actions", "elements": buttons[i : i + ACTIONS]}, r.title or "menu")
    elif isinstance(r, Diff):
        _title(out, r.title)
        if r.changed:
            _long_text(
                out,
                r.unified,
                mono=True,
                lang="diff",
                filename=slug(r.title, "changes") + ".diff",
                budget=3 * out.max_messages,
            )
        else:
            out.add(_section("_No differences._"), "no differences")
    elif isinstance(r, Progress):
        pct = f" ({r.percent:.0f}%)" if r.percent is not None else ""
        out.add(_context(f"{'✅' if r.done else '⏳'} {esc(r.message)}{pct}"), r.message)
    elif isinstance(r, Error):
        out.add(_section(f"❌ *Error ({r.kind})*: {esc(r.message)}"), f"Error: {r.message}")
        if r.hint:
            out.add(_context(f"_{esc(r.hint)}_"))
        if r.confirm is not None:
            value = {"confirm": True, **r.confirm.to_dict()}
            out.add(
                {
                    "type": "actions",
                    "elements": [
                        _button("Confirm", value, "confirm", style="danger"),
                        _button("Cancel", {"cancel": True, "command": r.confirm.command}, "cancel"),
                    ],
                },
            )


def render_slack(reply: Reply, *, max_messages: int = 5, artifacts: Linker | None = None) -> list[dict[str, Any]]:
    """Slack messages for ``reply``; with ``artifacts``, each upload entry carries its link too."""
    out = _Out(max_messages, artifacts)
    for r in reply.all_results():
        _one(out, r)
    if not out.blocks and not out.messages and not out.uploads:
        out.add(_section("_Done; nothing to show._"), "Done")
    return out.done()
