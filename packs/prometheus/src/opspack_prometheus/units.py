"""Values formatted by the unit a metric's name carries (``_bytes``, ``_seconds``, ``_ratio``).

Prometheus's naming conventions put the base unit at the end of a metric's name
(https://prometheus.io/docs/practices/naming/); a query's unit is read from the series'
``__name__`` or, once functions dropped it, from the metric names in the PromQL text.
"""

from __future__ import annotations

import math
import re
from typing import Literal

Unit = Literal["bytes", "bytes/s", "seconds", "ratio", "percent"]

_NAME = re.compile(r"(?<![\w:.\"'])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*(?:\{|\[|$|\)|\s|,|[-+*/^%]))")
#: PromQL words that look like metric names
_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
}
_SUFFIXES = ("_total", "_sum", "_bucket", "_max", "_min", "_avg")
_RATE = re.compile(r"\b(?:i?rate|deriv)\s*\(")


def unit_of_name(name: str) -> Unit | None:
    """The unit a metric name ends with (``node_memory_MemFree_bytes`` -> ``bytes``)."""
    base = name.lower()
    if base.endswith(("_count", "_created", "_info")):
        return None
    for suffix in _SUFFIXES:
        base = base.removesuffix(suffix)
    if base.endswith("_bytes"):
        return "bytes"
    if base.endswith("_seconds"):
        return "seconds"
    if base.endswith("_ratio"):
        return "ratio"
    if base.endswith("_percent"):
        return "percent"
    return None


def metric_names(promql: str) -> list[str]:
    """The metric names a PromQL expression reads (a best effort: function names are left out)."""
    text = re.sub(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", '""', promql)  # no label values
    text = re.sub(r"\{[^}]*\}", "{}", text)  # no label names
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = []
    for match in _NAME.finditer(text):
        name = match.group(1)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or name.lower() in _KEYWORDS:
            continue
        names.append(name)
    return names


def unit_of_query(promql: str, series_names: list[str] | None = None) -> Unit | None:
    """The unit of a query's values: the series' own names, else the names in the PromQL;
    None when they disagree or say nothing. Bytes read through ``rate()`` are bytes/s (but a
    ``histogram_quantile`` of rates is in the buckets' own unit)."""
    names = [n for n in series_names or [] if n] or metric_names(promql)
    units = {unit_of_name(n) for n in names}
    if len(units) != 1:
        return None
    unit = units.pop()
    if unit is not None and not series_names and _RATE.search(promql) and "histogram_quantile" not in promql:
        # rate(x_bytes_total) is bytes per second; rate(x_seconds_total) is a share of one second
        if unit == "bytes":
            return "bytes/s"
        if unit == "seconds":
            return None
    return unit


def _number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def format_value(value: float, unit: Unit | None) -> str:
    """A sample value for a person: ``1.5 GiB``, ``250 ms``, ``93.5%``, ``12,345``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if unit in ("bytes", "bytes/s"):
        suffix = "/s" if unit == "bytes/s" else ""
        size = abs(value)
        for prefix in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
            if size < 1024 or prefix == "PiB":
                shown = value / (1024 ** ("B", "KiB", "MiB", "GiB", "TiB", "PiB").index(prefix))
                return f"{_number(shown)} {prefix}{suffix}"
            size /= 1024
    if unit == "seconds":
        return format_seconds(value)
    if unit == "ratio":
        return f"{_number(value * 100)}%"
    if unit == "percent":
        return f"{_number(value)}%"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return _number(value, 6)


def format_seconds(value: float) -> str:
    """``0.0042`` -> ``4.2 ms``, ``3.5`` -> ``3.5 s``, ``7384`` -> ``2h 3m``."""
    size = abs(value)
    if size == 0:
        return "0 s"
    if size < 1e-3:
        return f"{_number(value * 1e6)} µs"
    if size < 1:
        return f"{_number(value * 1e3)} ms"
    if size < 60:
        return f"{_number(value)} s"
    from opspack_prometheus.timeparse import short_duration

    return ("-" if value < 0 else "") + short_duration(size)
