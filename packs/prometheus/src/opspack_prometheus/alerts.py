"""``prometheus alerts``: what is firing (Alertmanager, one request) and pending (Prometheus)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opspack import Context, Result, Status, Table, command
from opspack.results import Level

from opspack_prometheus.connection import prometheus
from opspack_prometheus.errors import translate
from opspack_prometheus.matchers import matcher_text, matches, parse_matchers
from opspack_prometheus.timeparse import short_duration

if TYPE_CHECKING:
    from opspack_prometheus.client import PrometheusClient

#: an alert's ``severity`` label -> a level
SEVERITY_LEVEL: dict[str, Level] = {
    "critical": "critical",
    "page": "critical",
    "error": "critical",
    "high": "critical",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
}
_RANK: dict[str, int] = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}
#: rows a table keeps
MAX_ROWS = 10_000


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 time from the APIs (nanoseconds allowed), or None."""
    if not text or str(text).startswith("0001-"):
        return None
    raw = str(text).replace("Z", "+00:00")
    head, dot, rest = raw.partition(".")
    if dot:  # Python takes at most 6 fractional digits
        digits = len(rest) - len(rest.lstrip("0123456789"))
        raw = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def since(text: Any, now: datetime) -> str:
    """How long ago ``text`` was (``2h 5m``), or ""."""
    started = parse_time(text)
    return short_duration((now - started).total_seconds()) if started else ""


def level_of(labels: dict[str, str]) -> Level:
    """The level an alert's severity label names (unknown when it names none)."""
    return SEVERITY_LEVEL.get(labels.get("severity", "").lower(), "unknown")


def _filters(severity: str | None, match: list[str] | None, labels: dict[str, str] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if severity:
        out.append({"name": "severity", "value": severity, "isRegex": False, "isEqual": True})
    for text in match or []:
        out.extend(parse_matchers(text))
    for name, value in (labels or {}).items():  # team=payments, env=~prod.* (the grammar keeps the ~)
        out.extend(parse_matchers(f"{name}={value}"))
    return out


def _other_labels(labels: dict[str, str], shown: set[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in shown)


def _pending(client: PrometheusClient, filters: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Prometheus's pending alerts matching ``filters``, and a note when Prometheus could not say:
    what fires (Alertmanager) is still worth showing when Prometheus itself is down."""
    try:
        found = client.alerts()
    except Exception as exc:
        error = translate(exc)
        if error is None:
            raise
        said = error.message.rstrip(".")
        return [], f"pending unknown ({said if len(said) <= 120 else said[:119] + '…'})"
    return [a for a in found if a.get("state") == "pending" and matches(a.get("labels") or {}, filters)], ""


@command(
    group="alert",
    verb="list",
    words=["alerts"],
    examples=[
        "alerts",
        "alerts --severity critical",
        "alerts --match team=payments --match env=~prod.*",
        "alerts team=payments env=prod",
        "alerts --silenced",
    ],
    results=["status", "table"],
)
def alerts(
    ctx: Context,
    *,
    severity: str | None = None,
    silenced: bool = False,
    match: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> list[Result]:
    """What is alerting now: firing alerts from Alertmanager, grouped, and pending ones from Prometheus.

    Each alert shows how long it has fired and its summary; a status line on top counts
    firing (by severity), pending and silenced alerts. Alertmanager is asked once
    (/api/v2/alerts/groups), however many alerts fire.

    Args:
        severity: only alerts with this severity label (critical, warning ...)
        silenced: show silenced and inhibited alerts too
        match: label matchers, e.g. team=payments, env=~prod.*, instance!=web1 (repeat or comma-separate)
        labels: label matchers typed as key=value after the command (team=payments env=~prod.*)
    """
    filters = _filters(severity, match, labels)
    client = prometheus(ctx)
    groups = client.alert_groups([matcher_text(m) for m in filters], silenced=True)
    now = datetime.now(UTC)
    rows: list[tuple[Level, str, list[Any]]] = []
    firing: dict[str, int] = {}
    muted = 0
    seen: set[str] = set()
    for group in groups:
        group_labels = dict(group.get("labels") or {})
        group_text = ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items())) or "(all)"
        for alert in group.get("alerts") or []:
            tags = dict(alert.get("labels") or {})
            fingerprint = str(alert.get("fingerprint") or id(alert))
            if fingerprint in seen:  # an alert routed to several receivers is in several groups
                continue
            seen.add(fingerprint)
            status = alert.get("status") or {}
            state = str(status.get("state", "active"))
            is_muted = state == "suppressed" or bool(status.get("silencedBy") or status.get("inhibitedBy"))
            if is_muted:
                muted += 1
                if not silenced:
                    continue
                state = "silenced" if status.get("silencedBy") else "inhibited"
            else:
                state = "firing"
                sev = tags.get("severity", "") or "none"
                firing[sev] = firing.get(sev, 0) + 1
            level = level_of(tags) if state == "firing" else "unknown"
            rows.append(
                (
                    level,
                    str(alert.get("startsAt", "")),
                    [
                        group_text,
                        tags.get("alertname", ""),
                        tags.get("severity", ""),
                        state,
                        since(alert.get("startsAt"), now),
                        _other_labels(tags, {"alertname", "severity", *group_labels}),
                        (alert.get("annotations") or {}).get("summary")
                        or (alert.get("annotations") or {}).get("description", ""),
                    ],
                )
            )
    pending, pending_note = _pending(client, filters)
    for alert in pending:
        tags = dict(alert.get("labels") or {})
        rows.append(
            (
                "unknown",
                str(alert.get("activeAt", "")),
                [
                    "(pending in Prometheus)",
                    tags.get("alertname", ""),
                    tags.get("severity", ""),
                    "pending",
                    since(alert.get("activeAt"), now),
                    _other_labels(tags, {"alertname", "severity"}),
                    (alert.get("annotations") or {}).get("summary", ""),
                ],
            )
        )
    total_firing = sum(firing.values())
    levels = [level_of({"severity": s}) for s, n in firing.items() if n]
    top: Level = "critical" if "critical" in levels else "warning" if total_firing else "ok"
    by_severity = ", ".join(
        f"{n} {s}" for s, n in sorted(firing.items(), key=lambda sn: (_RANK[level_of({"severity": sn[0]})], sn[0]))
    )
    message = f"{total_firing} firing" + (f" ({by_severity})" if total_firing else "")
    message += f", {pending_note or f'{len(pending)} pending'}, {muted} silenced or inhibited"
    if filters:
        message += " matching " + ", ".join(matcher_text(m) for m in filters)
    status = Status(top, message, title="Alertmanager")
    if not rows:
        return [status]
    group_rank: dict[str, int] = {}
    for level, _, row in rows:
        group_rank[row[0]] = min(group_rank.get(row[0], 9), _RANK[level])
    rows.sort(key=lambda r: (r[2][3] == "pending", group_rank[r[2][0]], r[2][0], _RANK[r[0]], r[1]))
    table = Table(
        ["group", "alert", "severity", "state", "for", "labels", "summary"],
        [r[2] for r in rows[:MAX_ROWS]],
        title="Alerts" + (" (silenced included)" if silenced else ""),
        row_status=[r[0] for r in rows[:MAX_ROWS]],
        total=len(rows) if len(rows) > MAX_ROWS else None,
    )
    return [status, table]
