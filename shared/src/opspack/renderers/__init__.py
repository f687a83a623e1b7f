"""Renderers: one reply to a terminal, Markdown, Slack, Teams, Mattermost or JSON.

``render(reply, "slack")`` returns a list of messages, each exactly the payload the
platform's API takes; ``text`` and ``markdown`` return a string; ``json`` the
reply's dict. Each platform renderer respects the platform's limits: what does not
fit one message is split across several, and past ``max_messages`` it is cut with a
visible note and the full data attached as a file (an ``{"upload": {...}}`` entry
in the message list: filename, title, mime and base64 content).

``artifacts`` (a :class:`~opspack.renderers.common.Linker`, the runner's store) links what a
platform cannot carry: Teams cards link a cut table's CSV and an image over their size
(Teams messages take no files), upload entries carry a signed ``url`` beside their bytes
(for a bot that cannot upload), Mattermost posts name the link, and the terminal's and
Markdown's images are links instead of files on the runner's disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opspack.results import Reply

if TYPE_CHECKING:
    from opspack.renderers.common import Linker

Format = Literal["text", "markdown", "slack", "teams", "mattermost", "json"]
FORMATS: tuple[str, ...] = ("text", "markdown", "slack", "teams", "mattermost", "json")


def render(
    reply: Reply,
    fmt: str = "text",
    *,
    max_messages: int = 5,
    image_dir: Path | None = None,
    color: bool = False,
    artifacts: Linker | None = None,
    width: int | None = None,
) -> Any:
    """Render ``reply`` in format ``fmt`` (one of :data:`FORMATS`); ``artifacts`` links what
    the platform cannot carry; ``width``: the terminal's columns, which ``text`` fits (tables
    cut, prose wrapped)."""
    if fmt == "text":
        from opspack.renderers.text import render_text

        return render_text(reply, image_dir=image_dir, color=color, artifacts=artifacts, width=width)
    if fmt == "markdown":
        from opspack.renderers.markdown import render_markdown

        return render_markdown(reply, artifacts=artifacts)
    if fmt == "json":
        return reply.to_dict()
    if fmt == "slack":
        from opspack.renderers.slack import render_slack

        return render_slack(reply, max_messages=max_messages, artifacts=artifacts)
    if fmt == "teams":
        from opspack.renderers.teams import render_teams

        return render_teams(reply, max_messages=max_messages, artifacts=artifacts)
    if fmt == "mattermost":
        from opspack.renderers.mattermost import render_mattermost

        return render_mattermost(reply, max_messages=max_messages, artifacts=artifacts)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
