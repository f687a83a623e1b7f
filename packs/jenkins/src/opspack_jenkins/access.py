"""Which jobs a caller may start: the ``allowed_jobs`` and ``role_jobs`` settings (globs)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from opspack.errors import ConfigError

_WILD = "*?["


def _split(value: str, sep: str = ",") -> list[str]:
    return [p.strip() for p in str(value or "").split(sep) if p.strip()]


def parse_role_jobs(value: str) -> dict[str, list[str]]:
    """``"ops=*; qa=tests/*|tools/lint"`` -> ``{"ops": ["*"], "qa": ["tests/*", "tools/lint"]}``."""
    out: dict[str, list[str]] = {}
    for part in _split(value, ";"):
        role, sep, globs = part.partition("=")
        if not sep or not role.strip():
            raise ConfigError(
                f"setting role_jobs has an entry without role=globs: {part!r}",
                "Write it as `role=glob|glob; other_role=glob`.",
            )
        out.setdefault(role.strip(), []).extend(_split(globs, "|"))
    return out


def job_globs(settings: Mapping[str, Any], roles: Sequence[str]) -> list[str]:
    """The globs that apply to a caller with ``roles`` (the roles the policy grants it,
    ``ctx.caller.roles``; never names a front-end passed)."""
    by_role = parse_role_jobs(str(settings.get("role_jobs") or ""))
    matched = [g for r in roles if r in by_role for g in by_role[r]]
    if matched:
        return matched
    return _split(str(settings.get("allowed_jobs") or ""))


def job_allowed(full_name: str, globs: Sequence[str]) -> bool:
    """A job's full name (``team/app/deploy``) matches one of ``globs`` (case-sensitive, like Jenkins)."""
    return any(fnmatch.fnmatchcase(full_name, g) for g in globs)


def folder_may_hold(folder: str, globs: Sequence[str]) -> bool:
    """Could a job under ``folder`` match one of ``globs``? (decides which folders a menu shows)."""
    prefix = folder.rstrip("/") + "/"
    for g in globs:
        literal = g
        for i, ch in enumerate(g):
            if ch in _WILD:
                literal = g[:i]
                break
        if literal.startswith(prefix) or prefix.startswith(literal):
            return True
    return False
