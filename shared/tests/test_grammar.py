"""The chat grammar: words, positionals, key=value, options, flags, quoting and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opspack.errors import UsageError
from opspack.grammar import parse, to_chat_text, tokenize
from opspack.registry import Registry


def test_options_flags_and_positionals(registry: Registry) -> None:
    p = parse("thing list --power on --limit 5", registry)
    assert p.command == "sample.thing.list"
    assert p.args == {"power": "on", "limit": "5"}
    p = parse("thing power-off web01 --force", registry)
    assert p.args == {"thing": "web01", "force": True}
    p = parse("thing power-off web01 --no-force", registry)
    assert p.args == {"thing": "web01", "force": False}
    p = parse("thing list limit=3 --name=web*", registry)
    assert p.args == {"limit": "3", "name": "web*"}


def test_aliases_pack_prefix_and_ids(registry: Registry) -> None:
    assert parse("thing stop web01", registry).command == "sample.thing.power_off"
    assert parse("sample thing list", registry).command == "sample.thing.list"
    assert parse("sample.thing.list", registry).command == "sample.thing.list"
    assert parse("THING LIST", registry).command == "sample.thing.list"


def test_quoting_like_a_shell(registry: Registry) -> None:
    p = parse("thing config sw1 'interface Gi0/1' \"description uplink to core\"", registry)
    assert p.args == {"device": "sw1", "lines": ["interface Gi0/1", "description uplink to core"]}


def test_mapping_collects_unknown_key_values(registry: Registry) -> None:
    p = parse("thing build deploy ENV=prod VERSION=1.2 --wait", registry)
    assert p.args == {"job": "deploy", "params": {"ENV": "prod", "VERSION": "1.2"}, "wait": True}


def test_list_options_split_on_commas_and_repeat(registry: Registry) -> None:
    p = parse("thing config sw1 a b c", registry)
    assert p.args["lines"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("", "empty", "help"),
        ("   ", "empty", "help"),
        ("thng lst", "Unknown command `thng lst`", "thing list"),
        ("thing list --pwr on", "no option --pwr", "--power"),
        ("thing power-off", "Missing thing", "thing power-off <thing> [--force]"),
        ("thing power-off a b", "Unexpected argument `b`", "Usage"),
        ("thing list --limit", "needs a value", "Usage"),
        ("thing list 'open quote", "no closing quotation", "quote"),
        ("thing list --limit 1 --limit 2", "given twice", "Usage"),
        ("thing list \x07", "control characters", "plain text"),
        ("thing list " + "x" * 10_000, "limit is 4,000", "Shorten"),
        ("thing list \udcff", "not valid UTF-8", "plain text"),
    ],
)
def test_bad_input_is_a_clear_usage_error(registry: Registry, text: str, message: str, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(text, registry)
    assert message in info.value.message
    assert info.value.hint is not None and hint in info.value.hint


def test_round_trip_to_chat_text(registry: Registry) -> None:
    entry = registry.get("sample.thing.build")
    assert entry is not None
    args = {"job": "my job", "params": {"ENV": "prod"}, "wait": True}
    text = to_chat_text(entry, args)
    assert text == "thing build 'my job' ENV=prod --wait"
    assert parse(text, registry).args == args


def test_tokenize_keeps_backslash_escapes() -> None:
    assert tokenize(r"a b\ c 'd e'") == ["a", "b c", "d e"]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_a_usage_error(registry: Registry, text: str) -> None:
    try:
        parse(text, registry)
    except UsageError as exc:
        assert exc.message
        assert exc.hint


words = st.sampled_from(["thing", "list", "power-off", "build", "config", "--force", "--limit", "x=1", "'a b'", "--"])


@settings(max_examples=400, deadline=None)
@given(st.lists(words | st.text(max_size=12), max_size=8))
def test_command_like_text_parses_or_is_a_usage_error(registry: Registry, tokens: list[str]) -> None:
    try:
        parse(" ".join(tokens), registry)
    except UsageError as exc:
        assert exc.message and exc.hint


def test_a_command_of_a_pack_not_installed_names_the_pack_and_its_install_line(
    registry: Registry, tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the sample pack is installed; the catalog (a registry.json listing every pack) has
    `vm list` in the vmware pack: the answer says so and how to install it."""
    import json
    from pathlib import Path

    vm_list = {
        **registry.commands[0],
        "id": "vmware.vm.list",
        "pack": {"name": "vmware", "distribution": "opspack-vmware", "version": "0.3.0"},
        "install": "pip install opspack-vmware==0.3.0",
        "chat": {**registry.commands[0]["chat"], "words": ["vm", "list"], "aliases": []},
    }
    vmware = {"name": "vmware", "distribution": "opspack-vmware", "install": "pip install opspack-vmware==0.3.0"}
    catalog = Path(str(tmp_path)) / "registry.json"
    catalog.write_text(
        json.dumps({"packs": [*registry.packs, vmware], "commands": [*registry.commands, vm_list]}), encoding="utf-8"
    )
    monkeypatch.setenv("OPSPACK_CATALOG", str(catalog))
    with pytest.raises(UsageError) as raised:
        parse("vm list --cluster prod", registry)
    assert raised.value.message == (
        "`vm list` is a command of the vmware pack (opspack-vmware), which is not installed here."
    )
    assert raised.value.hint == "Install it beside opspack: pip install opspack-vmware==0.3.0"
    # a pack that is installed is never sent to the catalog: its own errors stand
    with pytest.raises(UsageError, match="Unknown command `thng lst`"):
        parse("thng lst", registry)
    monkeypatch.setenv("OPSPACK_CATALOG", str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match="Unknown command `vm list"):
        parse("vm list", registry)
