"""What a front-end calls: the runtime, confirmation tokens and the caller's view of the registry.

Every front-end (``opspack serve``, ``opspack mcp``, Slack, Teams, Errbot) does the
same three things, so they live here once:

- run chat text or a command id for a :class:`~opspack.context.Caller`;
- give each confirmation request a one-time token (:mod:`opspack.confirm`) and,
  when a call presents a valid token, run the confirmed command with
  ``Caller(confirmed=True)``;
- list the commands the caller may run: the runtime's ``gates`` (the permission
  checks) decide, so a permission layer plugged into the runtime filters the
  registry too.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from opspack.confirm import DEFAULT_TTL_S, Confirmations
from opspack.context import Caller
from opspack.errors import OpsError
from opspack.registry import Entry
from opspack.results import Reply
from opspack.runtime import Runtime

log = logging.getLogger("opspack.gateway")

#: ``confirm <token>`` in chat runs what the token confirms (unless a pack claims the word).
CONFIRM_WORD = "confirm"


class Gateway:
    """A runtime shared by one front-end's users; thread-safe."""

    def __init__(
        self, runtime: Runtime, confirmations: Confirmations | None = None, *, confirm_ttl: float = DEFAULT_TTL_S
    ) -> None:
        """``confirmations``: where tokens live; by default in the audit trail's database when
        it is on (every process sharing it accepts them), else in this process; tokens are
        valid ``confirm_ttl`` seconds."""
        self.runtime = runtime
        self.registry = runtime.registry
        self.confirmations = (
            confirmations if confirmations is not None else _default_confirmations(runtime, confirm_ttl)
        )

    def chat(self, text: str | None, caller: Caller, confirm_token: str | None = None) -> Reply:
        """Run chat text; with ``confirm_token``, run what it confirms (``text`` may be omitted).

        ``confirm <token>`` as chat text is the same as sending the token.
        """
        if confirm_token:
            checked: str | None = None
            if text and text.strip():
                from opspack import grammar

                try:
                    parsed = grammar.parse(text, self.registry)
                except OpsError as exc:
                    return Reply.failure(exc.to_error())
                checked = self._chat_text(parsed.command, parsed.args)
            return self._confirmed(confirm_token, caller, checked)
        words = (text or "").split()
        if len(words) == 2 and words[0].lower() == CONFIRM_WORD and not self.registry.match(words[:1])[1]:
            return self._confirmed(words[1], caller, None)
        reply = self.runtime.chat(text or "", caller)
        return self.confirmations.issue(reply, caller.user, caller.channel, caller.roles)

    def invoke(
        self,
        command: str | None,
        args: dict[str, Any] | None,
        caller: Caller,
        confirm_token: str | None = None,
    ) -> Reply:
        """Run a command by id; with ``confirm_token``, run what it confirms."""
        if confirm_token:
            checked = self._chat_text(command, args or {}) if command else None
            return self._confirmed(confirm_token, caller, checked)
        if not command:
            from opspack.results import Error

            return Reply.failure(Error("usage", "No command given.", "Send a command id, or chat text to /chat."))
        reply = self.runtime.invoke(command, args, caller)
        return self.confirmations.issue(reply, caller.user, caller.channel, caller.roles)

    def visible(self, caller: Caller) -> list[Entry]:
        """The registry entries ``caller`` may run: the runtime's policy, then every gate."""
        runtime: Any = self.runtime
        registry = runtime.visible_registry(caller) if hasattr(runtime, "visible_registry") else self.registry
        gates = self.runtime.gates
        if not gates:
            return list(registry)
        return [e for e in registry if all(g(e, caller) is None for g in gates)]

    def registry_data(self, caller: Caller) -> dict[str, Any]:
        """registry.json's shape, holding only what ``caller`` may run."""
        data = self.registry.to_data()
        commands = self.visible(caller)
        if len(commands) != len(self.registry):
            names = {c["pack"]["name"] for c in commands}
            data["packs"] = [p for p in data["packs"] if p["name"] in names]
        data["commands"] = commands
        return data

    def close(self) -> None:
        self.runtime.close()

    # -- confirmation ----------------------------------------------------------
    def _chat_text(self, command: str, args: dict[str, Any]) -> str:
        from opspack.grammar import to_chat_text

        entry = self.registry.get(command)
        return to_chat_text(entry, args) if entry is not None else command

    def _confirmed(self, token: str, caller: Caller, text: str | None) -> Reply:
        waiting = self.confirmations.peek(token)
        policy = getattr(self.runtime, "policy", None)
        # an approval: check the approver before using the token, so a wrong person
        # does not use it up for the right one
        if (
            waiting is not None
            and waiting.approvers
            and waiting.user != caller.user
            and policy is not None
            and not policy.may_approve(waiting.approvers, caller)
        ):
            from opspack.results import Error

            who = ", ".join(waiting.approvers)
            return Reply.failure(
                Error(
                    "denied",
                    f"{caller.user} may not approve this: approvers are {who}.",
                    f"Ask a member of {who} to answer `confirm {token}`.",
                ),
                waiting.command,
            )
        try:
            pending = self.confirmations.redeem(token, caller.user, text)
        except OpsError as exc:
            return Reply.failure(exc.to_error())
        if pending.approvers:  # run it as the requester, approved by the caller
            requester = dataclasses.replace(
                caller,
                user=pending.user,
                roles=pending.roles,
                approved_by=caller.user,
                confirmed=True,
                confirm_token=token,
            )
            return self.runtime.invoke(pending.command, pending.args, requester, text=pending.text)
        confirmed = dataclasses.replace(caller, confirmed=True, confirm_token=token)
        return self.runtime.invoke(pending.command, pending.args, confirmed, text=pending.text)


def _default_confirmations(runtime: Runtime, ttl: float) -> Confirmations:
    """In the audit trail's database when it is on (shared by every process using it), else in memory."""
    try:
        audit = getattr(runtime, "audit", None)
        database = getattr(audit, "database", None)
        if database is not None:
            from opspack.confirm import SqlConfirmations

            return SqlConfirmations(database, ttl=ttl)
    except Exception:
        log.warning("confirmations are kept in this process: the audit database is not usable", exc_info=True)
    return Confirmations(ttl=ttl)


__all__ = ["Gateway"]
