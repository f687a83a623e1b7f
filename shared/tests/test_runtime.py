"""The runtime: validation, settings, confirmation, timeouts, errors and secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opspack.context import Caller
from opspack.registry import Registry
from opspack.renderers import FORMATS, render
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_sample import thing
from opspack_testkit import check_rendering


def test_chat_runs_a_command_and_converts_types(runtime: Runtime) -> None:
    reply = runtime.chat("thing list --power on --limit 6")
    assert reply.ok and reply.command == "sample.thing.list"
    table = reply.to_dict()["results"][0]
    assert table["rows"] == [["thing1", "on", 1], ["thing3", "on", 3], ["thing5", "on", 5]]


def test_invoke_takes_typed_json_arguments(runtime: Runtime) -> None:
    reply = runtime.invoke("sample.thing.config", {"device": "sw1", "lines": ["a", "b"], "color": "blue", "ratio": 2})
    assert reply.ok
    assert reply.to_dict()["results"][0]["text"] == "sw1: a | b color=blue ratio=2.0"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("thing list --limit many", "limit: got 'many', expected a whole number"),
        ("thing list --power sideways", "power: got 'sideways', expected one of on, off, suspended"),
        ("thing config sw1 x --ratio fast", "ratio: got 'fast', expected a number"),
        ("thing config sw1 x --color green", "color: got 'green', expected one of red, blue"),
    ],
)
def test_bad_values_name_the_argument_the_value_and_what_is_expected(runtime: Runtime, text: str, needle: str) -> None:
    reply = runtime.chat(text)
    assert not reply.ok and reply.error is not None
    assert reply.error.kind == "usage"
    assert needle in reply.error.message
    assert reply.error.hint and reply.error.hint.startswith("Usage: thing")


def test_unknown_arguments_through_invoke(runtime: Runtime) -> None:
    reply = runtime.invoke("sample.thing.list", {"colour": "red"})
    assert reply.error is not None and "unknown argument colour" in reply.error.message
    reply = runtime.invoke("sample.nope.nothing", {})
    assert reply.error is not None and reply.error.kind == "usage" and reply.command is None


def test_destructive_commands_wait_for_confirmation(runtime: Runtime) -> None:
    thing.CALLS.clear()
    reply = runtime.chat("thing power-off web01 --force")
    assert not reply.ok and reply.error is not None and reply.error.confirm is not None
    assert reply.error.kind == "denied"
    assert reply.error.confirm.text == "thing power-off web01 --force"
    assert thing.CALLS == []
    confirmed = runtime.invoke(reply.error.confirm.command, reply.error.confirm.args, Caller(confirmed=True))
    assert confirmed.ok
    assert thing.CALLS == ["power_off web01 force=True"]


def test_missing_settings_are_a_config_error_naming_them(registry: Registry) -> None:
    rt = Runtime(registry, config=Config(data={}, path=None, environ={}), audit=None)
    reply = rt.chat("thing connect")
    assert reply.error is not None and reply.error.kind == "config"
    assert "missing url, password" in reply.error.message
    assert reply.error.hint is not None
    assert "OPSPACK_SAMPLE_URL" in reply.error.hint and "OPSPACK_SAMPLE_PASSWORD" in reply.error.hint
    rt.close()


def test_settings_from_toml_profiles_and_references(registry: Registry, tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-a-file-secret\n")
    toml = tmp_path / "opspack.toml"
    toml.write_text(
        '[sample]\nurl = "https://default"\npassword = "env:SAMPLE_PW"\n'
        f'[sample.profiles.lab]\nurl = "https://lab"\npassword = "file:{secret_file}"\n'
    )
    env = {"SAMPLE_PW": "from-env-secret", "OPSPACK_CONFIG": str(toml)}
    rt = Runtime(registry, config=Config.load(environ=env), audit=None)
    default = rt.chat("thing connect").to_dict()["results"][0]["items"]
    lab = rt.chat("thing connect", Caller(profile="lab")).to_dict()["results"][0]["items"]
    assert default["url"] == "https://default" and lab["url"] == "https://lab"
    # the secret values were resolved but are masked in every reply
    assert default["password"] == "••••••" and lab["password"] == "••••••"
    missing = rt.chat("thing connect", Caller(profile="prod"))
    assert missing.error is not None and "profile 'prod' is not defined" in missing.error.message
    rt.close()


def test_environment_overrides_the_file_and_bad_types_are_config_errors(registry: Registry) -> None:
    env = {"OPSPACK_SAMPLE_URL": "https://env", "OPSPACK_SAMPLE_PASSWORD": "x" * 8, "OPSPACK_SAMPLE_RETRIES": "lots"}
    rt = Runtime(registry, config=Config(data={"sample": {"url": "https://file"}}, environ=env), audit=None)
    from opspack.settings import Settings

    s = Settings("sample", list(rt._pack("sample").settings), rt.config, None, rt.masker)
    assert s["url"] == "https://env"
    assert s["verify_tls"] is True
    with pytest.raises(Exception, match="retries from OPSPACK_SAMPLE_RETRIES is 'lots', expected int"):
        _ = s["retries"]
    rt.close()


def test_connections_are_reused_and_remade_when_settings_change(registry: Registry) -> None:
    env = {"OPSPACK_SAMPLE_URL": "https://a", "OPSPACK_SAMPLE_PASSWORD": "first-password"}
    rt = Runtime(registry, config=Config(data={}, environ=env), audit=None)
    first = rt.chat("thing connect").to_dict()["results"][0]["items"]["client"]
    second = rt.chat("thing connect").to_dict()["results"][0]["items"]["client"]
    assert first == second and rt.pool.created == 1
    env["OPSPACK_SAMPLE_PASSWORD"] = "rotated-password"
    rt._config = Config(data={}, environ=env)
    third = rt.chat("thing connect").to_dict()["results"][0]["items"]["client"]
    assert rt.pool.created == 2 and len(rt.pool) == 1
    assert third != first or rt.pool.created == 2
    rt.close()


def test_timeouts_answer_with_a_timeout_error(runtime: Runtime) -> None:
    reply = runtime.chat("thing slow --seconds 3")
    assert reply.error is not None and reply.error.kind == "timeout"
    assert "did not finish within 0.2 s" in reply.error.message


def test_exceptions_never_reach_the_chat_as_tracebacks(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    runtime.masker.add("hunter2")
    with caplog.at_level(logging.ERROR, logger="opspack"):
        reply = runtime.chat("thing broken --how bug")
    assert reply.error is not None and reply.error.kind == "internal"
    assert "Traceback" not in reply.error.message and "hunter2" not in reply.error.message
    assert "RuntimeError" in reply.error.message
    assert any("failed unexpectedly" in r.getMessage() for r in caplog.records)
    for fmt in FORMATS:
        assert "Traceback" not in str(render(reply, fmt))


def test_backend_exceptions_are_translated_by_the_pack(runtime: Runtime) -> None:
    reply = runtime.chat("thing broken --how backend")
    assert reply.error is not None and reply.error.kind == "backend"
    assert reply.error.message == "backend said: 503 Service Unavailable"
    missing = runtime.chat("thing broken --how missing")
    assert missing.error is not None and missing.error.kind == "not_found"
    assert missing.error.hint is not None and "web01" in missing.error.hint and "db01" not in missing.error.hint


def test_menu_options_get_their_chat_text(runtime: Runtime) -> None:
    reply = runtime.chat("thing everything")
    menu = next(r for r in reply.to_dict()["results"] if r["kind"] == "menu")
    assert menu["options"][0]["text"] == "thing power-off thing1"


def test_every_result_kind_renders_and_validates(runtime: Runtime) -> None:
    out = check_rendering(runtime.chat("thing everything"))
    assert "🟠 **WARNING** almost full" in out["markdown"]
    assert "-b\n+c" in out["text"]


def test_help_in_chat(runtime: Runtime) -> None:
    from opspack.frontends.gateway import Gateway

    gateway = Gateway(runtime)
    overview = gateway.chat("help", Caller())
    assert overview.ok and "thing list" in render(overview, "text")
    one = gateway.chat("help thing power-off", Caller())
    text = render(one, "text")
    assert "thing power-off <thing> [--force]" in text and "destructive" in text
    assert "--force (boolean) - do not wait for a clean shutdown" in text
    group = gateway.chat("? thing", Caller())
    assert group.ok and "thing config" in render(group, "text")
    unknown = gateway.chat("help thng lst", Caller())
    assert unknown.error is not None and "thing list" in (unknown.error.hint or "")


def test_the_runtime_runs_commands_only(runtime: Runtime) -> None:
    """Special words are the gateway's: the runtime answers `help` as an unknown command."""
    reply = runtime.chat("help")
    assert reply.error is not None and reply.error.kind == "usage" and "Unknown command" in reply.error.message


def test_transient_failures_of_reads_are_retried_with_backoff(runtime: Runtime) -> None:
    reply = runtime.chat("thing flaky --fail-times 2 --key r1")
    assert reply.ok and reply.to_dict()["results"][0]["text"] == "answered after 3 attempts"
    gave_up = runtime.chat("thing flaky --fail-times 5 --key r2")
    assert gave_up.error is not None and gave_up.error.kind == "backend"
    assert thing.FLAKY["r2"] == 3  # the first try and two retries


def test_mutating_commands_are_never_retried(runtime: Runtime) -> None:
    reply = runtime.chat("thing flaky-change --key m1")
    assert reply.error is not None and reply.error.kind == "backend"
    assert thing.FLAKY["m1"] == 1


def test_signal_timeouts_interrupt_the_command_in_the_main_thread(registry: Registry) -> None:
    """The command line and the shell run commands inline and stop them with SIGALRM."""
    import time as _time

    rt = Runtime(registry, config=Config(data={}, environ={}), audit=None, timeouts="signal")
    started = _time.monotonic()
    reply = rt.chat("thing slow --seconds 5")
    assert reply.error is not None and reply.error.kind == "timeout"
    assert _time.monotonic() - started < 3
    assert rt.chat("thing list --limit 1").ok
    retried = rt.chat("thing flaky --fail-times 1 --key s1")
    assert retried.ok
    rt.close()


def test_not_found_hints_name_the_closest_candidates_or_all_of_few() -> None:
    from opspack.errors import NotFound

    close = NotFound.with_matches("device", "sw01", ["sw1", "sw02", "core1"])
    assert close.message == "device 'sw01' not found" and close.hint is not None
    assert close.hint.startswith("Did you mean: ") and "sw02" in close.hint and "core1" not in close.hint
    few = NotFound.with_matches("device", "edge9", ["core1", "core2", "access1"])
    assert few.hint == "Known: core1, core2, access1."
    many = NotFound.with_matches("device", "edge9", [f"core{i}" for i in range(20)])
    assert many.hint is None
    assert NotFound.with_matches("device", "edge9", []).hint is None


def test_a_call_that_would_fail_is_refused_before_anyone_confirms(runtime: Runtime) -> None:
    """Arguments, settings and the command's own check come before the confirmation."""
    ghost = runtime.chat("thing retire ghost7")
    assert ghost.error is not None and ghost.error.kind == "not_found" and ghost.error.confirm is None
    assert "check retire ghost7" in thing.CALLS and "retire ghost7" not in thing.CALLS
    bad = runtime.invoke("sample.thing.retire", {"thing": ["not", "a", "string"]})
    assert bad.error is not None and bad.error.kind == "usage" and bad.error.confirm is None
    asked = runtime.chat("thing retire thing2")
    assert asked.error is not None and asked.error.confirm is not None
    assert "check retire thing2" in thing.CALLS and "retire thing2" not in thing.CALLS
    done = runtime.chat("thing retire thing2", Caller(confirmed=True))
    assert done.ok and "retire thing2" in thing.CALLS


def test_a_call_by_id_is_held_to_the_length_of_chat_text(runtime: Runtime) -> None:
    """/invoke and MCP pass typed arguments: written as chat text, they may not be longer
    than a chat message may be; refused before the policy, without keeping them."""
    lines = ["x" * 50] * 100
    reply = runtime.invoke("sample.thing.config", {"device": "sw1", "lines": lines})
    assert not reply.ok and reply.error is not None and reply.error.kind == "usage"
    assert "characters as chat text; the limit is 4,000" in reply.error.message
    assert reply.command == "sample.thing.config"
    assert runtime.invoke("sample.thing.config", {"device": "sw1", "lines": lines[:10]}).ok
    # a chat message is held to it when it is read, and the same call fits
    assert runtime.chat("thing config sw1 " + " ".join(lines[:10])).ok


def test_a_call_by_id_with_nested_arguments_is_refused_before_it_is_recorded(runtime: Runtime) -> None:
    nested: object = "x"
    for _ in range(900):
        nested = [nested]
    reply = runtime.invoke("sample.thing.config", {"device": "sw1", "lines": [nested]})
    assert reply.error is not None and reply.error.kind == "usage"
    assert "lines nests lists or mappings" in reply.error.message
