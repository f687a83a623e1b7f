"""Renderers: one reply to a terminal, Markdown, Slack, Teams, Mattermost or JSON.

``render(reply, "slack")`` returns a list of messages, each exactly the payload the
platform's API takes; ``text`` and ``markdown`` return a string; ``json`` the
reply's dict. Each platform renderer respects the platform's limits: what does not
fit one message is split across several, and past ``max_messages`` it is cut with a
visible note and the full data attached as a file (an ``{"upload": {...}}`` entry
in the message list: filename, title, mime and base64 content).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from opspack.results import Reply

Format = Literal["text", "markdown", "slack", "teams", "mattermost", "json"]
FORMATS: tuple[str, ...] = ("text", "markdown", "slack", "teams", "mattermost", "json")


def render(
    reply: Reply,
    fmt: str = "text",
    *,
    max_messages: int = 5,
    image_dir: Path | None = None,
    color: bool = False,
    width: int | None = None,
) -> Any:
    """Render ``reply`` in format ``fmt`` (one of :data:`FORMATS`); ``width``: the terminal's
    columns, which ``text`` fits (tables cut, prose wrapped)."""
    if fmt == "text":
        from opspack.renderers.text import render_text

        return render_text(reply, image_dir=image_dir, color=color, width=width)
    if fmt == "markdown":
        from opspack.renderers.markdown import render_markdown

        return render_markdown(reply)
    if fmt == "json":
        return reply.to_dict()
    if fmt == "slack":
        from opspack.renderers.slack import render_slack

        return render_slack(reply, max_messages=max_messages)
    if fmt == "teams":
        from opspack.renderers.teams import render_teams

        return render_teams(reply, max_messages=max_messages)
    if fmt == "mattermost":
        from opspack.renderers.mattermost import render_mattermost

        return render_mattermost(reply, max_messages=max_messages)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
