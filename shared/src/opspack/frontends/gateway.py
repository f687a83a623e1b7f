"""The one door every front-end goes through: chat text or a command id in, a reply out.

The command line, the shell, ``opspack serve``, Teams, Slack, MCP and Errbot all call a
:class:`Gateway`; it is the only place that

- reads chat text once (tokens), answers the special words ``help``/``?`` and
  ``confirm <token>``, and hands the parsed call straight to
  :meth:`~opspack.runtime.Runtime.run` (no second lookup);
- gives each confirmation request a one-time token (:mod:`opspack.confirm`) and, when a
  call presents a valid token, runs the confirmed command with ``Caller(confirmed=True)``
  (an approval runs as the requester, with the approver recorded), and records every
  token it refuses, with why, in the audit trail;
- shows a caller the commands they may run, through the runtime's one filter
  (:meth:`~opspack.runtime.Runtime.visible_commands`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opspack import grammar
from opspack.confirm import DEFAULT_TTL_S, Confirmations, Pending, Refused
from opspack.context import Caller
from opspack.errors import OpsError
from opspack.jobs import Job, JobsSettings
from opspack.registry import Entry, Registry
from opspack.results import Error, Reply
from opspack.runtime import Runtime

log = logging.getLogger("opspack.frontends.gateway")

#: ``help`` (or ``?``) in chat answers help over the commands the caller may run.
HELP_WORDS = frozenset({"help", "?"})
#: ``confirm <token>`` in chat runs what the token confirms (unless a pack claims the word).
CONFIRM_WORD = "confirm"
#: ``jobs [--all] [--state S]``, ``job <id>``, ``job cancel <id>``: the caller's jobs.
JOB_WORDS = frozenset({"jobs", "job"})

#: how an event-loop front-end runs a blocking call in a thread: ``await offload(func, *args)``
Offload = Callable[..., Awaitable[Any]]


class Gateway:
    """A runtime shared by one front-end's users; thread-safe."""

    def __init__(
        self, runtime: Runtime, confirmations: Confirmations | None = None, *, confirm_ttl: float = DEFAULT_TTL_S
    ) -> None:
        """``confirmations``: where tokens live; by default in the audit trail's database when
        it is on (every process sharing it accepts them), else in this process; tokens are
        valid ``confirm_ttl`` seconds."""
        self.runtime = runtime
        self._confirmations = confirmations
        self._confirm_ttl = confirm_ttl
        self._lock = threading.Lock()
        self._jobs_settings: JobsSettings | None = None

    @property
    def registry(self) -> Registry:
        """The runtime's registry as it is now (a reload replaces it)."""
        return self.runtime.registry

    @property
    def confirmations(self) -> Confirmations:
        """Where confirmation tokens live, opened when first needed (listing and help open no database)."""
        if self._confirmations is None:
            with self._lock:
                if self._confirmations is None:
                    self._confirmations = _default_confirmations(self.runtime, self._confirm_ttl)
        return self._confirmations

    # -- calls -------------------------------------------------------------------
    def chat(self, text: str | None, caller: Caller, confirm_token: str | None = None) -> Reply:
        """Run chat text; with ``confirm_token``, run what it confirms (``text`` may be omitted,
        or name the same call as a check).

        ``help [words]`` answers help; ``confirm <token>`` is the same as sending the token;
        ``jobs``, ``job <id>`` and ``job cancel <id>`` answer about the caller's jobs."""
        return self._finish(self._chat(text, caller, confirm_token, early=False), caller)

    def start_chat(
        self, text: str | None, caller: Caller, confirm_token: str | None = None, *, only_long: bool = False
    ) -> Job | Reply:
        """Like :meth:`chat`, but a command answers at once with its job (special words, refusals
        and confirmation requests still answer with a reply). ``only_long``: only a long
        command (see :meth:`is_long`) that has not answered within ``[jobs] async_grace_s``
        (2.5 s) answers with its job; anything else with its reply, as a chat front-end wants."""
        started = self._chat(text, caller, confirm_token, early=True)
        if only_long and isinstance(started, Job):
            entry = self.registry.get(started.command or "")
            if entry is None or not self.is_long(entry):
                return self._finish(started, caller)
            # a long command that answers within a moment (most days) is answered in place
            grace = self._settings().async_grace_s
            if grace <= 0:
                return started
            try:
                return self._finish(started, caller, grace)
            except TimeoutError:
                return started
        return self._started(started, caller)

    def _settings(self) -> JobsSettings:
        if self._jobs_settings is None:
            config = self.runtime.config
            self._jobs_settings = JobsSettings.load(config.data, config.environ)
        return self._jobs_settings

    def is_long(self, entry: Entry) -> bool:
        """Whether a command is long work that chat front-ends run in the background: its
        timeout is over ``[jobs] async_after_s`` (60 s; ``@command(long=True)`` gives an hour)."""
        return float(entry.get("timeout_s") or 30) > self._settings().async_after_s

    def _chat(self, text: str | None, caller: Caller, confirm_token: str | None, *, early: bool) -> Job | Reply:
        text = text or ""
        try:
            tokens = grammar.tokenize(text.strip())
            if confirm_token:
                checked = self._checked_text(grammar.parse(text, self.registry, tokens)) if tokens else None
                return self._confirmed(confirm_token, caller, checked)
            if tokens and tokens[0].lower() in HELP_WORDS and not self._claimed(tokens[0]):
                return self.help(tokens[1:], caller)
            if len(tokens) == 2 and tokens[0].lower() == CONFIRM_WORD and not self._claimed(tokens[0]):
                return self._confirmed(tokens[1], caller, None)
            if tokens and tokens[0].lower() in JOB_WORDS and not self._claimed(tokens[0]):
                from opspack.frontends import job_words

                return job_words.answer(self.runtime, tokens, caller)
            parsed = grammar.parse(text, self.registry, tokens)
        except OpsError as exc:
            return self.runtime.refuse(text, exc.to_error(), caller)
        return self._start(parsed, caller, early)

    def invoke(
        self,
        command: str | None,
        args: dict[str, Any] | None,
        caller: Caller,
        confirm_token: str | None = None,
    ) -> Reply:
        """Run a command by id; with ``confirm_token``, run what it confirms."""
        return self._finish(self._invoke(command, args, caller, confirm_token, early=False), caller)

    async def invoke_async(
        self,
        command: str | None,
        args: dict[str, Any] | None,
        caller: Caller,
        confirm_token: str | None,
        offload: Offload,
    ) -> Reply:
        """:meth:`invoke` for an event loop. A plain call whose runtime can run it on the loop
        (:meth:`Runtime.runs_on_loop`) is awaited there; anything else (a confirmation, an
        unknown command, a job id still to reserve) runs in a thread by ``offload(func,
        *args)``, which the front-end gives (its thread limiter)."""
        entry = self.registry.get(command) if command and not confirm_token else None
        if entry is not None:
            parsed = grammar.Parsed(entry, dict(args or {}))
            if self.runtime.runs_on_loop(parsed, caller):
                return await self._on_loop(parsed, caller, offload)
        reply: Reply = await offload(self.invoke, command, args, caller, confirm_token)
        return reply

    async def chat_async(self, text: str | None, caller: Caller, confirm_token: str | None, offload: Offload) -> Reply:
        """:meth:`chat` for an event loop, as :meth:`invoke_async` is for :meth:`invoke`."""
        if text and not confirm_token:
            try:
                tokens = grammar.tokenize(text.strip())
                special = bool(tokens) and (
                    tokens[0].lower() in (*HELP_WORDS, CONFIRM_WORD, *JOB_WORDS) and not self._claimed(tokens[0])
                )
                parsed = None if special else grammar.parse(text, self.registry, tokens)
            except OpsError:
                parsed = None  # the thread's path answers it (and records the refusal)
            if parsed is not None and self.runtime.runs_on_loop(parsed, caller):
                return await self._on_loop(parsed, caller, offload)
        reply: Reply = await offload(self.chat, text, caller, confirm_token)
        return reply

    async def _on_loop(self, parsed: grammar.Parsed, caller: Caller, offload: Offload) -> Reply:
        reply = await self.runtime.run_async(parsed, caller)
        if reply.error is not None and reply.error.confirm is not None:  # an approval request: its token
            issued: Reply = await offload(self._issue, reply, caller)
            return issued
        return reply

    def start_invoke(
        self, command: str | None, args: dict[str, Any] | None, caller: Caller, confirm_token: str | None = None
    ) -> Job | Reply:
        """Like :meth:`invoke`, but a command answers at once with its job."""
        return self._started(self._invoke(command, args, caller, confirm_token, early=True), caller)

    def _invoke(
        self,
        command: str | None,
        args: dict[str, Any] | None,
        caller: Caller,
        confirm_token: str | None,
        *,
        early: bool,
    ) -> Job | Reply:
        if confirm_token:
            entry = self.registry.get(command) if command else None
            checked = self._checked_text(grammar.Parsed(entry, dict(args or {}))) if entry else command
            return self._confirmed(confirm_token, caller, checked)
        if not command:
            return Reply.failure(Error("usage", "No command given.", "Send a command id, or chat text to /chat."))
        entry = self.registry.get(command)
        if entry is None:
            return self.runtime.invoke(command, args, caller)  # the runtime's "unknown command" answer
        return self._start(grammar.Parsed(entry, dict(args or {})), caller, early)

    def _start(self, parsed: grammar.Parsed, caller: Caller, early: bool) -> Job | Reply:
        if not early:  # the caller waits: the runtime runs it from this thread
            return self.runtime.run(parsed, caller)
        started = self.runtime.start(parsed, caller)
        if early and isinstance(started, Job) and parsed.entry["effects"].get("confirm") and not caller.confirmed:
            # what answers is a confirmation request (after the command's own check): it needs
            # its token now, so the caller waits for it like for any quick answer
            return self.runtime.wait(started)
        return started

    def _started(self, started: Job | Reply, caller: Caller) -> Job | Reply:
        return self._issue(started, caller) if isinstance(started, Reply) else started

    def wait(self, job: Job, caller: Caller, timeout: float | None = None) -> Reply:
        """The reply of a job started here, its confirmation request given a token."""
        return self._finish(job, caller, timeout)

    def _finish(self, started: Job | Reply, caller: Caller, timeout: float | None = None) -> Reply:
        reply = started if isinstance(started, Reply) else self.runtime.wait(started, timeout)
        return self._issue(reply, caller)

    def confirm(self, token: str, caller: Caller) -> Reply:
        """Run what ``token`` confirms (the shell's "yes", a Slack button, an MCP elicitation)."""
        return self._confirmed(token, caller, None)

    def decline(self, token: str, caller: Caller) -> bool:
        """Throw ``token`` away unused because ``caller`` said no (recorded); False when it was
        not pending."""
        pending = self.confirmations.peek(token)
        if pending is None or not self.confirmations.discard(token, caller.user):
            return False
        error = Error("denied", f"Not run: {caller.user} declined `{pending.text or pending.command}`.")
        self.runtime.refuse(pending.text, error, caller, command=pending.command, reason=f"declined by {caller.user}")
        return True

    # -- what the caller sees ----------------------------------------------------------
    def visible(self, caller: Caller) -> list[Entry]:
        """The registry entries ``caller`` may run."""
        return self.runtime.visible_commands(caller)

    def visible_registry(self, caller: Caller) -> Registry:
        """The registry as ``caller`` sees it, its packs included."""
        return self.runtime.visible_registry(caller)

    def help(self, words: Sequence[str], caller: Caller) -> Reply:
        """Help for ``words`` (a command, a group, a pack, ``search <text>``, or nothing: the overview)."""
        from opspack.help import help_reply

        return help_reply(self.visible_registry(caller), list(words))

    def registry_data(self, caller: Caller) -> dict[str, Any]:
        """registry.json's shape, holding only what ``caller`` may run."""
        return self.visible_registry(caller).to_data()

    def close(self) -> None:
        self.runtime.close()

    # -- confirmation ----------------------------------------------------------
    def _claimed(self, word: str) -> bool:
        """Whether a pack's command is named by ``word`` alone (then it is not a special word)."""
        return bool(self.registry.match([word])[0])

    def _checked_text(self, parsed: grammar.Parsed) -> str:
        return self.runtime.chat_text(parsed)

    def _issue(self, reply: Reply, caller: Caller) -> Reply:
        if reply.error is None or reply.error.confirm is None:
            return reply
        return self.confirmations.issue(reply, caller.user, caller.channel, caller.groups)

    def _confirmed(self, token: str, caller: Caller, text: str | None) -> Reply:
        waiting = self.confirmations.peek(token)
        policy = self.runtime.policy
        # an approval: check the approver before using the token, so a wrong person
        # does not use it up for the right one
        if (
            waiting is not None
            and waiting.approvers
            and waiting.user != caller.user
            and policy is not None
            and not policy.may_approve(waiting.approvers, caller)
        ):
            who = ", ".join(waiting.approvers)
            error = Error(
                "denied",
                f"{caller.user} may not approve this: approvers are {who}.",
                f"Ask a member of {who} to answer `confirm {token}`.",
            )
            return self._refused(caller, waiting, f"not an approver: approvers are {who}", error)
        try:
            pending = self.confirmations.redeem(token, caller.user, text)
        except Refused as exc:
            return self.runtime.refuse(exc.text, exc.to_error(), caller, command=exc.command, reason=exc.reason)
        except OpsError as exc:
            return Reply.failure(exc.to_error())
        if pending.approvers:  # run it as the requester, where they asked, approved by the caller
            runner = dataclasses.replace(
                caller,
                user=pending.user,
                groups=pending.groups,
                channel=pending.channel,
                approved_by=caller.user,
                approver_groups=caller.groups,
                approver_channel=caller.channel,
                confirmed=True,
                confirm_token=token,
            )
        else:
            runner = dataclasses.replace(caller, confirmed=True, confirm_token=token)
        return self.runtime.invoke(pending.command, pending.args, runner)

    def _refused(self, caller: Caller, pending: Pending, reason: str, error: Error) -> Reply:
        """Answer a confirmation token refused before it was used, and record it."""
        return self.runtime.refuse(pending.text, error, caller, command=pending.command, reason=reason)


def _default_confirmations(runtime: Runtime, ttl: float) -> Confirmations:
    """In the audit trail's database when it is on (shared by every process using it), else in memory."""
    try:
        audit = getattr(runtime, "audit", None)
        database = getattr(audit, "database", None)
        if database is not None:
            from opspack.confirm import Sealer, SqlConfirmations

            return SqlConfirmations(database, ttl=ttl, sealer=Sealer.from_config(runtime.config))
    except OpsError as exc:  # a missing driver, a bad URL: what to do, without a traceback
        log.warning("confirmations are kept in this process: %s. %s", exc.message, exc.hint or "")
    except Exception:
        log.warning("confirmations are kept in this process: the audit database is not usable", exc_info=True)
    return Confirmations(ttl=ttl)


__all__ = ["CONFIRM_WORD", "HELP_WORDS", "JOB_WORDS", "Gateway"]
