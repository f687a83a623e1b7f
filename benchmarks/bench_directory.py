"""directory pack: `group members --nested` of a 5,000-member group nested three levels deep,
against a real Samba AD DC, versus the naive script.

Prints, from one run against one domain controller:

* the pack's way (the group's lookup, range retrieval of its ``member``, then the tree level
  by level, one paged search ``(memberOf=<group>)`` per level): LDAP round trips counted by
  ldap3 itself (``collect_usage``) and time, against the issue's target (one search page per
  1,000 members plus the range steps, plus the group's lookup);
* the same members with one paged search by AD's in-chain rule
  ``(memberOf:1.2.840.113556.1.4.1941:=<group>)``, which Samba evaluates object by object;
* ``group members Bench-Top --nested`` through the real runtime (parse, kept connection,
  table), median of several runs;
* the naive script most people write (PowerShell's ``Get-ADGroupMember`` loop, or ldap3):
  read ``member`` once (ldap3's automatic range retrieval), then look each member up, one
  search per member, recursing into groups.

The groups: Bench-Top holds 1,667 users and Bench-Mid; Bench-Mid holds 1,667 users and
Bench-Low; Bench-Low holds 1,666 users: 5,000 users in all, three levels deep.

Usage: python benchmarks/bench_directory.py [--users 5000] [--page-size 1000] [--repeat 3]
Needs root and Samba's AD DC (scripts/install-test-deps.sh), and the core + directory pack installed.
"""

from __future__ import annotations

import argparse
import math
import ssl
import statistics
import time
from typing import Any


def _ldif(base_dn: str, users: int) -> tuple[str, int]:
    ou = f"OU=Bench,{base_dn}"
    blocks = [f"dn: {ou}\nobjectClass: organizationalUnit\n"]
    for i in range(users):
        blocks.append(
            f"dn: CN=user{i:05d},{ou}\nobjectClass: user\nsAMAccountName: user{i:05d}\n"
            f"displayName: Bench User {i:05d}\nuserAccountControl: 514\n"
        )
    thirds = [range(0, users // 3 + 1), range(users // 3 + 1, 2 * users // 3 + 1), range(2 * users // 3 + 1, users)]
    names = ["Bench-Top", "Bench-Mid", "Bench-Low"]
    for level in (2, 1, 0):  # the innermost first: a member must exist when its group is added
        members = [f"CN=user{i:05d},{ou}" for i in thirds[level]]
        if level < 2:
            members.append(f"CN={names[level + 1]},{ou}")
        body = "".join(f"member: {m}\n" for m in members)
        blocks.append(f"dn: CN={names[level]},{ou}\nobjectClass: group\nsAMAccountName: {names[level]}\n{body}")
    return "\n".join(blocks), len(thirds[0]) + 1


def _connect(dc: Any, **options: Any) -> Any:
    import ldap3

    server = ldap3.Server(dc.url, tls=ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file)))
    conn = ldap3.Connection(
        server, user=dc.admin_user, password=dc.admin_password, raise_exceptions=True, collect_usage=True, **options
    )
    conn.open()
    conn.bind()
    return conn


def _naive(conn: Any, group_dn: str) -> set[str]:
    """Read `member` once, then one lookup per member; recurse into groups."""
    import ldap3

    users: set[str] = set()
    todo, seen = [group_dn], {group_dn.lower()}
    while todo:
        dn = todo.pop()
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["member"])
        for member in conn.response[0]["attributes"].get("member", []):
            conn.search(member, "(objectClass=*)", ldap3.BASE, attributes=["sAMAccountName", "objectClass"])
            attrs = conn.response[0]["attributes"]
            if "group" in [c.lower() for c in attrs["objectClass"]]:
                if member.lower() not in seen:
                    seen.add(member.lower())
                    todo.append(member)
            else:
                users.add(str(attrs["sAMAccountName"]))
    return users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()

    from opspack.context import Caller
    from opspack.devtools.registry_build import registry_from_package
    from opspack.runtime import Runtime
    from opspack.settings import Config
    from opspack_directory.client import RANGE_STEP, Directory
    from opspack_directory.flavors import ActiveDirectory
    from opspack_directory.membership import in_chain_members, nested_members
    from opspack_testkit.servers.samba import SambaDC, SambaUnavailable, samba_binaries

    try:
        samba_binaries()
    except SambaUnavailable as exc:
        print(f"bench_directory: skipped ({exc})")
        return
    began = time.perf_counter()
    with SambaDC() as dc:
        ldif, top_direct = _ldif(dc.base_dn, opts.users)
        dc.add_ldif(ldif)
        print(
            f"Samba AD DC at {dc.url}: provisioned, started and seeded with {opts.users} users in "
            f"{time.perf_counter() - began:.1f} s"
        )
        top = f"CN=Bench-Top,OU=Bench,{dc.base_dn}"

        # -- the pack's way, counted by ldap3 (after one warm-up run: Samba's caches) ----
        conn = _connect(dc, auto_range=False, return_empty_attributes=False)
        d = Directory(conn, ActiveDirectory(), dc.base_dn, opts.page_size)
        nested_members(d, d.group("Bench-Top"))
        before = conn.usage.operations
        t0 = time.perf_counter()
        group = d.group("Bench-Top")
        found = nested_members(d, group)
        pack_s = time.perf_counter() - t0
        pack_trips = conn.usage.operations - before
        users = sum(1 for m in found if m.kind == "user")
        assert users == opts.users, users
        entries = opts.users + 2
        pages = entries // opts.page_size + 1  # the last page, partial (or empty when the count is exact)
        target = 1 + math.ceil(top_direct / RANGE_STEP) + pages
        # the same members in one paged search with AD's in-chain rule
        before = conn.usage.operations
        t0 = time.perf_counter()
        chained = in_chain_members(d, group, [*ActiveDirectory.member_attributes, "memberOf"])
        chain_s = time.perf_counter() - t0
        chain_trips = conn.usage.operations - before
        assert len(chained) == entries, len(chained)
        conn.unbind()

        # -- through the runtime, kept connection -------------------------------------------
        env = {
            "OPSPACK_DIRECTORY_URL": dc.url,
            "OPSPACK_DIRECTORY_USER": dc.admin_user,
            "OPSPACK_DIRECTORY_PASSWORD": dc.admin_password,
            "OPSPACK_DIRECTORY_CA_FILE": str(dc.ca_file),
            "OPSPACK_DIRECTORY_PAGE_SIZE": str(opts.page_size),
        }
        runtime = Runtime(registry_from_package("opspack_directory"), config=Config.load(environ=env), audit=None)
        caller = Caller(user="bench", frontend="bench")
        times = []
        for _ in range(opts.repeat):
            t0 = time.perf_counter()
            reply = runtime.chat("group members Bench-Top --nested", caller)
            times.append(time.perf_counter() - t0)
            assert reply.ok, reply.error
            assert len(reply.results[0].rows) == opts.users + 2  # type: ignore[attr-defined]
        runtime.close()

        # -- the naive script ---------------------------------------------------------------
        conn = _connect(dc)  # ldap3's defaults: automatic range retrieval
        before = conn.usage.operations
        t0 = time.perf_counter()
        naive_users = _naive(conn, top)
        naive_s = time.perf_counter() - t0
        naive_trips = conn.usage.operations - before
        conn.unbind()
        assert len(naive_users) == opts.users, len(naive_users)

    print(f"group members --nested of a {opts.users}-member group three levels deep (page size {opts.page_size}):")
    print(
        f"  pack:  {pack_trips:5d} LDAP round trips  {pack_s:7.2f} s   "
        f"(target {target}: 1 lookup + {math.ceil(top_direct / RANGE_STEP)} range steps "
        f"+ {pages} pages; {'met' if pack_trips <= target else 'MISSED'})"
    )
    print(
        f"  pack through the runtime, kept connection: median {statistics.median(times):.2f} s "
        f"over {opts.repeat} runs (min {min(times):.2f} s)"
    )
    print(f"  one in-chain search (memberOf:1.2.840.113556.1.4.1941:=): {chain_trips} round trips, {chain_s:.2f} s")
    print(f"  naive: {naive_trips:5d} LDAP round trips  {naive_s:7.2f} s   (read member once, one lookup per member)")
    print(
        f"  ratio: {naive_trips / max(pack_trips, 1):.0f}x fewer round trips, {naive_s / max(pack_s, 1e-9):.1f}x faster"
    )


if __name__ == "__main__":
    main()
