"""Plain text for a terminal: aligned tables, key-values, statuses.

Given a ``width`` (the terminal's columns), what is drawn fits it: a table's widest columns
are narrowed first and their cells cut with an ellipsis (``--format json`` keeps every value
whole), titles are cut, and prose (text, key-values: what help shows) wraps. Preformatted
text (``mono`` text, diffs), statuses and errors are left whole for the terminal to wrap.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from opspack.renderers.common import LABELS, cell, cut_text, display_width, fit_widths, linked, slug, value_text
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

_COLORS = {"ok": "\x1b[32m", "warning": "\x1b[33m", "critical": "\x1b[31m", "unknown": "\x1b[90m"}
_RESET = "\x1b[0m"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def table_text(t: Table, *, color: bool = False, width: int | None = None) -> list[str]:
    """The table's lines; with ``width``, narrowed to fit it (the widest columns first, their
    cells cut with ``…``)."""
    columns = list(t.columns)
    rows = [[cell(v).replace("\n", " ") for v in row] for row in t.rows]
    if t.row_status is not None:
        columns = ["status", *columns]
        rows = [[LABELS[s].lower(), *r] for s, r in zip(t.row_status, rows, strict=True)]
    widths = [display_width(c) for c in columns]
    for row in rows:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], display_width(v))
    if width is not None:
        fitted = fit_widths(widths, width)
        if fitted != widths:
            widths = fitted
            columns = [cut_text(c, widths[i]) for i, c in enumerate(columns)]
            rows = [[cut_text(v, widths[i]) for i, v in enumerate(row)] for row in rows]
    lines = ["  ".join(_pad(c, widths[i]) for i, c in enumerate(columns)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for n, row in enumerate(rows):
        line = "  ".join(_pad(v, widths[i]) for i, v in enumerate(row)).rstrip()
        if color and t.row_status is not None:
            line = _COLORS[t.row_status[n]] + line + _RESET
        lines.append(line)
    if not t.rows:
        lines.append("(no rows)")
    if t.total is not None and t.total > len(t.rows):
        lines.append(f"(showing {len(t.rows):,} of {t.total:,})")
    return lines


def _wrap(line: str, width: int | None, indent: str = "") -> list[str]:
    """``line`` wrapped to ``width`` (continuation lines start with ``indent``, or with the
    line's own leading spaces); unchanged without a width or when it fits."""
    if width is None or display_width(line) <= width:
        return [line]
    lead = line[: len(line) - len(line.lstrip(" "))]
    wrapped = textwrap.wrap(
        line,
        width=max(width, len(indent or lead) + 10),
        subsequent_indent=indent or lead,
        break_on_hyphens=False,
        drop_whitespace=True,
    )
    return wrapped or [line]


def _one(
    r: Result | Error,
    image_dir: Path | None,
    color: bool,
    artifacts: Linker | None = None,
    width: int | None = None,
) -> list[str]:
    lines: list[str] = []
    title = getattr(r, "title", None)
    if title:
        title = title if width is None else cut_text(title, width)
        lines.append(title)
        lines.append("=" * min(display_width(title), width or 80))
    if isinstance(r, Text):
        for line in r.text.splitlines() or [""]:
            lines.extend([line] if r.mono else _wrap(line, width))
    elif isinstance(r, Table):
        lines.extend(table_text(r, color=color, width=width))
    elif isinstance(r, KV):
        keys = max((display_width(k) for k in r.items), default=0)
        if width is not None:
            keys = min(keys, max(width // 3, 8))
        for k, v in r.items.items():
            if isinstance(v, list) and len(v) > 1:
                lines.append(_pad(k + ":", keys + 1))
                for x in v:
                    lines.extend(_wrap(f"  - {cell(x)}", width, "    "))
            else:
                lines.extend(_wrap(f"{_pad(k + ':', keys + 1)} {value_text(v)}", width, " " * (keys + 2)))
    elif isinstance(r, Status):
        label = f"[{LABELS[r.level]}]"
        if color:
            label = _COLORS[r.level] + label + _RESET
        lines.append(f"{label} {r.message}")
    elif isinstance(r, Image) and (url := linked(artifacts, r.name, r.data, r.mime)):
        lines.append(f"[image: {r.alt} ({r.mime}, {len(r.data):,} bytes)] {url}")
    elif isinstance(r, Image):
        folder = image_dir or Path(tempfile.gettempdir()) / "opspack-images"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{slug(r.title or r.alt, 'image')}-{abs(hash(r.data)) % 10**8}{Path(r.name).suffix}"
        path.write_bytes(r.data)
        lines.append(f"[image: {r.alt} ({r.mime}, {len(r.data):,} bytes) saved to {path}]")
    elif isinstance(r, Link):
        lines.append(f"{r.text or r.url}: {r.url}" if r.text else r.url)
    elif isinstance(r, Menu):
        for i, o in enumerate(r.options, 1):
            lines.append(f"{i}. {o.label}: {o.text or o.command}")
    elif isinstance(r, Diff):
        lines.extend((r.unified or "(no differences)").splitlines())
    elif isinstance(r, Progress):
        pct = f" ({r.percent:.0f}%)" if r.percent is not None else ""
        lines.append(f"{'done' if r.done else '...'} {r.message}{pct}")
    elif isinstance(r, Error):
        lines.append(f"Error ({r.kind}): {r.message}")
        if r.hint:
            lines.append(f"Hint: {r.hint}")
    return lines


def render_text(
    reply: Reply,
    *,
    image_dir: Path | None = None,
    color: bool = False,
    artifacts: Linker | None = None,
    width: int | None = None,
) -> str:
    """``reply`` for a terminal; an image is saved under ``image_dir``, or with ``artifacts``
    (the runner, answering a bot) linked; with ``width`` (the terminal's columns), drawn to fit it."""
    blocks = ["\n".join(_one(r, image_dir, color, artifacts, width)) for r in reply.all_results()]
    return "\n\n".join(blocks) + ("\n" if blocks else "")
