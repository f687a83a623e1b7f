"""Durations and points in time as people type them: ``6h``, ``2d``, ``1d12h``, ``now-1h``, ISO dates.

Standard library only; every failure is a :class:`~opspack.errors.UsageError` naming the
argument, what was given and what is expected.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

from opspack.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
#: steps a graph's auto step is rounded up to (seconds)
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def parse_duration(text: str, what: str = "duration") -> float:
    """``6h``, ``2d``, ``1d12h``, ``90m``, ``30s``, ``1w`` (or ``now-6h``: the same 6h) -> seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    cleaned = cleaned.removeprefix("now-").removeprefix("last")
    parts = _PART.findall(cleaned)
    if not parts or _PART.sub("", cleaned):
        raise UsageError(f"{what}: got {text!r}, expected a duration such as 30m, 6h, 2d, 1d12h or 1w")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise UsageError(f"{what}: got {text!r}, expected a duration longer than zero")
    return seconds


def parse_time(text: str, what: str = "time", now: float | None = None) -> float:
    """``now``, ``now-1h``, ``2026-11-01``, ``2026-11-01T10:00:00Z`` or an epoch (seconds or
    milliseconds) -> an epoch timestamp in seconds (UTC unless the text names a zone)."""
    now = time.time() if now is None else now
    value = text.strip().lower()
    if value == "now":
        return now
    if value.startswith("now-"):
        return now - parse_duration(value[4:], what)
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(number) and number > 0:
            return number / 1000 if number > 1e11 else number
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{what}: got {text!r}, expected now, now-1h, an ISO date or time (2026-11-01T10:00Z) or an epoch"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def auto_step(range_seconds: float, points: int = 720) -> float:
    """A round step giving at most about ``points`` points over the range."""
    wanted = range_seconds / points
    for step in NICE_STEPS:
        if step >= wanted:
            return float(step)
    return float(math.ceil(wanted / 86400) * 86400)


def short_duration(seconds: float) -> str:
    """``3725`` -> ``1h 2m``; two units at most, as people say how long something has lasted."""
    seconds = max(0, int(seconds))
    out: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not out):
            out.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(out) == 2:
            break
    return " ".join(out)
