"""``grafana datasources``: every data source with the result of its health check."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opspack import Context, Result, Status, Table, command, worst
from opspack.results import Level

from opspack_grafana.connection import grafana


@command(
    group="datasource",
    verb="list",
    words=["grafana", "datasources"],
    examples=["grafana datasources", "grafana datasources --no-health"],
    timeout=90,
    results=["table", "status"],
)
def datasources(ctx: Context, *, health: bool = True) -> list[Result]:
    """List data sources with their health (Grafana's own "Save & test" check), and Grafana's version.

    Args:
        health: run each data source's health check (--no-health to skip)
    """
    client = grafana(ctx)
    server = client.health()
    items = sorted(client.datasources(), key=lambda d: str(d.get("name", "")).lower())
    checks: list[tuple[Level, str, str]] = [("unknown", "not checked", "")] * len(items)
    if health and items:
        with ThreadPoolExecutor(max_workers=min(8, len(items)), thread_name_prefix="grafana-health") as pool:
            checks = list(pool.map(lambda d: _check(client, d), items))
    rows = [
        [d.get("name"), d.get("typeName") or d.get("type"), d.get("uid"), bool(d.get("isDefault")), state, message]
        for d, (_, state, message) in zip(items, checks, strict=True)
    ]
    levels = [lv for lv, _, _ in checks]
    table = Table(
        ["name", "type", "uid", "default", "health", "message"],
        rows,
        title=f"Data sources (Grafana {server.get('version', '?')}, database {server.get('database', '?')})",
        row_status=levels if health else None,
    )
    if not health:
        return [table]
    failing = sum(1 for lv in levels if lv == "critical")
    unchecked = sum(1 for lv in levels if lv == "unknown")
    message = f"{len(items) - failing - unchecked} of {len(items)} data sources healthy"
    if failing:
        message += f", {failing} failing"
    if unchecked:
        message += f", {unchecked} without a health check"
    overall: Level = worst([lv for lv in levels if lv != "unknown"] or ["ok"])
    return [table, Status(overall, message, title="Data source health")]


def _check(client: Any, ds: dict[str, Any]) -> tuple[Level, str, str]:
    uid = str(ds.get("uid") or "")
    if not uid:
        return "unknown", "no uid", ""
    status, payload = client.datasource_health(uid)
    said = str(payload.get("status") or "")
    message = str(payload.get("message") or "")
    if status == 200 and said.upper() == "OK":
        return "ok", "OK", message
    if status == 404:
        return "unknown", "no check", message or "its plugin has no health check"
    return "critical", said or f"HTTP {status}", message
