"""Turning remote-API values into what people read: times, durations, levels, parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opspack.results import Level

RESULT_LEVEL: dict[str, Level] = {
    "SUCCESS": "ok",
    "UNSTABLE": "warning",
    "FAILURE": "critical",
    "ABORTED": "unknown",
    "NOT_BUILT": "unknown",
}
STAGE_LEVEL: dict[str, Level] = {
    "SUCCESS": "ok",
    "UNSTABLE": "warning",
    "FAILED": "critical",
    "ABORTED": "unknown",
    "IN_PROGRESS": "unknown",
    "PAUSED_PENDING_INPUT": "warning",
    "NOT_EXECUTED": "unknown",
    "SKIPPED": "unknown",
}
PARAMETER_KINDS = ("parameterDefinitions",)


def when(ms: Any) -> str | None:
    """Epoch milliseconds -> ``2025-01-31 14:05 UTC``."""
    if not isinstance(ms, int | float) or ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(ms: Any) -> str | None:
    """Milliseconds -> ``1h 02m``, ``3m 07s``, ``12s``."""
    if not isinstance(ms, int | float) or ms < 0:
        return None
    s = round(ms / 1000)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


def color_state(color: str | None) -> str:
    """A job's ``color`` (blue, red_anime, disabled ...) -> passing / failing / running ..."""
    c = str(color or "")
    if c.endswith("_anime"):
        return "running"
    return {
        "blue": "passing",
        "red": "failing",
        "yellow": "unstable",
        "aborted": "aborted",
        "disabled": "disabled",
        "notbuilt": "never built",
        "grey": "never built",
    }.get(c, c or "unknown")


def parameter_definitions(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's parameter definitions, from ``property`` (or ``actions`` on some versions)."""
    for key in ("property", "actions"):
        for entry in job.get(key) or []:
            if isinstance(entry, dict) and entry.get("parameterDefinitions"):
                return list(entry["parameterDefinitions"])
    return []


def default_value(definition: dict[str, Any]) -> str | None:
    default = (definition.get("defaultParameterValue") or {}).get("value")
    if default is None:
        choices = definition.get("choices") or []
        return str(choices[0]) if choices else None
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


def is_secret_parameter(definition: dict[str, Any]) -> bool:
    kind = str(definition.get("type") or definition.get("_class") or "")
    return "Password" in kind or "Credentials" in kind
