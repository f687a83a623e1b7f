"""``opspack slack``: a Slack app (Bolt for Python) for the opspack commands.

- Slash command (``/ops server test web01``, the name from ``OPSPACK_SLACK_COMMAND``,
  default ``/ops``): ``ack()`` at once (Slack wants it within 3 s), then the command
  runs and its messages go back through ``respond`` (the response URL), so a slow
  backend never makes Slack time out.
- App mentions (``@opspack vm list --cluster c1``): the same, answered in the thread.
- Confirmations and menus are buttons (the shared Slack renderer makes them): the
  ``confirm`` button carries the one-time token and runs the command for the user who
  clicks, if it is the user who asked; menu buttons run their follow-up command.
- Images and cut data go through ``files_upload_v2``.
- Long commands (a timeout over ``[jobs] async_after_s``, 60 s, or ``@command(long=True)``)
  run in the background: one message "Started job N" at once, updated in place
  (``chat.update``) with the latest progress at most once a second per channel, then
  the result in that message's thread and the first message in its final state. The
  app then needs to be in the channel (``chat:write``); where it may not post, a slash
  command answers "Started job N" and then the result through ``respond``.
- Installed packs are read again like the runner does (``opspack serve``): on SIGHUP and
  every ``[slack] reload_s`` seconds (else the runner's ``[serve] reload_s``, else 60; 0:
  only on SIGHUP and ``packs reload``), unless the app was started on a ``--registry``
  file. With ``[slack] announce_channel`` (else ``[serve] announce_channel``) set to a
  channel id the app is in, the new and changed commands of each reload are posted there
  (``chat.postMessage``, from a thread of its own: a slow Slack never holds a reload).

Settings: ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` (HTTP mode) or
``SLACK_APP_TOKEN`` (Socket Mode), each may be an ``env:``/``file:``/``vault:`` reference.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import FrameType
from typing import TYPE_CHECKING, Any

from opspack.context import Caller
from opspack.frontends.gateway import Gateway
from opspack.jobs import Job, JobState
from opspack.renderers import render
from opspack.renderers.slack import esc
from opspack.results import Error, Reply
from opspack.threads import start_thread

if TYPE_CHECKING:
    from slack_bolt import App

    from opspack.registry import RegistryChange
    from opspack.settings import Config

log = logging.getLogger("opspack.frontends.slack")

DEFAULT_COMMAND = "/ops"
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
#: seconds between two looks at a running job
POLL_S = 0.5
#: seconds at least between two messages (posted or updated) of a job in one channel: Slack
#: allows about one message a second per channel (https://api.slack.com/apis/rate-limits)
UPDATE_EVERY_S = 1.0
#: seconds after which a running job's message is updated even without news (the time taken)
REFRESH_S = 15.0
#: the width of the text progress bar, in characters
BAR_WIDTH = 10
_FINAL_ICONS = {"succeeded": "✅", "failed": "❌", "interrupted": "⚠️", "cancelled": "🚫"}


def mention_text(text: str) -> str:
    """The command text of an app mention: the bot's mention removed."""
    return " ".join(_MENTION.sub(" ", text or "").split())


def caller_of(body: dict[str, Any]) -> Caller:
    """Who asks and where, from a slash command, event or action payload."""
    user = body.get("user_id") or (body.get("user") or {}).get("id") or body.get("event", {}).get("user")
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id") or body.get("event", {}).get("channel")
    return Caller(user=str(user or "slack-user"), channel=channel, frontend="slack", format="slack")


def split_messages(reply: Reply) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rendered Slack messages and the files to upload."""
    messages: list[dict[str, Any]] = []
    uploads: list[dict[str, Any]] = []
    for m in render(reply, "slack"):
        (uploads if "upload" in m else messages).append(m)
    return messages, [u["upload"] for u in uploads]


def progress_bar(percent: float | None, width: int = BAR_WIDTH) -> str:
    """A text progress bar (``▓▓▓░░░░░░░ 30%``); empty without a percentage."""
    if percent is None:
        return ""
    p = max(0.0, min(100.0, float(percent)))
    full = round(p * width / 100)
    return "▓" * full + "░" * (width - full) + f" {p:.0f}%"


def duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def job_message(job: Job, now: float | None = None) -> dict[str, Any]:
    """The one message that shows a job (``{"text", "blocks"}``): "Started job N" with its
    latest progress and the time taken while it runs, its outcome once it is final."""
    now = time.time() if now is None else now
    text = job.text or job.command or "?"
    took = duration(max(0.0, (job.finished or now) - (job.started or job.created)))
    last = job.progress[-1] if job.progress else None
    if job.final:
        kind = ((job.reply or {}).get("error") or {}).get("kind")
        outcome = f"{job.state} ({kind})" if kind and job.state != "succeeded" else job.state
        head = f"{_FINAL_ICONS.get(job.state, '•')} Job {job.id} {outcome}: `{esc(text)}`"
        fallback = f"Job {job.id} {outcome}: {text}"
        facts = [progress_bar(last.percent) if last and last.percent is not None else "", f"took {took}"]
        hint = "The result is in the thread."
    else:
        head = f"⏳ Started job {job.id}: `{esc(text)}`"
        fallback = f"Started job {job.id}: {text}"
        facts = [
            progress_bar(last.percent) if last else "",
            esc(last.message) if last else job.state,
            took,
        ]
        hint = f"`job {job.id}` shows it, `job cancel {job.id}` stops it."
    line = " · ".join(f for f in facts if f)
    blocks = [
        {"type": "section", "block_id": f"opspack-job-{job.id}", "text": {"type": "mrkdwn", "text": head[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": line[:3000]}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": hint}]},
    ]
    return {"text": fallback[:3000], "blocks": blocks}


class _Pace:
    """At most one message per channel every ``every`` seconds (Slack's rate limit)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, channel: str, *, wait: bool) -> bool:
        """Take the channel's turn: at once if it is free, else False (or, with ``wait``,
        after sleeping until it is)."""
        while True:
            with self._lock:
                now = time.monotonic()
                free_at = self._next.get(channel, 0.0)
                if now >= free_at:
                    self._next[channel] = now + self.every
                    return True
            if not wait:
                return False
            time.sleep(free_at - now)


@dataclass
class _Place:
    """Where a conversation happens: the channel, the thread it is in (a mention's), and a
    slash command's response URL (``respond``)."""

    client: Any
    channel: str | None
    thread_ts: str | None = None
    respond: Any = None


class SlackFrontend:
    """The Bolt listeners, on top of a :class:`Gateway`."""

    def __init__(
        self,
        gateway: Gateway,
        command: str = DEFAULT_COMMAND,
        *,
        update_every_s: float = UPDATE_EVERY_S,
        poll_s: float = POLL_S,
    ) -> None:
        """``update_every_s``: seconds at least between two messages of long jobs in one
        channel; ``poll_s``: how often a running job is looked at."""
        self.gateway = gateway
        self.command = command
        self.poll_s = min(poll_s, update_every_s)
        self._pace = _Pace(update_every_s)

    def register(self, app: App) -> App:
        app.command(self.command)(self.on_command)
        app.event("app_mention")(self.on_mention)
        app.action(re.compile(r"^opspack-"))(self.on_action)
        return app

    # -- listeners (Bolt passes the arguments by name) ---------------------------
    def on_command(self, ack: Callable[..., Any], body: dict[str, Any], respond: Any, client: Any) -> None:
        ack()  # within Slack's 3 s, before the command runs
        caller = caller_of(body)
        started = self.gateway.start_chat(body.get("text") or "help", caller, only_long=True)
        if isinstance(started, Job):
            self._follow_job(started, caller, _Place(client, caller.channel, respond=respond))
            return
        self._post(started, respond=respond, client=client, channel=caller.channel)

    def on_mention(self, body: dict[str, Any], event: dict[str, Any], say: Any, client: Any) -> None:
        caller = caller_of(body)
        thread = event.get("thread_ts") or event.get("ts")
        started = self.gateway.start_chat(mention_text(event.get("text", "")) or "help", caller, only_long=True)
        if isinstance(started, Job):
            self._follow_job(started, caller, _Place(client, caller.channel, thread_ts=thread))
            return
        self._post(started, say=say, client=client, channel=caller.channel, thread_ts=thread)

    def on_action(self, ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        """A button of an opspack message: confirm, cancel, or a menu's follow-up command.

        The renderer numbers the buttons' action ids (``opspack-<n>-<i>``); what a
        button does is in its value.
        """
        ack()
        value = _value(action)
        caller = caller_of(body)
        if value.get("cancel"):
            respond(text="Cancelled.", replace_original=True)
            return
        if value.get("confirm"):
            token = value.get("token")
            if not token:
                respond(text="This confirmation has no token; run the command again.", replace_original=False)
                return
            reply = self.gateway.confirm(str(token), caller)
        elif value.get("command") and isinstance(value.get("args"), dict):
            reply = self.gateway.invoke(str(value["command"]), value["args"], caller)
        else:
            reply = self.gateway.chat(str(value.get("text") or "help"), caller)
        self._post(reply, respond=respond, client=None, channel=None)

    # -- announcements --------------------------------------------------------------
    def announcer(self, client: Any, channel: str) -> Callable[[RegistryChange], None]:
        """A reload listener of the runtime: it posts the new and changed commands of a reload
        (:func:`opspack.frontends.serve.announcement`) to ``channel`` with ``client``'s
        ``chat_postMessage``, from a thread of its own, so that a slow Slack never holds a
        reload; what fails is logged, never raised."""
        from opspack.frontends.serve import announcement

        runtime = self.gateway.runtime

        def announce(change: RegistryChange) -> None:
            message = announcement(runtime.registry, change)
            if message is None:
                return
            start_thread(self._announce, client, channel, message, name="opspack-slack-announce")

        return announce

    def _announce(self, client: Any, channel: str, message: Reply) -> None:
        from slack_sdk.errors import SlackApiError

        try:
            messages, uploads = split_messages(message)
            for m in messages:
                self._pace.take(channel, wait=True)
                client.chat_postMessage(channel=channel, text=m["text"], blocks=m.get("blocks"))
            for f in uploads:  # a table cut to fit (hundreds of new commands)
                client.files_upload_v2(
                    channel=channel,
                    content=base64.b64decode(f["content_base64"]),
                    filename=f["filename"],
                    title=f.get("title"),
                )
        except SlackApiError as exc:  # not_in_channel, channel_not_found, ratelimited
            log.error("the announcement of new commands in %s failed: %s", channel, exc.response.get("error"))
        except Exception:  # a thread of its own: log what went wrong, nobody else would
            log.exception("the announcement of new commands in %s failed", channel)

    # -- long jobs ------------------------------------------------------------------
    def _follow_job(self, job: Job, caller: Caller, place: _Place) -> threading.Thread:
        """Post "Started job N" now, then, from a thread: update that message in place as
        the job reports progress, post the result in its thread and show its outcome."""
        ts = self._post_job(job, place)
        return start_thread(self._follow_thread, job, caller, place, ts, name=f"opspack-slack-job-{job.id}")

    def _post_job(self, job: Job, place: _Place) -> str | None:
        """The job's message; its ``ts``, or None when the app may not post in the channel
        (then a slash command's response URL says it started)."""
        from slack_sdk.errors import SlackApiError

        message = job_message(job)
        if place.client is not None and place.channel:
            self._pace.take(place.channel, wait=True)
            try:
                posted = place.client.chat_postMessage(channel=place.channel, thread_ts=place.thread_ts, **message)
                return str(posted["ts"])
            except SlackApiError as exc:  # not_in_channel, channel_not_found: a channel the app is not in
                log.info("cannot post job %s in %s (%s)", job.id, place.channel, exc.response.get("error"))
        if place.respond is not None:
            place.respond(response_type="in_channel", **message)
        return None

    def _follow_thread(self, job: Job, caller: Caller, place: _Place, ts: str | None) -> None:
        try:
            reply, last = self._watch(job, caller, place, ts)
            self._show(last, place, ts, final=True)
            thread_ts = place.thread_ts or ts
            if ts is None and place.respond is not None:
                self._post(reply, respond=place.respond, client=None, channel=None)
            else:
                say = self._say(place)
                self._post(reply, say=say, client=place.client, channel=place.channel, thread_ts=thread_ts)
        except Exception:  # a thread of its own: log what went wrong, nobody else would
            log.exception("following job %s in Slack failed", job.id)

    def _watch(self, job: Job, caller: Caller, place: _Place, ts: str | None) -> tuple[Reply, Job]:
        """Wait for the job's reply, showing its progress on the way; the reply and the job as last seen."""
        shown, shown_at = (job.state, len(job.progress)), time.monotonic()
        last = job
        # past its timeout a job is stopped by its executor; this is for executors that went away
        give_up = time.monotonic() + 2 * job.timeout_s + 300
        while True:
            try:
                reply = self.gateway.wait(job, caller, timeout=self.poll_s)
            except concurrent.futures.TimeoutError:
                reply = None
            except KeyError:  # not waited for here any more: read what the store has
                reply = None
                time.sleep(self.poll_s)
            if reply is None and time.monotonic() > give_up:
                return _no_reply(last, "is still " + last.state), last
            seen = self.gateway.runtime.jobs.get(job.id)
            if seen is not None:
                last = seen
            if reply is None and last.final:
                reply = self._final_reply(job, caller, last)
            if reply is not None:
                if not last.final:  # the reply came before the store said so
                    state: JobState = "succeeded" if reply.ok else "failed"
                    last = replace(last, state=state, finished=time.time(), reply=reply.to_dict())
                return reply, last
            now = (last.state, len(last.progress))
            stale = time.monotonic() - shown_at >= REFRESH_S  # the time taken, kept current
            if (now != shown or stale) and self._show(last, place, ts, final=False):
                shown, shown_at = now, time.monotonic()

    def _final_reply(self, job: Job, caller: Caller, last: Job) -> Reply:
        """The reply of a job the store says is final: from the runtime (its confirmation
        tokens issued) as soon as it has it, else as the store keeps it (a job ended
        elsewhere: a worker that stopped, a cancellation)."""
        try:
            return self.gateway.wait(job, caller, timeout=5.0)
        except (concurrent.futures.TimeoutError, KeyError):
            return Reply.from_dict(last.reply) if last.reply else _no_reply(last, f"ended {last.state}")

    def _show(self, job: Job, place: _Place, ts: str | None, *, final: bool) -> bool:
        """Update the job's message in place (its turn in the channel permitting, unless final)."""
        from slack_sdk.errors import SlackApiError

        if ts is None or place.client is None or not place.channel:
            return False
        if not self._pace.take(place.channel, wait=final):
            return False
        try:
            place.client.chat_update(channel=place.channel, ts=ts, **job_message(job))
        except SlackApiError as exc:
            log.warning("cannot update the message of job %s: %s", job.id, exc.response.get("error"))
        return True

    @staticmethod
    def _say(place: _Place) -> Callable[..., Any]:
        def say(**message: Any) -> Any:
            return place.client.chat_postMessage(channel=place.channel, **message)

        return say

    # -- output ---------------------------------------------------------------------
    def _post(
        self,
        reply: Reply,
        *,
        respond: Any = None,
        say: Any = None,
        client: Any,
        channel: str | None,
        thread_ts: str | None = None,
    ) -> None:
        messages, uploads = split_messages(reply)
        for message in messages:
            if respond is not None:
                respond(text=message["text"], blocks=message.get("blocks"), response_type="in_channel")
            else:
                say(text=message["text"], blocks=message.get("blocks"), thread_ts=thread_ts)
        if uploads and client is not None and channel:
            for f in uploads:
                client.files_upload_v2(
                    channel=channel,
                    content=base64.b64decode(f["content_base64"]),
                    filename=f["filename"],
                    title=f.get("title"),
                    alt_txt=f.get("alt_text"),
                    thread_ts=thread_ts,
                )


def _no_reply(job: Job, how: str) -> Reply:
    return Reply.failure(
        Error("internal", f"Job {job.id} {how} and sent no result here.", f"`job {job.id}` shows what is known."),
        job.command,
    )


def _value(action: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(action.get("value") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def announce_channel(config: Config) -> str | None:
    """Where new and changed commands are announced after a reload (None: nowhere):
    ``OPSPACK_SLACK_ANNOUNCE_CHANNEL``, ``[slack] announce_channel``, else the runner's
    ``OPSPACK_SERVE_ANNOUNCE_CHANNEL`` or ``[serve] announce_channel``."""
    env = config.environ
    for raw in (
        env.get("OPSPACK_SLACK_ANNOUNCE_CHANNEL"),
        config.table("slack").get("announce_channel"),
        env.get("OPSPACK_SERVE_ANNOUNCE_CHANNEL"),
        config.table("serve").get("announce_channel"),
    ):
        if raw:
            return str(raw)
    return None


class Reloader:
    """Reads a runtime's installed packs again, without an event loop (Bolt's Socket Mode
    and HTTP servers have none): every ``every_s`` seconds from a thread of its own (0: never
    by itself), and on SIGHUP when :meth:`start` runs in the main thread (the handler only
    starts a thread: the reload never runs inside a signal handler). A runtime on a registry
    file is never read again. Use it as a context manager, or :meth:`start` and :meth:`close`."""

    def __init__(self, runtime: Any, every_s: float) -> None:
        self.runtime = runtime
        self.every_s = every_s
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._previous: Any = None
        self._hup = False

    def start(self) -> Reloader:
        """Start the periodic check and take SIGHUP (where it can be taken)."""
        import signal

        if not getattr(self.runtime, "reloadable", False):
            return self
        if self.every_s > 0:
            self._ticker = start_thread(self._periodic, name="opspack-slack-reload")
        hup = getattr(signal, "SIGHUP", None)
        if hup is not None and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(hup, self._on_hup)
            self._hup = True
        return self

    def close(self) -> None:
        """Stop the periodic check and give SIGHUP back to its former handler."""
        import signal

        self._stop.set()
        if self._hup:
            signal.signal(signal.SIGHUP, self._previous)
            self._hup = False
        if self._ticker is not None:
            self._ticker.join(timeout=5)

    def __enter__(self) -> Reloader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        start_thread(self.look, "SIGHUP", name="opspack-slack-reload-hup")

    def _periodic(self) -> None:
        while not self._stop.wait(self.every_s):
            self.look("periodic check")

    def look(self, reason: str) -> None:
        """Read the installed packs again now (``reason``: who or what asked); errors logged."""
        try:
            self.runtime.reload(reason)
        except Exception:
            log.exception("reading the installed packs failed")


def create_app(gateway: Gateway, *, command: str = DEFAULT_COMMAND, **app_kwargs: Any) -> App:
    """A Bolt ``App`` with the opspack listeners (``app_kwargs`` go to ``App``)."""
    from slack_bolt import App

    return SlackFrontend(gateway, command).register(App(**app_kwargs))


def run_slack(registry: Any = None, *, socket_mode: bool = True, port: int = 3000) -> int:
    """Run the app (``opspack slack``): Socket Mode by default, or Slack's HTTP events."""
    import os

    from opspack.errors import ConfigError
    from opspack.frontends.mcp import reload_interval
    from opspack.runtime import Runtime
    from opspack.settings import Config, resolve_reference

    config = Config.load()

    def setting(name: str, required: bool) -> str | None:
        raw = os.environ.get(name) or config.table("slack").get(name.lower().removeprefix("slack_"))
        if not raw:
            if required:
                raise ConfigError(f"{name} is not set", f"Set {name} (or [slack] in opspack.toml).")
            return None
        return resolve_reference(str(raw), config.environ)[0]

    from opspack.executor import for_runner

    # commands run on a pool of worker processes (or Celery), so long ones run in the background
    runtime = Runtime(registry, config=config, executor=for_runner)
    try:
        runtime.require_policy()  # a policy that does not load: the app does not start
    except BaseException:
        runtime.close()
        raise
    gateway = Gateway(runtime)
    bot_token = setting("SLACK_BOT_TOKEN", True)
    command = os.environ.get("OPSPACK_SLACK_COMMAND", DEFAULT_COMMAND)
    frontend = SlackFrontend(gateway, command)
    app_token = setting("SLACK_APP_TOKEN", True) if socket_mode else None
    secret = None if socket_mode else setting("SLACK_SIGNING_SECRET", True)
    every_s = reload_interval(config, "slack") if runtime.reloadable else 0.0
    from slack_bolt import App

    app = frontend.register(App(token=bot_token, signing_secret=secret))
    channel = announce_channel(config)
    if channel:
        runtime.reload_listeners.append(frontend.announcer(app.client, channel))
    try:
        with Reloader(runtime, every_s):
            if socket_mode:
                from slack_bolt.adapter.socket_mode import SocketModeHandler

                SocketModeHandler(app, app_token).start()  # type: ignore[no-untyped-call]
            else:
                app.start(port=port)
    finally:
        runtime.close()
    return 0


__all__ = [
    "Reloader",
    "SlackFrontend",
    "announce_channel",
    "caller_of",
    "create_app",
    "duration",
    "job_message",
    "mention_text",
    "progress_bar",
    "run_slack",
    "split_messages",
]
