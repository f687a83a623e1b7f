"""`help search <text>` and `help <words>` that name no command: found by what commands do."""

from __future__ import annotations

from opspack.help import help_reply
from opspack.registry import Registry
from opspack.search import query_words, search, stem


def usages(reply: object) -> list[str]:
    table = reply.to_dict()["results"][0]  # type: ignore[attr-defined]
    return [row[0] for row in table["rows"]]


def test_stem_and_query_words() -> None:
    assert stem("builds") == "build" and stem("restarting") == "restart" and stem("policies") == "policy"
    assert query_words("How do I power off the things?") == ["power", "off", "thing"]


def test_search_ranks_by_what_commands_do(registry: Registry) -> None:
    found = search(registry, "switch off a thing")
    assert found[0]["id"] == "sample.thing.power_off"
    assert search(registry, "job parameters")[0]["id"] == "sample.thing.build"
    assert search(registry, "xyzzy plugh") == []


def test_help_search_in_chat(registry: Registry) -> None:
    reply = help_reply(registry, ["search", "start", "a", "job"])
    assert reply.ok
    assert usages(reply)[0] == "thing build <job> [KEY=value ...] [--wait]"
    assert reply.to_dict()["results"][0]["title"] == "Commands about `start a job`"
    nothing = help_reply(registry, ["search", "xyzzy"])
    assert nothing.ok and "No command matches" in nothing.to_dict()["results"][0]["text"]


def test_help_words_fall_back_to_search(registry: Registry) -> None:
    reply = help_reply(registry, ["config", "lines"])
    assert reply.ok
    assert usages(reply)[0].startswith("thing config")
    assert "No command is named" in reply.to_dict()["results"][0]["title"]
    unknown = help_reply(registry, ["xyzzy"])
    assert not unknown.ok and unknown.error is not None and unknown.error.kind == "usage"


def test_help_of_a_command_is_unchanged(registry: Registry) -> None:
    reply = help_reply(registry, ["thing", "list"])
    assert reply.to_dict()["results"][0]["kind"] == "kv"


def test_help_search_through_the_runtime(runtime: object) -> None:
    from opspack.context import Caller
    from opspack.frontends.gateway import Gateway

    reply = Gateway(runtime).chat("help search power off", Caller(user="alice"))  # type: ignore[arg-type]
    assert reply.ok and "thing power-off" in usages(reply)[0]


def test_search_does_not_find_a_command_through_its_examples(registry: Registry) -> None:
    """`history`'s example `history vm power-off` names another command: `help search power`
    lists the commands that power things, not `history`."""
    from opspack.devtools.registry_build import registry_from_package

    core = registry_from_package("opspack_core", "0.0.0")
    assert any("power" in ex for c in core for ex in c["chat"]["examples"]), "the example this test is about"
    both = Registry(packs=[*registry.packs, *core.packs], commands=[*registry.commands, *core.commands])
    found = [e["id"] for e in search(both, "power")]
    assert "sample.thing.power_off" in found
    assert not [f for f in found if f.startswith("core.")], found
