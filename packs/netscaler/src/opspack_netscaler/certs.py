"""``ns certs``: SSL certificates installed on the ADC and the days until they expire."""

from __future__ import annotations

from typing import Any

from opspack import Context, Result, Status, Table, Text, UsageError, command, worst
from opspack.results import Level

from opspack_netscaler import states
from opspack_netscaler.connection import nitro

CERT_ATTRS = ["certkey", "subject", "issuer", "clientcertnotafter", "daystoexpiration", "status", "certificatetype"]


def _level(days: int | None, status: str, warning_days: int, critical_days: int) -> Level:
    if status.lower() == "expired" or (days is not None and days < 0):
        return "critical"
    if days is None:
        return "unknown"
    if days <= critical_days:
        return "critical"
    if days <= warning_days:
        return "warning"
    return "ok"


def _cn(subject: Any) -> str:
    text = str(subject or "")
    for part in text.replace("/", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().upper() == "CN":
            return value.strip()
    return text


@command(
    group="cert",
    verb="list",
    words=["ns", "certs"],
    examples=["ns certs", "ns certs --expiring-within 30"],
    results=["table", "status", "text"],
)
def certs(ctx: Context, *, expiring_within: int | None = None) -> list[Result]:
    """List the ADC's SSL certificates with days to expiry; expired or soon-expiring ones are flagged.

    A certificate within cert_critical_days (default 7) of expiry, or expired, is critical;
    within cert_warning_days (default 30) a warning.

    Args:
        expiring_within: only certificates that expire within this many days (expired ones included)
    """
    if expiring_within is not None and expiring_within < 0:
        raise UsageError(f"expiring-within: got {expiring_within}, expected a number of days (0 or more)")
    warning_days = int(ctx.settings["cert_warning_days"])
    critical_days = int(ctx.settings["cert_critical_days"])
    records = nitro(ctx, lambda c: c.get("sslcertkey", attrs=CERT_ATTRS))
    total = len(records)
    if expiring_within is not None:
        records = [r for r in records if (states.to_int(r.get("daystoexpiration")) or 0) <= expiring_within]
    if not records:
        scope = f" expire within {expiring_within} days" if expiring_within is not None else " are installed"
        return [Text(f"No certificates{scope} (of {total} on the ADC).")]
    records.sort(key=lambda r: states.to_int(r.get("daystoexpiration")) or 0)
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for r in records:
        days = states.to_int(r.get("daystoexpiration"))
        status = str(r.get("status") or "")
        types = r.get("certificatetype")
        kind = ", ".join(str(t) for t in types) if isinstance(types, list) else str(types or "")
        rows.append(
            [
                r.get("certkey"),
                _cn(r.get("subject")),
                _cn(r.get("issuer")),
                r.get("clientcertnotafter"),
                days,
                status,
                kind,
            ]
        )
        levels.append(_level(days, status, warning_days, critical_days))
    table = Table(
        columns=["certkey", "subject_cn", "issuer_cn", "not_after", "days_left", "status", "type"],
        rows=rows,
        row_status=levels,
        title="SSL certificates",
        total=total if len(records) != total else None,
    )
    expired = sum(1 for r in rows if isinstance(r[4], int) and r[4] < 0)
    soon = sum(1 for lv, r in zip(levels, rows, strict=True) if lv != "ok" and not (isinstance(r[4], int) and r[4] < 0))
    if expired or soon:
        message = f"{expired} expired, {soon} expiring within {warning_days} days"
    else:
        message = f"all {len(records)} certificates valid for more than {warning_days} days"
    return [table, Status(worst(levels), message)]
