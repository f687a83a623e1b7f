"""NITRO's state words mapped to result levels, and its numbers (often sent as strings) to ints."""

from __future__ import annotations

from typing import Any

from opspack.results import Level

#: svrstate / curstate values of services and service group members (NITRO reference:
#: configuration/basic/servicegroup_servicegroupmember_binding, "svrstate")
_MEMBER_LEVELS: dict[str, Level] = {
    "UP": "ok",
    "DOWN": "critical",
    "OUT OF SERVICE": "warning",
    "GOING OUT OF SERVICE": "warning",
    "DOWN WHEN GOING OUT OF SERVICE": "critical",
    "BUSY": "warning",
    "DISABLED": "warning",
    "UNKNOWN": "unknown",
}


def to_int(value: Any) -> int | None:
    """NITRO sends many numbers as strings ("100"); None when absent or not a number."""
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def member_level(state: Any) -> Level:
    return _MEMBER_LEVELS.get(str(state or "").upper(), "unknown")


def vip_level(vs: dict[str, Any]) -> Level:
    """ok: UP with every bound service up; warning: UP but degraded, or out of service; critical: DOWN."""
    state = str(vs.get("curstate") or "").upper()
    if state == "UP":
        health = to_int(vs.get("health"))
        return "ok" if health is None or health >= 100 else "warning"
    if state in ("OUT OF SERVICE", "GOING OUT OF SERVICE"):
        return "warning"
    if state in ("DOWN", "DOWN WHEN GOING OUT OF SERVICE"):
        return "critical"
    return "unknown"
