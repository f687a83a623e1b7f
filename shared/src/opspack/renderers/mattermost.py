"""Mattermost: ``{"message", "props": {"attachments": [...]}}`` posts.

The message body is Markdown, at most 16,383 characters; long tables continue in
the next post and past ``max_messages`` are cut with a note and a CSV upload
(``{"upload": ...}``; at most 10 files per post). Statuses and errors are colored
attachments. With ``artifacts`` (the runner's store) each upload also carries its signed
``url`` and the post names the link, so an integration that cannot upload (an outgoing
webhook or slash command answer) still has the file one link away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opspack.renderers.common import LABELS, chunks, csv_name, csv_upload, cut_note, slug, upload
from opspack.renderers.markdown import result_markdown, table_header, table_rows
from opspack.results import Error, Image, Reply, Result, Status, Table

if TYPE_CHECKING:
    from opspack.renderers.common import Linker

MESSAGE_CHARS = 16383
PROPS_CHARS = 800_000
_COLORS = {"ok": "#2eb886", "warning": "#daa038", "critical": "#a30200", "unknown": "#8d8d8d"}


class _Out:
    def __init__(self, max_messages: int, artifacts: Linker | None = None) -> None:
        self.max_messages = max_messages
        self.artifacts = artifacts
        self.posts: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.parts: list[str] = []
        self.attachments: list[dict[str, Any]] = []

    def _len(self) -> int:
        return sum(len(p) + 2 for p in self.parts)

    def text(self, md: str) -> None:
        for piece in chunks(md, MESSAGE_CHARS - 100):
            if self.parts and self._len() + len(piece) > MESSAGE_CHARS - 100:
                self.flush()
            self.parts.append(piece)

    def attach(self, att: dict[str, Any]) -> None:
        self.attachments.append(att)

    def flush(self) -> None:
        if self.parts or self.attachments:
            post: dict[str, Any] = {"message": "\n\n".join(self.parts)}
            if self.attachments:
                post["props"] = {"attachments": self.attachments}
            self.posts.append(post)
        self.parts, self.attachments = [], []

    def done(self) -> list[dict[str, Any]]:
        self.flush()
        out = list(self.posts)
        for i in range(0, len(self.uploads), 10):
            out.extend(self.uploads[i : i + 10])
        return out


def _table(out: _Out, t: Table) -> None:
    header = "\n".join(table_header(t))
    rows = table_rows(t)
    title = f"**{t.title}**\n\n" if t.title else ""
    if not rows:
        out.text(result_markdown(t))
        return
    budget = MESSAGE_CHARS - 300 - len(header) - len(title)
    batches: list[list[str]] = [[]]
    used = 0
    for row in rows:
        if batches[-1] and used + len(row) + 1 > budget:
            batches.append([])
            used = 0
        batches[-1].append(row[: budget - 1])
        used += len(row) + 1
    cut = len(batches) > out.max_messages
    batches = batches[: out.max_messages]
    for n, batch in enumerate(batches):
        out.flush()
        head = title if n == 0 else (f"**{t.title}** (continued)\n\n" if t.title else "")
        out.text(head + header + "\n" + "\n".join(batch))
    if cut:
        shown = sum(len(b) for b in batches)
        entry = csv_upload(t, out.artifacts)
        out.text(f"_{cut_note(shown, len(rows), csv_name(t))}_" + _link_note(entry))
        out.uploads.append(entry)
    if t.total is not None and t.total > len(t.rows):
        out.text(f"_The command returned {len(t.rows):,} of {t.total:,} rows._")


def _link_note(entry: dict[str, Any]) -> str:
    """`` ([download](url))`` when the upload entry has a link."""
    url = entry["upload"].get("url")
    return f" ([download]({url}))" if url else ""


def _one(out: _Out, r: Result | Error) -> None:
    if isinstance(r, Table):
        _table(out, r)
    elif isinstance(r, Status):
        out.attach(
            {
                "fallback": f"{LABELS[r.level]}: {r.message}",
                "color": _COLORS[r.level],
                "title": r.title or LABELS[r.level],
                "text": r.message if r.title is None else f"**{LABELS[r.level]}** {r.message}",
            }
        )
    elif isinstance(r, Error):
        att: dict[str, Any] = {
            "fallback": f"Error ({r.kind}): {r.message}",
            "color": _COLORS["critical"],
            "title": f"Error ({r.kind})",
            "text": r.message + (f"\n\n_{r.hint}_" if r.hint else ""),
        }
        if r.confirm is not None and r.confirm.token and "confirm " + r.confirm.token not in att["text"]:
            att["text"] += f"\n\nTo confirm, send: `confirm {r.confirm.token}`"
        out.attach(att)
    elif isinstance(r, Image):
        entry = upload(r.name, r.data, r.mime, title=r.title or r.alt, alt=r.alt, artifacts=out.artifacts)
        out.uploads.append(entry)
        out.text(f"🖼 {r.title or r.alt} (attached as {r.name})" + _link_note(entry))
    else:
        md = result_markdown(r)
        if len(md) > MESSAGE_CHARS * out.max_messages:
            fname = slug(getattr(r, "title", None), "output") + ".txt"
            entry = upload(fname, md.encode("utf-8"), "text/plain", artifacts=out.artifacts)
            out.text(
                md[: MESSAGE_CHARS - 200] + f"\n\n_Cut; the full text is attached as {fname}._" + _link_note(entry)
            )
            out.uploads.append(entry)
        else:
            out.text(md)


def render_mattermost(reply: Reply, *, max_messages: int = 5, artifacts: Linker | None = None) -> list[dict[str, Any]]:
    """Mattermost posts and upload entries for ``reply``; ``artifacts`` links the uploads too."""
    out = _Out(max_messages, artifacts)
    for r in reply.all_results():
        _one(out, r)
    result = out.done()
    return result or [{"message": "Done; nothing to show."}]


__all__ = ["PROPS_CHARS", "render_mattermost"]
