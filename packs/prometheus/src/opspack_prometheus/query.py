"""``prometheus query``: an instant PromQL query as a table, values formatted by unit."""

from __future__ import annotations

import math
from typing import Any

from opspack import KV, Context, Link, Result, Table, Text, command
from opspack.errors import UsageError

from opspack_prometheus.connection import prometheus
from opspack_prometheus.series import common_labels, selector_text
from opspack_prometheus.timeparse import parse_time
from opspack_prometheus.units import Unit, format_value, unit_of_query

#: rows a table keeps (more: the table says how many there were); renderers cut further
#: and attach the whole table as CSV
MAX_ROWS = 10_000
#: label columns a table shows; more are shown together in one ``labels`` column
MAX_LABEL_COLUMNS = 8


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def graph_link(base: str, promql: str, *, tab: int = 1, range_input: str | None = None) -> str:
    """Prometheus's own page for the expression (``tab`` 0: graph, 1: table)."""
    from urllib.parse import urlencode

    params = {"g0.expr": promql, "g0.tab": str(tab)}
    if range_input:
        params["g0.range_input"] = range_input
    return f"{base}/graph?{urlencode(params)}"


def vector_table(promql: str, result: list[dict[str, Any]], *, title: str) -> Table:
    """One row per series: its labels as columns (the common ones moved to the title), then the value."""
    metrics = [dict(item.get("metric") or {}) for item in result]
    unit = unit_of_query(promql, [m.get("__name__", "") for m in metrics] if all(metrics) else None)
    common = common_labels(metrics)
    names = sorted({k for m in metrics for k in m if k not in common and k != "__name__"})
    has_name = any("__name__" in m and "__name__" not in common for m in metrics)
    # series of many kinds (a regex on __name__) would make a sparse table of dozens of
    # columns: their labels go in one column instead
    merged = len(names) > MAX_LABEL_COLUMNS
    columns = (["metric"] if has_name else []) + (["labels"] if merged else names) + ["value"]
    ranked = sorted(
        zip(metrics, (_float((item.get("value") or [0, "NaN"])[1]) for item in result), strict=True),
        key=lambda mv: (math.isnan(mv[1]), -mv[1] if not math.isnan(mv[1]) else 0),
    )
    rows: list[list[Any]] = []
    for metric, value in ranked[:MAX_ROWS]:
        row: list[Any] = [metric.get("__name__", "")] if has_name else []
        if merged:
            row.append(", ".join(f"{k}={v}" for k, v in sorted(metric.items()) if k != "__name__" and k not in common))
        else:
            row.extend(metric.get(n, "") for n in names)
        row.append(format_value(value, unit) if unit else _plain(value))
        rows.append(row)
    selector = selector_text(common)
    shown = title + (f" {selector}" if selector else "") + (f" ({unit})" if unit else "")
    return Table(columns, rows, title=shown, total=len(result) if len(result) > MAX_ROWS else None)


def _plain(value: float) -> float | str:
    return value if math.isfinite(value) else format_value(value, None)


def matrix_table(promql: str, result: list[dict[str, Any]], *, title: str) -> Table:
    """A range vector (``up[5m]``): one row per series, with its sample count and last value."""
    metrics = [dict(item.get("metric") or {}) for item in result]
    unit: Unit | None = unit_of_query(promql, [m.get("__name__", "") for m in metrics] if all(metrics) else None)
    common = common_labels(metrics)
    names = sorted({k for m in metrics for k in m if k not in common and k != "__name__"})
    has_name = any("__name__" in m and "__name__" not in common for m in metrics)
    rows: list[list[Any]] = []
    for metric, item in zip(metrics, result[:MAX_ROWS], strict=False):
        values = item.get("values") or []
        last = _float(values[-1][1]) if values else math.nan
        row: list[Any] = ([metric.get("__name__", "")] if has_name else []) + [metric.get(n, "") for n in names]
        row.extend([len(values), format_value(last, unit)])
        rows.append(row)
    selector = selector_text(common)
    shown = title + (f" {selector}" if selector else "")
    columns = (["metric"] if has_name else []) + [*names, "samples", "last"]
    return Table(columns, rows, title=shown, total=len(result) if len(result) > MAX_ROWS else None)


@command(
    group="query",
    verb="instant",
    words=["query"],
    aliases=["promql"],
    examples=[
        "query up",
        "query 'sum by (job) (rate(http_requests_total[5m]))'",
        "query 'node_filesystem_avail_bytes{mountpoint=\"/\"}' --time now-1h",
    ],
    results=["table", "kv", "text", "link"],
)
def query(ctx: Context, promql: list[str], *, time: str = "now") -> list[Result]:
    """Run an instant PromQL query and show the result as a table.

    Labels become columns (those every series shares go to the title); values are
    formatted by the unit the metric name carries (_bytes, _seconds, _ratio). A
    query Prometheus cannot parse answers with Prometheus's own message.

    Args:
        promql: the PromQL expression (quote it, or type it after the command)
        time: when to evaluate it: now, now-1h, an ISO time or an epoch
    """
    expr = " ".join(promql).strip()
    if not expr:
        raise UsageError("promql is empty", "Example: prometheus query 'up == 0'")
    at = None if time.strip().lower() == "now" else parse_time(time, "time")
    client = prometheus(ctx)
    data = client.query(expr, at)
    kind = data.get("resultType")
    result = data.get("result")
    link = Link(url=graph_link(client.base, expr), text="Open in Prometheus")
    title = expr if len(expr) <= 80 else expr[:79] + "…"
    if kind == "vector":
        if not result:
            return [Text(f"`{expr}` returned no series (empty result).", title="No data"), link]
        return [vector_table(expr, list(result), title=title), link]
    if kind == "matrix":
        return [matrix_table(expr, list(result or []), title=title), link]
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        unit = unit_of_query(expr)
        return [KV({"value": format_value(_float(result[1]), unit), "at": _iso(result[0])}, title=title), link]
    if kind == "string" and isinstance(result, list) and len(result) == 2:
        return [Text(str(result[1]), title=title), link]
    return [Text(f"Prometheus answered a {kind} result: {result!r:.500}", title=title), link]


def _iso(stamp: Any) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(_float(stamp), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
