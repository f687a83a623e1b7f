"""Errbot plugin: every opspack command as an Errbot command, built from the registry.

``!server test web01 --ports 22`` runs ``server.host.test`` with the same chat grammar
as ``opspack run``; each pack becomes a dynamic plugin (``create_dynamic_plugin``), so
``!help`` groups the commands by pack. A destructive command answers with a
confirmation request; ``!confirm <token>`` runs it (the token is valid once, for the
user who asked, for 5 minutes). ``!ops <text>`` runs any chat text (commands whose
words Errbot cannot use as a command name, or ``!ops help vm``). A command whose name is one
of Errbot's own (``history``, ``echo``) is prefixed with its pack: ``!core_history``.

Commands run in this process through the opspack runtime, with the packs installed
beside Errbot (``pip install opspack opspack-server``); ``OPSPACK_REGISTRY`` may name a
registry.json to read instead of the installed packs' metadata. Settings come from
the environment or opspack.toml as for ``opspack run``; the permission policy too: with
one that does not load, the plugin does not activate. Errbot's users are the policy's
users; no platform group or role is passed.
"""

from __future__ import annotations

import os
import re
from typing import Any

from errbot import BotPlugin, Command, botcmd
from opspack.context import Caller
from opspack.frontends.gateway import Gateway
from opspack.registry import Entry, Registry
from opspack.renderers import render
from opspack.runtime import Runtime


def load_registry() -> Registry:
    path = os.environ.get("OPSPACK_REGISTRY")
    return Registry.from_file(path) if path else Registry.from_installed()


def command_name(words: list[str]) -> str:
    """Errbot joins the typed words with ``_`` to find a command: ``server test`` -> ``server_test``."""
    return "_".join(w.lower() for w in words)


def errbot_commands() -> set[str]:
    """The names of Errbot's own commands (its core plugins': ``history``, ``echo``, ``help``...),
    whether or not they are active yet: an opspack command never takes one of them, whichever
    plugin Errbot activates first."""
    import importlib
    import inspect
    import pkgutil

    import errbot.core_plugins

    names: set[str] = set()
    for info in pkgutil.iter_modules(errbot.core_plugins.__path__):
        try:
            module = importlib.import_module(f"errbot.core_plugins.{info.name}")
        except Exception:  # noqa: BLE001, S112 - a core plugin whose optional dependency is missing
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BotPlugin) and cls is not BotPlugin:
                for _, member in inspect.getmembers(cls, callable):
                    if getattr(member, "_err_command", False):
                        names.add(str(member._err_command_name))
    return names


def command_doc(entry: Entry) -> str:
    chat = entry["chat"]
    doc = f"{entry['summary']}. Usage: !{chat['usage']}"
    if entry["effects"].get("destructive"):
        doc += " (destructive: asks for confirmation)"
    return doc


class Opspack(BotPlugin):
    """opspack chat-ops commands: `!confirm <token>`, `!ops <chat text>`; one plugin per pack."""

    def activate(self) -> None:
        super().activate()
        runtime = Runtime(load_registry())
        runtime.require_policy()  # a policy that does not load: the plugin does not activate
        self.gateway = Gateway(runtime)
        self.pack_plugins: list[str] = []
        taken = errbot_commands() | (set(self._bot.all_commands) if hasattr(self._bot, "all_commands") else set())
        by_pack: dict[str, list[Command]] = {}
        for entry in self.gateway.registry:
            name = command_name(entry["chat"]["words"])
            if name in taken or not re.fullmatch(r"[\w-]+", name):
                name = command_name([entry["pack"]["name"], *entry["chat"]["words"]])
            if name in taken:
                self.log.warning("opspack: %s clashes with an existing command; use !ops", entry["id"])
                continue
            taken.add(name)
            by_pack.setdefault(entry["pack"]["name"], []).append(
                Command(self._handler(entry["chat"]["words"]), name=name, doc=command_doc(entry))
            )
        for pack, commands in sorted(by_pack.items()):
            info = self.gateway.registry.pack(pack) or {}
            plugin = f"opspack-{pack}"
            self.create_dynamic_plugin(plugin, tuple(commands), doc=info.get("summary", pack))
            self.pack_plugins.append(plugin)

    def deactivate(self) -> None:
        for plugin in getattr(self, "pack_plugins", []):
            self.destroy_dynamic_plugin(plugin)
        self.pack_plugins = []
        gateway = getattr(self, "gateway", None)
        if gateway is not None:
            gateway.close()
        super().deactivate()

    # -- commands ---------------------------------------------------------------
    def _handler(self, words: list[str]) -> Any:
        prefix = " ".join(words)

        def run(plugin: BotPlugin, msg: Any, args: str) -> str:
            return self.run_text(msg, f"{prefix} {args}".strip())

        return run

    @botcmd  # type: ignore[untyped-decorator]
    def confirm(self, msg: Any, args: str) -> str:
        """Run the destructive command that asked for this confirmation: !confirm <token>"""
        token = args.strip()
        if not token:
            return "Usage: !confirm <token> (the token is in the confirmation request)"
        reply = self.gateway.chat(None, self.caller(msg), confirm_token=token)
        return str(render(reply, "markdown"))

    @botcmd  # type: ignore[untyped-decorator]
    def ops(self, msg: Any, args: str) -> str:
        """Run any opspack chat text: !ops server test web01 --ports 22"""
        return self.run_text(msg, args.strip() or "help")

    # -- plumbing -----------------------------------------------------------------
    def caller(self, msg: Any) -> Caller:
        frm = msg.frm
        user = str(getattr(frm, "person", None) or frm)
        room = getattr(frm, "room", None)
        return Caller(user=user, channel=str(room) if room else None, frontend="errbot", format="markdown")

    def run_text(self, msg: Any, text: str) -> str:
        reply = self.gateway.chat(text, self.caller(msg))
        return str(render(reply, "markdown"))
