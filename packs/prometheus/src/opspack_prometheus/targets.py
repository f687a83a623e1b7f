"""``prometheus targets`` and ``prometheus rules``: scrape health and rule state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opspack import Context, Result, Status, Table, command
from opspack.results import Level

from opspack_prometheus.alerts import since
from opspack_prometheus.connection import prometheus
from opspack_prometheus.units import format_seconds

_HEALTH: dict[str, Level] = {"up": "ok", "down": "critical", "unknown": "unknown"}
_RULE_STATE: dict[str, Level] = {"firing": "critical", "pending": "warning", "inactive": "ok"}


@command(
    group="target",
    verb="list",
    words=["targets"],
    examples=["targets", "targets --down"],
    results=["status", "table"],
)
def targets(ctx: Context, *, down: bool = False, job: str | None = None) -> list[Result]:
    """Scrape targets and their health (down ones first), with the last scrape's error.

    Args:
        down: only targets that are not up
        job: only this job's targets
    """
    active: list[dict[str, Any]] = list(prometheus(ctx).targets().get("activeTargets") or [])
    if job:
        active = [t for t in active if (t.get("labels") or {}).get("job") == job or t.get("scrapePool") == job]
    now = datetime.now(UTC)
    up = sum(1 for t in active if t.get("health") == "up")
    shown = [t for t in active if t.get("health") != "up"] if down else active
    shown.sort(key=lambda t: (t.get("health") == "up", str(t.get("scrapePool")), str(t.get("scrapeUrl"))))
    rows = [
        [
            (t.get("labels") or {}).get("job", t.get("scrapePool", "")),
            (t.get("labels") or {}).get("instance", ""),
            t.get("health", ""),
            (since(t.get("lastScrape"), now) + " ago") if since(t.get("lastScrape"), now) else "never",
            format_seconds(float(t.get("lastScrapeDuration") or 0)),
            t.get("lastError", ""),
        ]
        for t in shown
    ]
    level: Level = "ok" if up == len(active) else "critical" if up == 0 else "warning"
    status = Status(level, f"{up} of {len(active)} targets up" + (f" in job {job}" if job else ""), title="Targets")
    if not rows:
        return [status]
    table = Table(
        ["job", "instance", "health", "last scrape", "took", "error"],
        rows,
        title="Targets that are down" if down else "Targets",
        row_status=[_HEALTH.get(str(t.get("health")), "unknown") for t in shown],
    )
    return [status, table]


@command(
    group="rule",
    verb="list",
    words=["rules"],
    examples=["rules", "rules --firing", "rules --group node"],
    results=["status", "table"],
)
def rules(ctx: Context, *, firing: bool = False, group: str | None = None) -> list[Result]:
    """Alerting and recording rules with their state, health and last evaluation.

    Args:
        firing: only alerting rules that fire now
        group: only the rules of this rule group
    """
    groups = prometheus(ctx).rules("alert" if firing else None)
    if group:
        groups = [g for g in groups if g.get("name") == group]
    now = datetime.now(UTC)
    entries: list[tuple[Level, list[Any]]] = []
    counts = {"firing": 0, "pending": 0, "error": 0}
    for g in groups:
        for rule in g.get("rules") or []:
            alerting = rule.get("type") == "alerting"
            state = str(rule.get("state", "")) if alerting else "recording"
            if state in counts:
                counts[state] += 1
            if rule.get("health") == "err":
                counts["error"] += 1
            if firing and state != "firing":
                continue
            row_level = _RULE_STATE.get(state, "ok")
            if rule.get("health") == "err":
                row_level = "critical" if row_level == "critical" else "warning"
            entries.append(
                (
                    row_level,
                    [
                        g.get("name", ""),
                        rule.get("name", ""),
                        "alert" if alerting else "record",
                        state,
                        len(rule.get("alerts") or []) if alerting else "",
                        rule.get("health", "") + (f": {rule['lastError']}" if rule.get("lastError") else ""),
                        (since(rule.get("lastEvaluation"), now) + " ago") if rule.get("lastEvaluation") else "",
                        str(rule.get("query", ""))[:200],
                    ],
                )
            )
    order = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}
    entries.sort(key=lambda e: (order[e[0]], str(e[1][0]), str(e[1][1])))
    level: Level = "critical" if counts["firing"] else "warning" if counts["pending"] or counts["error"] else "ok"
    message = f"{counts['firing']} firing, {counts['pending']} pending, {counts['error']} with errors"
    status = Status(level, message, title="Rules")
    if not entries:
        return [status]
    table = Table(
        ["group", "rule", "type", "state", "alerts", "health", "evaluated", "expression"],
        [e[1] for e in entries],
        title="Firing rules" if firing else "Rules",
        row_status=[e[0] for e in entries],
    )
    return [status, table]
