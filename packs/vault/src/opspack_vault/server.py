"""``vault status``: is the server sealed, which version, HA mode, cluster and leader."""

from __future__ import annotations

from typing import Any

from opspack import KV, Context, Result, Status, command


@command(group="server", verb="status", words=["vault", "status"], examples=["vault status"], timeout=30)
def status(ctx: Context) -> list[Result]:
    """Show whether Vault is sealed, its version, HA mode, cluster name and leader.

    Reads the unauthenticated health, seal-status and leader endpoints, so it works
    even when the bot's token has expired.
    """
    from opspack_vault.client import connect

    client = connect(ctx)
    health: Any = client.sys.read_health_status(method="GET")
    if not isinstance(health, dict):  # some versions return the raw response for non-200 codes
        health = health.json()
    seal: dict[str, Any] = client.sys.read_seal_status()
    leader: dict[str, Any] = {}
    if not seal.get("sealed"):
        leader = client.sys.read_leader_status()
    sealed = bool(seal.get("sealed"))
    initialized = bool(seal.get("initialized", health.get("initialized")))
    ha = bool(leader.get("ha_enabled"))
    if ha:
        mode = (
            "active"
            if leader.get("is_self")
            else ("performance standby" if health.get("performance_standby") else "standby")
        )
    else:
        mode = "single node (HA disabled)" if not sealed else "unknown while sealed"
    items: dict[str, Any] = {
        "sealed": sealed,
        "initialized": initialized,
        "version": seal.get("version") or health.get("version"),
        "cluster name": seal.get("cluster_name") or health.get("cluster_name") or "",
        "HA mode": mode,
        "leader": leader.get("leader_address") or ("this node" if not ha and not sealed else ""),
    }
    if sealed:
        items["unseal progress"] = f"{seal.get('progress', 0)} of {seal.get('t', '?')} key shares"
    kv = KV(items, title=f"Vault at {client.url}")
    if not initialized:
        return [kv, Status("critical", "Vault is not initialised", title="vault")]
    if sealed:
        return [kv, Status("critical", "Vault is sealed: secrets cannot be read until it is unsealed", title="vault")]
    if ha and not leader.get("leader_address"):
        return [kv, Status("warning", "HA is enabled but there is no active leader", title="vault")]
    return [kv, Status("ok", f"unsealed, {mode}", title="vault")]
