"""The audit store of the runtime that runs a command."""

from __future__ import annotations

from typing import Any

from opspack import ConfigError, Context


def audit_of(ctx: Context) -> Any:
    audit = ctx.audit
    if audit is None:
        raise ConfigError(
            "the audit trail is turned off, so there is no history",
            "Set OPSPACK_AUDIT_URL (or [audit] url in opspack.toml) to sqlite:///path or postgresql://...",
        )
    return audit
