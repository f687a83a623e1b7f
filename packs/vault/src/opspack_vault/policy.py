"""``vault policy list`` and ``vault policy show <name>``: the ACL policies."""

from __future__ import annotations

from typing import Any

from opspack import Context, NotFound, Table, Text, command


def policy_names(client: Any) -> list[str]:
    out = client.sys.list_acl_policies()
    data = out.get("data", out) if isinstance(out, dict) else {}
    return sorted(str(k) for k in (data.get("keys") or data.get("policies") or []))


@command(group="policy", verb="list", words=["vault", "policy", "list"], examples=["vault policy list"])
def list_(ctx: Context) -> Table:
    """List the ACL policies (needs a token that may list sys/policies/acl)."""
    from opspack_vault.client import call

    names: list[str] = call(ctx, policy_names)
    return Table(columns=["policy"], rows=[[n] for n in names], title="ACL policies", total=len(names))


@command(group="policy", verb="show", words=["vault", "policy", "show"], examples=["vault policy show default"])
def show(ctx: Context, name: str) -> Text:
    """Show the rules of one ACL policy.

    Args:
        name: the policy's name
    """
    import hvac

    from opspack_vault.client import call

    def read(client: Any) -> Any:
        try:
            return client.sys.read_acl_policy(name)
        except hvac.exceptions.InvalidPath:
            raise NotFound.with_matches("policy", name, policy_names(client)) from None

    out = call(ctx, read)
    data = out.get("data", out) if isinstance(out, dict) else {}
    return Text(str(data.get("policy") or data.get("rules") or ""), title=f"policy {name}", mono=True)
