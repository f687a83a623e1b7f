"""Finding a dashboard by uid or search words, and a panel by title or id."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opspack.errors import Ambiguous, NotFound

from opspack_grafana.errors import GrafanaError

if TYPE_CHECKING:
    from opspack_grafana.client import GrafanaClient

_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
#: panel types that draw nothing worth a picture
NOT_DRAWN = {"row"}


@dataclass
class Panel:
    id: int
    title: str
    type: str
    row: str = ""


@dataclass
class Dashboard:
    uid: str
    title: str
    slug: str
    url: str
    folder: str
    panels: list[Panel] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    timezone: str = ""


def find_dashboard(client: GrafanaClient, text: str) -> Dashboard:
    """The dashboard ``text`` names: an exact uid, else the one whose title matches the words.

    One search, then one read of the dashboard (two requests whichever way it is named)."""
    hits = client.search(text, limit=50)
    uid = _pick(hits, text)
    if uid is None:
        if not _UID.match(text):
            others = [h.get("title", "") for h in client.search("", limit=500)]
            raise NotFound.with_matches("dashboard", text, others)
        uid = text
    try:
        data = client.dashboard(uid)
    except GrafanaError as exc:
        if exc.status != 404:
            raise
        others = [h.get("title", "") for h in client.search("", limit=500)]
        raise NotFound.with_matches("dashboard", text, others) from None
    return _dashboard(data, uid)


def _pick(hits: list[dict[str, Any]], text: str) -> str | None:
    if not hits:
        return None
    low = text.strip().lower()
    for key in ("uid", "title"):
        exact = [h for h in hits if str(h.get(key, "")).lower() == low]
        if len(exact) == 1:
            return str(exact[0]["uid"])
    if len(hits) == 1:
        return str(hits[0]["uid"])
    names = [f"{h.get('title')} ({h.get('folderTitle') or 'General'}, uid {h.get('uid')})" for h in hits]
    raise Ambiguous("dashboard", text, names)


def _dashboard(data: dict[str, Any], uid: str) -> Dashboard:
    dash = data.get("dashboard") or {}
    meta = data.get("meta") or {}
    panels: list[Panel] = []
    row = ""
    for p in dash.get("panels") or []:
        if p.get("type") == "row":
            # a collapsed row holds its panels; an open row is followed by them at the top level
            row = str(p.get("title") or "")
            panels.extend(_panel(inner, row) for inner in p.get("panels") or [])
        else:
            panels.append(_panel(p, row))
    templating = (dash.get("templating") or {}).get("list") or []
    return Dashboard(
        uid=str(dash.get("uid") or uid),
        title=str(dash.get("title") or uid),
        slug=str(meta.get("slug") or ""),
        url=str(meta.get("url") or f"/d/{uid}"),
        folder=str(meta.get("folderTitle") or "General"),
        panels=[p for p in panels if p.type not in NOT_DRAWN],
        variables=[str(v.get("name")) for v in templating if v.get("name")],
        timezone=str(dash.get("timezone") or ""),
    )


def _panel(p: dict[str, Any], row: str) -> Panel:
    return Panel(id=int(p.get("id") or 0), title=str(p.get("title") or ""), type=str(p.get("type") or ""), row=row)


def find_panel(dashboard: Dashboard, text: str) -> Panel:
    """The panel ``text`` names in ``dashboard``: its id, exact title, or a unique part of a title."""
    text = text.strip()
    if text.isdigit():
        for p in dashboard.panels:
            if p.id == int(text):
                return p
    low = text.lower()
    exact = [p for p in dashboard.panels if p.title.lower() == low]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [p for p in dashboard.panels if low in p.title.lower()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise Ambiguous("panel", text, [f"{p.title} (id {p.id})" for p in partial])
    close = NotFound.with_matches("panel", text, [p.title for p in dashboard.panels])
    listing = ", ".join(f"{p.title} ({p.id})" for p in dashboard.panels[:15]) or "none"
    raise NotFound(
        f"panel '{text}' not found on dashboard '{dashboard.title}'",
        close.hint or f"Its panels: {listing}.",
    )
