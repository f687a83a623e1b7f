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

Settings: ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` (HTTP mode) or
``SLACK_APP_TOKEN`` (Socket Mode), each may be an ``env:``/``file:``/``vault:`` reference.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opspack.context import Caller
from opspack.frontends.gateway import Gateway
from opspack.renderers import render
from opspack.results import Reply

if TYPE_CHECKING:
    from slack_bolt import App

log = logging.getLogger("opspack.frontends.slack")

DEFAULT_COMMAND = "/ops"
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


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


class SlackFrontend:
    """The Bolt listeners, on top of a :class:`Gateway`."""

    def __init__(self, gateway: Gateway, command: str = DEFAULT_COMMAND) -> None:
        self.gateway = gateway
        self.command = command

    def register(self, app: App) -> App:
        app.command(self.command)(self.on_command)
        app.event("app_mention")(self.on_mention)
        app.action(re.compile(r"^opspack-"))(self.on_action)
        return app

    # -- listeners (Bolt passes the arguments by name) ---------------------------
    def on_command(self, ack: Callable[..., Any], body: dict[str, Any], respond: Any, client: Any) -> None:
        ack()  # within Slack's 3 s, before the command runs
        caller = caller_of(body)
        reply = self.gateway.chat(body.get("text") or "help", caller)
        self._post(reply, respond=respond, client=client, channel=caller.channel)

    def on_mention(self, body: dict[str, Any], event: dict[str, Any], say: Any, client: Any) -> None:
        caller = caller_of(body)
        reply = self.gateway.chat(mention_text(event.get("text", "")) or "help", caller)
        thread = event.get("thread_ts") or event.get("ts")
        self._post(reply, say=say, client=client, channel=caller.channel, thread_ts=thread)

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


def _value(action: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(action.get("value") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def create_app(gateway: Gateway, *, command: str = DEFAULT_COMMAND, **app_kwargs: Any) -> App:
    """A Bolt ``App`` with the opspack listeners (``app_kwargs`` go to ``App``)."""
    from slack_bolt import App

    return SlackFrontend(gateway, command).register(App(**app_kwargs))


def run_slack(registry: Any = None, *, socket_mode: bool = True, port: int = 3000) -> int:
    """Run the app (``opspack slack``): Socket Mode by default, or Slack's HTTP events."""
    import os

    from opspack.errors import ConfigError
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

    runtime = Runtime(registry, config=config)
    gateway = Gateway(runtime)
    bot_token = setting("SLACK_BOT_TOKEN", True)
    command = os.environ.get("OPSPACK_SLACK_COMMAND", DEFAULT_COMMAND)
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        app_token = setting("SLACK_APP_TOKEN", True)
        app = create_app(gateway, command=command, token=bot_token)
        SocketModeHandler(app, app_token).start()  # type: ignore[no-untyped-call]
    else:
        app = create_app(
            gateway, command=command, token=bot_token, signing_secret=setting("SLACK_SIGNING_SECRET", True)
        )
        app.start(port=port)
    runtime.close()
    return 0


__all__ = ["SlackFrontend", "caller_of", "create_app", "mention_text", "run_slack", "split_messages"]
