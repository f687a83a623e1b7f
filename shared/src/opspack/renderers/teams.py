"""Microsoft Teams: Bot Framework message activities carrying Adaptive Cards 1.5.

Each activity stays under the webhook limit (28 KB of JSON); tables continue on the
next card, and past ``max_messages`` cards they are cut with a note and the CSV is
attached to a final activity as a file attachment (data URI).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from opspack.renderers.common import LABELS, cell, chunks, csv_upload, cut_note, slug, value_text
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

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
MAX_BYTES = 24_000  # Teams counts about 18% more than the 28 KB (28,672 bytes) it allows webhooks
TEXT_CHUNK = 4000
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
    def __init__(self, max_messages: int) -> None:
        self.max_messages = max_messages
        self.activities: list[dict[str, Any]] = []
        self.files: list[dict[str, Any]] = []
        self.body: list[dict[str, Any]] = []

    def _size_with(self, element: dict[str, Any]) -> int:
        return size_of(activity(_card([*self.body, element])))

    def add(self, element: dict[str, Any]) -> None:
        if self.body and self._size_with(element) > MAX_BYTES:
            self.flush()
        self.body.append(element)

    def flush(self) -> None:
        if self.body:
            self.activities.append(activity(_card(self.body)))
            self.body = []

    def done(self) -> list[dict[str, Any]]:
        self.flush()
        if self.files:
            self.activities.append({"type": "message", "attachments": self.files})
        return self.activities


def _file(filename: str, content: bytes, mime: str) -> dict[str, Any]:
    return {
        "contentType": mime,
        "name": filename,
        "contentUrl": f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}",
    }


def _title(out: _Out, title: str | None) -> None:
    if title:
        out.add(_tb(title, weight="Bolder", size="Medium"))


def _table_element(columns: list[str], rows: list[list[str]], styles: list[str] | None) -> dict[str, Any]:
    def row(cells: list[str], style: str | None = None) -> dict[str, Any]:
        r: dict[str, Any] = {
            "type": "TableRow",
            "cells": [{"type": "TableCell", "items": [_tb(c or " ")]} for c in cells],
        }
        if style:
            r["style"] = style
        return r

    return {
        "type": "Table",
        "firstRowAsHeader": True,
        "gridStyle": "accent",
        "columns": [{"width": 1} for _ in columns],
        "rows": [row(columns), *(row(r, styles[i] if styles else None) for i, r in enumerate(rows))],
    }


def _table(out: _Out, t: Table) -> None:
    columns = list(t.columns)
    rows = [[cell(v) for v in r] for r in t.rows]
    styles = [_ROW_STYLE[s] for s in t.row_status] if t.row_status is not None else None
    if t.row_status is not None:
        columns = ["status", *columns]
        rows = [[LABELS[s].lower(), *r] for s, r in zip(t.row_status, rows, strict=True)]
    out.flush()
    _title(out, t.title)
    if not rows:
        out.add(_tb("(no rows)", isSubtle=True))
        return
    cards = 0
    start = 0
    while start < len(rows):
        if cards >= out.max_messages:
            break
        # the largest batch of rows that fits one card with what is already on it
        lo, hi = 1, len(rows) - start
        while lo < hi:
            mid = (lo + hi + 1) // 2
            el = _table_element(columns, rows[start : start + mid], styles[start : start + mid] if styles else None)
            if out._size_with(el) <= MAX_BYTES - 600:
                lo = mid
            else:
                hi = mid - 1
        n = lo
        out.add(_table_element(columns, rows[start : start + n], styles[start : start + n] if styles else None))
        start += n
        cards += 1
        if start < len(rows) and cards < out.max_messages:
            out.flush()
            if t.title:
                out.add(_tb(f"{t.title} (continued)", isSubtle=True))
    if start < len(rows):
        fname = slug(t.title, "table") + ".csv"
        out.add(_tb(cut_note(start, len(rows), fname), isSubtle=True, color="Warning"))
        out.files.append(_file(fname, t.to_csv().encode("utf-8"), "text/csv"))
    if t.total is not None and t.total > len(t.rows):
        out.add(_tb(f"The command returned {len(t.rows):,} of {t.total:,} rows.", isSubtle=True))


def _text(out: _Out, text: str, mono: bool, filename: str) -> None:
    pieces = chunks(text, TEXT_CHUNK)
    budget = out.max_messages * 6
    for piece in pieces[:budget]:
        out.add(_tb(piece, fontType="Monospace") if mono else _tb(piece))
    if len(pieces) > budget:
        out.add(_tb(f"Cut; the full text is attached as {filename}.", isSubtle=True, color="Warning"))
        out.files.append(_file(filename, text.encode("utf-8"), "text/plain"))


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
        uri = f"data:{r.mime};base64,{base64.b64encode(r.data).decode('ascii')}"
        element = {"type": "Image", "url": uri, "altText": r.alt[:1000]}
        if size_of(activity(_card([element]))) <= MAX_BYTES:
            out.add(element)
        else:
            out.add(_tb(f"{r.alt} (attached as {r.name})", isSubtle=True))
            out.files.append(_file(r.name, r.data, r.mime))
    elif isinstance(r, Link):
        out.add({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": r.text or r.url, "url": r.url}]})
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


def render_teams(reply: Reply, *, max_messages: int = 5) -> list[dict[str, Any]]:
    out = _Out(max_messages)
    for r in reply.all_results():
        _one(out, r)
    if not out.body and not out.activities:
        out.add(_tb("Done; nothing to show."))
    return out.done()


__all__ = ["csv_upload", "render_teams"]
