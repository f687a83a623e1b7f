"""Helpers the renderers share: cell formatting, status icons, file uploads, links."""

from __future__ import annotations

import base64
import logging
import re
import unicodedata
from typing import Any, Protocol

from opspack.errors import ConfigError
from opspack.results import Level, Scalar, Table

log = logging.getLogger("opspack.renderers")

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
    return sum(char_width(ch) for ch in text)


def char_width(ch: str) -> int:
    """Terminal columns one character takes: 0 (combining), 2 (wide East-Asian) or 1."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cut_text(text: str, columns: int, ellipsis: str = "…") -> str:
    """``text`` in at most ``columns`` terminal columns, ending with ``ellipsis`` when cut."""
    if display_width(text) <= columns:
        return text
    room = columns - display_width(ellipsis)
    if room <= 0:
        return ellipsis[: max(columns, 0)]
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > room:
            break
        out.append(ch)
        used += w
    return "".join(out) + ellipsis


def fit_widths(widths: list[int], columns: int, *, gap: int = 2, floor: int = 6) -> list[int]:
    """Column widths that fit ``columns`` (with ``gap`` between columns): the widest columns
    are narrowed first, down to ``floor`` (a column narrower than that keeps its width); when
    even that does not fit, every column is at its floor and the line is wider."""
    room = columns - gap * (len(widths) - 1)
    if sum(widths) <= room or not widths:
        return list(widths)
    floors = [min(w, floor) for w in widths]

    def total(cap: int) -> int:
        return sum(max(min(w, cap), f) for w, f in zip(widths, floors, strict=True))

    low, high = 0, max(widths)  # the largest cap whose total fits
    while low < high:
        mid = (low + high + 1) // 2
        if total(mid) <= room:
            low = mid
        else:
            high = mid - 1
    fitted = [max(min(w, low), f) for w, f in zip(widths, floors, strict=True)]
    spare = room - sum(fitted)
    for i, w in enumerate(widths):  # what is left goes to the cut columns, from the left
        if spare <= 0:
            break
        if w > fitted[i]:
            fitted[i] += 1
            spare -= 1
    return fitted


def status_line(level: Level, message: str) -> str:
    return f"{ICONS[level]} {LABELS[level]}: {message}"


def slug(text: str | None, default: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text or "").strip("-").lower()
    return s[:60] or default


class Linker(Protocol):
    """What a renderer is given to link what a platform cannot carry (the runner's artifact
    store, :mod:`opspack.frontends.artifacts`): store ``data`` and answer its URL."""

    def link(self, filename: str, data: bytes, mime: str) -> str:
        """Store ``data`` (named ``filename``, of type ``mime``) and return a URL that serves it."""
        ...


def linked(artifacts: Linker | None, filename: str, content: bytes, mime: str) -> str | None:
    """The signed link to ``content`` stored by ``artifacts`` (None: no store, or it failed,
    which is logged: the message then says the file could not be linked)."""
    if artifacts is None:
        return None
    try:
        return artifacts.link(filename, content, mime)
    except (OSError, ConfigError) as exc:
        log.warning("%s could not be stored as an artifact: %s", filename, exc)
        return None


def upload(
    filename: str,
    content: bytes,
    mime: str,
    title: str | None = None,
    alt: str | None = None,
    artifacts: Linker | None = None,
) -> dict[str, Any]:
    """A file for the platform's upload API (Slack files_upload_v2, Mattermost /files); with
    ``artifacts``, its ``url`` too, for a bot that cannot upload (it posts the link)."""
    out: dict[str, Any] = {
        "filename": filename,
        "title": title or filename,
        "mime": mime,
        "content_base64": base64.b64encode(content).decode("ascii"),
    }
    if alt:
        out["alt_text"] = alt[:1000]
    url = linked(artifacts, filename, content, mime)
    if url:
        out["url"] = url
    return {"upload": out}


def csv_name(table: Table) -> str:
    """The file name of a table's CSV."""
    return slug(table.title, "table") + ".csv"


def csv_upload(table: Table, artifacts: Linker | None = None) -> dict[str, Any]:
    """A table's full CSV as an upload entry."""
    return upload(
        csv_name(table), table.to_csv().encode("utf-8"), "text/csv", title=table.title or "table", artifacts=artifacts
    )


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
