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

import asyncio
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
from opspack.threads import start_thread

if TYPE_CHECKING:
    from opspack.runtime import Runtime

log = logging.getLogger("opspack.executor")

#: seconds a worker process gets past a command's timeout before it is killed
GRACE_S = 2.0
#: seconds closing the pool waits for a worker being started
CLOSE_WAIT_S = 10.0


# -- worker processes ------------------------------------------------------------------
@dataclass
class _Limits:
    per_user: int = 4
    per_pack: int = 8
    queue_timeout_s: float = 10.0


@dataclass(eq=False, repr=False)
class _Worker:
    """One worker process and the pipe to it."""

    process: Any
    conn: Any
    poller: Any = None
    #: the pool's generation it was started in (a reload starts a new one)
    generation: int = 0

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
    #: wakes the call when the job is cancelled, whatever it waits on (thread-safe)
    wake: Callable[[], object] | None = None


@dataclass(eq=False, repr=False)
class _Waiter:
    """A call waiting for a worker, in line (first come, first served): a thread waits on
    its event, an event loop on its future."""

    event: threading.Event | None = None
    worker: _Worker | None = None
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[_Worker | None] | None = None
    #: taken out of the line (handed a worker, or abandoned)
    out: bool = False

    def take(self, worker: _Worker, give_back: Callable[[_Worker], None]) -> bool:
        """Hand ``worker`` over (under the pool's lock); False when this waiter is gone."""
        if self.event is not None:
            self.worker = worker
            self.event.set()
            return True
        assert self.loop is not None and self.future is not None
        future = self.future

        def deliver() -> None:
            if future.done():  # it stopped waiting meanwhile: the worker goes back
                give_back(worker)
            else:
                future.set_result(worker)

        try:
            self.loop.call_soon_threadsafe(deliver)
        except RuntimeError:  # its loop is closed
            return False
        return True

    def abandon(self) -> None:
        """Wake it with nothing (the pool is closing)."""
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and self.future is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(_settle, self.future, None)


#: what an event loop's checkout answers when a worker is to be started first
_START: Any = object()


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


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
        self._waiters: collections.deque[_Waiter] = collections.deque()  # calls waiting for a worker
        self._running: dict[int, _Running] = {}
        self._counts = _Counts()
        self._closed = False
        #: bumped by :meth:`reload`: workers of an older generation are replaced when free
        self._generation = 0
        #: threads starting workers: :meth:`close` waits for them, so that no worker is left
        #: half made (its process reading what this one no longer writes)
        self._starters: list[threading.Thread] = []
        if prestart:  # start the workers now, so the first calls do not wait for them
            self._start_workers(self._prestart)

    def _start_workers(self, how: Callable[[], object]) -> None:
        with self._cond:
            self._starters = [t for t in self._starters if t.is_alive()]
            self._starters.append(start_thread(how, name="opspack-workers-start"))

    def _prestart(self) -> None:
        """Start the whole pool now, so the first calls do not wait for it."""
        while self._replace():
            pass

    def _replace(self) -> bool:
        """Start one worker while the pool is short of one (at start, or in place of one that
        was killed), in the background, so calls waiting in line get it; False when the
        pool is full or closed, or the worker could not start."""
        with self._cond:
            if self._closed or self._alive >= self.size:
                return False
            self._alive += 1
        try:
            worker = self._spawn()
        except Exception as exc:  # noqa: BLE001 - the next call that needs one tries again
            log.warning("cannot start a worker process: %s", exc)
            with self._cond:
                self._alive -= 1
                waiters, self._waiters = self._waiters, collections.deque()
                for waiter in waiters:
                    waiter.out = True
            for waiter in waiters:  # no worker will come: they answer busy now, not at their timeout
                waiter.abandon()
            return False
        self._checkin(worker)
        return True

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
        return self._in_thread(item, progress, started)

    async def run_async(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Reply:
        """Run ``item`` and wait for its reply, from an event loop (``opspack serve``).

        When a worker is idle, the loop itself drives it: the item goes down the worker's
        pipe and the loop reads the pipe when it is readable, so no thread is woken for
        the call (the HTTP runner's hot path). Otherwise (all busy, a worker to start, a
        worker lost under an idempotent command) a thread waits as :meth:`submit`'s do.
        Progress and ``started`` are called on the loop's thread."""
        self._admit(item)
        with self._cond:
            running = self._running[item.job]
        try:
            worker = await self._checkout_async(running)
        except BaseException:
            with self._cond:
                self._release(item)
            raise
        if worker is _START:  # a worker is to be started first: a thread does it
            return await asyncio.wrap_future(self._in_thread(item, progress, started))
        if worker is None:
            with self._cond:
                self._release(item)
            return cancelled(item) if running.cancelled else self._busy(item)
        try:
            with self._cond:
                running.worker = worker
            with contextlib.suppress(Exception):
                started()
            reply, healthy = await self._drive_on_loop(running, worker, progress)
            with self._cond:
                running.worker = None
                running.wake = None
        except BaseException:
            with self._cond:
                self._release(item)
            self._discard(worker)
            raise
        if healthy:
            self._checkin(worker)
        else:
            self._discard(worker)
            lost = reply.error is not None and reply.error.kind == "interrupted"
            if lost and item.idempotent and not running.cancelled:
                log.warning("job %s: its worker died; running it again on a fresh one", item.job)
                return await asyncio.wrap_future(self._in_thread(item, progress, None, attempts=1))
        with self._cond:
            self._release(item)
        return reply

    def _in_thread(
        self,
        item: WorkItem,
        progress: ProgressSink,
        started: Callable[[], object] | None,
        attempts: int | None = None,
    ) -> Future[Reply]:
        """Run an admitted item from a thread of its own; releases it at the end."""
        future: Future[Reply] = Future()

        def drive() -> None:
            try:
                future.set_result(self._run_admitted(item, progress, started, attempts))
            except BaseException as exc:  # noqa: BLE001 - the job's future carries every failure
                future.set_exception(exc)
            finally:
                with self._cond:
                    self._release(item)

        start_thread(drive, name=f"opspack-job-{item.job}")
        return future

    async def _drive_on_loop(self, running: _Running, worker: _Worker, progress: ProgressSink) -> tuple[Reply, bool]:
        """:meth:`_drive` for an event loop: the pipe is read when the loop sees it readable."""
        item = running.item
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[Reply, bool]] = loop.create_future()

        def finish(result: tuple[Reply, bool]) -> None:
            if not done.done():
                done.set_result(result)

        def readable() -> None:
            try:
                while not done.done() and worker.ready(0):
                    message = worker.conn.recv()
                    if message[0] == "progress":
                        with contextlib.suppress(Exception):
                            progress(message[1], message[2])
                    elif message[0] == "done":
                        finish((message[1], True))
            except (OSError, EOFError):
                finish((self._lost(item), False))

        def stop() -> None:
            log.warning(
                "job %s (%s) passed its %g s timeout: its worker is stopped", item.job, item.command, item.timeout_s
            )
            finish((timed_out(item), False))

        fd = worker.conn.fileno()
        with self._cond:
            if running.cancelled:
                return cancelled(item), True
            running.wake = lambda: loop.call_soon_threadsafe(finish, (cancelled(item), False))
        try:
            worker.conn.send((item.job, item.command, item.args, item.caller_fields()))
        except (OSError, EOFError, ValueError) as exc:
            log.warning("worker process %s is gone before job %s: %s", worker.process.pid, item.job, exc)
            return self._lost(item), False
        loop.add_reader(fd, readable)
        timer = loop.call_later(item.timeout_s + GRACE_S, stop)
        try:
            return await done
        finally:
            timer.cancel()
            loop.remove_reader(fd)

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker that cannot be used again, off the caller's thread (it may be an
        event loop), and let a fresh one start in its place."""

        def discard() -> None:
            worker.kill()
            self._checkin(None)

        start_thread(discard, name="opspack-worker-stop")

    def cancel(self, job: int) -> bool:
        with self._cond:
            running = self._running.get(job)
            if running is None:
                return False
            running.cancelled = True
            wake = running.wake
        if wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nothing waits any more
                wake()
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            waiters, self._waiters = self._waiters, collections.deque()
            for waiter in waiters:
                waiter.out = True
            starters, self._starters = self._starters, []
        for waiter in waiters:
            waiter.abandon()
        for starter in starters:  # a worker being started is killed as it checks in (closed)
            if starter is not threading.current_thread():
                starter.join(CLOSE_WAIT_S)
        for worker in idle:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
            worker.kill()

    def busy_workers(self) -> list[_Worker]:
        """The worker processes running a job now."""
        with self._cond:
            return [r.worker for r in self._running.values() if r.worker is not None]

    def stats(self) -> dict[str, int]:
        """Calls waiting in line and running, idle workers and the pool's size (health checks, tests)."""
        with self._cond:
            running = sum(1 for r in self._running.values() if r.worker is not None)
            return {"queued": len(self._waiters), "running": running, "idle": len(self._idle), "workers": self.size}

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
        """An idle worker (started when fewer than ``size`` live), waiting in line up to the
        queue timeout; None when none became free in time or the job was cancelled meanwhile."""
        with self._cond:
            if self._closed or running.cancelled:
                return None
            if self._idle and not self._waiters:
                return self._idle.pop()
            spawn = self._alive < self.size
            if spawn:
                self._alive += 1
            else:
                event = threading.Event()
                waiter = _Waiter(event=event)
                self._waiters.append(waiter)
                running.wake = event.set
        if spawn:
            try:
                return self._spawn()
            except BaseException:
                with self._cond:
                    self._alive -= 1
                raise
        event.wait(self.limits.queue_timeout_s)
        with self._cond:
            running.wake = None
            handed = waiter.worker
            if not waiter.out:
                waiter.out = True
                self._waiters.remove(waiter)
        if handed is not None and running.cancelled:  # given just as it was cancelled: back it goes
            self._checkin(handed)
            return None
        return handed

    def reload(self, registry_data: Mapping[str, Any]) -> None:
        """The installed packs changed: workers started from now on get ``registry_data`` and
        import the packs anew. Idle workers are replaced now, busy ones when their call ends
        (it finishes on the code it started with)."""
        with self._cond:
            self._setup = (dict(registry_data), self._setup[1], self._setup[2])
            self._generation += 1
            old, self._idle = self._idle, []
            self._alive -= len(old)
            closed = self._closed
        for worker in old:
            _retire(worker)
        if not closed:
            self._start_workers(self._prestart)

    def _checkin(self, worker: _Worker | None) -> None:
        """Give a worker back to the first call in line, or to the idle ones (None: it was
        killed; a new one starts in its place; one from before a reload is replaced)."""
        stale = worker is not None and worker.generation != self._generation
        if stale:
            assert worker is not None
            _retire(worker)
            worker = None
        replace = False
        with self._cond:
            if worker is None or self._closed:
                self._alive -= 1
                replace = worker is None and not self._closed
            else:
                while self._waiters:
                    waiter = self._waiters.popleft()
                    waiter.out = True
                    if waiter.take(worker, self._checkin):
                        break
                else:
                    self._idle.append(worker)
        if worker is not None and self._closed:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
            worker.kill()
        if replace:
            self._start_workers(self._replace)

    def _spawn(self) -> _Worker:
        generation, setup = self._generation, self._setup
        parent, child = self._mp.Pipe()
        process = self._mp.Process(target=worker_main, args=(child, *setup), daemon=True, name="opspack-worker")
        process.start()
        child.close()
        return _Worker(process, parent, generation=generation)

    # -- one job on one worker --------------------------------------------------------------
    async def _checkout_async(self, running: _Running) -> _Worker | None:
        """:meth:`_checkout` for an event loop: an idle worker, or a place in line awaited up
        to the queue timeout; ``_START`` when a worker is to be started (a thread does that)."""
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._closed or running.cancelled:
                return None
            if self._idle and not self._waiters:
                return self._idle.pop()
            if self._alive < self.size:
                return _START  # type: ignore[no-any-return]
            future: asyncio.Future[_Worker | None] = loop.create_future()
            waiter = _Waiter(loop=loop, future=future)
            self._waiters.append(waiter)
            running.wake = lambda: loop.call_soon_threadsafe(_settle, future, None)
        try:
            return await asyncio.wait_for(future, self.limits.queue_timeout_s)
        except TimeoutError:
            return None
        finally:
            with self._cond:
                running.wake = None
                if not waiter.out:
                    waiter.out = True
                    self._waiters.remove(waiter)

    def _busy(self, item: WorkItem) -> Reply:
        return failure(
            "busy",
            f"{item.command} could not start within {self.limits.queue_timeout_s:g} s: "
            f"all {self.size} workers were busy.",
            "Try again in a moment ([jobs] workers and queue_timeout_s size the pool).",
            item.command,
        )

    def _run_admitted(
        self,
        item: WorkItem,
        progress: ProgressSink,
        started: Callable[[], object] | None,
        attempts: int | None = None,
    ) -> Reply:
        with self._cond:
            running = self._running[item.job]
        if attempts is None:
            attempts = 2 if item.idempotent else 1  # an idempotent command may run again on a fresh worker
        reply: Reply | None = None
        for attempt in range(attempts):
            try:
                worker = self._checkout(running)
            except Exception as exc:  # noqa: BLE001 - answer the job, keep the runner
                log.error("cannot start a worker process: %s", exc)
                return failure("internal", f"No worker process could start: {exc}.", None, item.command)
            if worker is None:
                return cancelled(item) if running.cancelled else self._busy(item)
            with self._cond:
                running.worker = worker
            if attempt == 0 and started is not None:
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


def _retire(worker: _Worker) -> None:
    """Ask a free worker to end (it exits when it reads None), and make sure it did."""
    with contextlib.suppress(Exception):
        worker.conn.send(None)
    worker.kill()


def worker_main(conn: Any, registry_data: dict[str, Any], config_data: dict[str, Any], environ: dict[str, str]) -> None:
    """A worker process: run the items the runner sends until it sends None or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the runner's terminal is the runner's
    from opspack.registry import Registry, refresh_imports

    refresh_imports()  # packs installed since the runner started (this process forked from an older one)
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
