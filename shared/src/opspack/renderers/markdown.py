"""Markdown (CommonMark with GitHub tables), also the body of Mattermost messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opspack.renderers.common import ICONS, LABELS, cell, linked, value_text
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


def escape_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text}\n{ticks}"


def table_header(t: Table) -> list[str]:
    columns = (["status"] if t.row_status is not None else []) + t.columns
    return [
        "| " + " | ".join(escape_cell(c) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]


def table_rows(t: Table) -> list[str]:
    out = []
    for i, row in enumerate(t.rows):
        cells = [escape_cell(cell(v)) for v in row]
        if t.row_status is not None:
            cells.insert(0, f"{ICONS[t.row_status[i]]} {LABELS[t.row_status[i]].lower()}")
        out.append("| " + " | ".join(cells) + " |")
    return out


def result_markdown(r: Result | Error, artifacts: Linker | None = None) -> str:
    """One result as Markdown; with ``artifacts`` an image is its link, else its file name."""
    parts: list[str] = []
    title = getattr(r, "title", None)
    if title:
        parts.append(f"**{title}**")
    if isinstance(r, Text):
        parts.append(fence(r.text) if r.mono else r.text)
    elif isinstance(r, Table):
        if r.rows:
            parts.append("\n".join(table_header(r) + table_rows(r)))
        else:
            parts.append("_(no rows)_")
        if r.total is not None and r.total > len(r.rows):
            parts.append(f"_Showing {len(r.rows):,} of {r.total:,}._")
    elif isinstance(r, KV):
        parts.append("\n".join(f"- **{k}**: {value_text(v)}" for k, v in r.items.items()))
    elif isinstance(r, Status):
        parts.append(f"{ICONS[r.level]} **{LABELS[r.level]}** {r.message}")
    elif isinstance(r, Image):
        parts.append(f"![{r.alt}]({linked(artifacts, r.name, r.data, r.mime) or r.name})")
    elif isinstance(r, Link):
        parts.append(f"[{r.text or r.url}]({r.url})")
    elif isinstance(r, Menu):
        parts.append("\n".join(f"{i}. {o.label}: `{o.text or o.command}`" for i, o in enumerate(r.options, 1)))
    elif isinstance(r, Diff):
        parts.append(fence(r.unified, "diff") if r.changed else "_No differences._")
    elif isinstance(r, Progress):
        pct = f" ({r.percent:.0f}%)" if r.percent is not None else ""
        parts.append(f"{'✅' if r.done else '⏳'} {r.message}{pct}")
    elif isinstance(r, Error):
        parts.append(f"❌ **Error ({r.kind})**: {r.message}")
        if r.hint:
            parts.append(f"_{r.hint}_")
    return "\n\n".join(parts)


def render_markdown(reply: Reply, *, artifacts: Linker | None = None) -> str:
    """``reply`` as Markdown; ``artifacts`` links images."""
    return "\n\n".join(result_markdown(r, artifacts) for r in reply.all_results()) + "\n"


__all__ = ["cell", "render_markdown", "result_markdown"]
