"""``vault token info`` and ``vault token renew``: the bot's own token."""

from __future__ import annotations

from typing import Any

from opspack import KV, Context, Result, Status, UsageError, command


def _duration(seconds: int) -> str:
    if seconds <= 0:
        return "0s"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    text = "".join(parts)
    return text if days or hours else text + f"{secs}s"


@command(group="token", verb="info", words=["vault", "token", "info"], examples=["vault token info"])
def info(ctx: Context) -> list[Result]:
    """Show the bot's token: policies, TTL left, whether it is renewable; warn before it expires.

    The token itself and its accessor are never shown. The status is a warning when
    the token expires within the pack's token_warning seconds.
    """
    from opspack_vault.client import call

    out = call(ctx, lambda client: client.auth.token.lookup_self())
    data: dict[str, Any] = out.get("data") or {}
    ttl = int(data.get("ttl") or 0)
    never = ttl == 0 and not data.get("expire_time")
    items: dict[str, Any] = {
        "display name": data.get("display_name") or "",
        "policies": sorted(data.get("policies") or []),
        "type": data.get("type") or "",
        "TTL left": "never expires" if never else _duration(ttl),
        "expires": "never" if never else str(data.get("expire_time") or "").replace("T", " ")[:19] + " UTC",
        "renewable": bool(data.get("renewable")),
        "orphan": bool(data.get("orphan")),
        "uses left": data.get("num_uses") or "unlimited",
        "created by": data.get("path") or "",
    }
    kv = KV(items, title="the bot's Vault token")
    warning = int(ctx.settings["token_warning"])
    if never:
        return [kv, Status("ok", "the token does not expire", title="token")]
    if ttl <= warning:
        hint = "renew it: `vault token renew`" if data.get("renewable") else "it is not renewable: issue a new one"
        return [kv, Status("warning", f"the token expires in {_duration(ttl)}; {hint}", title="token")]
    return [kv, Status("ok", f"the token is valid for {_duration(ttl)}", title="token")]


@command(
    group="token",
    verb="renew",
    words=["vault", "token", "renew"],
    examples=["vault token renew"],
    mutating=True,
    idempotent=False,
)
def renew(ctx: Context) -> Status:
    """Renew the bot's token for another TTL period (up to its maximum TTL)."""
    from opspack_vault.client import call

    def run(client: Any) -> dict[str, Any]:
        data = (client.auth.token.lookup_self().get("data")) or {}
        if not data.get("renewable"):
            raise UsageError(
                "the bot's token is not renewable",
                "Root and non-renewable tokens cannot be renewed; issue a renewable token or use AppRole.",
            )
        out: dict[str, Any] = client.auth.token.renew_self()
        return out.get("auth") or {}

    auth = call(ctx, run)
    ttl = int(auth.get("lease_duration") or 0)
    return Status("ok", f"renewed: the token is now valid for {_duration(ttl)}", title="token")
