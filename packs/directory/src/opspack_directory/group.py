"""``group members``, ``group add`` and ``group remove``.

Who may change which group: the policy allows the permission ``directory.group.change``
(and may ask for a second person's approval of it under ``[approvals]``); then the group's
name must match a glob of the ``role_groups`` of the caller's roles (the roles the policy
grants), or else of ``managed_groups``. So a service desk role can manage ``VPN-*`` and
nothing else.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opspack import Context, Status, Table, command
from opspack.errors import ConfigError, Denied

if TYPE_CHECKING:
    from opspack_directory.client import Directory
    from opspack_directory.flavors import Entry

#: the permission `group add` and `group remove` answer to in the policy
CHANGE = "directory.group.change"


def _split(value: str, sep: str = ",") -> list[str]:
    return [p.strip() for p in str(value or "").split(sep) if p.strip()]


def parse_role_groups(value: str) -> dict[str, list[str]]:
    """``"desk=VPN-*|App-*; admins=*"`` -> ``{"desk": ["VPN-*", "App-*"], "admins": ["*"]}``."""
    out: dict[str, list[str]] = {}
    for part in _split(value, ";"):
        role, sep, globs = part.partition("=")
        if not sep or not role.strip():
            raise ConfigError(
                f"setting role_groups has an entry without role=globs: {part!r}",
                "Write it as `role=glob|glob; other_role=glob`.",
            )
        out.setdefault(role.strip(), []).extend(_split(globs, "|"))
    return out


def group_globs(settings: Mapping[str, Any], roles: Sequence[str]) -> list[str]:
    """The globs of the groups a caller with ``roles`` may change."""
    by_role = parse_role_groups(str(settings.get("role_groups") or ""))
    matched = [g for r in roles if r in by_role for g in by_role[r]]
    return matched or _split(str(settings.get("managed_groups") or ""))


def may_change(name: str, globs: Sequence[str]) -> bool:
    """A group's name matches a glob (case-insensitive, as directories compare names)."""
    return any(fnmatch.fnmatchcase(name.lower(), g.lower()) for g in globs)


def _check_allowed(ctx: Context, group: str) -> None:
    globs = group_globs(ctx.settings, ctx.caller.roles)
    if not may_change(group, globs):
        raise Denied(
            f"You may not change the members of group '{group}' from chat.",
            f"You may change: {', '.join(globs) or 'no group'} (the directory pack's managed_groups / role_groups).",
        )


@command(examples=["group members VPN-Users", "group members VPN-Users --nested"])
def members(ctx: Context, group: str, *, nested: bool = False) -> Table:
    """List a group's members (with --nested, the members of the groups inside it too).

    Args:
        group: the group's name or DN
        nested: include the members of nested groups, each with the group that holds it
    """
    from opspack_directory import client, membership

    def use(d: Directory) -> Table:
        g = d.group(group)
        name = d.flavor.name_of(g)
        found = membership.nested_members(d, g) if nested else membership.direct_members(d, g)
        found.sort(key=lambda m: (m.kind != "user", m.name.lower()))
        users = sum(1 for m in found if m.kind == "user")
        if nested:
            rows: list[list[Any]] = [
                [m.name, m.kind, m.display, "direct" if m.direct else f"via {m.via}"] for m in found
            ]
            columns = ["name", "kind", "display name", "membership"]
            title = f"{name}: {len(found)} members, nested ({users} users)"
        else:
            rows = [[m.name, m.kind, m.display] for m in found]
            columns = ["name", "kind", "display name"]
            title = f"{name}: {len(found)} members ({users} users)"
        return Table(columns, rows, title=title)

    return client.call(ctx, use)


def _change(ctx: Context, group: str, user: str, add: bool) -> Status:
    from opspack_directory import client
    from opspack_directory.flavors import escape

    if not ("=" in group and "," in group):  # a name: refused before connecting
        _check_allowed(ctx, group)

    def use(d: Directory) -> Status:
        g = d.group(group)
        name = d.flavor.name_of(g)
        _check_allowed(ctx, name)  # the name the directory gives (a DN was asked for)
        u = _member_entry(d, user)
        who = d.flavor.name_of(u)
        # one base search answers whether it is a member, however big the group
        member = bool(d.search(f"(member={escape(u.dn)})", ["cn"], base=g.dn, scope="BASE"))
        if add and member:
            return Status("ok", f"{who} is already a member of {name}; nothing to do.", title="group add")
        if not add and not member:
            return Status("ok", f"{who} is not a direct member of {name}; nothing to do.", title="group remove")
        op = "MODIFY_ADD" if add else "MODIFY_DELETE"
        d.modify(g.dn, {"member": [(op, [u.dn])]}, f"group {name}")
        if add:
            return Status("ok", f"Added {who} to {name}.", title="group add")
        return Status("ok", f"Removed {who} from {name}.", title="group remove")

    return client.call(ctx, use)


def _member_entry(d: Directory, text: str) -> Entry:
    """A user, or else a group, named ``text`` (groups can be members of groups)."""
    from opspack.errors import NotFound

    try:
        return d.user(text, [d.flavor.login_attr, "objectClass", "cn"])
    except NotFound:
        found = d.search(d.flavor.find_group(text), ["cn", d.flavor.group_name_attr, "objectClass"], limit=1)
        if found:
            return found[0]
        raise


@command(mutating=True, idempotent=True, permission=CHANGE, examples=["group add VPN-Users jdoe"])
def add(ctx: Context, group: str, user: str) -> Status:
    """Add a user (or a group) to a group.

    Args:
        group: the group's name or DN
        user: the user's login, mail or DN (or a group's name)
    """
    return _change(ctx, group, user, True)


@command(mutating=True, idempotent=True, permission=CHANGE, examples=["group remove VPN-Users jdoe"])
def remove(ctx: Context, group: str, user: str) -> Status:
    """Remove a user (or a group) from a group.

    Args:
        group: the group's name or DN
        user: the user's login, mail or DN (or a group's name)
    """
    return _change(ctx, group, user, False)
