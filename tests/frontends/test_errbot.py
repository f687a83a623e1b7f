"""The Errbot plugin with Errbot's own test backend (the `testbot` fixture), offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("errbot")

from errbot.backends.test import testbot  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]
extra_plugin_dir = str(ROOT / "frontends" / "errbot")
# the plugin's requirements (opspack) are installed by the test session; Errbot must not pip-install
extra_config = {"AUTOINSTALL_DEPS": False}


@pytest.fixture
def registry_env(registry_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSPACK_REGISTRY", str(registry_file))


@pytest.fixture
def bot(registry_env: None, testbot: Any) -> Any:  # noqa: F811
    return testbot


def ask(bot: Any, text: str) -> str:
    bot.push_message(text)
    return str(bot.pop_message(timeout=60))


def ask_all(bot: Any, text: str) -> str:
    """Every message of the answer: Errbot splits a long one (as `!help` with every pack is)."""
    import queue

    parts = [ask(bot, text)]
    while True:
        try:
            parts.append(str(bot.pop_message(timeout=2)))
        except queue.Empty:
            return "\n".join(parts)


def test_server_test_runs(bot: Any, open_port: int) -> None:
    out = ask(bot, f"!server test 127.0.0.1 --ports {open_port},1")
    assert f"127.0.0.1:{open_port}" in out and "connection refused" in out


def test_bad_arguments_answer_usage(bot: Any) -> None:
    out = ask(bot, "!server test 127.0.0.1 --ports lots")
    assert "ports" in out and "Usage" in out


def test_destructive_command_through_its_confirmation(bot: Any) -> None:
    asked = ask(bot, "!disk wipe sde --force")
    assert "needs your confirmation" in asked and "wiped" not in asked
    token = re.search(r"confirm ([A-Za-z0-9_-]{20,})", asked)
    assert token, asked
    assert "sde wiped (forced)" in ask(bot, f"!confirm {token.group(1)}")
    assert "already used" in ask(bot, f"!confirm {token.group(1)}")


def test_free_text_and_help_grouped_by_pack(bot: Any) -> None:
    # `echo` is Errbot's own command: the pack's `echo` is reached through !ops.
    assert "hi hi" in ask(bot, "!ops echo hi --times 2")
    assert "a+b" in ask(bot, "!echo join a b")
    help_text = ask_all(bot, "!help")
    assert "opspack-server" in help_text.lower() or "opspack_server" in help_text.lower(), help_text
    assert "opspack-echo" in help_text.lower() or "opspack_echo" in help_text.lower()


def test_errbots_own_commands_stay_errbots(bot: Any) -> None:
    """`!history` is Errbot's own command whichever plugin activates first: the core pack's
    `history` is `!core_history` (and `!ops history`)."""
    import sys

    sys.path.insert(0, extra_plugin_dir)
    try:
        from opspack_errbot import errbot_commands
    finally:
        sys.path.remove(extra_plugin_dir)
    assert {"history", "echo", "help", "status", "whoami"} <= errbot_commands()
    assert type(bot.bot.all_commands["history"].__self__).__name__ == "Utils"
    assert "History (" not in ask(bot, "!history")
    assert "History (" in ask(bot, "!core_history")
