"""``grafana alerts``, ``grafana silence`` and ``grafana silences``: Grafana-managed alerting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from opspack import KV, Context, Result, Status, Table, command
from opspack.errors import NotFound, UsageError
from opspack.results import Level

from opspack_grafana.connection import grafana

#: a rule's state -> a level (Grafana: firing, pending, inactive; newer: recovering, normal)
STATE_LEVEL: dict[str, Level] = {
    "firing": "critical",
    "pending": "warning",
    "recovering": "warning",
    "inactive": "ok",
    "normal": "ok",
}
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _rules(ctx: Context) -> list[dict[str, Any]]:
    """Every Grafana-managed rule, each with its group's folder and name added."""
    data = grafana(ctx).rule_statuses().get("data") or {}
    out: list[dict[str, Any]] = []
    for group in data.get("groups") or []:
        for rule in group.get("rules") or []:
            if rule.get("type", "alerting") != "alerting":
                continue
            out.append({**rule, "_folder": group.get("file", ""), "_group": group.get("name", "")})
    return out


def _since(rule: dict[str, Any]) -> str:
    times = sorted(str(a.get("activeAt")) for a in rule.get("alerts") or [] if a.get("activeAt"))
    return times[0][:19].replace("T", " ") if times and not times[0].startswith("0001") else ""


@command(
    group="alert",
    verb="list",
    words=["grafana", "alerts"],
    examples=["grafana alerts", "grafana alerts --state firing", "grafana alerts --folder Payments"],
    results=["table", "status"],
)
def alerts(
    ctx: Context,
    *,
    state: Literal["firing", "pending", "inactive"] | None = None,
    folder: str | None = None,
) -> list[Result]:
    """Alert rules and their current state (Grafana-managed, unified alerting), worst first.

    Args:
        state: only rules in this state
        folder: only rules in this folder (its title)
    """
    rules = _rules(ctx)
    if folder:
        rules = [r for r in rules if str(r["_folder"]).lower() == folder.lower() or r.get("folderUid") == folder]
        if not rules:
            raise NotFound.with_matches("folder", folder, {str(r["_folder"]) for r in _rules(ctx)})
    counts: dict[str, int] = {}
    for r in rules:
        counts[str(r.get("state", "inactive"))] = counts.get(str(r.get("state", "inactive")), 0) + 1
    if state:
        rules = [r for r in rules if r.get("state") == state]
    order = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}
    levels = [_level(r) for r in rules]
    states = {"firing": 0, "pending": 1, "recovering": 2}
    ranked = sorted(
        zip(levels, rules, strict=True),
        key=lambda lr: (order[lr[0]], states.get(lr[1].get("state", ""), 3), lr[1].get("name", "")),
    )
    rows = [
        [
            r.get("name"),
            r.get("state", ""),
            r.get("health", "") + (f": {r['lastError']}" if r.get("lastError") else ""),
            r["_folder"],
            r["_group"],
            len(r.get("alerts") or []),
            _since(r),
            (r.get("annotations") or {}).get("summary", ""),
        ]
        for _, r in ranked
    ]
    table = Table(
        ["rule", "state", "health", "folder", "group", "instances", "since", "summary"],
        rows,
        title="Alert rules" + (f" ({state})" if state else "") + (f" in {folder}" if folder else ""),
        row_status=[lv for lv, _ in ranked],
    )
    firing, pending = counts.get("firing", 0), counts.get("pending", 0)
    total = sum(counts.values())
    level: Level = "critical" if firing else "warning" if pending else "ok"
    summary = f"{firing} firing, {pending} pending of {total} alert rules"
    return [table, Status(level, summary, title="Grafana alerting")]


def _level(rule: dict[str, Any]) -> Level:
    level = STATE_LEVEL.get(str(rule.get("state", "")), "unknown")
    if rule.get("health") == "error" and level == "ok":
        return "warning"
    return level


def parse_duration(text: str) -> timedelta:
    """``2h``, ``30m``, ``1d12h``, ``1w`` -> a timedelta (at least a minute, at most a year)."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise UsageError(f"duration: got {text!r}, expected e.g. 30m, 2h, 1d12h or 1w")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if not 60 <= seconds <= 366 * 86400:
        raise UsageError(f"duration: got {text!r}, expected from 1m to 366d")
    return timedelta(seconds=seconds)


def parse_matchers(text: str) -> list[dict[str, Any]] | None:
    """``a=b,c=~d.*`` or ``{a="b"}`` -> Alertmanager matchers; None when ``text`` is a plain name."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    if not any(op in body for op in ("=", "!~")):
        return None
    out: list[dict[str, Any]] = []
    for part in (p for p in body.split(",") if p.strip()):
        m = _MATCHER.match(part)
        if not m:
            raise UsageError(
                f"matcher: got {part.strip()!r}, expected name=value, name!=value, name=~regex or name!~regex"
            )
        name, op, value = m.groups()
        out.append({"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")})
    return out


def _matcher_text(m: dict[str, Any]) -> str:
    op = ("=" if m.get("isEqual", True) else "!") + ("~" if m.get("isRegex") else "")
    op = {"!": "!=", "=": "="}.get(op, op)
    return f'{m.get("name")}{op}"{m.get("value")}"'


@command(
    group="silence",
    verb="create",
    words=["grafana", "silence"],
    examples=[
        "grafana silence HighCPU 2h 'deploying checkout'",
        "grafana silence 'severity=warning,team=payments' 30m maintenance window",
    ],
    mutating=True,
    idempotent=False,
    results=["status", "kv"],
)
def silence(ctx: Context, target: str, duration: str, comment: list[str]) -> list[Result]:
    """Silence an alert rule, or alerts matching labels, for a while (an Alertmanager silence).

    Args:
        target: an alert rule's name, or label matchers such as severity=warning,team=~pay.*
        duration: how long, e.g. 30m, 2h, 1d
        comment: why (shown in Grafana beside the silence)
    """
    length = parse_duration(duration)
    reason = " ".join(comment).strip()
    if not reason:
        raise UsageError("comment is empty", "Say why, e.g. grafana silence HighCPU 2h deploying checkout")
    matchers = parse_matchers(target)
    if matchers is None:
        names = {str(r.get("name")) for r in _rules(ctx)}
        if target not in names:
            raise NotFound.with_matches("alert rule", target, sorted(names))
        matchers = [{"name": "alertname", "value": target, "isRegex": False, "isEqual": True}]
    starts = datetime.now(UTC).replace(microsecond=0)
    ends = starts + length
    body = {
        "matchers": matchers,
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": ends.isoformat().replace("+00:00", "Z"),
        "createdBy": f"{ctx.user} via opspack",
        "comment": reason,
    }
    silence_id = grafana(ctx).create_silence(body)
    shown = ", ".join(_matcher_text(m) for m in matchers)
    return [
        Status("ok", f"Silenced {shown} until {body['endsAt']} ({duration})", title="Silence created"),
        KV(
            {
                "id": silence_id,
                "matchers": shown,
                "starts": body["startsAt"],
                "ends": body["endsAt"],
                "created by": body["createdBy"],
                "comment": reason,
            }
        ),
    ]


@command(
    group="silence",
    verb="list",
    words=["grafana", "silences"],
    examples=["grafana silences", "grafana silences --all"],
)
def silences(ctx: Context, *, all_: bool = False) -> Table:
    """List Alertmanager silences (active and pending; --all adds expired ones).

    Args:
        all_: include expired silences
    """
    items = grafana(ctx).silences()
    if not all_:
        items = [s for s in items if (s.get("status") or {}).get("state") != "expired"]
    order = {"active": 0, "pending": 1, "expired": 2}
    items.sort(key=lambda s: (order.get((s.get("status") or {}).get("state", ""), 3), str(s.get("endsAt"))))
    rows = [
        [
            str(s.get("id", ""))[:8],
            (s.get("status") or {}).get("state", ""),
            ", ".join(_matcher_text(m) for m in s.get("matchers") or []),
            str(s.get("endsAt", ""))[:19].replace("T", " "),
            s.get("createdBy", ""),
            s.get("comment", ""),
        ]
        for s in items
    ]
    return Table(["id", "state", "matchers", "ends (UTC)", "created by", "comment"], rows, title="Silences")
