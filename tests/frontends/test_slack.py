"""The Slack app: the real Bolt App object fed signed, recorded request payloads.

Slack's Web API and response URLs are the test kit's fake Slack on loopback
(opspack_testkit.fakes.slack), so the app's real WebClient and `respond` make real HTTP
calls the test can read. Commands run on a pool of two worker processes, as under
`opspack slack`, so long ones run in the background. Payload shapes:
- slash command: https://api.slack.com/interactivity/slash-commands#app_command_handling
- app_mention: https://api.slack.com/events/app_mention
- block_actions: https://api.slack.com/reference/interaction-payloads/block-actions
- files_upload_v2: files.getUploadURLExternal + upload + files.completeUploadExternal
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from opspack.executor import Embedded
from opspack.frontends.gateway import Gateway
from opspack.jobs import Job, ProgressLine
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.slack import FakeSlack
from opspack_testkit.validate import validate_slack_messages

pytest.importorskip("slack_bolt")

from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def runtime(registry: Registry) -> Iterator[Runtime]:
    """A runtime whose commands run on two worker processes (``opspack slack`` uses the pool too).
    Long commands start as jobs at once (no grace): what these tests watch."""
    data = registry.to_data()
    rt = Runtime(
        registry,
        config=Config(data={}, path=None, environ={"OPSPACK_JOBS_ASYNC_GRACE_S": "0"}),
        executor=lambda r: Embedded(workers=2, registry_data=data),
    )
    yield rt
    rt.close()


def make_app(runtime: Runtime, slack: FakeSlack, **options: Any) -> App:
    """The Bolt app of the Slack front-end (``options`` go to ``SlackFrontend``)."""
    from opspack.frontends.slack import SlackFrontend

    client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
    bolt = App(client=client, signing_secret=SECRET, token_verification_enabled=False)
    return SlackFrontend(Gateway(runtime), **options).register(bolt)


@pytest.fixture
def app(runtime: Runtime, slack: FakeSlack) -> App:
    return make_app(runtime, slack)


def dispatch(app: App, body: str, content_type: str) -> Any:
    ts = str(int(time.time()))
    headers: dict[str, str | Sequence[str]] = {
        "content-type": [content_type],
        "x-slack-request-timestamp": [ts],
        "x-slack-signature": [SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)],
    }
    return app.dispatch(BoltRequest(body=body, headers=headers))


def slash(app: App, slack: FakeSlack, text: str, user: str = "U1", channel: str = "C1") -> Any:
    body = urlencode(
        {
            "token": "verification-token",
            "team_id": "T1",
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/ops",
            "text": text,
            "api_app_id": "A1",
            "response_url": slack.url + "/respond/1",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )
    return dispatch(app, body, "application/x-www-form-urlencoded")


def click(app: App, slack: FakeSlack, button: dict[str, Any], user: str = "U1") -> Any:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "verification-token",
        "container": {"type": "message", "message_ts": "2.1", "channel_id": "C1", "is_ephemeral": False},
        "trigger_id": "12466734323.1395872398",
        "team": {"id": "T1", "domain": "example"},
        "channel": {"id": "C1", "name": "ops"},
        "response_url": slack.url + "/respond/2",
        "actions": [{**button, "block_id": "b1", "action_ts": "3.1"}],
    }
    return dispatch(app, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def _blocks_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks"), ensure_ascii=False)


def _percents(message: dict[str, Any]) -> list[int]:
    return [int(p) for p in re.findall(r"(\d+)%", _blocks_text(message))]


def _replied(ts: str) -> Any:
    """Whether a post in the thread of ``ts`` arrived."""
    return lambda posted: any(p.get("thread_ts") == ts and p["via"] == "chat.postMessage" for p in posted)


def test_slash_command_acks_then_responds(app: App, slack: FakeSlack) -> None:
    started = time.monotonic()
    response = slash(app, slack, "echo slow --seconds 0.5")  # a quick command (timeout 5 s)
    assert response.status == 200  # the ack, before the command ran
    assert time.monotonic() - started < 0.5
    posted = slack.wait(1)
    message = posted[0]
    assert message["via"] == "respond" and message["response_type"] == "in_channel"
    validate_slack_messages([{"text": message["text"], "blocks": message["blocks"]}])
    assert "slept 0.5 s" in json.dumps(message["blocks"])
    time.sleep(0.3)
    assert len(slack.posted) == 1  # its answer, and nothing else: no job message


def test_a_long_command_that_answers_at_once_is_answered_in_place(
    registry: Registry, slack: FakeSlack, open_port: int
) -> None:
    """`server test` may take two minutes (long work), but when it answers within
    [jobs] async_grace_s (2.5 s by default) it is answered like a quick command: no job message."""
    rt = Runtime(registry, config=Config(data={}, path=None, environ={}))
    try:
        slash(make_app(rt, slack), slack, f"server test 127.0.0.1 --ports {open_port}")
        first = slack.wait(1)[0]
    finally:
        rt.close()
    assert first["via"] == "respond" and not first["text"].startswith("Started job ")
    assert f"127.0.0.1:{open_port}" in json.dumps(first)


def mention(app: App, text: str, ts: str, channel: str = "C1", thread_ts: str | None = None) -> Any:
    event = {
        "token": "verification-token",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": {
            "type": "app_mention",
            "user": "U1",
            "text": f"<@UBOT> {text}",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            **({"thread_ts": thread_ts} if thread_ts else {}),
        },
        "type": "event_callback",
        "event_id": f"Ev{ts.replace('.', '')}",
        "event_time": int(float(ts)),
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
    }
    return dispatch(app, json.dumps(event), "application/json")


def test_app_mention_answers_in_the_thread(app: App, slack: FakeSlack) -> None:
    assert mention(app, "echo join a b --sep /", "1515449522.000016").status == 200
    message = slack.wait(1)[0]
    assert message["via"] == "chat.postMessage" and message["thread_ts"] == "1515449522.000016"
    assert "a/b" in message["text"] + json.dumps(message.get("blocks"))


def test_images_are_uploaded(app: App, slack: FakeSlack) -> None:
    slash(app, slack, "echo pixel")
    posted = slack.wait(2)
    assert any(p["via"] == "files.completeUploadExternal" for p in posted)
    assert slack.files and slack.files[0].startswith(b"\x89PNG")


def test_destructive_command_through_the_confirm_button(app: App, slack: FakeSlack) -> None:
    slash(app, slack, "disk wipe sdx")
    asked = slack.wait(1)[0]
    validate_slack_messages([{"text": asked["text"], "blocks": asked["blocks"]}])
    buttons = [e for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"]]
    confirm = next(b for b in buttons if b["text"]["text"] == "Confirm")
    assert json.loads(confirm["value"])["token"]

    click(app, slack, confirm, user="U2")  # someone else clicks: refused
    refused = slack.wait(2)[1]
    assert "another user" in refused["text"] + json.dumps(refused.get("blocks"))

    click(app, slack, confirm, user="U1")
    done = slack.wait(3)[2]
    assert "sdx wiped" in done["text"] + json.dumps(done.get("blocks"))

    cancel = next(b for b in buttons if b["text"]["text"] == "Cancel")
    click(app, slack, cancel)
    assert slack.wait(4)[3]["text"] == "Cancelled."


def test_menu_buttons_run_their_follow_up_commands(app: App, slack: FakeSlack) -> None:
    slash(app, slack, "echo menu disk7")
    offered = slack.wait(1)[0]
    validate_slack_messages([{"text": offered["text"], "blocks": offered["blocks"]}])
    assert "What next for disk7?" in offered["text"] + json.dumps(offered["blocks"])
    buttons = {e["text"]["text"]: e for b in offered["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert set(buttons) == {"Say disk7 twice", "Wipe disk7"}

    click(app, slack, buttons["Say disk7 twice"])  # the command id and its arguments ride in the value
    said = slack.wait(2)[1]
    assert "disk7 disk7" in said["text"] + json.dumps(said.get("blocks"))

    click(app, slack, buttons["Wipe disk7"])  # a destructive follow-up still asks first
    asked = slack.wait(3)[2]
    confirm = next(
        e for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"] if e["text"]["text"] == "Confirm"
    )
    assert "disk7 wiped" not in asked["text"] + json.dumps(asked.get("blocks"))
    click(app, slack, confirm)
    assert "disk7 wiped" in json.dumps(slack.wait(4)[3])


# -- long commands: one message updated in place, the result in its thread ----------------
def test_long_command_updates_one_message_then_answers_in_its_thread(runtime: Runtime, slack: FakeSlack) -> None:
    app = make_app(runtime, slack, update_every_s=0.3)
    started = time.monotonic()
    assert slash(app, slack, "echo steps --count 3 --pause 0.3").status == 200
    first = slack.wait(1)[0]
    assert time.monotonic() - started < 5  # at once, not when the job is done
    assert first["via"] == "chat.postMessage" and first["channel"] == "C1" and "thread_ts" not in first
    found = re.match(r"Started job (\d+): echo steps --count 3 --pause 0\.3", first["text"])
    assert found, first["text"]
    job = int(found.group(1))
    validate_slack_messages([{"text": first["text"], "blocks": first["blocks"]}])
    assert f"job cancel {job}" in _blocks_text(first)

    posted = slack.wait_for(_replied(first["ts"]), what="the result in the thread")
    updates = [p for p in posted if p["via"] == "chat.update"]
    assert updates and all(u["ts"] == first["ts"] and u["channel"] == "C1" for u in updates)
    validate_slack_messages([{"text": u["text"], "blocks": u["blocks"]} for u in updates])
    running = [u for u in updates if u["text"].startswith("Started job")]
    assert running, "no update showed the running job's progress"
    assert any("step " in _blocks_text(u) and "of 3" in _blocks_text(u) for u in running)
    shown = [max(_percents(u), default=0) for u in updates]
    assert shown == sorted(shown) and shown[-1] == 100, shown  # rising, to 100%
    assert updates[-1]["text"] == f"Job {job} succeeded: echo steps --count 3 --pause 0.3"
    assert "✅" in _blocks_text(updates[-1])

    replies = [p for p in posted if p.get("thread_ts") == first["ts"]]
    assert "3 steps done" in json.dumps(replies)
    assert [r["text"] for r in slack.thread("C1", first["ts"])] == [r["text"] for r in replies]
    assert slack.messages["C1"][first["ts"]]["edited"] == len(updates)
    assert not [p for p in posted if p["via"] == "respond"]  # all through the Web API

    # at most one message of the job per channel every 0.3 s
    times = [t for p, t in zip(posted, slack.arrived, strict=True) if p.get("ts") == first["ts"]]
    # (measured where they arrive, so a loaded machine's jitter is allowed for; without pacing the gaps are ~0)
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(times)), times


def test_long_command_from_a_mention_stays_in_its_thread_one_update_a_second(
    runtime: Runtime, slack: FakeSlack
) -> None:
    app = make_app(runtime, slack)  # Slack's pace: one message a second per channel
    root = slack.post("C1", "<@UBOT> can you count?")
    asked = slack.post("C1", "<@UBOT> echo steps --count 5 --pause 0.5")
    assert mention(app, "echo steps --count 5 --pause 0.5", asked, thread_ts=root).status == 200
    first = slack.wait(1)[0]
    assert first["thread_ts"] == root and first["text"].startswith("Started job ")
    # the result goes to the thread the mention is in (a reply cannot have replies)
    posted = slack.wait_for(
        lambda ps: any("5 steps done" in json.dumps(p) for p in ps if p["via"] == "chat.postMessage"),
        what="the result",
    )
    result = next(p for p in posted if "5 steps done" in json.dumps(p))
    assert result["thread_ts"] == root
    updates = [p for p in posted if p["via"] == "chat.update"]
    assert len(updates) >= 2 and all(u["ts"] == first["ts"] for u in updates)
    assert updates[-1]["text"].startswith("Job ") and "succeeded" in updates[-1]["text"]
    times = [t for p, t in zip(posted, slack.arrived, strict=True) if p.get("ts") == first["ts"]]
    assert all(b - a >= 0.8 for a, b in itertools.pairwise(times)), times  # arrival jitter allowed for
    assert [r["ts"] for r in slack.thread("C1", root)][:1] == [first["ts"]]


def test_long_command_where_the_app_may_not_post_answers_through_respond(app: App, slack: FakeSlack) -> None:
    assert slash(app, slack, "echo steps --count 2 --pause 0.1", channel="C9").status == 200  # not a member
    posted = slack.wait(2)
    assert [p["via"] for p in posted] == ["respond", "respond"]
    assert posted[0]["text"].startswith("Started job ") and posted[0]["response_type"] == "in_channel"
    assert "2 steps done" in json.dumps(posted[1])
    assert "C9" not in slack.messages


def test_a_failed_job_shows_its_error_kind() -> None:
    from opspack.frontends.slack import job_message, progress_bar

    job = Job(
        id=7,
        command="echo.msg.steps",
        user="U1",
        text="echo steps --count 9",
        state="failed",
        created=100.0,
        started=101.0,
        finished=131.0,
        progress=[ProgressLine(110.0, "step 4 of 9", 44.4)],
        reply={"ok": False, "command": "echo.msg.steps", "results": [], "error": {"kind": "timeout", "message": "x"}},
    )
    message = job_message(job)
    validate_slack_messages([message])
    assert message["text"] == "Job 7 failed (timeout): echo steps --count 9"
    assert "❌" in _blocks_text(message) and "took 30 s" in _blocks_text(message)
    assert progress_bar(44.4) == "▓▓▓▓░░░░░░ 44%" and progress_bar(None) == ""


# -- reloads and announcements ---------------------------------------------------------
NEW_PACK = '''
"""A pack installed while the Slack app runs."""
from opspack import Pack, Text, command

pack = Pack(name="slacknew", summary="arrives while the app runs", modules=["opspack_slacknew"])


@command(group="late", verb="wave", settings=[])
def wave() -> Text:
    """Wave at the channel."""
    return Text("wave")
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path holding the pack ``opspack_slacknew`` (its code and pack file, not
    installed yet: :func:`install` adds its ``.dist-info``)."""
    from opspack.devtools.registry_build import registry_from_package
    from opspack.registry import SCHEMA_VERSION

    site = tmp_path / "site"
    package = site / "opspack_slacknew"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(NEW_PACK, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    built = registry_from_package("opspack_slacknew", "1.0.0")
    data = {"schema_version": SCHEMA_VERSION, "pack": built.packs[0], "commands": built.commands}
    (package / "opspack-pack.json").write_text(json.dumps(data), encoding="utf-8")
    yield site
    sys.modules.pop("opspack_slacknew", None)


def install(site: Path) -> None:
    """Install the pack in ``site`` for importlib.metadata: a ``.dist-info`` with its
    ``opspack.packs`` entry point."""
    info = site / "opspack_slacknew-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: opspack-slacknew\nVersion: 1.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[opspack.packs]\nslacknew = opspack_slacknew\n", encoding="utf-8")


@pytest.fixture
def installed_runtime(site: Path) -> Iterator[Runtime]:
    """A runtime on the installed packs (reloadable), as ``opspack slack`` without --registry."""
    rt = Runtime(config=Config(data={}, path=None, environ={}))
    yield rt
    rt.close()


def announcing(runtime: Runtime, slack: FakeSlack, channel: str = "C1") -> None:
    from opspack.frontends.slack import SlackFrontend

    client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
    frontend = SlackFrontend(Gateway(runtime), update_every_s=0.05)
    runtime.reload_listeners.append(frontend.announcer(client, channel))


def test_the_periodic_check_finds_a_new_pack_and_announces_it(
    installed_runtime: Runtime, site: Path, slack: FakeSlack
) -> None:
    from opspack.frontends.slack import Reloader

    announcing(installed_runtime, slack)
    assert installed_runtime.registry.get("slacknew.late.wave") is None
    with Reloader(installed_runtime, 0.2):
        time.sleep(0.5)  # a check or two found nothing: nothing is posted
        assert slack.posted == []
        install(site)
        posted = slack.wait(1, timeout=30)
    assert installed_runtime.registry.get("slacknew.late.wave") is not None
    [message] = posted
    assert message["via"] == "chat.postMessage" and message["channel"] == "C1"
    assert message["text"] and "late wave" in _blocks_text(message) and "Wave at the channel" in _blocks_text(message)
    validate_slack_messages([{"text": message["text"], "blocks": message["blocks"]}])


def test_sighup_reads_the_packs_again(installed_runtime: Runtime, site: Path, slack: FakeSlack) -> None:
    import os
    import signal

    from opspack.frontends.slack import Reloader

    announcing(installed_runtime, slack)
    before = signal.getsignal(signal.SIGHUP)
    with Reloader(installed_runtime, 0):  # no periodic check: only the signal reads them again
        install(site)
        time.sleep(0.3)
        assert slack.posted == [] and installed_runtime.registry.get("slacknew.late.wave") is None
        os.kill(os.getpid(), signal.SIGHUP)
        [message] = slack.wait(1, timeout=30)
    assert signal.getsignal(signal.SIGHUP) == before  # given back
    assert message["channel"] == "C1" and "late wave" in _blocks_text(message)


def test_an_announcement_slack_refuses_is_logged_and_the_reload_holds(
    installed_runtime: Runtime, site: Path, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    announcing(installed_runtime, slack, channel="C9")  # the app is not in C9
    install(site)
    change = installed_runtime.reload("test")
    assert change is not None and change.added == ["slacknew.late.wave"]
    deadline = time.monotonic() + 30
    # wait for the front-end's own line: slack_sdk's debug log shows Slack's answer a moment before it
    while "the announcement of new commands in C9 failed" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "the announcement of new commands in C9 failed" in caplog.text and "not_in_channel" in caplog.text
    assert installed_runtime.registry.get("slacknew.late.wave") is not None


def test_a_registry_file_is_never_read_again(runtime: Runtime) -> None:
    from opspack.frontends.slack import Reloader

    with Reloader(runtime, 0.05) as reloader:
        assert reloader._ticker is None and not reloader._hup
    assert runtime.reload("test") is None


def test_settings_fall_back_to_the_runners() -> None:
    from opspack.frontends.mcp import reload_interval
    from opspack.frontends.slack import announce_channel

    assert reload_interval(Config(data={}, environ={}), "slack") == 60.0
    serve = {"serve": {"reload_s": 5, "announce_channel": "C7"}}
    assert reload_interval(Config(data=serve, environ={}), "slack") == 5.0
    assert announce_channel(Config(data=serve, environ={})) == "C7"
    both = {**serve, "slack": {"reload_s": 0, "announce_channel": "C8"}}
    assert reload_interval(Config(data=both, environ={}), "slack") == 0.0
    assert announce_channel(Config(data=both, environ={})) == "C8"
    assert announce_channel(Config(data={}, environ={})) is None
    env = {"OPSPACK_SLACK_RELOAD_S": "2.5", "OPSPACK_SLACK_ANNOUNCE_CHANNEL": "C9"}
    assert reload_interval(Config(data=both, environ=env), "slack") == 2.5
    assert announce_channel(Config(data=both, environ=env)) == "C9"
