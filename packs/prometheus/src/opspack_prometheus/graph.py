"""``prometheus graph``: a range query drawn as a PNG (matplotlib) and posted as an image.

Works where Grafana's image renderer is missing: the pack asks Prometheus for the
series and draws them itself. The number of series is checked before anything is drawn.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

from opspack import Context, Image, Link, Result, Status, command
from opspack.errors import UsageError

from opspack_prometheus.connection import prometheus
from opspack_prometheus.query import graph_link
from opspack_prometheus.series import common_labels, legend_text, selector_text
from opspack_prometheus.timeparse import auto_step, parse_duration, parse_time, short_duration
from opspack_prometheus.units import unit_of_query

#: Largest picture (width, height) per chat platform: Teams shows card images up to 1024x1024
PLATFORM_LIMITS: dict[str, tuple[int, int]] = {"teams": (1024, 1024)}
DEFAULT_LIMIT = (4000, 4000)
#: Prometheus refuses more points than this per series
MAX_POINTS = 11_000


def fit(width: int, height: int, platform: str) -> tuple[int, int, bool]:
    """``width`` x ``height`` scaled down (aspect kept) to the platform's limit; True if scaled."""
    max_w, max_h = PLATFORM_LIMITS.get(platform, DEFAULT_LIMIT)
    factor = min(1.0, max_w / width, max_h / height)
    if factor >= 1.0:
        return width, height, False
    return max(1, int(width * factor)), max(1, int(height * factor)), True


def _step(text: str, span: float) -> float:
    if text.strip().lower() == "auto":
        return auto_step(span)
    step = parse_duration(text, "step")
    if span / step > MAX_POINTS:
        raise UsageError(
            f"step: {text} over {short_duration(span)} is {int(span / step):,} points a series; "
            f"Prometheus draws at most {MAX_POINTS:,}",
            "Use a larger --step, or --step auto.",
        )
    return step


def _values(item: dict[str, Any]) -> tuple[list[float], list[float]]:
    times: list[float] = []
    values: list[float] = []
    for stamp, value in item.get("values") or []:
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        times.append(float(stamp))
        values.append(v if math.isfinite(v) else math.nan)
    return times, values


@command(
    group="query",
    verb="graph",
    words=["graph"],
    examples=[
        "graph up",
        "graph 'sum by (job) (rate(http_requests_total[5m]))' --range 2d",
        "graph 'node_memory_MemAvailable_bytes' --range 6h --end now-1h --step 1m --theme dark",
    ],
    timeout=60,
    results=["image", "link", "status"],
)
def graph(
    ctx: Context,
    promql: list[str],
    *,
    range_: str = "6h",
    end: str = "now",
    step: str = "auto",
    width: int = 1000,
    height: int = 500,
    theme: Literal["light", "dark"] = "light",
) -> list[Result]:
    """Draw a PromQL range query as a picture (PNG) and post it to the chat room.

    The pack draws the graph itself (matplotlib), so no Grafana is needed. At most
    max_series series are drawn (setting, default 30); more answers with a hint to
    aggregate (topk, sum by). Values on the axis are formatted by the metric's unit.

    Args:
        promql: the PromQL expression (quote it, or type it after the command)
        range_: how far back: 30m, 6h, 2d, 1w (or now-6h)
        end: end of the range: now, now-1h, an ISO time or an epoch
        step: seconds between points: auto (about 720 points) or a duration such as 30s, 5m
        width: picture width in pixels (scaled down to the chat platform's limit)
        height: picture height in pixels
        theme: light or dark background
    """
    expr = " ".join(promql).strip()
    if not expr:
        raise UsageError("promql is empty", "Example: prometheus graph 'rate(http_requests_total[5m])'")
    if not (200 <= width <= 4000 and 150 <= height <= 4000):
        raise UsageError(f"width x height: got {width}x{height}, expected 200 to 4000 by 150 to 4000 pixels")
    span = parse_duration(range_, "range")
    stop = parse_time(end, "end")
    start = stop - span
    step_s = _step(step, span)
    client = prometheus(ctx)
    data = client.query_range(expr, start, stop, step_s)
    result = list(data.get("result") or [])
    limit = int(ctx.settings["max_series"])
    link = Link(url=graph_link(client.base, expr, tab=0, range_input=range_), text="Open in Prometheus")
    if len(result) > limit:
        raise UsageError(
            f"`{expr}` returned {len(result)} series; a graph draws at most {limit}.",
            f"Aggregate it: topk({min(10, limit)}, ...) or sum by (job) (...); or raise OPSPACK_PROMETHEUS_MAX_SERIES.",
        )
    if not result:
        return [Status("unknown", f"`{expr}` has no data in the last {range_}.", title="No data"), link]
    from opspack_prometheus.draw import Series, draw_png

    metrics = [dict(item.get("metric") or {}) for item in result]
    common = common_labels(metrics)
    series = [Series(legend_text(m, common), *_values(item)) for m, item in zip(metrics, result, strict=True)]
    unit = unit_of_query(expr, [m.get("__name__", "") for m in metrics] if all(metrics) else None)
    w, h, scaled = fit(width, height, ctx.caller.format)
    title = expr if len(expr) <= 90 else expr[:89] + "…"
    when = "" if end.strip().lower() == "now" else f" to {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(stop))}"
    selector = selector_text(common)
    subtitle = f"last {range_}{when} (UTC), step {step_s:g}s, {len(series)} series" + (
        f", {selector}" if selector else ""
    )
    png = draw_png(
        series,
        title=title,
        subtitle=subtitle,
        step=step_s,
        unit=unit,
        width=w,
        height=h,
        theme=theme,
        start=start,
        end=stop,
    )
    alt = f"Graph of {expr} over the last {range_}{when}: {len(series)} series"
    if scaled:
        alt += f"; scaled to {w}x{h} for {ctx.caller.format}"
    return [
        Image(
            data=png, mime="image/png", alt=alt[:2000], filename="prometheus-graph.png", title=title, width=w, height=h
        ),
        link,
    ]
