"""MCP tool names (without the SDK): unique, exact back to their command, within the pattern
strict hosts enforce, also for ids that are too long or that would share a name."""

from __future__ import annotations

import hashlib

from opspack.frontends.mcp import CONFIRM_TOOL, TOOL_NAME_PATTERN, plain_tool_name, tool_names
from opspack.registry import Registry


def test_a_name_is_the_id_with_underscores(registry: Registry) -> None:
    ids = [e["id"] for e in registry]
    names = tool_names(ids, reserved=(CONFIRM_TOOL,))
    assert names == {i: i.replace(".", "_") for i in ids}
    assert TOOL_NAME_PATTERN.match(CONFIRM_TOOL)


def test_ids_that_would_share_a_name_both_get_a_digest() -> None:
    ids = ["ops.b_c.d", "ops.b.c_d", "ops.disk.wipe"]
    names = tool_names(ids)
    digest = {i: hashlib.sha256(i.encode()).hexdigest()[:8] for i in ids}
    assert names == {
        "ops.b_c.d": f"ops_b_c_d_{digest['ops.b_c.d']}",
        "ops.b.c_d": f"ops_b_c_d_{digest['ops.b.c_d']}",
        "ops.disk.wipe": "ops_disk_wipe",
    }
    # the order the ids come in changes nothing; back from a name is exact
    assert tool_names(reversed(ids)) == names
    assert len({v: k for k, v in names.items()}) == len(ids)


def test_a_long_id_is_cut_with_a_digest_and_stays_unique() -> None:
    long_a = "pack." + "a" * 40 + ".verb_" + "x" * 30
    long_b = "pack." + "a" * 40 + ".verb_" + "x" * 29 + "y"  # same first 55 characters
    short = "pack.group.verb"
    names = tool_names([long_a, long_b, short])
    assert len(plain_tool_name(long_a)) > 64
    for ident in (long_a, long_b):
        name = names[ident]
        assert len(name) == 64 and TOOL_NAME_PATTERN.match(name)
        assert name == plain_tool_name(ident)[:55] + "_" + hashlib.sha256(ident.encode()).hexdigest()[:8]
    assert names[long_a] != names[long_b] and names[short] == "pack_group_verb"


def test_a_reserved_name_and_a_taken_digest_are_avoided() -> None:
    names = tool_names(["opspack.confirm"], reserved=(CONFIRM_TOOL,))
    assert names["opspack.confirm"] != CONFIRM_TOOL and names["opspack.confirm"].startswith("opspack_confirm_")
    # an id whose plain name is exactly the digested name of another: the other digests again
    ident = "ops.b_c.d"
    first = f"ops_b_c_d_{hashlib.sha256(ident.encode()).hexdigest()[:8]}"
    names = tool_names([ident, "ops.b.c_d", first.replace("_", ".", 2)])
    assert names[first.replace("_", ".", 2)] == first
    assert names[ident] != first and names[ident].startswith("ops_b_c_d_")
    assert len(set(names.values())) == 3 and all(TOOL_NAME_PATTERN.match(n) for n in names.values())


def test_characters_a_name_may_not_hold_become_underscores() -> None:
    assert plain_tool_name("ops.größe.list") == "ops_gr__e_list"
    assert all(TOOL_NAME_PATTERN.match(n) for n in tool_names(["ops.größe.list", "a.b.c d"]).values())
