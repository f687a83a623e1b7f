"""Helpers the renderers share: cell formatting, status icons, file uploads."""

from __future__ import annotations

import base64
import re
import unicodedata
from typing import Any

from opspack.results import Level, Scalar, Table

ICONS: dict[str, str] = {"ok": "🟢", "warning": "🟠", "critical": "🔴", "unknown": "⚪"}
LABELS: dict[str, str] = {"ok": "OK", "warning": "WARNING", "critical": "CRITICAL", "unknown": "UNKNOWN"}


def cell(value: Scalar) -> str:
    """A table cell or value as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"
    return str(value)


def value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    return cell(value)


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes (wide East-Asian characters count twice)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def status_line(level: Level, message: str) -> str:
    return f"{ICONS[level]} {LABELS[level]}: {message}"


def slug(text: str | None, default: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text or "").strip("-").lower()
    return s[:60] or default


def upload(
    filename: str, content: bytes, mime: str, title: str | None = None, alt: str | None = None
) -> dict[str, Any]:
    """A file for the platform's upload API (Slack files_upload_v2, Mattermost /files)."""
    out: dict[str, Any] = {
        "filename": filename,
        "title": title or filename,
        "mime": mime,
        "content_base64": base64.b64encode(content).decode("ascii"),
    }
    if alt:
        out["alt_text"] = alt[:1000]
    return {"upload": out}


def csv_upload(table: Table) -> dict[str, Any]:
    name = slug(table.title, "table") + ".csv"
    return upload(name, table.to_csv().encode("utf-8"), "text/csv", title=table.title or "table")


def cut_note(shown: int, total: int, filename: str) -> str:
    return f"Showing {shown:,} of {total:,} rows; the full table is attached as {filename}."


def chunks(text: str, size: int) -> list[str]:
    """Split text into pieces of at most ``size`` characters, at line ends when possible."""
    out: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut <= 0:
            cut = size
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text or not out:
        out.append(text)
    return out
