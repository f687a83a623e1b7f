"""Series labels: which are common to every series of a result, and a short name for each series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def common_labels(metrics: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The label pairs every series carries with the same value (none for a single series)."""
    if len(metrics) < 2:
        return {}
    first = dict(metrics[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in metrics[1:])}


def legend_text(metric: Mapping[str, str], drop: Mapping[str, str] | None = None) -> str:
    """A series' name in a legend: the labels that tell it apart from the others (``drop``
    are the ones they share), as ``a=1, b=2``; only the value when one label is left."""
    drop = drop or {}
    pairs = [(k, v) for k, v in sorted(metric.items()) if k not in drop and k != "__name__"]
    name = metric.get("__name__", "") if "__name__" not in drop else ""
    if not name and len(pairs) == 1:
        return pairs[0][1]
    text = ", ".join(f"{k}={v}" for k, v in pairs)
    if name:
        return f"{name} {text}".strip() if text else name
    return text or "{}"


def selector_text(labels: Mapping[str, str]) -> str:
    """``{job="app", instance="x"}`` for a title (empty for none); the metric's name is left
    out, as the query beside it names it."""
    pairs = [f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__"]
    return "{" + ", ".join(pairs) + "}" if pairs else ""
