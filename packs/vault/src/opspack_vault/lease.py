"""``vault lease list <prefix>`` and ``vault lease revoke <lease>`` (both need sudo on sys/leases)."""

from __future__ import annotations

from typing import Any

from opspack import Context, NotFound, Status, Table, command


@command(
    group="lease",
    verb="list",
    words=["vault", "lease", "list"],
    examples=["vault lease list auth/approle/login/", "vault lease list database/creds/readonly/"],
    timeout=60,
)
def list_(ctx: Context, prefix: str, *, limit: int = 50) -> Table:
    """List the leases under a prefix with their expiry; sub-prefixes end with /.

    Args:
        prefix: lease id prefix, e.g. database/creds/readonly/ (as `bao list sys/leases/lookup/<prefix>`)
        limit: look up at most this many leases (each is one request)
    """
    import hvac

    from opspack_vault.client import call

    clean = prefix.strip().strip("/")

    def run(client: Any) -> list[list[Any]]:
        try:
            out = client.sys.list_leases(prefix=clean)
        except hvac.exceptions.InvalidPath:
            raise NotFound(
                f"no leases under {clean}/", "List a shorter prefix, e.g. `vault lease list auth/`."
            ) from None
        keys = sorted(str(k) for k in (out.get("data") or {}).get("keys") or [])
        rows: list[list[Any]] = []
        for key in keys:
            lease_id = f"{clean}/{key}" if clean else key
            if key.endswith("/") or len(rows) >= limit:
                rows.append([lease_id, "prefix" if key.endswith("/") else "lease", "", None, None])
                continue
            lease = (client.sys.read_lease(lease_id=lease_id).get("data")) or {}
            rows.append(
                [
                    lease_id,
                    "lease",
                    str(lease.get("expire_time") or "").replace("T", " ")[:19],
                    lease.get("ttl"),
                    lease.get("renewable"),
                ]
            )
        return rows

    rows = call(ctx, run)
    return Table(
        columns=["lease", "type", "expires", "ttl_s", "renewable"],
        rows=rows,
        title=f"leases under {clean}/",
        total=len(rows),
    )


def _lookup(client: Any, lease_id: str) -> None:
    """The lease exists (NotFound otherwise), read without changing it."""
    import hvac

    try:
        client.sys.read_lease(lease_id=lease_id)
    except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath):
        parent = lease_id.rpartition("/")[0]
        raise NotFound(f"lease '{lease_id}' not found", f"`vault lease list {parent}/` shows the leases.") from None


def _check_revoke(ctx: Context, lease: str) -> None:
    """Before the confirmation: the lease exists."""
    from opspack_vault.client import call

    call(ctx, lambda client: _lookup(client, lease.strip()))


@command(
    group="lease",
    verb="revoke",
    words=["vault", "lease", "revoke"],
    examples=["vault lease revoke database/creds/readonly/2f6a614c"],
    destructive=True,
    idempotent=True,
    check=_check_revoke,
)
def revoke(ctx: Context, lease: str) -> Status:
    """Revoke a lease now: the credentials or token it covers stop working.

    Args:
        lease: the full lease id, as `vault lease list` shows it
    """
    from opspack_vault.client import call

    lease_id = lease.strip()

    def run(client: Any) -> None:
        _lookup(client, lease_id)  # revoking an unknown lease succeeds silently: say so instead
        client.sys.revoke_lease(lease_id=lease_id)

    call(ctx, run)
    return Status("ok", f"lease {lease_id} revoked", title="lease")
