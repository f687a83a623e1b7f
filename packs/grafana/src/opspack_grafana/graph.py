"""``grafana graph``: a panel drawn by Grafana's image renderer, posted to the chat room as a PNG."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opspack import Context, Image, Link, Menu, MenuOption, Result, Table, command
from opspack.errors import BackendError, CommandTimeout, UsageError

from opspack_grafana.connection import grafana
from opspack_grafana.errors import GrafanaError, RendererMissing
from opspack_grafana.lookup import Dashboard, Panel, find_dashboard, find_panel
from opspack_grafana.png import png_size

if TYPE_CHECKING:
    from opspack_grafana.client import GrafanaClient

#: Largest picture (width, height) asked of Grafana per chat platform, with the reason.
#: Teams shows card images up to 1024x1024 px; elsewhere 4000 px a side keeps renders
#: quick and within Mattermost's default MaxImageResolution (33 MP).
PLATFORM_LIMITS: dict[str, tuple[int, int]] = {"teams": (1024, 1024)}
DEFAULT_LIMIT = (4000, 4000)


def fit(width: int, height: int, platform: str) -> tuple[int, int, bool]:
    """``width`` x ``height`` scaled down (aspect kept) to the platform's limit; True if scaled."""
    max_w, max_h = PLATFORM_LIMITS.get(platform, DEFAULT_LIMIT)
    factor = min(1.0, max_w / width, max_h / height)
    if factor >= 1.0:
        return width, height, False
    return max(1, int(width * factor)), max(1, int(height * factor)), True


def _variables(dashboard: Dashboard, pairs: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for pair in pairs:
        name, eq, value = pair.partition("=")
        name = name.strip().removeprefix("var-")
        if not eq or not name:
            raise UsageError(f"var: got {pair!r}, expected name=value", "Example: --var env=prod --var host=web01")
        if dashboard.variables and name not in dashboard.variables:
            known = ", ".join(dashboard.variables)
            raise UsageError(
                f"dashboard '{dashboard.title}' has no variable {name!r}",
                f"Its variables: {known}.",
            )
        out.append((name, value))
    return out


def _pick_panel(ctx: Context, dashboard: Dashboard) -> list[Result]:
    rows = [[p.id, p.title, p.type, p.row] for p in dashboard.panels]
    options = [
        MenuOption(f"{p.title or p.id}", ctx.command, {"dashboard": dashboard.uid, "panel": str(p.id)})
        for p in dashboard.panels[:10]
    ]
    return [
        Table(["id", "title", "type", "row"], rows, title=f"{dashboard.title}: which panel?"),  # type: ignore[arg-type]
        Menu(options, title="Graph a panel"),
    ]


@command(
    group="panel",
    verb="graph",
    words=["grafana", "graph"],
    examples=[
        "grafana graph checkout 'Request rate'",
        "grafana graph aBcD1234 7 --from now-24h",
        "grafana graph 'api latency' p99 --var env=prod --width 1200 --height 400",
    ],
    timeout=120,
    results=["image", "link", "table", "menu"],
)
def graph(
    ctx: Context,
    dashboard: str,
    panel: str | None = None,
    *,
    from_: str = "now-6h",
    to: str = "now",
    var: list[str] | None = None,
    width: int = 1000,
    height: int = 500,
    tz: str | None = None,
) -> list[Result]:
    """Draw a dashboard panel as a picture and post it to the chat room.

    Grafana's image renderer draws the panel (`/render/d-solo/...`); the PNG is uploaded
    to Slack and Mattermost, shown in Teams, saved to a file in a terminal. Name the
    dashboard by uid or by words of its title (quote several words), the panel by
    title or id; without a panel, the dashboard's panels are listed to pick from.

    Args:
        dashboard: the dashboard's uid, or words of its title
        panel: the panel's title (or a unique part of it) or its id
        from_: start of the time range (now-6h, now-2d, an epoch in ms, 2024-05-01T10:00:00Z)
        to: end of the time range
        var: dashboard variables as name=value (repeat, or comma-separate)
        width: picture width in pixels (scaled down to the chat platform's limit)
        height: picture height in pixels
        tz: time zone for the axis (e.g. UTC, Europe/Paris; default: the dashboard's)
    """
    if not (10 <= width <= 10000 and 10 <= height <= 10000):
        raise UsageError(f"width x height: got {width}x{height}, expected 10 to 10000 pixels each")
    client = grafana(ctx)
    board = find_dashboard(client, dashboard)
    variables = _variables(board, var or [])
    if panel is None:
        if len(board.panels) != 1:
            if not board.panels:
                raise UsageError(f"dashboard '{board.title}' has no panels to draw")
            return _pick_panel(ctx, board)
        chosen = board.panels[0]
    else:
        chosen = find_panel(board, panel)
    w, h, scaled = fit(width, height, ctx.caller.format)
    data = render(client, board, chosen, start=from_, end=to, width=w, height=h, variables=variables, tz=tz, ctx=ctx)
    alt = f"{chosen.title or 'panel ' + str(chosen.id)} on {board.title}, {from_} to {to}"
    if variables:
        alt += " (" + ", ".join(f"{k}={v}" for k, v in variables) + ")"
    if scaled:
        alt += f"; scaled to {w}x{h} for {ctx.caller.format}"
    query = f"viewPanel={chosen.id}&from={from_}&to={to}" + "".join(f"&var-{k}={v}" for k, v in variables)
    return [
        Image(
            data=data,
            mime="image/png",
            alt=alt,
            filename=f"{board.slug or board.uid}-panel-{chosen.id}.png",
            title=f"{board.title} / {chosen.title}",
            width=w,
            height=h,
        ),
        Link(url=f"{client.base}{board.url}?{query}", text="Open in Grafana"),
    ]


def render(
    client: GrafanaClient,
    board: Dashboard,
    panel: Panel,
    *,
    start: str,
    end: str,
    width: int,
    height: int,
    variables: list[tuple[str, str]],
    tz: str | None,
    ctx: Context,
) -> bytes:
    """The panel's PNG from Grafana's renderer, checked to be a real render of the asked size."""
    render_timeout = int(ctx.settings["render_timeout"])
    try:
        resp = client.render_panel(
            board.uid,
            board.slug,
            panel.id,
            start=start,
            end=end,
            width=width,
            height=height,
            variables=variables,
            timezone=tz or None,
            render_timeout=render_timeout,
        )
    except GrafanaError as exc:
        if exc.status != 500:
            raise
        # Grafana answers "Rendering failed." (HTTP 500, an HTML page) when the renderer is
        # missing (Grafana 13 removed the bundled plugin path) or when the render broke.
        if not _renderer_available(client):
            raise RendererMissing("the render URL answered HTTP 500") from None
        if "timeout" in exc.message.lower() or "timed out" in exc.message.lower():
            raise CommandTimeout(
                f"Grafana's renderer timed out drawing panel {panel.id}.",
                "Try a shorter time range, or raise OPSPACK_GRAFANA_RENDER_TIMEOUT.",
            ) from None
        raise BackendError(
            f"Grafana's renderer failed to draw panel {panel.id} of {board.title} (HTTP 500 Rendering failed).",
            "Check the grafana-image-renderer log; the panel's query may be failing.",
        ) from None
    data = bytes(resp.content)
    kind = resp.headers.get("Content-Type", "")
    size = png_size(data)
    if size is None:
        raise BackendError(
            f"Grafana answered the render URL with {kind or 'no content type'}, not a PNG.",
            "A proxy in front of Grafana may be answering instead (a login page?); check OPSPACK_GRAFANA_URL.",
        )
    if size != (width, height):
        # Grafana serves a fixed picture with HTTP 200 when no renderer is installed
        # (public/img/rendering_plugin_not_installed.png) or its concurrency limit is hit.
        if not _renderer_available(client):
            raise RendererMissing("Grafana sent its 'no image renderer available/installed' picture")
        raise BackendError(
            f"Grafana sent a {size[0]}x{size[1]} picture instead of the {width}x{height} render asked for: "
            "its renderer is busy or failed and answered with a placeholder.",
            "Retry in a moment; if it persists, check the grafana-image-renderer log.",
        )
    return data


def _renderer_available(client: GrafanaClient) -> bool:
    try:
        return bool(client.frontend_settings().get("rendererAvailable", False))
    except GrafanaError:
        return True  # cannot tell: do not claim the renderer is missing
