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
from opspack.results import Reply

if TYPE_CHECKING:
    from opspack.runtime import Runtime

log = logging.getLogger("opspack.executor")

#: seconds a worker process gets past a command's timeout before it is killed
GRACE_S = 2.0


# -- worker processes ------------------------------------------------------------------
@dataclass
class _Task:
    item: WorkItem
    progress: ProgressSink
    started: Callable[[], object]
    future: Future[Reply]
    start_by: float
    cancelled: bool = False


@dataclass
class _Limits:
    per_user: int = 4
    per_pack: int = 8
    queue_timeout_s: float = 10.0


@dataclass
class _Worker:
    """One worker process and the pipe to it."""

    process: Any
    conn: Any

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()


@dataclass
class _Counts:
    users: collections.Counter[str] = field(default_factory=collections.Counter)
    packs: collections.Counter[str] = field(default_factory=collections.Counter)


class Embedded:
    """A pool of worker processes in the runner; see the module's documentation."""

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
        self._pending: collections.deque[_Task] = collections.deque()
        self._running: dict[int, tuple[_Task, _Worker | None]] = {}
        self._counts = _Counts()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._slot, name=f"opspack-worker-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    # -- the interface ----------------------------------------------------------------
    def submit(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Future[Reply]:
        future: Future[Reply] = Future()
        with self._cond:
            if self._closed:
                raise Busy("The runner is shutting down.", "Try again in a moment.")
            if self._counts.users[item.user] >= self.limits.per_user:
                raise Busy(
                    f"{item.user} already has {self.limits.per_user} commands queued or running "
                    f"(the per-user limit, [jobs] per_user).",
                    "Wait for one to finish (`jobs` lists them), or cancel one with `job cancel <id>`.",
                )
            if self._counts.packs[item.pack] >= self.limits.per_pack:
                raise Busy(
                    f"The {item.pack} pack already has {self.limits.per_pack} commands queued or running "
                    f"(the per-pack limit, [jobs] per_pack).",
                    "Try again when some have finished.",
                )
            self._counts.users[item.user] += 1
            self._counts.packs[item.pack] += 1
            self._pending.append(_Task(item, progress, started, future, time.monotonic() + self.limits.queue_timeout_s))
            self._cond.notify()
        return future

    def cancel(self, job: int) -> bool:
        with self._cond:
            for task in self._pending:
                if task.item.job == job:
                    self._pending.remove(task)
                    self._release(task.item)
                    task.future.set_result(cancelled(task.item))
                    return True
            running = self._running.get(job)
            if running is None:
                return False
            task, _ = running
            task.cancelled = True
            self._cond.notify_all()
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for task in self._pending:
                task.future.set_result(
                    failure("busy", "The runner stopped before the command started.", None, task.item.command)
                )
            self._pending.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(5)

    def busy_workers(self) -> list[_Worker]:
        """The worker processes running a job now."""
        with self._cond:
            return [w for _, w in self._running.values() if w is not None]

    def stats(self) -> dict[str, int]:
        """Queued and running jobs, for health checks and tests."""
        with self._cond:
            return {"queued": len(self._pending), "running": len(self._running), "workers": self.size}

    # -- the slots --------------------------------------------------------------------------
    def _release(self, item: WorkItem) -> None:
        self._counts.users[item.user] -= 1
        if self._counts.users[item.user] <= 0:
            del self._counts.users[item.user]
        self._counts.packs[item.pack] -= 1
        if self._counts.packs[item.pack] <= 0:
            del self._counts.packs[item.pack]

    def _next(self) -> _Task | None:
        with self._cond:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                while self._pending:
                    task = self._pending.popleft()
                    if task.start_by >= now:
                        self._running[task.item.job] = (task, None)
                        return task
                    self._release(task.item)
                    task.future.set_result(
                        failure(
                            "busy",
                            f"{task.item.command} could not start within {self.limits.queue_timeout_s:g} s: "
                            f"all {self.size} workers were busy.",
                            "Try again in a moment ([jobs] workers and queue_timeout_s set the pool).",
                            task.item.command,
                        )
                    )
                self._cond.wait(1.0)

    def _spawn(self) -> _Worker:
        parent, child = self._mp.Pipe()
        process = self._mp.Process(target=worker_main, args=(child, *self._setup), daemon=True, name="opspack-worker")
        process.start()
        child.close()
        return _Worker(process, parent)

    def _slot(self) -> None:
        worker: _Worker | None = None
        while True:
            task = self._next()
            if task is None:
                break
            if worker is None or not worker.process.is_alive():
                try:
                    worker = self._spawn()
                except Exception as exc:  # noqa: BLE001 - answer the job, keep the slot
                    log.error("cannot start a worker process: %s", exc)
                    self._done(
                        task, failure("internal", f"No worker process could start: {exc}.", None, task.item.command)
                    )
                    worker = None
                    continue
            with self._cond:
                self._running[task.item.job] = (task, worker)
            with contextlib.suppress(Exception):
                task.started()
            reply, healthy = self._run(task, worker)
            if not healthy:
                worker.kill()
                worker = None
                lost = reply.error is not None and reply.error.kind == "interrupted"
                if lost and task.item.idempotent and not task.cancelled:
                    # an idempotent command is safe to run again: once, on a fresh worker
                    log.warning("job %s: its worker died; running it again", task.item.job)
                    try:
                        worker = self._spawn()
                        with self._cond:
                            self._running[task.item.job] = (task, worker)
                        reply, healthy = self._run(task, worker)
                    except Exception as exc:  # noqa: BLE001
                        log.error("cannot start a worker process: %s", exc)
                    if not healthy and worker is not None:
                        worker.kill()
                        worker = None
            self._done(task, reply)
        if worker is not None:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
            worker.kill()

    def _done(self, task: _Task, reply: Reply) -> None:
        with self._cond:
            self._running.pop(task.item.job, None)
            self._release(task.item)
        task.future.set_result(reply)

    def _run(self, task: _Task, worker: _Worker) -> tuple[Reply, bool]:
        """Run one task on ``worker``: (its reply, whether the worker can be used again)."""
        item = task.item
        try:
            worker.conn.send(item)
        except (OSError, EOFError, ValueError) as exc:
            log.warning("worker process %s is gone before job %s: %s", worker.process.pid, item.job, exc)
            return self._lost(item), False
        deadline = time.monotonic() + item.timeout_s + GRACE_S
        while True:
            if task.cancelled:
                return cancelled(item), False
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    "job %s (%s) passed its %g s timeout: its worker is stopped", item.job, item.command, item.timeout_s
                )
                return timed_out(item), False
            try:
                ready = worker.conn.poll(min(left, 0.25))
                if not ready:
                    continue
                message = worker.conn.recv()
            except (OSError, EOFError):
                return self._lost(item), False
            kind = message[0]
            if kind == "progress":
                with contextlib.suppress(Exception):
                    task.progress(message[1], message[2])
            elif kind == "done":
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
            item = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            break
        if item is None:
            break

        def progress(message: str, percent: float | None, job: int = item.job) -> None:
            conn.send(("progress", message, percent))

        reply = runtime.execute(item, progress)
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
