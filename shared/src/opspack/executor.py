"""Executors: where a job's command runs, behind one interface.

- :class:`Inline` runs it in the calling process (the command line, the shell, code that
  embeds a :class:`~opspack.runtime.Runtime`): under SIGALRM in the main thread, or in a
  worker thread the caller stops waiting for.
- :class:`Embedded` (the runner's default, no other service) owns a pool of worker
  **processes**. A command past its ``timeout_s`` is stopped: its process is killed and
  replaced, the job ends ``failed`` with a ``timeout`` error and the slot is free again.
  Bulkheads: at most ``per_user`` queued or running jobs per user and ``per_pack`` per pack;
  past one, :class:`~opspack.errors.Busy` names it. A job that cannot start within
  ``queue_timeout_s`` ends ``busy`` too, instead of hanging.
- ``opspack.celery_executor.CeleryExecutor`` spreads jobs over Celery workers (one queue per pack).

Every executor takes a :class:`WorkItem` (plain data: it crosses process boundaries) and
answers a :class:`~concurrent.futures.Future` of the :class:`~opspack.results.Reply`; the
runtime does the rest (masking, the audit trail, the job's final state).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opspack.errors import Busy
from opspack.jobs import ProgressSink, WorkItem, cancelled, failure, timed_out
from opspack.results import Error, Reply

if TYPE_CHECKING:
    from opspack.runtime import Runtime

log = logging.getLogger("opspack.executor")

#: seconds a worker process gets past a command's timeout before it is killed
GRACE_S = 2.0


# -- worker processes ------------------------------------------------------------------
@dataclass
class _Limits:
    per_user: int = 4
    per_pack: int = 8
    queue_timeout_s: float = 10.0


@dataclass(eq=False)
class _Worker:
    """One worker process and the pipe to it."""

    process: Any
    conn: Any
    poller: Any = None

    def __post_init__(self) -> None:
        import select

        # one poll object for the pipe's life: Connection.poll() builds a selector every call
        self.poller = select.poll()
        self.poller.register(self.conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)

    def ready(self, timeout: float) -> bool:
        """Whether a message (or the end of the pipe) is waiting, within ``timeout`` seconds."""
        return bool(self.poller.poll(max(0, int(timeout * 1000))))

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()


@dataclass(eq=False)
class _Running:
    item: WorkItem
    worker: _Worker | None = None
    cancelled: bool = False


@dataclass
class _Counts:
    users: collections.Counter[str] = field(default_factory=collections.Counter)
    packs: collections.Counter[str] = field(default_factory=collections.Counter)


class Embedded:
    """A pool of worker processes in the runner; see the module's documentation.

    A call that waits for its reply drives its worker from its own thread (no handoff to
    another thread): it takes an idle worker (or waits up to ``queue_timeout_s`` for one),
    sends the item down the worker's pipe, relays progress, and kills the worker when the
    command passes its timeout. A background job (``submit``) does the same from a thread
    of its own."""

    def __init__(
        self,
        *,
        workers: int = 8,
        per_user: int = 4,
        per_pack: int = 8,
        queue_timeout_s: float = 10.0,
        registry_data: Mapping[str, Any] | None = None,
        config_data: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        start_method: str = "forkserver",
        prestart: bool = True,
    ) -> None:
        if workers < 1:
            raise ValueError("an embedded executor needs at least one worker")
        self.size = workers
        self.limits = _Limits(per_user, per_pack, queue_timeout_s)
        self._setup = (dict(registry_data or {}), dict(config_data or {}), dict(environ or os.environ))
        self._mp: Any = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._mp.set_forkserver_preload(["opspack.executor", "opspack.runtime"])
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._alive = 0  # workers started and not yet discarded (idle or busy)
        self._waiting = 0  # calls waiting for a worker
        self._running: dict[int, _Running] = {}
        self._counts = _Counts()
        self._closed = False
        if prestart:  # start the workers now, so the first calls do not wait for them
            threading.Thread(target=self._prestart, name="opspack-workers-start", daemon=True).start()

    def _prestart(self) -> None:
        for _ in range(self.size):
            with self._cond:
                if self._closed or self._alive >= self.size:
                    return
                self._alive += 1
            try:
                worker = self._spawn()
            except Exception as exc:  # noqa: BLE001 - a call will try again and say why
                log.warning("cannot start a worker process: %s", exc)
                with self._cond:
                    self._alive -= 1
                return
            self._checkin_new(worker)

    def _checkin_new(self, worker: _Worker) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._alive -= 1
        with contextlib.suppress(Exception):
            worker.conn.send(None)
        worker.kill()

    # -- the interface ----------------------------------------------------------------
    def run(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Reply:
        """Run ``item`` and wait for its reply, in the calling thread."""
        self._admit(item)
        try:
            return self._run_admitted(item, progress, started)
        finally:
            with self._cond:
                self._release(item)

    def submit(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Future[Reply]:
        """Run ``item`` in the background (a thread of its own drives its worker)."""
        self._admit(item)
        future: Future[Reply] = Future()

        def drive() -> None:
            try:
                future.set_result(self._run_admitted(item, progress, started))
            except BaseException as exc:  # noqa: BLE001 - the job's future carries every failure
                future.set_exception(exc)
            finally:
                with self._cond:
                    self._release(item)

        threading.Thread(target=drive, name=f"opspack-job-{item.job}", daemon=True).start()
        return future

    def cancel(self, job: int) -> bool:
        with self._cond:
            running = self._running.get(job)
            if running is None:
                return False
            running.cancelled = True
            self._cond.notify_all()
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
            worker.kill()

    def busy_workers(self) -> list[_Worker]:
        """The worker processes running a job now."""
        with self._cond:
            return [r.worker for r in self._running.values() if r.worker is not None]

    def stats(self) -> dict[str, int]:
        """Waiting and running calls, for health checks and tests."""
        with self._cond:
            running = sum(1 for r in self._running.values() if r.worker is not None)
            return {"queued": self._waiting, "running": running, "workers": self.size}

    # -- admission and workers ------------------------------------------------------------
    def _admit(self, item: WorkItem) -> None:
        with self._cond:
            if self._closed:
                raise Busy("The runner is shutting down.", "Try again in a moment.")
            if self._counts.users[item.user] >= self.limits.per_user:
                raise Busy(
                    f"{item.user} already has {self.limits.per_user} commands queued or running "
                    "(the per-user limit, [jobs] per_user).",
                    "Wait for one to finish (`jobs` lists them), or cancel one with `job cancel <id>`.",
                )
            if self._counts.packs[item.pack] >= self.limits.per_pack:
                raise Busy(
                    f"The {item.pack} pack already has {self.limits.per_pack} commands queued or running "
                    "(the per-pack limit, [jobs] per_pack).",
                    "Try again when some have finished.",
                )
            self._counts.users[item.user] += 1
            self._counts.packs[item.pack] += 1
            self._running[item.job] = _Running(item)

    def _release(self, item: WorkItem) -> None:
        self._running.pop(item.job, None)
        self._counts.users[item.user] -= 1
        if self._counts.users[item.user] <= 0:
            del self._counts.users[item.user]
        self._counts.packs[item.pack] -= 1
        if self._counts.packs[item.pack] <= 0:
            del self._counts.packs[item.pack]

    def _checkout(self, running: _Running) -> _Worker | None:
        """An idle worker (started when fewer than ``size`` live), waiting up to the queue
        timeout; None when none became free in time or the job was cancelled meanwhile."""
        deadline = time.monotonic() + self.limits.queue_timeout_s
        spawn = False
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    if self._closed or running.cancelled:
                        return None
                    if self._idle:
                        return self._idle.pop()
                    if self._alive < self.size:
                        self._alive += 1
                        spawn = True
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._cond.wait(left)
            finally:
                self._waiting -= 1
        try:
            return self._spawn() if spawn else None
        except BaseException:
            with self._cond:
                self._alive -= 1
                self._cond.notify()
            raise

    def _checkin(self, worker: _Worker | None) -> None:
        """Give a worker back (None: it was killed; a new one may start in its place)."""
        with self._cond:
            if worker is None or self._closed:
                self._alive -= 1
            else:
                self._idle.append(worker)
            self._cond.notify()
        if worker is not None and self._closed:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
            worker.kill()

    def _spawn(self) -> _Worker:
        parent, child = self._mp.Pipe()
        process = self._mp.Process(target=worker_main, args=(child, *self._setup), daemon=True, name="opspack-worker")
        process.start()
        child.close()
        return _Worker(process, parent)

    # -- one job on one worker --------------------------------------------------------------
    def _run_admitted(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Reply:
        with self._cond:
            running = self._running[item.job]
        attempts = 2 if item.idempotent else 1  # an idempotent command may run again on a fresh worker
        reply: Reply | None = None
        for attempt in range(attempts):
            try:
                worker = self._checkout(running)
            except Exception as exc:  # noqa: BLE001 - answer the job, keep the runner
                log.error("cannot start a worker process: %s", exc)
                return failure("internal", f"No worker process could start: {exc}.", None, item.command)
            if worker is None:
                if running.cancelled:
                    return cancelled(item)
                return failure(
                    "busy",
                    f"{item.command} could not start within {self.limits.queue_timeout_s:g} s: "
                    f"all {self.size} workers were busy.",
                    "Try again in a moment ([jobs] workers and queue_timeout_s size the pool).",
                    item.command,
                )
            with self._cond:
                running.worker = worker
            if attempt == 0:
                with contextlib.suppress(Exception):
                    started()
            reply, healthy = self._drive(running, worker, progress)
            with self._cond:
                running.worker = None
            if healthy:
                self._checkin(worker)
                return reply
            worker.kill()
            self._checkin(None)
            lost = reply.error is not None and reply.error.kind == "interrupted"
            if not lost or running.cancelled:
                return reply
            if attempt + 1 < attempts:
                log.warning("job %s: its worker died; running it again on a fresh one", item.job)
        assert reply is not None
        return reply

    def _drive(self, running: _Running, worker: _Worker, progress: ProgressSink) -> tuple[Reply, bool]:
        """Run one item on ``worker``: (its reply, whether the worker can be used again)."""
        item = running.item
        try:
            worker.conn.send((item.job, item.command, item.args, item.caller_fields()))
        except (OSError, EOFError, ValueError) as exc:
            log.warning("worker process %s is gone before job %s: %s", worker.process.pid, item.job, exc)
            return self._lost(item), False
        deadline = time.monotonic() + item.timeout_s + GRACE_S
        while True:
            if running.cancelled:
                return cancelled(item), False
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    "job %s (%s) passed its %g s timeout: its worker is stopped", item.job, item.command, item.timeout_s
                )
                return timed_out(item), False
            try:
                if not worker.ready(min(left, 0.25)):
                    continue
                message = worker.conn.recv()
            except (OSError, EOFError):
                return self._lost(item), False
            if message[0] == "progress":
                with contextlib.suppress(Exception):
                    progress(message[1], message[2])
            elif message[0] == "done":
                return message[1], True

    def _lost(self, item: WorkItem) -> Reply:
        return failure(
            "interrupted",
            f"The worker running job {item.job} ({item.command}) died.",
            "It may have run in part: check, then run it again." if not item.idempotent else "Run it again.",
            item.command,
        )


def worker_main(conn: Any, registry_data: dict[str, Any], config_data: dict[str, Any], environ: dict[str, str]) -> None:
    """A worker process: run the items the runner sends until it sends None or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the runner's terminal is the runner's
    from opspack.registry import Registry
    from opspack.runtime import Runtime
    from opspack.settings import Config

    registry = Registry.from_data(registry_data) if registry_data else Registry.from_installed()
    runtime = Runtime(registry, config=Config(data=config_data, environ=environ), timeouts="signal")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            break
        if message is None:
            break
        job, command, args, caller = message

        def progress(text: str, percent: float | None) -> None:
            conn.send(("progress", text, percent))

        entry = registry.get(command)
        if entry is None:
            reply = Reply.failure(Error("internal", f"The worker does not know the command {command}.", None), command)
        else:
            reply = runtime.execute(WorkItem(job=job, entry=entry, args=args, **caller), progress)
        try:
            conn.send(("done", reply))
        except (OSError, ValueError):
            break
    runtime.close()


def for_runner(runtime: Runtime) -> Any:
    """The executor a long-running front-end (``opspack serve``, MCP, Slack) uses, from
    ``[jobs]``: Celery when a broker is named, else a pool of worker processes."""
    from opspack.jobs import JobsSettings

    config = runtime.config
    settings = JobsSettings.load(config.data, config.environ)
    if settings.broker:
        try:
            from opspack.celery_executor import executor_for  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            from opspack.errors import ConfigError

            raise ConfigError(
                f"[jobs] broker is set, but the Celery executor is not installed ({exc.name or exc})",
                "pip install 'opspack[celery]'",
            ) from None
        return executor_for(runtime, settings)
    if settings.executor == "threads":
        from opspack.jobs import Inline

        return Inline(runtime.execute)
    return Embedded(
        workers=settings.workers,
        per_user=settings.per_user,
        per_pack=settings.per_pack,
        queue_timeout_s=settings.queue_timeout_s,
        registry_data=runtime.registry.to_data(),
        config_data=config.data,
        environ=config.environ,
    )


__all__ = ["Embedded", "for_runner", "worker_main"]
