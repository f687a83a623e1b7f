"""``ns ha status``: the HA pair's node states and configuration sync."""

from __future__ import annotations

from typing import Any

from opspack import Context, Result, Status, Table, command, worst
from opspack.results import Level

from opspack_netscaler import states
from opspack_netscaler.connection import nitro

#: hacurstate values that mean the node is healthy (NITRO reference: configuration/ha/hanode)
_HEALTHY = {"UP"}
_DOWN = {"DOWN", "COMPLETEFAIL", "PARTIALFAIL", "MONITORFAIL", "ROUTEMONITORFAIL", "PARTIALFAILSSL"}


def _node_level(node: dict[str, Any]) -> Level:
    health = str(node.get("hacurstate") or "").upper()
    if health in _DOWN:
        return "critical"
    if health and health not in _HEALTHY:
        return "warning"
    if str(node.get("hasyncfailurereason") or "").strip():
        return "warning"
    if str(node.get("hastatus") or "ENABLED").upper() == "DISABLED":
        return "warning"
    return "ok" if health in _HEALTHY else "unknown"


def _sync(node: dict[str, Any]) -> str:
    failure = str(node.get("hasyncfailurereason") or "").strip()
    setting = str(node.get("hasync") or "")
    if failure:
        return f"FAILED: {failure}"
    return "ENABLED" if setting.upper() == "ENABLED" else (setting or "unknown")


@command(
    group="ha",
    verb="status",
    words=["ns", "ha", "status"],
    examples=["ns ha status", "ns ha status --profile dc2"],
    results=["table", "status"],
)
def status(ctx: Context) -> list[Result]:
    """Show the HA nodes: which is primary, their health, and whether configuration sync works."""
    nodes = nitro(ctx, lambda c: c.get("hanode"))
    nodes.sort(key=lambda n: states.to_int(n.get("id")) or 0)
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for n in nodes:
        rows.append(
            [
                states.to_int(n.get("id")),
                n.get("name"),
                n.get("ipaddress"),
                n.get("state") or n.get("hacurmasterstate"),
                n.get("hacurstate"),
                n.get("hastatus"),
                _sync(n),
                states.to_int(n.get("masterstatetime")),
            ]
        )
        levels.append(_node_level(n))
    table = Table(
        columns=["id", "name", "ip", "role", "health", "ha_status", "sync", "in_role_s"],
        rows=rows,
        row_status=levels,
        title="HA nodes (id 0 is the node answering)",
    )
    roles = [str(n.get("state") or "").capitalize() for n in nodes]
    if len(nodes) < 2:
        return [table, Status("warning", "Standalone: no HA peer is configured on this ADC.")]
    overall = worst(levels)
    if roles.count("Primary") != 1:
        overall = "critical"
        message = f"Expected one primary, found {roles.count('Primary')} ({', '.join(roles)})."
    else:
        primary = next(n for n in nodes if str(n.get("state") or "").capitalize() == "Primary")
        message = f"{primary.get('name') or primary.get('ipaddress')} is primary"
        bad = [str(n.get("name") or n.get("ipaddress")) for n, lv in zip(nodes, levels, strict=True) if lv != "ok"]
        message += f"; attention: {', '.join(bad)}" if bad else "; both nodes healthy and in sync"
    return [table, Status(overall, message)]
