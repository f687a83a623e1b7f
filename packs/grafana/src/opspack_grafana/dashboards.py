"""``grafana dashboards`` and ``grafana panels``: find dashboards and what they show."""

from __future__ import annotations

from opspack import Context, Menu, MenuOption, Result, Table, command

from opspack_grafana.connection import grafana
from opspack_grafana.lookup import find_dashboard


@command(
    group="dashboard",
    verb="list",
    words=["grafana", "dashboards"],
    examples=["grafana dashboards", "grafana dashboards checkout", "grafana dashboards --tag prod"],
)
def list_(ctx: Context, words: list[str] | None = None, *, tag: list[str] | None = None, limit: int = 50) -> Table:
    """Search dashboards by words of their title (all dashboards without words).

    Args:
        words: words of the title to look for
        tag: only dashboards with these tags (comma-separated)
        limit: at most this many rows
    """
    client = grafana(ctx)
    query = " ".join(words or [])
    params: list[tuple[str, str]] = [("type", "dash-db"), ("limit", str(max(1, limit) + 1))]
    if query:
        params.append(("query", query))
    params.extend(("tag", t) for t in tag or [])
    hits = list(client.get("/api/search", params))
    rows = [
        [h.get("title"), h.get("folderTitle") or "General", h.get("uid"), ", ".join(h.get("tags") or [])]
        for h in hits[:limit]
    ]
    title = f"Dashboards matching '{query}'" if query else "Dashboards"
    return Table(
        ["title", "folder", "uid", "tags"],
        rows,
        title=title,
        total=len(hits) if len(hits) > limit else None,
    )


@command(
    group="panel",
    verb="list",
    words=["grafana", "panels"],
    examples=["grafana panels checkout", "grafana panels aBcD1234"],
    results=["table", "menu"],
)
def panels(ctx: Context, dashboard: list[str]) -> list[Result]:
    """List a dashboard's panels (id, title, type, row), to pick one for `grafana graph`.

    Args:
        dashboard: the dashboard's uid, or words of its title
    """
    client = grafana(ctx)
    board = find_dashboard(client, " ".join(dashboard))
    rows: list[list[str | int | float | bool | None]] = [[p.id, p.title, p.type, p.row] for p in board.panels]
    table = Table(
        ["id", "title", "type", "row"],
        rows,
        title=f"{board.title} ({board.folder}, uid {board.uid})",
    )
    options = [
        MenuOption(p.title or str(p.id), "grafana.panel.graph", {"dashboard": board.uid, "panel": str(p.id)})
        for p in board.panels[:5]
    ]
    return [table, Menu(options, title="Graph a panel")] if options else [table]
