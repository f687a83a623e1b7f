"""The runtime: chat text or an id with arguments in, one :class:`Reply` out.

For one invocation it looks the command up in the registry, checks confirmation,
imports the pack module (only now), validates the arguments with the command's
own types, resolves the pack's settings, runs the function under its timeout in a
worker thread, turns every exception into an error result and masks secrets.
Nothing here lets a traceback reach a chat room: unexpected exceptions are logged
with their traceback and answered with an ``internal`` error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, cast

from opspack.connections import ConnectionPool
from opspack.context import Caller, Context
from opspack.errors import BackendError, ConfigError, OpsError
from opspack.jobs import Inline, final_state
from opspack.masking import MASK, Masker, MaskingFilter, declared_secrets, masked
from opspack.registry import Entry, Registry, RegistryChange, installed_packs
from opspack.results import Confirmation, Error, Menu, MenuOption, Reply, Result
from opspack.settings import Config, Settings

if TYPE_CHECKING:
    from opspack.audit import AuditLog
    from opspack.grammar import Parsed
    from opspack.jobs import Executor, Job, JobStore, WorkItem
    from opspack.policy import Policy

log = logging.getLogger("opspack.runtime")
_AUTO: Literal["auto"] = "auto"
_TIMED_OUT = object()
#: pauses between retries of read-only, idempotent commands after a transient backend failure
RETRY_BACKOFF: tuple[float, ...] = (0.2, 0.8)

#: A hook that may refuse an invocation (permissions); returns an error or None.
Gate = Callable[[Entry, Caller], Error | None]


#: the core's commands after which the runtime reads the installed packs again, when they
#: succeeded (opspack_core.packs: the command answers, the runtime that ran it reloads)
RELOAD_COMMANDS = frozenset({"core.packs.reload", "core.packs.install", "core.packs.upgrade"})


class Runtime:
    """Runs commands from a registry. One per process is typical; it is thread-safe."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        config: Config | None = None,
        pool: ConnectionPool | None = None,
        masker: Masker | None = None,
        gates: Iterable[Gate] = (),
        max_workers: int = 16,
        policy: Policy | Literal["auto"] | None = _AUTO,
        audit: AuditLog | Literal["auto"] | None = _AUTO,
        timeouts: Literal["thread", "signal"] = "thread",
        executor: Executor | Callable[[Runtime], Executor] | None = None,
    ) -> None:
        """``timeouts``: how a command's timeout is enforced. ``thread`` (for servers and any
        multi-threaded front-end) runs each command in a worker thread and stops waiting
        for it; ``signal`` (for the command line and the shell) runs it in the calling
        main thread and interrupts it with SIGALRM, which saves a thread handoff per command.
        ``signal`` falls back to ``thread`` outside the main thread or without SIGALRM.

        ``executor``: where commands run (:mod:`opspack.executor`): in this process by default
        (:class:`~opspack.executor.Inline`), or an executor (or a function making one from this
        runtime) such as the runner's pool of worker processes."""
        #: the registry comes from the installed packs, so :meth:`reload` may read it again
        self._reloadable = registry is None
        #: what was installed (:func:`~opspack.registry.installed_packs`) at the last reload;
        #: None until then (taking it at start would slow every command line down)
        self._installed: dict[str, str] | None = None
        self.registry = registry if registry is not None else Registry.from_installed()
        #: called with each :class:`~opspack.registry.RegistryChange` after :meth:`reload`
        #: (front-ends that announce new commands, MCP's ``tools/list_changed``)
        self.reload_listeners: list[Callable[[RegistryChange], None]] = []
        self._reload_lock = threading.Lock()
        self._config = config
        self._policy = policy
        self._audit = audit
        self.pool = pool or ConnectionPool()
        self.masker = masker or Masker()
        self.gates = list(gates)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="opspack-cmd"
        )
        self._funcs: dict[str, Callable[..., Any]] = {}
        self._waiting: dict[int, concurrent.futures.Future[Reply]] = {}
        self._packs: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.timeouts = timeouts
        self._jobs: JobStore | None = None
        if executor is None:
            self.executor: Executor = Inline(self.execute)
        elif callable(executor) and not hasattr(executor, "submit"):
            self.executor = executor(self)
        else:
            self.executor = cast("Executor", executor)
        _install_log_masking(self.masker)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = Config.load()
        return self._config

    @property
    def policy(self) -> Policy | None:
        """The permission policy in force (None: everything allowed)."""
        if self._policy == _AUTO:
            from opspack.policy import load_policy

            self._policy = load_policy(self.config.data, self.config.environ)
        return self._policy

    def require_policy(self) -> Policy | None:
        """The permission policy, loaded now: a long-running front-end calls this as it starts,
        so that it refuses to start (:class:`ConfigError`) with a policy that does not load.
        What ``opspack policy check`` would name is logged as warnings; without a policy, a
        warning says that everything is allowed."""
        if self._policy == _AUTO:
            from opspack.policy import load_policy

            self._policy = load_policy(self.config.data, self.config.environ, warn_for=self.registry.commands)
            if self._policy is None:
                log.warning("no policy file (OPSPACK_POLICY or [policy] file): anyone may run every command")
        return self._policy

    @property
    def audit(self) -> AuditLog | None:
        """The audit trail (None when turned off); opened on first use."""
        if self._audit == _AUTO:
            from opspack.audit import AuditLog, default_url

            url = default_url(self.config.data, self.config.environ)
            with self._lock:
                if self._audit == _AUTO:
                    self._audit = AuditLog(url) if url else None
        return self._audit

    @property
    def jobs(self) -> JobStore:
        """Every invocation's job: in the audit trail's database when it is on (every runner
        and worker sharing it sees them), else in this process's memory."""
        if self._jobs is None:
            from opspack.jobs import JobStore
            from opspack.store import Database

            try:
                audit = self.audit
            except OpsError as exc:
                log.error("jobs are kept in this process: %s", exc.message)
                audit = None
            with self._lock:
                if self._jobs is None:
                    # a process that runs jobs for others says it is alive, so that the jobs of
                    # one that died are ended by the others (JobStore.reap)
                    beat = (
                        audit is not None
                        and not isinstance(self.executor, Inline)
                        and not getattr(self.executor, "ends_jobs", False)  # Celery keeps its own
                    )
                    self._jobs = JobStore(audit.database if audit is not None else Database("sqlite://"), beat=beat)
        return self._jobs

    def visible_commands(self, caller: Caller) -> list[Entry]:
        """The commands ``caller`` may run: the permission policy, then every gate.

        The one place that decides what a caller sees: help, ``opspack list``, the
        runner's ``/registry``, MCP's tool list and the core pack's commands ask here."""
        policy = self.policy
        commands = policy.visible(self.registry.commands, caller) if policy is not None else self.registry.commands
        if self.gates:
            caller = self.with_roles(caller)
            commands = [e for e in commands if all(g(e, caller) is None for g in self.gates)]
        return list(commands)

    def with_roles(self, caller: Caller) -> Caller:
        """``caller`` holding the roles the policy grants it (none without a policy), in place of
        whatever its ``roles`` said: what gates and commands read."""
        policy = self.policy
        roles = tuple(policy.roles_of(caller)) if policy is not None else ()
        return caller if caller.roles == roles else replace(caller, roles=roles)

    def visible_registry(self, caller: Caller) -> Registry:
        """The registry as ``caller`` sees it (:meth:`visible_commands`), packs included."""
        commands = self.visible_commands(caller)
        if len(commands) == len(self.registry):
            return self.registry
        names = {c["pack"]["name"] for c in commands}
        return Registry(packs=[p for p in self.registry.packs if p["name"] in names], commands=commands)

    @property
    def reloadable(self) -> bool:
        """Whether the registry comes from the installed packs (a registry file is not reloaded)."""
        return self._reloadable

    def reload(self, reason: str) -> RegistryChange | None:
        """Read the installed packs again if any was installed, upgraded or removed since the
        last reading (a cheap look at the ``opspack.packs`` entry points and their versions);
        the change, or None when nothing changed or the registry is not reloadable.

        The new registry serves every call from now on; calls in flight finish on the code
        they started with. The code of changed packs is forgotten here (their next call
        imports it again), and the executor replaces its worker processes as they become
        free, so they import the new code. ``reason`` (who or what asked) goes to the
        listeners with the change."""
        if not self._reloadable:
            return None
        with self._reload_lock:
            now = installed_packs()
            if now == self._installed:
                return None
            old, new = self.registry, Registry.from_installed()
            change = RegistryChange.between(old, new, reason)
            self._installed = now
            if not change:  # the first look, with nothing installed since the start
                return None
            self._forget_code(set(change.packs) | {c.split(".")[0] for c in change.changed})
            self.registry = new
            reload_executor = getattr(self.executor, "reload", None)
            if reload_executor is not None:
                reload_executor(new.to_data())
        log.info("packs reloaded (%s): %s", reason, change.summary())
        for listener in list(self.reload_listeners):
            try:
                listener(change)
            except Exception:
                log.exception("a reload listener failed")
        return change

    def _forget_code(self, packs: set[str]) -> None:
        """Drop the imported modules of these packs, so their next call imports what is installed now."""
        import sys

        modules = {f"opspack_{name}" for name in packs}
        with self._lock:
            self._packs = {k: v for k, v in self._packs.items() if k not in packs}
            self._funcs.clear()
            for loaded in [m for m in sys.modules if m.partition(".")[0] in modules]:
                del sys.modules[loaded]

    def close(self) -> None:
        self.executor.close()
        self.pool.close_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._jobs is not None:
            self._jobs.close()
        if self._audit not in (None, _AUTO):
            self._audit.close()

    # -- entry points -----------------------------------------------------------
    def chat(self, text: str, caller: Caller | None = None) -> Reply:
        """Run the one command a chat text names (``vm list --cluster prod``).

        Only commands: front-ends go through :class:`~opspack.frontends.gateway.Gateway`,
        which also answers ``help`` and ``confirm <token>``."""
        from opspack import grammar

        try:
            parsed = grammar.parse(text, self.registry)
        except OpsError as exc:
            return self.refuse(text, exc.to_error(), caller)
        return self.run(parsed, caller)

    def invoke(self, command_id: str, args: dict[str, Any] | None, caller: Caller | None = None) -> Reply:
        """Run a command by id with arguments (raw strings or typed values)."""
        from opspack.grammar import Parsed

        entry = self.registry.get(command_id)
        if entry is None:
            close = self.registry.closest(command_id.replace(".", " "))
            hint = "Did you mean: " + ", ".join(c["id"] for c in close) + "?" if close else None
            return self.refuse(command_id, Error("usage", f"Unknown command {command_id}.", hint), caller)
        return self.run(Parsed(entry, dict(args or {})), caller)

    def run(self, parsed: Parsed, caller: Caller | None = None) -> Reply:
        """Run a call the grammar (or :meth:`invoke`) resolved, and wait for its reply: the
        one path every call takes (the policy, a job, the executor, the audit trail)."""
        admitted = self._admit(parsed, caller or Caller())
        if isinstance(admitted, Reply):
            return admitted
        call, caller, job, item, progress, began = admitted
        started = functools.partial(self.jobs.start, job.id)
        try:
            run = getattr(self.executor, "run", None)
            if run is not None:  # the executor runs it from this thread
                reply: Reply = run(item, progress, started)
            else:
                reply = self.executor.submit(item, progress, started).result()
        except OpsError as exc:  # busy: a bulkhead is full
            return self._complete(call, caller, job, Reply.failure(exc.to_error(), call.entry["id"]), began)
        except Exception as exc:
            log.exception("job %s (%s) failed in its executor", job.id, call.entry["id"])
            return self._complete(call, caller, job, Reply.failure(_internal(exc), call.entry["id"]), began)
        return self._answered(call, caller, job, reply, began)

    def runs_on_loop(self, parsed: Parsed, caller: Caller) -> bool:
        """Whether :meth:`run_async` can take this call on an event loop's own thread: the
        executor can be awaited, the call needs no confirmation round, and its job id is at
        hand (nothing on the way waits for a database)."""
        return (
            hasattr(self.executor, "run_async")
            and not (parsed.entry["effects"].get("confirm") and not caller.confirmed)
            and self.jobs.has_ids()
        )

    async def run_async(self, parsed: Parsed, caller: Caller) -> Reply:
        """:meth:`run` for an event loop, when :meth:`runs_on_loop` says so: the policy, the
        job and the audit record as in :meth:`run`, the executor and the commit of the audit
        record awaited instead of waited on from a thread (``opspack serve``'s hot path: no
        thread is woken for the call)."""
        reply = await self._run_on_loop(parsed, caller)
        await self._committed()
        return reply

    async def _run_on_loop(self, parsed: Parsed, caller: Caller) -> Reply:
        admitted = self._admit(parsed, caller, wait=False)
        if isinstance(admitted, Reply):
            return admitted
        call, caller, job, item, progress, began = admitted
        cid = call.entry["id"]
        started = functools.partial(self.jobs.start, job.id)
        try:
            reply: Reply = await self.executor.run_async(item, progress, started)  # type: ignore[attr-defined]
        except OpsError as exc:  # busy: a bulkhead is full
            return self._complete(call, caller, job, Reply.failure(exc.to_error(), cid), began, wait=False)
        except asyncio.CancelledError:  # the runner is stopping under the call: the job ends, told why
            stopped = Error("interrupted", f"The runner stopped while job {job.id} ran.", "Check, then run it again.")
            self._complete(call, caller, job, Reply.failure(stopped, cid), began, wait=False)
            raise
        except Exception as exc:
            log.exception("job %s (%s) failed in its executor", job.id, cid)
            return self._complete(call, caller, job, Reply.failure(_internal(exc), cid), began, wait=False)
        return self._answered(call, caller, job, reply, began, wait=False)

    def start(self, parsed: Parsed, caller: Caller | None = None) -> Job | Reply:
        """Start a call as a job and answer at once with the job, or with the reply when it
        was refused before it could start (the policy, a gate, a concurrency limit)."""
        admitted = self._admit(parsed, caller or Caller())
        if isinstance(admitted, Reply):
            return admitted
        call, caller, job, item, progress, began = admitted
        cid = call.entry["id"]
        done: concurrent.futures.Future[Reply] = concurrent.futures.Future()

        def finished(future: concurrent.futures.Future[Reply]) -> None:
            try:
                reply = self._answered(call, caller, job, future.result(), began)
            except Exception as exc:  # an executor's own failure: still an answer
                log.exception("job %s (%s) failed in its executor", job.id, cid)
                reply = self._complete(call, caller, job, Reply.failure(_internal(exc), cid), began)
            done.set_result(reply)
            if reply.error is None or reply.error.confirm is None:
                # its reply is in the job store from now on; a confirmation request's is kept
                # for its waiter (the gateway, at once): what it confirms is in no store
                self._waiting.pop(job.id, None)

        try:
            submitted = self.executor.submit(item, progress, functools.partial(self.jobs.start, job.id))
        except OpsError as exc:  # busy: a bulkhead is full
            return self._complete(call, caller, job, Reply.failure(exc.to_error(), cid), began)
        self._waiting[job.id] = done
        submitted.add_done_callback(finished)
        return job

    def _admit(
        self, parsed: Parsed, caller: Caller, *, wait: bool = True
    ) -> Reply | tuple[Call, Caller, Job, WorkItem, Callable[[str, float | None], None], float]:
        """What :meth:`run` and :meth:`start` share: the call past the policy and its job, or
        the reply that refuses it (recorded)."""
        began = time.perf_counter()
        oversized = None if parsed.tokens else _oversized(parsed)
        if oversized is not None:  # refused, and its arguments not kept: the error says how big they were
            refused = Reply.failure(oversized, parsed.entry["id"])
            return self._complete(Call(parsed.entry, {}, self.masker), caller, None, refused, began, wait=wait)
        call = Call(parsed.entry, dict(parsed.args), self.masker)
        checked = self._checked(call, caller)
        if isinstance(checked, Reply):
            return self._complete(call, caller, None, checked, began, wait=wait)
        caller = checked
        try:
            job, item, progress = self._job(call, caller)
        except Exception as exc:  # noqa: BLE001 - the jobs' database: answered, never a traceback
            return self._complete(call, caller, None, _no_job(call, exc), began, wait=wait)
        return call, caller, job, item, progress, began

    def _answered(
        self, call: Call, caller: Caller, job: Job, reply: Reply, began: float, *, wait: bool = True
    ) -> Reply:
        """The end of a job the executor answered: the runtime's own ending, unless the
        executor's workers ended the job and wrote its audit record (Celery workers)."""
        self._reload_after(call, caller, reply)
        if getattr(self.executor, "ends_jobs", False):
            self.masker.scrub(reply)
            call.hold(reply)
            return reply
        return self._complete(call, caller, job, reply, began, wait=wait)

    def _reload_after(self, call: Call, caller: Caller, reply: Reply) -> None:
        """After a command that changes the installed packs (``packs reload``, ``packs
        install`` ...) succeeded: reload here, in the runtime's own process, and say what changed."""
        cid = call.entry["id"]
        if cid not in RELOAD_COMMANDS or not reply.ok:
            return
        from opspack.results import Text

        if not self.reloadable:
            reply.results.append(Text("This runner serves a registry file: restart it to change its commands."))
            return
        change = self.reload(f"{cid} by {caller.user}")
        reply.results.append(Text(f"Reloaded: {change.summary()}." if change else "No pack changed."))

    def _checked(self, call: Call, caller: Caller) -> Reply | Caller:
        """The refusal, or the caller with the roles the policy grants it."""
        try:
            caller = self.with_roles(caller)
            return self._gate(call, caller) or caller
        except OpsError as exc:  # a policy that does not load: said, never a traceback
            return Reply.failure(exc.to_error(), call.entry["id"])
        except Exception as exc:
            log.exception("checking %s failed unexpectedly", call.entry["id"])
            return Reply.failure(_internal(exc), call.entry["id"])

    def _job(self, call: Call, caller: Caller) -> tuple[Job, WorkItem, Callable[[str, float | None], None]]:
        """The call's job, its work item and the sink its progress reports go to."""
        from opspack.jobs import WorkItem

        entry = call.entry
        job = self.jobs.new(
            command=entry["id"],
            pack=entry["pack"]["name"],
            user=caller.user,
            channel=caller.channel,
            frontend=caller.frontend,
            text=call.text,
            idempotent=bool(entry["effects"].get("idempotent")),
            timeout_s=float(entry.get("timeout_s") or 30),
        )
        item = WorkItem(
            job=job.id,
            entry=entry,
            args=call.args,
            user=caller.user,
            groups=tuple(caller.groups),
            roles=tuple(caller.roles),
            channel=caller.channel,
            frontend=caller.frontend,
            format=caller.format,
            profile=caller.profile,
            confirmed=caller.confirmed,
            approved_by=call.approver,
            confirm_token=caller.confirm_token,
            token=caller.token,
            reason=call.reason,
        )
        listener = caller.on_progress

        def progress(message: str, percent: float | None) -> None:
            message = self.masker(message)
            self.jobs.report(job.id, message, percent)
            if listener is not None:
                from opspack.results import Progress

                with contextlib.suppress(Exception):
                    listener(Progress(message, percent=percent))

        return job, item, progress

    def wait(self, job: Job, timeout: float | None = None) -> Reply:
        """The reply of a job this runtime started (waits until it is final)."""
        done = self._waiting.get(job.id)
        if done is None:
            stored = self.jobs.get(job.id)
            if stored is not None and stored.reply is not None:
                return Reply.from_dict(stored.reply)
            raise KeyError(job.id)
        try:
            return done.result(timeout)
        finally:
            if done.done():
                self._waiting.pop(job.id, None)

    def cancel(self, job_id: int) -> bool:
        """Stop a job (queued or running) this runtime's executor holds."""
        return bool(self.executor.cancel(job_id))

    def _complete(
        self, call: Call, caller: Caller, job: Job | None, reply: Reply, began: float, *, wait: bool = True
    ) -> Reply:
        """The end of every call: secrets masked, the job's final state and the audit record,
        committed together before the answer leaves (``wait``; an event loop awaits
        :meth:`_committed` instead)."""
        self.masker.scrub(reply)
        call.hold(reply)
        if job is not None:
            self.jobs.finish(job.id, final_state(reply), reply.to_dict())
        self._record(caller, call, None, reply, began, wait=wait)
        return reply

    async def _committed(self) -> None:
        """Wait, on an event loop, until what this runtime recorded so far is committed."""
        audit = self._audit_or_none()
        if audit is None:
            return
        from opspack.audit import RECORD_WAIT_S

        writer = audit.writer
        try:
            await asyncio.wait_for(writer.wait_async(writer.mark()), RECORD_WAIT_S)
        except TimeoutError:
            log.error("audit records were not committed within %g s; answering anyway", RECORD_WAIT_S)

    # -- what a worker runs ----------------------------------------------------------
    def execute(self, item: WorkItem, progress: Callable[[str, float | None], None] | None = None) -> Reply:
        """Run a work item in this process: the steps after the policy (arguments, settings,
        confirmation, the call under its timeout); every failure is an error reply."""
        from opspack.results import Progress

        def report(p: Progress) -> None:
            if progress is not None:
                progress(p.message, p.percent)

        caller = Caller(**item.caller_fields(), on_progress=report)
        call = Call(item.entry, dict(item.args), self.masker)
        cid = item.command
        try:
            reply = self._execute(call, caller)
        except OpsError as exc:
            reply = Reply.failure(exc.to_error(), cid)
        except Exception as exc:
            log.exception("command %s failed unexpectedly", cid)
            reply = Reply.failure(_internal(exc), cid)
        self.masker.scrub(reply)
        return reply

    def refuse(
        self,
        text: str | None,
        error: Error,
        caller: Caller | None = None,
        *,
        command: str | None = None,
        reason: str | None = None,
    ) -> Reply:
        """Answer with ``error`` a call that runs nothing, and record it: a text that names no
        runnable command, or a refusal before the runtime (a confirmation token refused, a
        bearer token speaking for a user it may not): ``command`` is what it was about,
        ``reason`` why it was refused."""
        reply = Reply.failure(error, command)
        self.masker.scrub(reply)
        refused = self._refused_text(text)
        self._record(caller or Caller(), None, refused, reply, time.perf_counter(), command=command, reason=reason)
        return reply

    def _refused_text(self, text: str | None) -> str | None:
        """The text of a call that was refused before its arguments were read, as the audit
        trail keeps it: masked, and only the command's words when it names a command that
        declares secret arguments (which of the words after them are secret is unknown)."""
        if not text:
            return text
        from opspack import grammar

        try:
            tokens = grammar.tokenize(text.strip())
        except OpsError:
            tokens = text.split()
        entries, n = self.registry.match(tokens) if tokens else ([], 0)
        if any(declared_secrets(e) for e in entries) and len(tokens) > n:
            text = " ".join([*tokens[:n], MASK])
        return self.masker(_printable(text))

    def chat_text(self, parsed: Parsed) -> str:
        """The masked chat text of a call, as the audit trail and confirmations show it."""
        return Call(parsed.entry, dict(parsed.args), self.masker).text

    def _audit_or_none(self) -> AuditLog | None:
        try:
            return self.audit
        except OpsError as exc:  # a missing driver, a bad URL: what to do, without a traceback
            log.error("the audit trail cannot be opened: %s. %s", exc.message, exc.hint or "")
        except Exception:
            log.exception("the audit trail cannot be opened")
        return None

    def _record(
        self,
        caller: Caller,
        call: Call | None,
        text: str | None,
        reply: Reply,
        started: float,
        *,
        command: str | None = None,
        reason: str | None = None,
        wait: bool = True,
    ) -> None:
        """Add the invocation to the audit trail (secrets masked: ``text``, a refusal's when
        there is no ``call``, as :meth:`_refused_text` made it) and, with ``wait``, wait until
        it is committed (what was answered is in the trail); never fails the command."""
        audit = self._audit_or_none()
        if audit is None:
            return
        from opspack.audit import RECORD_WAIT_S, Record, error_kind

        why = call.reason if call else reason
        try:
            round_ = audit.record(
                Record(
                    at=time.time(),
                    user=caller.user,
                    channel=caller.channel,
                    frontend=caller.frontend,
                    command=call.entry["id"] if call else command,
                    text=call.text if call else text,
                    args=call.masked_args if call else "{}",
                    ok=reply.ok,
                    error_kind=error_kind(reply),
                    duration_ms=(time.perf_counter() - started) * 1000,
                    token=caller.token,
                    approver=call.approver if call else None,
                    reason=self.masker(why) if why else None,
                )
            )
        except Exception:
            log.exception("recording %s in the audit trail failed", call.entry["id"] if call else "a refusal")
            return
        if wait and not audit.committed(round_, RECORD_WAIT_S):
            what = call.entry["id"] if call else "a refusal"
            log.error("the audit record of %s was not committed within %g s; answering anyway", what, RECORD_WAIT_S)

    # -- the steps ----------------------------------------------------------------
    def _gate(self, call: Call, caller: Caller) -> Reply | None:
        """The permission policy and the gates: a refusal, or None to go on."""
        entry = call.entry
        cid = entry["id"]
        policy = self.policy
        if policy is not None:
            verdict = policy.judge(entry, caller)
            call.reason, call.approver = verdict.reason, verdict.approver
            refusal = verdict.error
            if refusal is not None:
                if refusal.confirm is not None:  # an approval request: say exactly what would run
                    refusal.confirm.text = call.text
                    call.hold_confirmation(refusal.confirm)
                return Reply.failure(refusal, cid)
        for gate in self.gates:
            refusal = gate(entry, caller)
            if refusal is not None:
                call.reason = refusal.message
                return Reply.failure(refusal, cid)
        if caller.confirmed and entry["effects"].get("confirm") and call.approver is None:
            call.reason = f"{call.reason}; confirmed" if call.reason else "confirmed"
        return None

    def _execute(self, call: Call, caller: Caller) -> Reply:
        entry = call.entry
        cid = entry["id"]
        func = self._function(entry)
        from opspack.declare import spec_of

        spec = spec_of(func)
        values = spec.validate(call.args)
        pack_name = entry["pack"]["name"]
        pack = self._pack(pack_name)
        settings = Settings(pack_name, list(pack.settings), self.config, caller.profile, self.masker)
        settings.require(entry.get("settings"))
        ctx = Context(
            command=cid,
            pack=pack_name,
            caller=caller,
            settings=settings,
            pool=self.pool,
            masker=self.masker,
            audit_source=self._audit_for_context,
            visibility=self.visible_commands,
            registry=self.registry,
        )
        call_args = dict(values)
        ctx_param = spec.context_param
        if ctx_param:
            call_args[ctx_param] = ctx
        timeout = float(entry.get("timeout_s") or 30)
        if entry["effects"].get("confirm") and not caller.confirmed:
            # valid arguments, settings and the command's own check first: nobody should
            # confirm a call that would fail at once
            if spec.check is not None and self._call(entry, spec.check, call_args, pack, timeout) is _TIMED_OUT:
                return Reply.failure(_timed_out(cid, timeout), cid)
            return Reply.failure(_confirmation(call), cid)
        effects = entry["effects"]
        retry = bool(effects.get("read_only") and effects.get("idempotent"))
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            left = max(0.0, deadline - time.monotonic())
            try:
                out = self._call(entry, func, call_args, pack, left)
                break
            except BackendError as exc:
                pause = RETRY_BACKOFF[attempt] if attempt < len(RETRY_BACKOFF) else None
                if not (retry and exc.retryable and pause is not None and time.monotonic() + pause < deadline):
                    raise
                log.info("%s: transient backend failure (%s); retrying in %.1f s", cid, exc.message, pause)
                attempt += 1
                time.sleep(pause)
        if out is _TIMED_OUT:
            return Reply.failure(_timed_out(cid, timeout), cid)
        results = _as_results(out)
        self._fill_menus(results)
        return Reply(ok=True, command=cid, results=results)

    def _audit_for_context(self) -> AuditLog | None:
        return self.audit

    def _call(self, entry: Entry, func: Callable[..., Any], call_args: dict[str, Any], pack: Any, left: float) -> Any:
        """``func(**call_args)`` within ``left`` seconds: inline under SIGALRM, or in a worker
        thread the caller stops waiting for; ``_TIMED_OUT`` when it did not finish."""
        try:
            if self.timeouts == "signal" and _can_alarm():
                return _run_with_alarm(func, call_args, pack, left)
            future = self._executor.submit(_run, func, call_args, pack)
            try:
                return future.result(timeout=left)
            except concurrent.futures.TimeoutError:
                future.cancel()
                return _TIMED_OUT
        except ImportError as exc:
            missing = exc.name or str(exc)
            pack_name = entry["pack"]["name"]
            raise ConfigError(
                f"pack {pack_name} cannot run {entry['id']}: the module {missing} is not installed",
                _missing_module_hint(entry, missing)
                or f"Install the pack with its dependencies: {entry.get('install') or 'pip install ' + pack_name}",
            ) from None

    def _function(self, entry: Entry) -> Callable[..., Any]:
        cid = entry["id"]
        func = self._funcs.get(cid)
        if func is not None:
            return func
        module_name, _, attr = entry["entry_point"].partition(":")
        try:
            module = importlib.import_module(module_name)
            func = getattr(module, attr)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            dist = entry["pack"].get("distribution", "the pack")
            raise ConfigError(
                f"pack {entry['pack']['name']} cannot load: {missing} is not installed",
                _missing_module_hint(entry, missing) or f"Install it: {entry.get('install') or 'pip install ' + dist}",
            ) from None
        except AttributeError:
            raise ConfigError(
                f"{entry['entry_point']} is missing: the installed pack does not match the registry",
                "Reinstall the pack or rebuild the registry (`opspack registry build`).",
            ) from None
        with self._lock:
            self._funcs[cid] = func
        return func  # type: ignore[no-any-return]

    def _pack(self, name: str) -> Any:
        pack = self._packs.get(name)
        if pack is None:
            module = importlib.import_module(f"opspack_{name}")
            pack = module.pack
            with self._lock:
                self._packs[name] = pack
        return pack

    def _fill_menus(self, results: list[Result]) -> None:
        from opspack.grammar import to_chat_text

        for r in results:
            if isinstance(r, Menu):
                for opt in r.options:
                    if opt.text is None:
                        target = self.registry.get(opt.command)
                        opt.text = to_chat_text(target, opt.args) if target else opt.command


class Call:
    """One call on its way through the runtime: the entry, the raw arguments and, built
    once when first needed, the masked arguments and chat text that the confirmation
    request, the approval request and the audit record all show.

    One thread uses a call at a time: the lazy values need no lock (functools'
    cached_property takes one lock shared by every instance on Python 3.11)."""

    __slots__ = ("_masked_args", "_shown_args", "_text", "approver", "args", "entry", "masker", "reason")

    def __init__(self, entry: Entry, args: dict[str, Any], masker: Masker) -> None:
        self.entry = entry
        self.args = args
        self.masker = masker
        #: why the policy (and the gates) let it through or refused it, for the audit trail
        self.reason: str | None = None
        #: who approved it, when it needed a second person's approval and that approval held
        self.approver: str | None = None
        self._shown_args: dict[str, Any] | None = None
        self._masked_args: str | None = None
        self._text: str | None = None

    @property
    def shown_args(self) -> dict[str, Any]:
        """The arguments with secrets masked (:func:`opspack.masking.masked`): those the command
        declares secret, those named like secrets at any depth, values that look like one."""
        if self._shown_args is None:
            self._shown_args = masked(self.args, self.masker, declared_secrets(self.entry))
        return self._shown_args

    @property
    def masked_args(self) -> str:
        """:attr:`shown_args` as JSON (the audit record's ``args``)."""
        if self._masked_args is None:
            self._masked_args = json.dumps(self.shown_args, ensure_ascii=False, sort_keys=True)
        return self._masked_args

    @property
    def text(self) -> str:
        """The chat text that runs this call, secrets masked."""
        if self._text is None:
            from opspack.grammar import to_chat_text

            self._text = to_chat_text(self.entry, self.shown_args)
        return self._text

    def hold_confirmation(self, confirm: Confirmation) -> None:
        """Make ``confirm`` show the masked arguments and hold the real ones (in this process only)."""
        confirm.args = dict(self.shown_args)
        confirm.run_args = dict(self.args)

    def hold(self, reply: Reply) -> None:
        """:meth:`hold_confirmation` for the confirmation request ``reply`` carries, if any
        (the one a worker made travels without the real arguments)."""
        confirm = reply.error.confirm if reply.error is not None else None
        if confirm is not None and confirm.command == self.entry["id"]:
            self.hold_confirmation(confirm)


def _oversized(parsed: Parsed) -> Error | None:
    """A call by id (``/invoke``, MCP) held to chat's limit: its arguments, written as the
    chat text that would run it, are at most ``grammar.MAX_TEXT`` characters. (Chat text
    was held to it when it was read.)"""
    from opspack.grammar import MAX_TEXT, to_chat_text

    if not parsed.args:
        return None
    for name, value in parsed.args.items():
        inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        if any(isinstance(v, dict | list) for v in inner):  # no argument type takes that: refused before
            return Error(  # the masking, the audit record and the job row walk through it
                "usage",
                f"Bad arguments for {parsed.entry['id']}: {name} nests lists or mappings in each other.",
                "Send text, numbers, a list of them, or KEY=value pairs, as the command's args_schema says.",
            )
    try:
        size = len(to_chat_text(parsed.entry, parsed.args))
    except (RecursionError, ValueError, TypeError):  # nested past what any argument takes
        size = MAX_TEXT + 1
    if size <= MAX_TEXT:
        return None
    return Error(
        "usage",
        f"The arguments of {parsed.entry['id']} are {size:,} characters as chat text; the limit is {MAX_TEXT:,}.",
        "Send fewer or shorter values, as you would type them in chat.",
    )


def _no_job(call: Call, exc: Exception) -> Reply:
    log.error("no job could be made for %s: %s", call.entry["id"], exc)
    return Reply.failure(
        Error(
            "backend",
            f"{call.entry['id']} did not start: the jobs' database failed ({type(exc).__name__}).",
            "Try again in a moment; the bot's log says what the database answered.",
        ),
        call.entry["id"],
    )


def _confirmation(call: Call) -> Error:
    entry = call.entry
    confirm = Confirmation(
        command=entry["id"],
        args={},
        prompt=f"Run `{call.text}`? {entry['summary']}.",
        text=call.text,
    )
    call.hold_confirmation(confirm)
    return Error(
        "denied",
        f"`{call.text}` is destructive ({entry['summary'].lower()}); it needs your confirmation.",
        "Confirm to run it (`--yes` on the command line).",
        confirm=confirm,
    )


class _AlarmTimeout(BaseException):
    """Raised by SIGALRM in the main thread; a BaseException so that a client library's
    ``except Exception`` cannot swallow it."""


def _can_alarm() -> bool:
    import signal

    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _timed_out(cid: str, timeout: float) -> Error:
    return Error(
        "timeout",
        f"{cid} did not finish within {timeout:g} s.",
        "The backend may be slow or unreachable; try again, or ask an admin to raise the command's timeout.",
    )


def _run_with_alarm(func: Callable[..., Any], call_args: dict[str, Any], pack: Any, seconds: float) -> Any:
    """Run a command in this (main) thread; interrupt it after ``seconds`` with SIGALRM."""
    import signal

    if seconds <= 0:
        return _TIMED_OUT

    def ring(signum: int, frame: Any) -> None:
        raise _AlarmTimeout

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return _run(func, call_args, pack)
    except _AlarmTimeout:
        return _TIMED_OUT
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(func: Callable[..., Any], call_args: dict[str, Any], pack: Any) -> Any:
    try:
        return func(**call_args)
    except OpsError:
        raise
    except Exception as exc:
        translated = pack.translate(exc) if pack.translate is not None else None
        if translated is not None:
            raise translated from exc
        raise


def _as_results(out: Any) -> list[Result]:
    if out is None:
        return []
    items = out if isinstance(out, list | tuple) else [out]
    results: list[Result] = []
    for item in items:
        if isinstance(item, Result):
            results.append(item)
        elif isinstance(item, Error):
            raise _ErrorResult(item)
        else:
            raise TypeError(f"a command returned {type(item).__name__}, not a result")
    return results


class _ErrorResult(OpsError):
    def __init__(self, error: Error) -> None:
        super().__init__(error.message, error.hint)
        self.kind = error.kind


def _printable(text: str) -> str:
    """Text that any database can store (lone surrogates from bad bytes replaced)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _internal(exc: BaseException) -> Error:
    return Error(
        "internal",
        f"The command failed unexpectedly ({type(exc).__name__}: {exc}).",
        "This is a bug in the pack; the details are in the bot's log.",
    )


_installed_filters: set[int] = set()


def _install_log_masking(masker: Masker) -> None:
    root = logging.getLogger()
    if id(masker) in _installed_filters:
        return
    _installed_filters.add(id(masker))
    flt = MaskingFilter(masker)
    logging.getLogger("opspack").addFilter(flt)
    for handler in root.handlers:
        handler.addFilter(flt)


__all__ = ["Call", "Caller", "Gate", "MenuOption", "Runtime"]


def _missing_module_hint(entry: Entry, missing: str) -> str | None:
    """The hint for a module a pack needs but its distribution does not declare: that is the
    pack's bug, for whoever maintains it (``declare X in packs/<name>/pyproject.toml``).

    Said only when it is sure: the pack is installed, every dependency it declares is
    installed, and none is named like the missing module (``jenkins`` in ``python-jenkins``).
    Otherwise None: installing the pack with its dependencies is the fix."""
    import re
    import sys
    from importlib.metadata import PackageNotFoundError, distribution

    top = missing.split(".")[0]
    dist = entry["pack"].get("distribution")
    if not dist or top.startswith("opspack") or top in sys.stdlib_module_names:
        return None
    try:
        requires = distribution(dist).requires or []
    except PackageNotFoundError:
        return None

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    for req in requires:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if m is None or re.search(r"extra\s*==", req):
            continue
        name = norm(m.group(1))
        if norm(top) in name or name in norm(top):
            return None
        try:
            distribution(name)
        except PackageNotFoundError:
            return None  # a declared dependency is missing: it may be the one that provides the module
    pack = entry["pack"]["name"]
    return (
        f"{dist} imports {top} but does not declare it: declare {top} (the distribution that provides it) in "
        f"packs/{pack}/pyproject.toml [project] dependencies, then reinstall the pack (pip install -e 'packs/{pack}')."
    )
