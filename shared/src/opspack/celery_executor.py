"""Jobs on Celery workers over Redis: the runner's :class:`CeleryExecutor` and ``opspack worker``.

Chosen when ``OPSPACK_BROKER_URL`` (or ``[jobs] broker``) names a ``redis://`` URL; needs
``pip install 'opspack[celery]'`` (Celery is imported by this module only).

The runner and its workers share two things: the broker (Redis) and the audit trail's
database, which holds every job (:class:`~opspack.jobs.JobStore`). A call goes:

1. The runner's :class:`~opspack.runtime.Runtime` makes the job (``queued``); this executor
   counts the open jobs of the user and of the pack in the database (the bulkheads), writes
   the job and hands it over, then sends the task ``opspack.run`` with the work item as JSON
   to the queue of its pack, ``opspack.<pack>``: a slow vCenter never holds up Jenkins.
2. ``opspack worker --packs vmware,sql`` consumes those queues. Its task claims the job
   (a compare-and-set, ``queued`` → ``running``), runs it with
   :meth:`Runtime.execute <opspack.runtime.Runtime.execute>`, writes its progress to the
   job, then its audit record and its final state.
3. The runner reads the job back (5 ms after sending it, then less often, every 0.15 s at
   most): progress lines go to the
   caller, the final reply answers the call. A job no worker took within
   ``[jobs] queue_timeout_s`` ends ``busy`` (is a worker consuming ``opspack.<pack>``?).

Whoever ends a job writes its audit record: the worker for what it ran, the runner for a
job it cancelled or that never started.

What stops and what runs again:

- a command past its ``timeout_s``: the worker's runtime answers ``timeout`` (SIGALRM); one
  that swallows that is killed by Celery's hard time limit (``timeout_s + 5``) and its job
  ends ``failed`` with ``timeout``. No soft time limit: Celery's ``SoftTimeLimitExceeded`` is
  an ``Exception`` a client library may swallow or the runtime report as a bug, and it would
  race with the runtime's own timeout at the same instant.
- a worker process killed mid-job (``kill -9``, the OOM killer): messages are acknowledged
  late (``acks_late``) and given back when the process running them dies
  (``reject_on_worker_lost``); a whole worker that died leaves its unacknowledged messages in
  Redis, which hands them out again after ``[jobs] visibility_timeout_s`` (default 50 s; the
  transport looks for them every few seconds, so reserved jobs run elsewhere within a minute).
  A job delivered again whose worker is gone runs again only when its command is idempotent
  (twice at most); any other ends ``interrupted`` and is never run twice. A job delivered again
  while its worker still runs it (a command longer than the visibility timeout) is looked at
  again a few seconds later, so two runs never overlap.
- each worker beats a heartbeat in the database and reaps the jobs of workers that stopped
  beating (:meth:`JobStore.reap <opspack.jobs.JobStore.reap>`): idempotent ones are queued
  again for the message Redis gives back, the others end ``interrupted``. No job stays
  queued or running forever.
- Redis down: the call fails at once with a ``backend`` error naming the broker; the runner
  stays up and the workers reconnect; jobs go on when it is back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opspack.errors import BackendError, Busy, ConfigError, OpsError
from opspack.jobs import (
    HEARTBEAT_S,
    HOST_TIMEOUT_S,
    HOSTS,
    Job,
    JobsSettings,
    JobStore,
    ProgressSink,
    WorkItem,
    cancelled,
    failure,
    final_state,
    host_name,
    timed_out,
)
from opspack.results import Reply
from opspack.store import quote, redact
from opspack.threads import start_thread

if TYPE_CHECKING:
    from opspack.registry import Registry
    from opspack.runtime import Runtime
    from opspack.settings import Config

log = logging.getLogger("opspack.celery")

#: the one task a worker runs
TASK = "opspack.run"
#: seconds past a command's timeout before Celery kills the process running it
HARD_GRACE_S = 5.0
#: how often the runner reads the jobs it waits for: first after FIRST_LOOK_S, twice as
#: late each time up to POLL_S (a short job answers in milliseconds), SLOW_POLL_S later on
FIRST_LOOK_S = 0.005
POLL_S = 0.15
SLOW_POLL_S = 0.5
#: a job older than this (seconds) is read at the slower pace
FAST_FOR_S = 10.0
#: seconds between two looks at a job whose worker still runs it (a second delivery)
RECHECK_S = 5.0
#: how often a running job looks for a cancellation asked for elsewhere
CANCEL_POLL_S = 1.0
#: an idempotent job runs at most this often (its first run and one more after a worker died)
MAX_ATTEMPTS = 2
INSTALL_HINT = "pip install 'opspack[celery]'"


def queue_name(pack: str) -> str:
    """The Celery queue of a pack's jobs: ``opspack.<pack>``."""
    return f"opspack.{pack}"


def task_id(job: int) -> str:
    """The Celery task id of a job (to revoke it)."""
    return f"opspack-job-{job}"


def restore_interval(settings: JobsSettings) -> float:
    """Seconds between two looks of a worker for messages to give back after the visibility
    timeout (the Redis transport's ``unacked_restore_interval``, its throttle set to 1)."""
    return max(1.0, min(10.0, settings.visibility_timeout_s / 10))


def check_broker(url: str | None) -> str:
    """The broker URL when it is a Redis one; a :class:`ConfigError` saying what to set otherwise."""
    if not url:
        raise ConfigError(
            "Celery workers need a broker, and none is set.",
            "Set OPSPACK_BROKER_URL=redis://host:6379/0 (or `broker` in the [jobs] table of opspack.toml).",
        )
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("redis", "rediss"):
        raise ConfigError(
            f"The job broker must be Redis, not {redact(url)}.",
            "Set OPSPACK_BROKER_URL (or [jobs] broker) to redis://host:6379/0 or rediss://...",
        )
    return url


def _celery() -> Any:
    try:
        import celery  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        raise ConfigError("Jobs on Celery workers need Celery, which is not installed.", INSTALL_HINT) from None
    return celery


# -- what travels in a message -----------------------------------------------------------
def to_payload(item: WorkItem) -> dict[str, Any]:
    """A work item as JSON-safe data (a value JSON cannot carry travels as its text)."""
    return {
        "job": item.job,
        "entry": item.entry,
        "args": json.loads(json.dumps(item.args, default=str)),
        **{k: list(v) if isinstance(v, tuple) else v for k, v in item.caller_fields().items()},
        "reason": item.reason,
    }


def from_payload(data: dict[str, Any]) -> WorkItem:
    """The work item :func:`to_payload` sent (fields this version does not know are left out)."""
    known = {f.name for f in dataclasses.fields(WorkItem)}
    values = {k: v for k, v in data.items() if k in known}
    for name in ("roles", "groups"):
        values[name] = tuple(values.get(name) or ())
    return WorkItem(**values)


#: the final state of a job that answered a reply (kept for callers of this module)
state_of = final_state


def record(runtime: Runtime, job: Job, reply: Reply, item: WorkItem | None = None) -> None:
    """Add a job that ended outside the runner's own path to the audit trail (committed when
    this returns): its masked chat text, masked arguments when ``item`` is known, and the
    time since it was queued. Never raises: a failure is logged."""
    from opspack.audit import Record, error_kind
    from opspack.masking import declared_secrets, mask_args

    try:
        audit = runtime.audit
        if audit is None:
            return
        audit.record(
            Record(
                at=time.time(),
                user=job.user,
                channel=job.channel,
                frontend=job.frontend,
                command=job.command,
                text=job.text,
                args=mask_args(item.args, runtime.masker, declared_secrets(item.entry)) if item is not None else "{}",
                ok=reply.ok,
                error_kind=error_kind(reply),
                duration_ms=max(0.0, time.time() - job.created) * 1000,
                token=item.token if item is not None else None,
                approver=item.approved_by if item is not None else None,
                reason=item.reason if item is not None else None,
            )
        )
        audit.flush()
    except OpsError as exc:
        log.error("the audit trail cannot be opened: %s. %s", exc.message, exc.hint or "")
    except Exception:
        log.exception("recording job %s in the audit trail failed", job.id)


def _interrupted(item: WorkItem, host: str | None) -> Reply:
    return failure(
        "interrupted",
        f"The worker running job {item.job} ({item.command}) stopped ({host or 'unknown worker'}).",
        "It may have run in part: check, then run it again." if not item.idempotent else "Run it again.",
        item.command,
    )


# -- the app ----------------------------------------------------------------------------
def make_app(settings: JobsSettings) -> Any:
    """The Celery app runners and workers share: the broker, late acknowledgement, one
    message at a time per worker process, the visibility timeout and the task ``opspack.run``."""
    celery = _celery()
    broker = check_broker(settings.broker)
    app = celery.Celery("opspack", broker=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        # the jobs table is where results go: no result backend
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # a hard time limit ends the job (failed, timeout): it is acknowledged, never run again
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": restore_interval(settings),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 5,
        },
        # Redis down: fail within about a second, so the runner answers instead of hanging
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5},
    )

    def run(task: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Run one job on this worker (see the module's documentation)."""
        return _run(task, from_payload(payload))

    app.task(
        name=TASK,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        acks_on_failure_or_timeout=True,
        max_retries=None,
        ignore_result=True,
        Request=_request_class(),
    )(run)
    return app


def _request_class() -> type:
    """Celery's request with hooks in the worker's main process: when the process running a
    job dies or passes its hard time limit, the job's end is written before Celery gives the
    message back or acknowledges it."""
    from celery.exceptions import TimeLimitExceeded, WorkerLostError  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from celery.worker.request import Request  # type: ignore[import-untyped, import-not-found, unused-ignore]

    class JobRequest(Request):  # type: ignore[misc, valid-type, unused-ignore]
        def on_timeout(self, soft: bool, timeout: float) -> None:
            if not soft:
                _after_process_end(self, timed_out_=True)
            super().on_timeout(soft, timeout)

        def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> None:
            exc = getattr(exc_info, "exception", None)
            exc = getattr(exc, "exc", exc)  # billiard's ExceptionWithTraceback
            if isinstance(exc, TimeLimitExceeded):
                _after_process_end(self, timed_out_=True)
            elif isinstance(exc, WorkerLostError):
                _after_process_end(self, timed_out_=False)
            super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    return JobRequest


# -- the runner's side --------------------------------------------------------------------
@dataclass
class _Watch:
    """A job this runner waits for."""

    item: WorkItem
    progress: ProgressSink
    started: Callable[[], object]
    future: Future[Reply]
    since: float = field(default_factory=time.monotonic)
    seen: int = 0
    running: bool = False
    looks: int = 0
    next_look: float = field(default_factory=lambda: time.monotonic() + FIRST_LOOK_S)

    def delay(self, now: float) -> float:
        """Seconds until the next look."""
        if now - self.since >= FAST_FOR_S:
            return SLOW_POLL_S
        return min(POLL_S, FIRST_LOOK_S * 2.0**self.looks)


class CeleryExecutor:
    """Runs work items on Celery workers (``opspack worker``); see the module's documentation.

    Made by :func:`executor_for`. The runtime's jobs must live in a database the workers
    share (the audit trail on PostgreSQL, or an SQLite file on one host)."""

    #: the workers end each job and write its audit record; the runtime only answers
    ends_jobs = True

    def __init__(self, runtime: Runtime, settings: JobsSettings, *, app: Any = None) -> None:
        self.runtime = runtime
        self.settings = settings
        self.broker = check_broker(settings.broker)
        self.app = app if app is not None else make_app(settings)
        self._lock = threading.Lock()
        self._watching: dict[int, _Watch] = {}
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._beaten = -HEARTBEAT_S
        self._thread = start_thread(self._follow, name="opspack-celery-jobs")

    # -- the interface ----------------------------------------------------------------
    def submit(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Future[Reply]:
        """Count the bulkheads, hand the job to the queue of its pack, follow it."""
        if self._closed.is_set():
            raise Busy("The runner is shutting down.", "Try again in a moment.")
        jobs = self.runtime.jobs
        self._limits(item, jobs)
        self._beat()  # the job is queued under this runner's name: it must be seen alive
        jobs.release(item.job)  # in the database now; from here on the worker writes it
        try:
            self.app.send_task(
                TASK,
                args=[to_payload(item)],
                queue=queue_name(item.pack),
                task_id=task_id(item.job),
                time_limit=item.timeout_s + HARD_GRACE_S,
            )
        except Exception as exc:  # noqa: BLE001 - whatever the broker's client raises, the call fails cleanly
            error = BackendError(
                f"The job broker {redact(self.broker)} cannot be reached ({type(exc).__name__}: {exc}); "
                f"{item.command} did not run.",
                "Check that Redis runs there (OPSPACK_BROKER_URL or [jobs] broker); "
                "the runner keeps going and jobs go through again once it answers.",
            )
            jobs.end(item.job, "failed", Reply.failure(error.to_error(), item.command).to_dict())
            raise error from None
        future: Future[Reply] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._watching[item.job] = _Watch(item, progress, started, future)
        self._wake.set()
        return future

    def cancel(self, job: int) -> bool:
        """Cancel a queued or running job (of any runner): it ends ``cancelled`` and the
        worker process running it, if any, is killed."""
        jobs = self.runtime.jobs
        current = jobs.get(job)
        if current is None or current.final:
            return False
        jobs.request_cancel(job)  # a worker that has not taken it yet will not
        with self._lock:
            watch = self._watching.get(job)
        item = watch.item if watch is not None else None
        reply = (
            cancelled(item)
            if item is not None
            else failure("cancelled", f"Job {job} ({current.command}) was cancelled.", None, current.command)
        )
        if not jobs.end(job, "cancelled", reply.to_dict()):
            return False
        record(self.runtime, current, reply, item)
        if current.state == "running":  # one a worker takes meanwhile stops itself (it reads the cancellation)
            try:
                self.app.control.revoke(task_id(job), terminate=True, signal="SIGKILL")
            except Exception as exc:  # noqa: BLE001 - its worker sees the cancellation in the database too
                log.warning("job %s: could not tell the workers to stop it: %s", job, exc)
        self._wake.set()
        return True

    def close(self) -> None:
        """Stop following jobs; the callers still waiting get a reply that says so (the jobs
        go on on their workers)."""
        self._closed.set()
        self._wake.set()
        self._thread.join(5)
        with self._lock:
            waiting, self._watching = list(self._watching.values()), {}
        for watch in waiting:
            if not watch.future.done():
                watch.future.set_result(
                    failure(
                        "busy",
                        f"The runner stopped while job {watch.item.job} ({watch.item.command}) was on a worker.",
                        f"`job {watch.item.job}` shows how it ended.",
                        watch.item.command,
                    )
                )

    def stats(self) -> dict[str, int]:
        """The jobs this runner waits for (health checks and tests)."""
        with self._lock:
            return {"waiting": len(self._watching)}

    # -- the steps -------------------------------------------------------------------------
    def _limits(self, item: WorkItem, jobs: JobStore) -> None:
        """The bulkheads, counted over every runner's queued and running jobs (this one included)."""
        if jobs.count_open(user=item.user) > self.settings.per_user:
            raise Busy(
                f"{item.user} already has {self.settings.per_user} commands queued or running "
                f"(the per-user limit, [jobs] per_user).",
                "Wait for one to finish (`jobs` lists them), or cancel one with `job cancel <id>`.",
            )
        if jobs.count_open(pack=item.pack) > self.settings.per_pack:
            raise Busy(
                f"The {item.pack} pack already has {self.settings.per_pack} commands queued or running "
                f"(the per-pack limit, [jobs] per_pack).",
                "Try again when some have finished.",
            )

    def _beat(self) -> None:
        """This runner's heartbeat, at most every :data:`~opspack.jobs.HEARTBEAT_S`: the jobs
        it queued carry its name, and a worker ends the queued jobs of a runner not seen."""
        with self._lock:
            if time.monotonic() - self._beaten < HEARTBEAT_S:
                return
            self._beaten = time.monotonic()
        self.runtime.jobs.heartbeat()

    def _follow(self) -> None:
        """Read the jobs this runner waits for until it closes; beat its heartbeat meanwhile."""
        pause = POLL_S
        while not self._closed.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            with self._lock:
                watches = list(self._watching.values())
            pause = POLL_S
            if not watches:
                continue
            now = time.monotonic()
            try:
                self._beat()
            except Exception as exc:  # noqa: BLE001 - a database hiccup: the next beat may pass
                log.warning("job heartbeat failed: %s", exc)
            for watch in watches:
                if now < watch.next_look:
                    continue
                try:
                    self._look(watch, now)
                except Exception as exc:  # noqa: BLE001 - keep following the others
                    log.warning("reading job %s failed: %s", watch.item.job, exc)
                watch.next_look = now + watch.delay(now)
                watch.looks += 1
            soonest = min((w.next_look for w in watches if not w.future.done()), default=now + POLL_S)
            pause = min(POLL_S, max(0.005, soonest - time.monotonic()))

    def _look(self, watch: _Watch, now: float) -> None:
        item = watch.item
        job = self.runtime.jobs.get(item.job)
        if job is None:
            return
        for line in job.progress[watch.seen :]:
            with contextlib.suppress(Exception):
                watch.progress(line.message, line.percent)
        watch.seen = len(job.progress)
        if job.state == "running" and not watch.running:
            watch.running = True
            with contextlib.suppress(Exception):
                watch.started()
        if job.final:
            self._done(watch, Reply.from_dict(job.reply) if job.reply else _interrupted(item, job.host))
        elif job.state == "queued" and job.attempts == 0 and now - watch.since > self.settings.queue_timeout_s:
            reply = failure(
                "busy",
                f"{item.command} did not start within {self.settings.queue_timeout_s:g} s: no worker took it "
                f"from the queue {queue_name(item.pack)}.",
                f"Is a worker for the {item.pack} pack running (`opspack worker --packs {item.pack}`)? "
                "If they are all busy, try again in a moment ([jobs] queue_timeout_s).",
                item.command,
            )
            if self.runtime.jobs.end(item.job, "failed", reply.to_dict(), only_from=("queued",)):
                record(self.runtime, job, reply, item)
                self._done(watch, reply)

    def _done(self, watch: _Watch, reply: Reply) -> None:
        with self._lock:
            self._watching.pop(watch.item.job, None)
        if not watch.future.done():
            watch.future.set_result(reply)


def executor_for(runtime: Runtime, settings: JobsSettings) -> CeleryExecutor:
    """The runner's executor when ``settings.broker`` is set: checks that Celery is installed,
    that the broker is Redis and that the runtime's jobs are in a database workers can share."""
    _celery()
    check_broker(settings.broker)
    audit = runtime.audit
    if audit is None or _private_database(audit.database.url):
        raise ConfigError(
            "Jobs on Celery workers need a database the runner and its workers share, and the audit trail is "
            + ("off." if audit is None else "in this process's memory."),
            "Set OPSPACK_AUDIT_URL to a PostgreSQL database (or an SQLite file, with the workers on this host).",
        )
    return CeleryExecutor(runtime, settings)


def _private_database(url: str) -> bool:
    return url in ("sqlite://", "sqlite:///:memory:")


# -- the worker's side -----------------------------------------------------------------------
@dataclass
class _Setup:
    """What ``opspack worker`` decided, inherited by its pool's processes."""

    registry: Registry
    config: Config
    settings: JobsSettings
    #: the name every job of this worker carries, its heartbeat's (the main process's)
    host: str


@dataclass
class _Process:
    """One worker process's runtime and job store (made in each process, after the fork)."""

    runtime: Runtime
    store: JobStore


_setup: _Setup | None = None
_processes: dict[int, _Process] = {}
_processes_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _processes_lock
    _processes_lock = threading.Lock()  # a lock another thread held at the fork stays held otherwise


os.register_at_fork(after_in_child=_after_fork_in_child)


def _process() -> _Process:
    """This process's runtime and job store, made on first use."""
    pid = os.getpid()
    with _processes_lock:
        state = _processes.get(pid)
        if state is not None:
            return state
        if _setup is None:
            raise ConfigError("This process was not started by `opspack worker`.")
        from opspack.runtime import Runtime

        runtime = Runtime(_setup.registry, config=_setup.config, timeouts="signal")
        audit = runtime.audit
        if audit is None:
            raise ConfigError("opspack worker needs the audit database, and the audit trail is off.")
        state = _Process(runtime, JobStore(audit.database, host=_setup.host, beat=False))
        _processes[pid] = state
        return state


def _host_alive(store: JobStore, host: str | None) -> bool:
    """Whether the worker named ``host`` runs: on this machine, whether its process exists;
    elsewhere, whether its heartbeat is recent."""
    if not host:
        return False
    machine, _, rest = host.partition(":")
    pid = rest.partition(":")[0]
    if machine == socket.gethostname() and pid.isdigit():
        return _pid_alive(int(pid))
    seen = store.database.scalar(f"SELECT seen FROM {quote(HOSTS.name)} WHERE name = ?", (host,))  # noqa: S608
    return seen is not None and float(seen) >= time.time() - HOST_TIMEOUT_S


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")  # a zombie is gone
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _run(task: Any, item: WorkItem) -> dict[str, Any] | None:
    """The task: claim the job, or decide what a second delivery means; then run it."""
    proc = _process()
    job = proc.store.claim(item.job)
    if job is None:
        job = _second_delivery(task, proc, item)
        if job is None:
            return None
    return _execute(proc, item, job)


def _second_delivery(task: Any, proc: _Process, item: WorkItem) -> Job | None:
    """The job could not be claimed: it ended, was cancelled, or another worker took it.
    Returns the job when it is to run here after all (an idempotent job whose worker died)."""
    store = proc.store
    current = store.get(item.job)
    if current is None:
        log.error(
            "job %s is not in the database %s: do the runner and this worker share the audit database?",
            item.job,
            redact(store.database.url),
        )
        return None
    if current.final:
        return None
    if current.state == "queued":  # a cancellation was asked for before any worker took it
        reply = cancelled(item)
        if store.end(item.job, "cancelled", reply.to_dict(), only_from=("queued",)):
            record(proc.runtime, current, reply, item)
        return None
    if _host_alive(store, current.host):
        # delivered again while its worker still runs it (it outlived the visibility timeout):
        # look again later, so the job is not lost if that worker dies
        log.info("job %s still runs on %s; looking again in %g s", item.job, current.host, _recheck_s())
        raise task.retry(countdown=_recheck_s())
    if item.idempotent and current.attempts < MAX_ATTEMPTS and not current.cancel:
        store.requeue(item.job, host=current.host)
        job = store.claim(item.job)
        if job is not None:
            log.warning("job %s (%s): its worker %s stopped; running it again", item.job, item.command, current.host)
        return job
    reply = _interrupted(item, current.host)
    if store.end(item.job, "interrupted", reply.to_dict(), only_from=("running",), host=current.host):
        log.warning("job %s (%s): its worker %s stopped; it ends interrupted", item.job, item.command, current.host)
        record(proc.runtime, current, reply, item)
    return None


def _recheck_s() -> float:
    # under the visibility timeout, or the waiting message itself is handed out again
    settings = _setup.settings if _setup is not None else JobsSettings()
    return max(0.5, min(RECHECK_S, settings.visibility_timeout_s / 2))


def _execute(proc: _Process, item: WorkItem, job: Job) -> dict[str, Any]:
    """Run a claimed job: progress to the job store, then the audit record, then its end."""
    runtime, store = proc.runtime, proc.store
    finishing = threading.Event()
    start_thread(_watch_cancel, proc, item, job, finishing, name="opspack-cancel")

    def progress(message: str, percent: float | None) -> None:
        store.report(item.job, runtime.masker(message), percent)

    try:
        reply = runtime.execute(item, progress)
    finally:
        finishing.set()
    # the record is committed before the job's end is visible: what was answered is durable
    record(runtime, job, reply, item)
    if not store.end(item.job, state_of(reply), reply.to_dict(), only_from=("running",), host=store.host):
        log.warning("job %s (%s) had already ended elsewhere (cancelled?)", item.job, item.command)
    store.release(item.job)
    return reply.to_dict()


def _watch_cancel(proc: _Process, item: WorkItem, job: Job, finishing: threading.Event) -> None:
    """Stop this process when someone asks to cancel the job it runs (a runner without this
    executor only marks it in the database)."""
    while not finishing.wait(CANCEL_POLL_S):
        try:
            if not proc.store.cancel_requested(item.job):
                continue
        except Exception as exc:  # noqa: BLE001 - a database hiccup: look again
            log.debug("job %s: cannot read its cancellation: %s", item.job, exc)
            continue
        if finishing.is_set():
            return
        reply = cancelled(item)
        if proc.store.end(item.job, "cancelled", reply.to_dict(), only_from=("running",), host=proc.store.host):
            record(proc.runtime, job, reply, item)
        if finishing.is_set():
            return
        log.warning("job %s (%s) is cancelled: stopping the process running it", item.job, item.command)
        os.kill(os.getpid(), signal.SIGKILL)


def _after_process_end(request: Any, *, timed_out_: bool) -> None:
    """In the worker's main process, when the process running a job passed its hard time
    limit or died: end the job (timeout; interrupted) or queue it again (idempotent), before
    Celery acknowledges the message or gives it back."""
    try:
        item = from_payload(request.args[0])
        proc = _process()
        store = proc.store
        job = store.get(item.job)
        accepted = getattr(request, "time_start", None)
        if job is None or job.state != "running" or job.host != store.host or accepted is None:
            return
        if job.started is None or job.started < float(accepted) - 1.0:
            return  # that process had not taken this job (a second delivery it was looking at)
        if timed_out_:
            reply = timed_out(item)
            log.warning("job %s (%s) passed its hard time limit: its process was stopped", item.job, item.command)
            if store.end(item.job, "failed", reply.to_dict(), only_from=("running",), host=store.host):
                record(proc.runtime, job, reply, item)
        elif item.idempotent and job.attempts < MAX_ATTEMPTS and not job.cancel:
            log.warning("job %s (%s): the process running it died; it runs again", item.job, item.command)
            store.requeue(item.job, host=store.host)  # Celery gives the message back at once
        else:
            reply = _interrupted(item, store.host)
            log.warning("job %s (%s): the process running it died; it ends interrupted", item.job, item.command)
            if store.end(item.job, "interrupted", reply.to_dict(), only_from=("running",), host=store.host):
                record(proc.runtime, job, reply, item)
    except Exception:
        log.exception("ending the job of a worker process that stopped failed")


def _rerun(job: Job) -> bool:
    return job.idempotent and job.attempts < MAX_ATTEMPTS and not job.cancel


def _beat(stop: threading.Event) -> None:
    """The worker's heartbeat; each beat also reaps the jobs of workers that stopped."""
    while not stop.wait(HEARTBEAT_S):
        try:
            _beat_once()
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the heartbeat
            log.warning("job heartbeat failed: %s", exc)


def _beat_once() -> None:
    proc = _process()
    store = proc.store
    store.heartbeat()
    for job_id in store.reap(rerun=_rerun):
        ended = store.get(job_id)
        if ended is not None and ended.reply is not None:
            record(proc.runtime, ended, Reply.from_dict(ended.reply))
    settings = _setup.settings if _setup is not None else JobsSettings()
    # queued again after a worker died, and no message came back for it (Redis lost it)
    now = time.time()
    for job in store.find(states=["queued"], limit=500):
        if job.host is not None or job.attempts < 1 or job.started is None:
            continue
        patience = job.timeout_s + HARD_GRACE_S + HOST_TIMEOUT_S + 2 * settings.visibility_timeout_s + 60
        if job.started + patience < now:
            reply = failure(
                "interrupted",
                f"Job {job.id} ({job.command}) was to run again after its worker stopped, and no worker took it.",
                "Run it again.",
                job.command,
            )
            if store.end(job.id, "interrupted", reply.to_dict(), only_from=("queued",)):
                record(proc.runtime, job, reply)


def run_worker(
    registry: Registry,
    *,
    packs: Sequence[str] | None = None,
    concurrency: int | None = None,
    loglevel: str = "info",
    config: Config | None = None,
) -> int:
    """``opspack worker``: a Celery worker for the queues of ``packs`` (default every pack
    in ``registry``) until it is stopped (SIGTERM or Ctrl-C: running jobs finish first)."""
    global _setup
    from opspack.audit import default_url
    from opspack.settings import Config

    config = config or Config.load()
    settings = JobsSettings.load(config.data, config.environ)
    check_broker(settings.broker)
    _celery()
    url = default_url(config.data, config.environ)
    if url is None or _private_database(url):
        raise ConfigError(
            "opspack worker needs the audit database the runner uses: jobs and their audit records are kept there.",
            "Set OPSPACK_AUDIT_URL (or [audit] url) to the runner's: a PostgreSQL database, or its SQLite file.",
        )
    known = [p["name"] for p in registry.packs]
    wanted = list(dict.fromkeys(packs or known))
    unknown = [p for p in wanted if p not in known]
    if unknown or not wanted:
        raise ConfigError(
            f"No pack named {', '.join(unknown)} is installed." if unknown else "No pack is installed.",
            f"Installed: {', '.join(known) or 'none'}.",
        )
    if concurrency is not None and concurrency < 1:
        raise ConfigError("--concurrency must be at least 1.")
    _setup = _Setup(registry, config, settings, host_name())
    app = make_app(settings)
    queues = [queue_name(p) for p in wanted]
    main = _process()  # the main process's store: its heartbeat names this worker
    main.store.heartbeat()  # seen alive before it takes a job
    stop = threading.Event()
    beat = start_thread(_beat, stop, name="opspack-worker-heartbeat")
    log.info("opspack worker %s: queues %s, broker %s", _setup.host, ", ".join(queues), redact(settings.broker or ""))
    options: dict[str, Any] = {
        "hostname": f"opspack-{os.getpid()}@{socket.gethostname()}",
        "queues": queues,
        "loglevel": loglevel.upper(),
        "optimization": "fair",
        "without_gossip": True,
        "without_mingle": True,
        "without_heartbeat": True,
    }
    if concurrency is not None:
        options["concurrency"] = concurrency
    worker = app.Worker(**options)
    try:
        worker.start()
    finally:
        stop.set()
        beat.join(5)
        main.store.close()
        main.runtime.close()
    return int(worker.exitcode or 0)


__all__ = [
    "HARD_GRACE_S",
    "TASK",
    "CeleryExecutor",
    "check_broker",
    "executor_for",
    "from_payload",
    "make_app",
    "queue_name",
    "run_worker",
    "state_of",
    "task_id",
    "to_payload",
]
