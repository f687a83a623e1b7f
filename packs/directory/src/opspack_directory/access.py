"""``access why``: the chain of nested groups that makes a user a member of a group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opspack import Context, Result, Status, Table, command

if TYPE_CHECKING:
    from opspack_directory.client import Directory


@command(examples=["access why jdoe VPN-Users"])
def why(ctx: Context, user: str, group: str) -> list[Result]:
    """Say why a user is a member of a group: the chain of nested groups, or "not a member".

    Args:
        user: login name, user principal name, mail address or DN
        group: the group's name or DN
    """
    from opspack_directory import client, membership

    def use(d: Directory) -> list[Result]:
        u = d.user(user, [d.flavor.login_attr, "cn", "displayName", "objectClass", "memberOf"])
        g = d.group(group)
        who, name = d.flavor.name_of(u), d.flavor.name_of(g)
        path = membership.chain(d, u, g)
        if path is None and d.flavor.in_chain:
            primary = membership.primary_group(d, d.user(user))
            if primary is not None and primary.dn.lower() == g.dn.lower():
                path = [u.dn, g.dn]  # the primary group (primaryGroupID), which member never lists
        if path is None:
            return [
                Status(
                    "warning",
                    f"{who} is not a member of {name}, directly or through nested groups.",
                    title="access why",
                )
            ]
        hops = len(path) - 2
        how = "directly" if hops == 0 else f"through {hops} nested group{'s' if hops > 1 else ''}"
        rows: list[list[Any]] = [[i, client.short(dn), "user" if i == 0 else "group", dn] for i, dn in enumerate(path)]
        return [
            Status(
                "ok",
                f"{who} is a member of {name} {how}: {' > '.join(client.short(p) for p in path)}.",
                title="access why",
            ),
            Table(["step", "name", "kind", "DN"], rows, title=f"Why {who} is in {name}"),
        ]

    return client.call(ctx, use)
