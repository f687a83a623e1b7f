"""Group membership, direct and nested, in as few round trips as the dialect allows.

- Direct members: the group's ``member`` values (range retrieval past 1,500 in Active
  Directory) name every member, and one paged search ``(memberOf=<group>)`` reads their
  attributes, a page per ``page_size`` members; members that search cannot see (outside the
  base DN, foreign principals) keep their DN's name.
- Nested members: the tree is walked level by level, one paged search
  ``(|(memberOf=g1)(memberOf=g2)...)`` per level (see :func:`nested_members` for why not
  the in-chain rule here).
- A user's groups, and why the user is in one: the groups above the user with each one's
  ``memberOf`` (one in-chain search in AD, one search per level in OpenLDAP), then a
  breadth-first walk from the user to the group gives the shortest chain.

Imported by the commands when they run (it imports the client, hence ldap3).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from opspack_directory.client import OR_CHUNK, Directory
from opspack_directory.flavors import IN_CHAIN, Entry, escape, rdn_value


@dataclass
class Member:
    """One member of a group as a row: its name, kind, display name, and how it is a member."""

    dn: str
    name: str
    kind: str
    display: str
    direct: bool
    #: the group through which it is a member (the group itself for a direct member)
    via: str


def _chunks(items: Sequence[str], size: int = OR_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _any_of(attribute: str, dns: Sequence[str]) -> str:
    parts = "".join(f"({attribute}={escape(dn)})" for dn in dns)
    return parts if len(dns) == 1 else f"(|{parts})"


def _member(d: Directory, entry: Entry, direct: bool, via: str) -> Member:
    fl = d.flavor
    display = entry.first("displayName") or entry.first("cn") or rdn_value(entry.dn)
    return Member(entry.dn, fl.name_of(entry), fl.kind_of(entry), display, direct, via)


def direct_members(d: Directory, group: Entry) -> list[Member]:
    """The group's own members (its ``member`` values), each with its attributes."""
    dns = d.ranged(group.dn, "member")
    if not dns:
        return []
    found = {e.dn.lower(): e for e in d.search(f"(memberOf={escape(group.dn)})", list(d.flavor.member_attributes))}
    name = d.flavor.name_of(group)
    out = []
    for dn in dns:
        entry = found.get(dn.lower())
        if entry is None:
            out.append(Member(dn, rdn_value(dn), "unknown", rdn_value(dn), True, name))
        else:
            out.append(_member(d, entry, True, name))
    return out


def nested_members(d: Directory, group: Entry) -> list[Member]:
    """Every member of the group and of the groups inside it, each once, with the group
    that holds it (the nearest, for a member of several).

    The tree is walked level by level: one paged search ``(|(memberOf=g1)(memberOf=g2)...)``
    per level (per 100 groups), in both dialects. Active Directory could resolve it in one
    search with the in-chain rule, but Samba evaluates that rule object by object: the walk
    costs the same round trips and was four times faster in benchmarks/bench_directory.py.
    """
    direct = {dn.lower() for dn in d.ranged(group.dn, "member")}
    top = group.dn.lower()
    found = walk_down(d, group, [*d.flavor.member_attributes, "memberOf"])
    names = {e.dn.lower(): d.flavor.name_of(e) for e, _ in found}
    names[top] = d.flavor.name_of(group)
    out = [_member(d, e, e.dn.lower() in direct, names.get(holder.lower(), rdn_value(holder))) for e, holder in found]
    # members the search cannot reach (another domain, outside the base DN)
    seen = {e.dn.lower() for e, _ in found}
    out += [Member(dn, rdn_value(dn), "unknown", rdn_value(dn), True, names[top]) for dn in direct - seen]
    return out


def walk_down(d: Directory, group: Entry, attributes: list[str]) -> list[tuple[Entry, str]]:
    """The entries under ``group``, level by level, each with the DN of the group holding it."""
    seen = {group.dn.lower()}
    level = [group.dn]
    out: list[tuple[Entry, str]] = []
    while level:
        following: list[str] = []
        for chunk in _chunks(level):
            holders = {dn.lower(): dn for dn in chunk}
            for e in d.search(_any_of("memberOf", chunk), attributes):
                if e.dn.lower() in seen:
                    continue
                seen.add(e.dn.lower())
                holder = next((holders[m.lower()] for m in e.all("memberOf") if m.lower() in holders), chunk[0])
                out.append((e, holder))
                if d.flavor.kind_of(e) == "group":
                    following.append(e.dn)
        level = following
    return out


def in_chain_members(d: Directory, group: Entry, attributes: list[str]) -> list[Entry]:
    """Active Directory: every entry under ``group`` in one paged search with the in-chain
    rule (kept for comparison in benchmarks/bench_directory.py)."""
    return d.search(f"(memberOf:{IN_CHAIN}:={escape(group.dn)})", attributes)


def groups_above(d: Directory, entry: Entry) -> dict[str, Entry]:
    """Every group ``entry`` is in, directly or through others, by lower-case DN (each
    with its ``memberOf``, the groups right above it)."""
    fl = d.flavor
    attributes = ["cn", fl.group_name_attr, "objectClass", "memberOf", "description"]
    if fl.in_chain:
        found = d.search(f"(&{fl.group_class}(member:{IN_CHAIN}:={escape(entry.dn)}))", attributes)
        return {g.dn.lower(): g for g in found}
    out: dict[str, Entry] = {}
    level = [entry.dn]
    while level:
        following: list[str] = []
        for chunk in _chunks(level):
            for g in d.search(f"(&{fl.group_class}{_any_of('member', chunk)})", attributes):
                if g.dn.lower() not in out:
                    out[g.dn.lower()] = g
                    following.append(g.dn)
        level = following
    return out


def chain(d: Directory, user: Entry, group: Entry, above: dict[str, Entry] | None = None) -> list[str] | None:
    """The shortest chain of DNs from ``user`` to ``group`` (both included) through nested
    groups, or None when the user is not a member."""
    above = above if above is not None else groups_above(d, user)
    target = group.dn.lower()
    if target not in above:
        return None
    parents = {user.dn.lower(): user.all("memberOf")}
    parents.update({dn: g.all("memberOf") for dn, g in above.items()})
    previous: dict[str, str | None] = {user.dn.lower(): None}
    real = {user.dn.lower(): user.dn, **{dn: g.dn for dn, g in above.items()}}
    queue = deque([user.dn.lower()])
    while queue:
        node = queue.popleft()
        if node == target:
            path = []
            cur: str | None = node
            while cur is not None:
                path.append(real.get(cur, cur))
                cur = previous[cur]
            return list(reversed(path))
        for parent in parents.get(node, []):
            key = parent.lower()
            if key in above and key not in previous:
                previous[key] = node
                queue.append(key)
    return None


def primary_group(d: Directory, user: Entry) -> Entry | None:
    """Active Directory: the user's primary group (``primaryGroupID``, usually Domain Users),
    which ``memberOf`` never lists; None elsewhere."""
    rid = user.first("primaryGroupID")
    sid = (user.raw.get("objectsid") or [b""])[0]
    if not rid.isdigit() or len(sid) < 12:
        return None
    group_sid = sid[:-4] + int(rid).to_bytes(4, "little")
    escaped = "".join(f"\\{b:02x}" for b in group_sid)
    found = d.search(f"(objectSid={escaped})", ["cn", d.flavor.group_name_attr, "objectClass"], limit=1)
    return found[0] if found else None
