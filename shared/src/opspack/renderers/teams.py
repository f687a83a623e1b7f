"""Microsoft Teams: Bot Framework message activities carrying Adaptive Cards 1.5.

Every activity stays under :data:`MAX_BYTES` of JSON, whatever the result: tables
continue on the next card, cells too long for a card are cut, and an element too large
for any card is split or cut. What a card cannot carry (the rest of a table past
``max_messages`` cards, an image over the size, a text past its budget) is never put in
the activity: with ``artifacts`` (the runner's store) it is one signed link away
(an ``Action.OpenUrl`` button, an ``Image`` loaded from the link); without one, the card
says it was left out and how to get it.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from opspack.renderers.common import LABELS, cell, chunks, csv_name, linked, slug, value_text
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

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
MAX_BYTES = 24_000  # Teams counts about 18% more than the 28 KB (28,672 bytes) it allows webhooks
TEXT_CHUNK = 4000
#: columns a card's table shows (the rest are in the CSV)
TABLE_COLUMNS = 20
#: characters of a cell, a column name, a title (cut further when a row would not fit a card)
CELL_CHARS = 500
TITLE_CHARS = 200
_COLORS = {"ok": "Good", "warning": "Warning", "critical": "Attention", "unknown": "Default"}
_ROW_STYLE = {"ok": "good", "warning": "warning", "critical": "attention", "unknown": "default"}


def _tb(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def activity(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }


def size_of(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


class _Out:
    def __init__(self, max_messages: int, artifacts: Linker | None) -> None:
        self.max_messages = max_messages
        self.artifacts = artifacts
        self.activities: list[dict[str, Any]] = []
        self.body: list[dict[str, Any]] = []

    def _size_with(self, element: dict[str, Any]) -> int:
        return size_of(activity(_card([*self.body, element])))

    def add(self, element: dict[str, Any]) -> None:
        if size_of(activity(_card([element]))) > MAX_BYTES:
            for part in _smaller(element):
                self.add(part)
            return
        if self.body and self._size_with(element) > MAX_BYTES:
            self.flush()
        self.body.append(element)

    def flush(self) -> None:
        if self.body:
            self.activities.append(activity(_card(self.body)))
            self.body = []

    def done(self) -> list[dict[str, Any]]:
        self.flush()
        return self.activities

    def left_out(self, note: str, label: str, filename: str, content: bytes, mime: str) -> None:
        """``note`` says what did not fit; the full ``label`` is linked when there is a store,
        else the card says it could not be."""
        url = linked(self.artifacts, filename, content, mime)
        lead = f"{note} " if note else ""
        if url is None:
            self.add(
                _tb(
                    f"{lead}The full {label} ({filename}) cannot be linked here: Teams messages take no files. "
                    "Ask through the opspack runner (`opspack serve`), which links it, or use --format json.",
                    isSubtle=True,
                    color="Warning",
                )
            )
            return
        self.add(_tb(f"{lead}The full {label}: {filename} (the link expires).", isSubtle=True, color="Warning"))
        self.add(
            {"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": f"Download {filename}", "url": url}]}
        )


def _smaller(element: dict[str, Any]) -> list[dict[str, Any]]:
    """An element too large for any card as smaller ones (split, else cut)."""
    kind = element.get("type")
    if kind == "TextBlock":
        text = str(element.get("text", ""))
        if len(text) > 1:
            half = len(text) // 2
            return [{**element, "text": text[:half]}, {**element, "text": text[half:]}]
    elif kind == "FactSet" and len(element["facts"]) > 1:
        half = len(element["facts"]) // 2
        return [{**element, "facts": element["facts"][:half]}, {**element, "facts": element["facts"][half:]}]
    elif kind == "FactSet":
        fact = element["facts"][0]
        return [
            {"type": "FactSet", "facts": [{"title": fact["title"][:TITLE_CHARS], "value": "(cut)"}]},
            *(_tb(piece) for piece in chunks(fact["value"], TEXT_CHUNK // 4)),
        ]
    elif kind == "ActionSet" and len(element["actions"]) > 1:
        half = len(element["actions"]) // 2
        return [{**element, "actions": element["actions"][:half]}, {**element, "actions": element["actions"][half:]}]
    return [_tb("(Left out: too large for a Teams message; --format json shows it.)", isSubtle=True)]


def _title(out: _Out, title: str | None) -> None:
    if title:
        out.add(_tb(title[:TITLE_CHARS], weight="Bolder", size="Medium"))


def _row(cells: list[str], style: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "type": "TableRow",
        "cells": [{"type": "TableCell", "items": [_tb(c or " ")]} for c in cells],
    }
    if style:
        r["style"] = style
    return r


def _table_element(columns: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "Table",
        "firstRowAsHeader": True,
        "gridStyle": "accent",
        "columns": [{"width": 1} for _ in columns],
        "rows": [_row(columns), *rows],
    }


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def _table(out: _Out, t: Table) -> None:
    columns = [c[:CELL_CHARS] for c in t.columns]
    rows = [[cell(v) for v in r] for r in t.rows]
    styles = [_ROW_STYLE[s] for s in t.row_status] if t.row_status is not None else None
    if t.row_status is not None:
        columns = ["status", *columns]
        rows = [[LABELS[s].lower(), *r] for s, r in zip(t.row_status, rows, strict=True)]
    notes: list[str] = []
    if len(columns) > TABLE_COLUMNS:
        notes.append(f"Showing {TABLE_COLUMNS} of {len(columns)} columns.")
        columns = columns[:TABLE_COLUMNS]
        rows = [r[:TABLE_COLUMNS] for r in rows]
    out.flush()
    _title(out, t.title)
    if not rows:
        out.add(_tb("(no rows)", isSubtle=True))
        return
    # Each row's JSON size adds up exactly (", " between rows): cards are filled by sum.
    empty = _table_element(columns, [])
    room = MAX_BYTES - 800 - size_of(activity(_card([_tb(f"{t.title or ''} (continued)"[:TITLE_CHARS]), empty])))
    cut_cells = False
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    for i, r in enumerate(rows):
        item = _row([v[:CELL_CHARS] for v in r], styles[i] if styles else None)
        size = _json_size(item) + 2
        limit = CELL_CHARS
        while size > room and limit > 1:  # one row must fit a card: its cells are cut
            limit //= 2
            item = _row([v[:limit] for v in r], styles[i] if styles else None)
            size = _json_size(item) + 2
        cut_cells = cut_cells or any(len(v) > CELL_CHARS for v in r) or limit < CELL_CHARS
        items.append(item)
        sizes.append(size)
    if cut_cells:
        notes.append("Long cells are cut.")
    cards = 0
    start = 0
    while start < len(items) and cards < out.max_messages:
        if cards:
            out.flush()
            if t.title:
                out.add(_tb(f"{t.title} (continued)"[:TITLE_CHARS], isSubtle=True))
        free = MAX_BYTES - 800 - out._size_with(empty)
        end, used = start, 0
        while end < len(items) and (end == start or used + sizes[end] <= free):
            used += sizes[end]
            end += 1
        out.add(_table_element(columns, items[start:end]))
        start = end
        cards += 1
    if start < len(items):
        notes.insert(0, f"Showing {start:,} of {len(rows):,} rows.")
    if t.total is not None and t.total > len(t.rows):
        notes.append(f"The command returned {len(t.rows):,} of {t.total:,} rows.")
    if start < len(items) or cut_cells or len(t.columns) + (t.row_status is not None) > TABLE_COLUMNS:
        out.left_out(" ".join(notes), "table", csv_name(t), t.to_csv().encode("utf-8"), "text/csv")
    elif notes:
        out.add(_tb(" ".join(notes), isSubtle=True))


def _text(out: _Out, text: str, mono: bool, filename: str) -> None:
    pieces = chunks(text, TEXT_CHUNK)
    budget = out.max_messages * 6
    for piece in pieces[:budget]:
        out.add(_tb(piece, fontType="Monospace") if mono else _tb(piece))
    if len(pieces) > budget:
        shown = sum(len(p) for p in pieces[:budget])
        out.left_out(
            f"Cut after {shown:,} of {len(text):,} characters.", "text", filename, text.encode("utf-8"), "text/plain"
        )


def _image(out: _Out, r: Image) -> None:
    """Inline (a data URI) when it fits a card, else loaded from its link."""
    uri = f"data:{r.mime};base64,{base64.b64encode(r.data).decode('ascii')}"
    element = {"type": "Image", "url": uri, "altText": r.alt[:1000]}
    if size_of(activity(_card([element]))) <= MAX_BYTES - 500:
        out.add(element)
        return
    url = linked(out.artifacts, r.name, r.data, r.mime)
    if url is None:
        out.add(
            _tb(
                f"{r.alt[:1000]}: the image ({r.mime}, {len(r.data):,} bytes) is too large for a Teams message "
                "and cannot be linked here. Ask through the opspack runner (`opspack serve`), which links it.",
                isSubtle=True,
                color="Warning",
            )
        )
        return
    out.add(
        {"type": "Image", "url": url, "altText": r.alt[:1000], "selectAction": {"type": "Action.OpenUrl", "url": url}}
    )
    out.add(
        {
            "type": "ActionSet",
            "actions": [{"type": "Action.OpenUrl", "title": f"Open {r.name[:TITLE_CHARS]}", "url": url}],
        }
    )


def _one(out: _Out, r: Result | Error) -> None:
    if isinstance(r, Table):
        _table(out, r)
        return
    if isinstance(r, Error):
        out.add(_tb(f"Error ({r.kind}): {r.message}", color="Attention", weight="Bolder"))
        if r.hint:
            out.add(_tb(r.hint, isSubtle=True))
        if r.confirm is not None:
            out.add(
                {
                    "type": "ActionSet",
                    "actions": [
                        {
                            "type": "Action.Submit",
                            "title": "Confirm",
                            "style": "destructive",
                            "data": {"confirm": True, **r.confirm.to_dict()},
                        },
                        {"type": "Action.Submit", "title": "Cancel", "data": {"cancel": True}},
                    ],
                }
            )
        return
    _title(out, r.title)
    if isinstance(r, Text):
        _text(out, r.text or " ", r.mono, slug(r.title, "output") + ".txt")
    elif isinstance(r, KV):
        facts = [{"title": k, "value": value_text(v) or " "} for k, v in r.items.items()]
        for i in range(0, len(facts), 50):
            out.add({"type": "FactSet", "facts": facts[i : i + 50]})
    elif isinstance(r, Status):
        out.add(_tb(f"**{LABELS[r.level]}** {r.message}", color=_COLORS[r.level]))
    elif isinstance(r, Image):
        _image(out, r)
    elif isinstance(r, Link):
        title = (r.text or r.url)[:TITLE_CHARS]
        out.add({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": title, "url": r.url}]})
    elif isinstance(r, Menu):
        actions = [
            {
                "type": "Action.Submit",
                "title": o.label,
                "data": {"command": o.command, "args": o.args, "text": o.text},
            }
            for o in r.options
        ]
        for i in range(0, len(actions), 6):
            out.add({"type": "ActionSet", "actions": actions[i : i + 6]})
    elif isinstance(r, Diff):
        if r.changed:
            _text(out, r.unified, True, slug(r.title, "changes") + ".diff")
        else:
            out.add(_tb("No differences.", isSubtle=True))
    elif isinstance(r, Progress):
        pct = f" ({r.percent:.0f}%)" if r.percent is not None else ""
        out.add(_tb(f"{'Done' if r.done else 'Working'}: {r.message}{pct}", isSubtle=True))


def render_teams(reply: Reply, *, max_messages: int = 5, artifacts: Linker | None = None) -> list[dict[str, Any]]:
    """Message activities for ``reply``, each under :data:`MAX_BYTES`; ``artifacts`` links
    what a card cannot carry."""
    out = _Out(max_messages, artifacts)
    for r in reply.all_results():
        _one(out, r)
    if not out.body and not out.activities:
        out.add(_tb("Done; nothing to show."))
    return out.done()


__all__ = ["MAX_BYTES", "activity", "render_teams", "size_of"]
