"""``prometheus silence``, ``silences`` and ``unsilence``: Alertmanager silences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from opspack import KV, Context, Menu, MenuOption, Result, Status, Table, command
from opspack.errors import NotFound, UsageError

from opspack_prometheus.alerts import parse_time, since
from opspack_prometheus.connection import prometheus
from opspack_prometheus.matchers import looks_like_matcher, matcher_text, parse_matchers
from opspack_prometheus.timeparse import parse_duration, short_duration

MIN_SILENCE = 60.0
MAX_SILENCE = 366 * 86400.0
_STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}


def _split(words: list[str]) -> tuple[str | None, list[dict[str, Any]], str, str]:
    """``[alertname | matchers...] <duration> <comment...>`` -> (alertname, matchers, duration, comment)."""
    i = 0
    name: str | None = None
    matchers: list[dict[str, Any]] = []
    if words and not looks_like_matcher(words[0]):
        name, i = words[0], 1
    while i < len(words) and looks_like_matcher(words[i]):
        matchers.extend(parse_matchers(words[i]))
        i += 1
    if name is None and not matchers:
        raise UsageError("say what to silence: an alert's name or label matchers such as severity=warning")
    if i >= len(words):
        raise UsageError("duration is missing", "Example: prometheus silence HighCPU 2h deploying checkout")
    return name, matchers, words[i], " ".join(words[i + 1 :]).strip()


def _known_alert_names(ctx: Context) -> set[str]:
    client = prometheus(ctx)
    names = {
        str(rule.get("name"))
        for group in client.rules("alert")
        for rule in group.get("rules") or []
        if rule.get("type") == "alerting"
    }
    for group in client.alert_groups(silenced=True):
        names.update(str((a.get("labels") or {}).get("alertname", "")) for a in group.get("alerts") or [])
    names.discard("")
    return names


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@command(
    group="silence",
    verb="create",
    words=["silence"],
    examples=[
        "silence HighCPU 2h deploying checkout",
        "silence severity=warning team=payments 30m maintenance window",
        "silence DiskFull instance=~db.* 1d12h replacing disks",
    ],
    mutating=True,
    idempotent=False,
    results=["status", "kv"],
)
def silence(ctx: Context, target: str, duration: str, comment: list[str] | None = None) -> list[Result]:
    """Silence an alert, or the alerts matching labels, for a while (an Alertmanager silence).

    Name an alert (its alertname, as Prometheus's rules or Alertmanager know it), or give
    label matchers (severity=warning, team!=dev, instance=~web.*), or both; then how long
    (30m, 2h, 1d12h) and why.

    Args:
        target: an alert's name, or label matchers such as severity=warning (more may follow)
        duration: how long, e.g. 30m, 2h, 1d (after any further matchers)
        comment: why (shown in Alertmanager beside the silence)
    """
    name, matchers, length_text, reason = _split([target, duration, *(comment or [])])
    length = parse_duration(length_text, "duration")
    if not MIN_SILENCE <= length <= MAX_SILENCE:
        raise UsageError(f"duration: got {length_text!r}, expected from 1m to 366d")
    if not reason:
        raise UsageError("comment is empty", "Say why, e.g. prometheus silence HighCPU 2h deploying checkout")
    if name is not None:
        known = _known_alert_names(ctx)
        if name not in known:
            raise NotFound.with_matches("alert", name, sorted(known))
        matchers.insert(0, {"name": "alertname", "value": name, "isRegex": False, "isEqual": True})
    starts = datetime.now(UTC).replace(microsecond=0)
    ends = starts + timedelta(seconds=length)
    body = {
        "matchers": matchers,
        "startsAt": _iso(starts),
        "endsAt": _iso(ends),
        "createdBy": f"{ctx.user} via opspack",
        "comment": reason,
    }
    silence_id = prometheus(ctx).create_silence(body)
    shown = ", ".join(matcher_text(m) for m in matchers)
    return [
        Status("ok", f"Silenced {shown} for {short_duration(length)}, until {body['endsAt']}", title="Silence created"),
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
    words=["silences"],
    examples=["silences", "silences --all"],
    results=["table", "menu"],
)
def silences(ctx: Context, *, all_: bool = False) -> list[Result]:
    """Alertmanager's silences: active and pending ones (--all adds the expired).

    Args:
        all_: include expired silences
    """
    items = prometheus(ctx).silences()
    if not all_:
        items = [s for s in items if (s.get("status") or {}).get("state") != "expired"]
    items.sort(key=lambda s: (_STATE_ORDER.get((s.get("status") or {}).get("state", ""), 3), str(s.get("endsAt"))))
    now = datetime.now(UTC)
    rows = []
    for s in items:
        state = (s.get("status") or {}).get("state", "")
        ends = parse_time(s.get("endsAt"))
        left = short_duration((ends - now).total_seconds()) if ends and state != "expired" else ""
        rows.append(
            [
                str(s.get("id", ""))[:8],
                state,
                ", ".join(matcher_text(m) for m in s.get("matchers") or []),
                str(s.get("endsAt", ""))[:19].replace("T", " "),
                left,
                s.get("createdBy", ""),
                s.get("comment", ""),
            ]
        )
    table = Table(
        ["id", "state", "matchers", "ends (UTC)", "left", "created by", "comment"],
        rows,
        title="Silences" + (" (expired included)" if all_ else ""),
    )
    active = [s for s in items if (s.get("status") or {}).get("state") in ("active", "pending")][:5]
    if not active:
        return [table]
    options = [
        MenuOption(f"Expire {str(s.get('id', ''))[:8]}", "prometheus.silence.expire", {"silence_id": str(s.get("id"))})
        for s in active
    ]
    return [table, Menu(options, title="Expire a silence")]


@command(
    group="silence",
    verb="expire",
    words=["unsilence"],
    examples=["unsilence 3f1c2b9a"],
    mutating=True,
    idempotent=True,
    results=["status", "kv"],
)
def unsilence(ctx: Context, silence_id: str) -> list[Result]:
    """Expire a silence now, so its alerts notify again.

    Args:
        silence_id: the silence's id, or the start of it as `prometheus silences` shows it
    """
    wanted = silence_id.strip().lower()
    if len(wanted) < 4:
        raise UsageError(f"silence_id: got {silence_id!r}, expected at least its first 4 characters")
    client = prometheus(ctx)
    found = [s for s in client.silences() if str(s.get("id", "")).lower().startswith(wanted)]
    if not found:
        raise NotFound(f"No silence has an id starting with {silence_id!r}.", "List them: prometheus silences --all")
    current = [s for s in found if (s.get("status") or {}).get("state") != "expired"]
    if len(current) > 1:
        ids = ", ".join(str(s.get("id")) for s in current)
        raise UsageError(f"{silence_id!r} starts the ids of {len(current)} silences: {ids}", "Give more of the id.")
    target = current[0] if current else found[0]
    full_id = str(target.get("id"))
    shown = ", ".join(matcher_text(m) for m in target.get("matchers") or [])
    details = KV(
        {
            "id": full_id,
            "matchers": shown,
            "created by": target.get("createdBy", ""),
            "comment": target.get("comment", ""),
            "started": since(target.get("startsAt"), datetime.now(UTC)) + " ago",
        }
    )
    if not current:
        return [Status("ok", f"Silence {full_id[:8]} ({shown}) had already expired.", title="Silence expired"), details]
    client.expire_silence(full_id)
    return [
        Status("ok", f"Expired silence {full_id[:8]} ({shown}); its alerts notify again.", title="Silence expired"),
        details,
    ]
