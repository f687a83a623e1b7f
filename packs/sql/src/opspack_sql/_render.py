"""Turning model records into tables and statuses (shared by the command modules)."""

from __future__ import annotations

from opspack.results import Level
from opspack.settings import Settings

from opspack_sql.connection import Database, Opened
from opspack_sql.model import Activity, mask_literals


def where(opened: Opened) -> str:
    """How replies name the database: the profile and host/database."""
    t, profile = opened.db.target, opened.profile
    place = f"{t.host or 'localhost'}/{t.database}" if t.database else (t.host or "localhost")
    return f"{profile} ({place})" if profile else place


def statement(settings: Settings, db: Database, a: Activity) -> str:
    return mask_literals(
        a.query,
        limit=int(settings["statement_chars"]),
        double_quoted_strings=db.dialect.double_quoted_strings,
    )


def secs(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def level_for(value: float | None, warning: float, critical: float) -> Level:
    if value is None:
        return "ok"
    if value >= critical:
        return "critical"
    if value >= warning:
        return "warning"
    return "ok"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    if s < 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"
