"""Jobs: every invocation has an id, a state and its progress, kept in the audit trail's database.

States: ``queued`` → ``running`` → ``succeeded`` | ``failed`` | ``interrupted`` | ``cancelled``
(a queued job may also be cancelled, or fail ``busy`` when it could not start in time).

:class:`JobStore` keeps the jobs of this process in memory while they live and writes them
behind, in batches (a burst of short jobs costs one transaction, not three writes each),
to the tables ``opspack_jobs`` and ``opspack_job_progress`` of the audit trail's database
(SQLite or PostgreSQL), where every runner and worker sharing the database reads them.
Ids are integers handed out in blocks (``opspack_job_ids``), so runners never clash and a
person can type ``job 42``. Each process that runs jobs beats a heartbeat
(``opspack_job_hosts``); jobs of a host not seen for :data:`HOST_TIMEOUT_S` that are still
queued or running end ``interrupted`` (:meth:`JobStore.reap`), so no job stays open forever.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from opspack.results import Error, Reply
from opspack.store import Column, Database, Table, Transaction, quote
from opspack.threads import start_thread

if TYPE_CHECKING:
    from opspack.registry import Entry

log = logging.getLogger("opspack.jobs")

JobState = Literal["queued", "running", "succeeded", "failed", "interrupted", "cancelled"]
STATES: tuple[JobState, ...] = ("queued", "running", "succeeded", "failed", "interrupted", "cancelled")
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "interrupted", "cancelled"})
#: ids reserved at a time by one process
ID_BLOCK = 100
#: a host (runner or worker process) whose heartbeat is older than this is gone
HOST_TIMEOUT_S = 30.0
#: how often a host beats its heartbeat
HEARTBEAT_S = 5.0
#: progress lines kept per job (later ones are dropped)
MAX_PROGRESS = 1000
#: how long a failed write of job rows waits before the writer tries again (seconds)
RETRY_WRITE_S = 0.5

JOBS = Table(
    "opspack_jobs",
    (
        Column("id", "BIGINT", nullable=False, primary_key=True),
        Column("command", "VARCHAR(200)"),
        Column("pack", "VARCHAR(100)"),
        Column("user", "VARCHAR(200)", nullable=False, index=True),
        Column("channel", "VARCHAR(200)"),
        Column("frontend", "VARCHAR(50)", nullable=False),
        Column("text", "TEXT"),
        Column("state", "VARCHAR(20)", nullable=False, index=True),
        Column("created", "FLOAT", nullable=False, index=True),
        Column("started", "FLOAT"),
        Column("finished", "FLOAT"),
        Column("reply", "TEXT"),
        Column("idempotent", "BOOLEAN", nullable=False),
        Column("timeout_s", "FLOAT", nullable=False),
        Column("host", "VARCHAR(200)"),
        Column("attempts", "INTEGER", nullable=False),
        Column("cancel", "BOOLEAN", nullable=False),
    ),
)
PROGRESS = Table(
    "opspack_job_progress",
    (
        Column("job", "BIGINT", nullable=False, index=True),
        Column("seq", "INTEGER", nullable=False),
        Column("at", "FLOAT", nullable=False),
        Column("message", "TEXT", nullable=False),
        Column("percent", "FLOAT"),
    ),
)
IDS = Table(
    "opspack_job_ids",
    (Column("name", "VARCHAR(50)", nullable=False, primary_key=True), Column("next", "BIGINT", nullable=False)),
)
HOSTS = Table(
    "opspack_job_hosts",
    (Column("name", "VARCHAR(200)", nullable=False, primary_key=True), Column("seen", "FLOAT", nullable=False)),
)
_JOB_COLUMNS = JOBS.column_names
_SELECT = f"SELECT {', '.join(quote(c) for c in _JOB_COLUMNS)} FROM {quote(JOBS.name)}"


def _iso(at: float | None) -> str | None:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds") if at else None


@dataclass(slots=True)
class ProgressLine:
    """One progress report of a job."""

    at: float
    message: str
    percent: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "message": self.message, "percent": self.percent}


@dataclass
class Job:
    """One invocation: what runs, for whom, where it stands and, when final, its reply."""

    id: int
    command: str | None
    user: str
    frontend: str = "cli"
    pack: str | None = None
    channel: str | None = None
    text: str | None = None
    state: JobState = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    #: the contract's result object once the job is final
    reply: dict[str, Any] | None = None
    idempotent: bool = False
    timeout_s: float = 30.0
    #: the runner or worker process that runs (or ran) it
    host: str | None = None
    attempts: int = 0
    #: a cancellation was asked for (a worker elsewhere stops it)
    cancel: bool = False
    progress: list[ProgressLine] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def summary(self) -> dict[str, Any]:
        """``{"id", "state", "command", "user"}``: what a 202 answer carries."""
        return {"id": self.id, "state": self.state, "command": self.command, "user": self.user}

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``GET /jobs/<id>`` shape."""
        return {
            **self.summary(),
            "channel": self.channel,
            "text": self.text,
            "created": _iso(self.created),
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "progress": [p.to_dict() for p in self.progress],
            "reply": self.reply,
        }

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "command": self.command,
            "pack": self.pack,
            "user": self.user,
            "channel": self.channel,
            "frontend": self.frontend,
            "text": self.text,
            "state": self.state,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "reply": json.dumps(self.reply, ensure_ascii=False) if self.reply is not None else None,
            "idempotent": self.idempotent,
            "timeout_s": self.timeout_s,
            "host": self.host,
            "attempts": self.attempts,
            "cancel": self.cancel,
        }

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Job:
        data = dict(zip(_JOB_COLUMNS, row, strict=True))
        data["reply"] = json.loads(data["reply"]) if data["reply"] else None
        for flag in ("idempotent", "cancel"):
            data[flag] = bool(data[flag])
        return cls(**data)


def host_name() -> str:
    """This process, as jobs and heartbeats name it: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobStore:
    """Jobs of this process in memory, written behind to the shared database by its writer
    (:class:`opspack.store.Writer`, with the audit trail's records in the same transaction);
    reads of other processes' jobs go to the database. Thread-safe."""

    def __init__(self, database: Database, *, host: str | None = None, beat: bool = True) -> None:
        self.database = database
        self.host = host or host_name()
        database.create_tables(JOBS, PROGRESS, IDS, HOSTS)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._live: dict[int, Job] = {}
        self._dirty: set[int] = set()
        self._written: dict[int, int] = {}  # job id -> progress lines already in the database
        self._ids: list[int] = []
        self._id_lock = threading.Lock()
        self._closed = False
        self.writer = database.writer
        self.writer.add(self)
        self._beating = threading.Event()
        if beat:
            self.heartbeat()
            start_thread(self._beat_loop, name="opspack-jobs-heartbeat")

    # -- ids ----------------------------------------------------------------------
    def _next_id(self) -> int:
        with self._lock:
            if self._ids:
                if len(self._ids) == ID_BLOCK // 4:  # running low: the next block, in the background
                    start_thread(self._reserve_ahead, name="opspack-job-ids")
                return self._ids.pop()
        with self._id_lock:  # one thread of this process reserves the next block
            with self._lock:
                if self._ids:  # another thread did meanwhile
                    return self._ids.pop()
            block = self._reserve()
            with self._lock:
                self._ids = block + self._ids
                return self._ids.pop()

    def _reserve_ahead(self) -> None:
        try:
            with self._id_lock:
                block = self._reserve()
        except Exception as exc:  # noqa: BLE001 - the next call reserves it in its own time
            log.warning("reserving job ids failed: %s", exc)
            return
        with self._lock:
            self._ids = block + self._ids

    def has_ids(self) -> bool:
        """Whether :meth:`new` can take an id without asking the database (an event loop
        asks before it makes a job on its own thread)."""
        with self._lock:
            return bool(self._ids)

    def _reserve(self) -> list[int]:
        """The next block of ids (under ``_id_lock``), highest first: popped from the end."""
        # One row counts for every process. An upsert is one atomic statement in SQLite and
        # PostgreSQL alike: two processes reserving their first block at once both succeed.
        with self.database.transaction() as tx:
            top = int(
                tx.scalar(
                    f"INSERT INTO {quote(IDS.name)} (name, next) VALUES ('jobs', ?) ON CONFLICT (name) "
                    f"DO UPDATE SET next = {quote(IDS.name)}.next + ? RETURNING next",
                    (1 + ID_BLOCK, ID_BLOCK),
                )
            )
        return list(range(top - 1, top - 1 - ID_BLOCK, -1))

    # -- this process's jobs ---------------------------------------------------------
    def new(self, **fields: Any) -> Job:
        """A new queued job of this process."""
        job = Job(id=self._next_id(), host=self.host, **fields)
        with self._lock:
            self._live[job.id] = job
        self._touch(job.id)
        return job

    def release(self, job_id: int) -> Job | None:
        """Write a job of this process now and stop keeping it in memory: another process
        takes it over (a Celery worker claims it). From then on it is read from the database,
        and :meth:`start`, :meth:`report` and :meth:`finish` of this store leave it alone.
        None when this store does not keep it."""
        self.flush()
        with self._lock:
            job = self._live.pop(job_id, None)
            self._dirty.discard(job_id)
            self._written.pop(job_id, None)
            self._changed.notify_all()
        return _copy(job) if job is not None else None

    def adopt(self, job: Job) -> None:
        """Keep ``job`` (read from the database, run here) in memory and write it behind."""
        with self._lock:
            self._live[job.id] = job
            self._written[job.id] = len(job.progress)

    def start(self, job_id: int) -> bool:
        """``queued`` → ``running``; False when it is no longer queued (cancelled meanwhile)."""
        with self._lock:
            job = self._live.get(job_id)
            if job is None or job.state != "queued":
                return False
            job.state, job.started, job.host = "running", time.time(), self.host
            job.attempts += 1
        self._touch(job_id)
        return True

    def report(self, job_id: int, message: str, percent: float | None = None) -> ProgressLine | None:
        """Add a progress line to a running job of this process."""
        line = ProgressLine(time.time(), message, percent)
        with self._lock:
            job = self._live.get(job_id)
            if job is None or job.final or len(job.progress) >= MAX_PROGRESS:
                return None
            job.progress.append(line)
        self._touch(job_id)
        return line

    def finish(self, job_id: int, state: JobState, reply: dict[str, Any] | None) -> Job | None:
        """End a job of this process (once: False-y when it was already final)."""
        with self._lock:
            job = self._live.get(job_id)
            if job is None or job.final:
                return None
            job.state, job.finished, job.reply = state, time.time(), reply
        self._touch(job_id)
        return job

    def _touch(self, job_id: int) -> None:
        with self._lock:
            self._dirty.add(job_id)
            self._changed.notify_all()
        self.writer.changed()

    def wait(self, job_id: int, timeout: float | None) -> Job | None:
        """Wait until a job of this process changes (progress or state) or ``timeout`` passes."""
        with self._lock:
            self._changed.wait(timeout)
            return self._live.get(job_id)

    # -- reading -------------------------------------------------------------------
    def get(self, job_id: int) -> Job | None:
        """A job of any process (this one's from memory, the others' from the database)."""
        with self._lock:
            job = self._live.get(job_id)
            if job is not None:
                return _copy(job)
        rows = self.database.query(f"{_SELECT} WHERE id = ?", (job_id,))
        if not rows:
            return None
        job = Job.from_row(rows[0])
        job.progress = self._progress(job_id)
        return job

    def _progress(self, job_id: int) -> list[ProgressLine]:
        rows = self.database.query(
            f"SELECT at, message, percent FROM {quote(PROGRESS.name)} WHERE job = ? ORDER BY seq",
            (job_id,),
        )
        return [ProgressLine(float(at), str(msg), pct) for at, msg, pct in rows]

    def find(self, *, user: str | None = None, states: Iterable[str] | None = None, limit: int = 50) -> list[Job]:
        """Jobs, newest first (this process's pending writes included)."""
        self.flush()
        where: list[str] = []
        params: list[Any] = []
        if user is not None:
            where.append('"user" = ?')
            params.append(user)
        wanted = list(states or ())
        if wanted:
            where.append(f"state IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC LIMIT ?"
        params.append(max(1, min(limit, 500)))
        return [Job.from_row(r) for r in self.database.query(sql, params)]

    def count_open(self, *, user: str | None = None, pack: str | None = None) -> int:
        """Queued or running jobs of a user or a pack, in every process (the bulkheads' count)."""
        self.flush()
        where: list[str] = ["state IN ('queued', 'running')"]
        params: list[Any] = []
        if user is not None:
            where.append('"user" = ?')
            params.append(user)
        if pack is not None:
            where.append("pack = ?")
            params.append(pack)
        sql = f"SELECT COUNT(*) FROM {quote(JOBS.name)} WHERE {' AND '.join(where)}"
        return int(self.database.scalar(sql, params) or 0)

    # -- jobs of other processes ----------------------------------------------------------
    def claim(self, job_id: int) -> Job | None:
        """Take a queued job (written by another process) to run here: a compare-and-set in the
        database, so of two workers given the same job only one runs it. None when it is not
        queued any more (started elsewhere, cancelled, final)."""
        now = time.time()
        with self.database.transaction() as tx:
            changed = tx.execute(
                f"UPDATE {quote(JOBS.name)} SET state = 'running', started = ?, host = ?, "
                "attempts = attempts + 1 WHERE id = ? AND state = 'queued' AND cancel = ?",
                (now, self.host, job_id, False),
            )
        if changed != 1:
            return None
        job = self.get(job_id)
        if job is not None:
            self.adopt(job)
        return job

    def requeue(self, job_id: int, *, host: str | None = None) -> bool:
        """``running`` → ``queued`` for a job whose worker died (an idempotent one runs again);
        with ``host``, only while that host still holds it (not once another worker took it)."""
        sql = f"UPDATE {quote(JOBS.name)} SET state = 'queued', host = NULL WHERE id = ? AND state = 'running'"
        params: list[Any] = [job_id]
        if host is not None:
            sql += " AND host = ?"
            params.append(host)
        with self.database.transaction() as tx:
            changed = tx.execute(sql, params)
        return changed == 1

    def end(
        self,
        job_id: int,
        state: JobState,
        reply: dict[str, Any] | None,
        *,
        only_from: Iterable[JobState] = ("queued", "running"),
        host: str | None = None,
    ) -> bool:
        """End a job of any process in the database (once: False when already final, or
        not in one of the states ``only_from``: a job still queued, not one a worker took;
        with ``host``, only while that host holds it)."""
        self.flush()
        allowed = [s for s in only_from if s not in FINAL]
        if not allowed:
            return False
        sql = (
            f"UPDATE {quote(JOBS.name)} SET state = ?, finished = ?, reply = ? "
            f"WHERE id = ? AND state IN ({', '.join('?' * len(allowed))})"
        )
        params: list[Any] = [state, time.time(), json.dumps(reply) if reply is not None else None, job_id, *allowed]
        if host is not None:
            sql += " AND host = ?"
            params.append(host)
        with self.database.transaction() as tx:
            changed = tx.execute(sql, params)
        with self._lock:
            job = self._live.get(job_id)
            if job is not None and changed == 1:
                job.state, job.finished, job.reply = state, time.time(), reply
                self._changed.notify_all()
        return changed == 1

    def request_cancel(self, job_id: int) -> None:
        """Mark a job for cancellation (the process running it stops it)."""
        self.flush()
        self.database.execute(f"UPDATE {quote(JOBS.name)} SET cancel = ? WHERE id = ?", (True, job_id))
        with self._lock:
            job = self._live.get(job_id)
            if job is not None:
                job.cancel = True

    def cancel_requested(self, job_id: int) -> bool:
        with self._lock:
            job = self._live.get(job_id)
            if job is not None and job.cancel:
                return True
        return bool(self.database.scalar(f"SELECT cancel FROM {quote(JOBS.name)} WHERE id = ?", (job_id,)))

    # -- hosts ------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Say this process is alive (every :data:`HEARTBEAT_S` from a thread)."""
        now = time.time()
        with self.database.transaction() as tx:
            if not tx.execute(f"UPDATE {quote(HOSTS.name)} SET seen = ? WHERE name = ?", (now, self.host)):
                tx.insert(HOSTS, {"name": self.host, "seen": now})

    def _beat_loop(self) -> None:
        while not self._beating.wait(HEARTBEAT_S):
            try:
                self.heartbeat()
                self.reap()
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the heartbeat
                log.warning("job heartbeat failed: %s", exc)

    def reap(self, *, rerun: Callable[[Job], bool] | None = None) -> list[int]:
        """End the open jobs of hosts that stopped beating: ``interrupted``, or queued again
        when ``rerun(job)`` says so (an idempotent job a worker will run again). A host that
        never beat (a store made with ``beat=False``, the command line's) is not taken for dead,
        but its jobs are once they are past their timeout (and :data:`HOST_TIMEOUT_S`): no
        command runs that long, so whoever ran it stopped."""
        self.flush()
        now = time.time()
        gone_before = now - HOST_TIMEOUT_S
        rows = self.database.query(
            f"{_SELECT} WHERE state IN ('queued', 'running') AND host IS NOT NULL AND host <> ? AND ("
            f"host IN (SELECT name FROM {quote(HOSTS.name)} WHERE seen < ?) OR ("
            f"host NOT IN (SELECT name FROM {quote(HOSTS.name)}) AND created + timeout_s < ?))",
            (self.host, gone_before, gone_before),
        )
        ended = []
        for row in rows:
            job = Job.from_row(row)
            if rerun is not None and job.state == "running" and rerun(job):
                self.requeue(job.id, host=job.host)
                continue
            reply: dict[str, Any] = {
                "ok": False,
                "command": job.command,
                "results": [],
                "error": {
                    "kind": "interrupted",
                    "message": f"Job {job.id} ({job.command}) was {job.state} on {job.host}, which stopped.",
                    "hint": "It may not have run or may have run in part: check, then run it again.",
                },
            }
            if self.end(job.id, "interrupted", reply, host=job.host):
                ended.append(job.id)
        return ended

    # -- writing behind -------------------------------------------------------------------
    def flush(self) -> None:
        """Write every pending change now and wait for it."""
        self.writer.flush()

    def _take(self) -> list[tuple[Job, int]]:
        """The changed jobs (copies) and how many of their progress lines are written."""
        with self._lock:
            ids = [i for i in self._dirty if i in self._live]
            self._dirty.clear()
            return [(_copy(self._live[i]), self._written.get(i, 0)) for i in ids]

    # what the database's writer calls (opspack.store.Source)
    def take(self) -> list[tuple[Job, int]]:
        return self._take()

    def write(self, tx: Transaction, changed: list[tuple[Job, int]]) -> None:
        table = quote(JOBS.name)
        columns = [c for c in _JOB_COLUMNS if c not in ("id", "cancel")]
        # a job another process ended (cancelled, reaped) stays ended, and a cancellation
        # asked for elsewhere stays asked for: this process's copy may not know yet
        upsert = (
            f"INSERT INTO {table} ({', '.join(quote(c) for c in _JOB_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_JOB_COLUMNS))}) ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns)
            + f", cancel = ({table}.cancel OR excluded.cancel)"
            + f" WHERE {table}.state IN ('queued', 'running')"
        )
        progress = [
            {"job": job.id, "seq": seq, "at": line.at, "message": line.message, "percent": line.percent}
            for job, written in changed
            for seq, line in enumerate(job.progress[written:], start=written)
        ]
        rows = []
        for job, _ in changed:
            row = job.row()
            rows.append([row[c] for c in _JOB_COLUMNS])
        tx.executemany(upsert, rows)
        tx.insert_many(PROGRESS, progress)

    def written(self, changed: list[tuple[Job, int]]) -> None:
        with self._lock:
            for job, _ in changed:
                self._written[job.id] = len(job.progress)
                live = self._live.get(job.id)
                if live is not None and live.final and job.final and job.id not in self._dirty:
                    del self._live[job.id]  # in the database for good: read from there
                    self._written.pop(job.id, None)

    def failed(self, changed: list[tuple[Job, int]], error: Exception) -> None:
        """Keep the changes for a later round (the database may be back by then)."""
        log.error("writing %d jobs failed (tried again shortly): %s", len(changed), error)
        with self._lock:
            self._dirty.update(job.id for job, _ in changed)
        if not self._closed:
            start_thread(_later, RETRY_WRITE_S, self.writer.changed, name="opspack-jobs-retry")

    def close(self) -> None:
        """Write what is pending, stop the threads and forget this host's heartbeat."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._beating.set()
        try:
            self.database.execute(f"DELETE FROM {quote(HOSTS.name)} WHERE name = ?", (self.host,))
        except Exception as exc:  # noqa: BLE001
            log.warning("could not remove the job heartbeat of %s: %s", self.host, exc)


def _later(delay: float, then: Callable[[], object]) -> None:
    """Call ``then`` after ``delay`` seconds (in a thread of its own)."""
    time.sleep(delay)
    then()


def _copy(job: Job) -> Job:
    """A copy that shares nothing mutable with ``job`` (cheap: it is taken under the lock)."""
    copy = object.__new__(Job)
    copy.__dict__.update(job.__dict__)
    copy.progress = list(job.progress)
    return copy


# -- running jobs -------------------------------------------------------------------
#: a progress report: (message, percent)
ProgressSink = Callable[[str, "float | None"], None]


@dataclass
class WorkItem:
    """What a worker needs to run one job: plain data, picklable."""

    job: int
    entry: Entry
    args: dict[str, Any]
    user: str
    #: the roles the policy granted the caller (what the command reads as ``ctx.caller.roles``)
    roles: tuple[str, ...] = ()
    channel: str | None = None
    frontend: str = "cli"
    #: the format the reply will be rendered in (a command may size a picture for it)
    format: str = "text"
    profile: str | None = None
    confirmed: bool = False
    approved_by: str | None = None
    confirm_token: str | None = None
    #: the group names the front-end passed
    groups: tuple[str, ...] = ()
    #: the name of the runner's bearer token the call came with
    token: str | None = None
    #: why the policy let it run (for the audit record a worker writes)
    reason: str | None = None

    @property
    def command(self) -> str:
        return self.entry["id"]

    @property
    def pack(self) -> str:
        return self.entry["pack"]["name"]

    @property
    def timeout_s(self) -> float:
        return float(self.entry.get("timeout_s") or 30)

    @property
    def idempotent(self) -> bool:
        return bool(self.entry["effects"].get("idempotent"))

    def caller_fields(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "roles": self.roles,
            "channel": self.channel,
            "frontend": self.frontend,
            "format": self.format,
            "profile": self.profile,
            "confirmed": self.confirmed,
            "approved_by": self.approved_by,
            "confirm_token": self.confirm_token,
            "groups": self.groups,
            "token": self.token,
        }


class Executor(Protocol):
    """Runs work items; see the module's documentation."""

    def submit(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Future[Reply]:
        """Queue ``item``; call ``started()`` when it starts and ``progress(message, percent)``
        as it reports; raise :class:`~opspack.errors.Busy` when a limit is reached."""
        ...

    def cancel(self, job: int) -> bool:
        """Stop a queued or running job of this executor; False when it has none by that id."""
        ...

    # An executor may also have ``run(item, progress, started) -> Reply``: run and wait from
    # the calling thread (saves a thread handoff); without it the runtime waits on submit().
    # And ``async run_async(item, progress, started) -> Reply``: run and wait from an event
    # loop (:meth:`opspack.runtime.Runtime.run_async`).

    def close(self) -> None:
        """Stop every worker."""
        ...


def failure(kind: str, message: str, hint: str | None, command: str | None) -> Reply:
    """A reply that says the job did not run to its end (timeout, busy, interrupted, cancelled)."""
    return Reply.failure(Error(kind, message, hint), command)  # type: ignore[arg-type]


def timed_out(item: WorkItem) -> Reply:
    return failure(
        "timeout",
        f"{item.command} did not finish within {item.timeout_s:g} s; it was stopped.",
        "The backend may be slow or unreachable; try again, or ask an admin to raise the command's timeout.",
        item.command,
    )


def cancelled(item: WorkItem) -> Reply:
    return failure("cancelled", f"Job {item.job} ({item.command}) was cancelled.", None, item.command)


class Cancel(BaseException):
    """Raised in the thread running a job inline to cancel it (the shell's Ctrl-C, see
    :func:`opspack.frontends.terminal.cancel_on_interrupt`); the job ends ``cancelled``.
    A BaseException, so that a command's ``except Exception`` cannot swallow it."""


class Inline:
    """Run each item at once in the calling thread (through the runtime's own timeouts).
    :class:`Cancel` raised while it runs ends the job ``cancelled``."""

    def __init__(self, execute: Callable[[WorkItem, ProgressSink], Reply]) -> None:
        self.execute = execute

    def run(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Reply:
        started()
        try:
            return self.execute(item, progress)
        except Cancel:  # Ctrl-C on the command line or in the shell
            return cancelled(item)

    def submit(self, item: WorkItem, progress: ProgressSink, started: Callable[[], object]) -> Future[Reply]:
        future: Future[Reply] = Future()
        future.set_running_or_notify_cancel()
        future.set_result(self.run(item, progress, started))
        return future

    def cancel(self, job: int) -> bool:
        return False

    def close(self) -> None:
        return None


def final_state(reply: Reply) -> JobState:
    """The state a job ends in when it answered ``reply``."""
    if reply.ok:
        return "succeeded"
    kind = reply.error.kind if reply.error is not None else None
    if kind == "cancelled":
        return "cancelled"
    if kind == "interrupted":
        return "interrupted"
    return "failed"


def _first(value: Any, default: Any) -> Any:
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class JobsSettings:
    """The ``[jobs]`` table of opspack.toml (or ``OPSPACK_JOBS_<NAME>``)."""

    #: a ``redis://`` URL: jobs run on Celery workers (``opspack worker``) instead of the runner's pool
    broker: str | None = None
    #: without a broker: ``embedded`` (a pool of worker processes) or ``threads`` (threads of the
    #: runner: no process per command, but a hung command cannot be stopped; for comparison)
    executor: str = "embedded"
    #: worker processes of the runner's own pool
    workers: int = 8
    #: queued or running jobs at most, per user and per pack
    per_user: int = 4
    per_pack: int = 8
    #: seconds a job may wait for a free worker before it ends ``busy``
    queue_timeout_s: float = 10.0
    #: policy roles whose members see and cancel everyone's jobs
    admin_roles: tuple[str, ...] = ()
    #: commands with a longer timeout (or declared long) answer "started job N" in chat ...
    async_after_s: float = 60.0
    #: ... when they have not answered within this many seconds
    async_grace_s: float = 2.5
    #: Celery over Redis: seconds after which a job a worker took but did not acknowledge (the
    #: worker died) is delivered again; jobs a dead worker had reserved run elsewhere within
    #: this and a few seconds
    visibility_timeout_s: float = 50.0

    @classmethod
    def load(cls, data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> JobsSettings:
        env = os.environ if environ is None else environ
        table = data.get("jobs", {})
        table = table if isinstance(table, dict) else {}

        def get(name: str) -> Any:
            raw = env.get(f"OPSPACK_JOBS_{name.upper()}")
            return raw if raw is not None else table.get(name)

        broker = env.get("OPSPACK_BROKER_URL") or get("broker")
        roles = get("admin_roles") or ()
        if isinstance(roles, str):
            roles = [r.strip() for r in roles.split(",") if r.strip()]
        defaults = cls()
        executor = str(get("executor") or defaults.executor)
        if executor not in ("embedded", "threads"):
            from opspack.errors import ConfigError

            raise ConfigError(f"[jobs] executor: got {executor!r}, expected embedded or threads")
        try:
            return cls(
                broker=str(broker) if broker else None,
                executor=executor,
                workers=max(1, int(get("workers") or defaults.workers)),
                per_user=max(1, int(get("per_user") or defaults.per_user)),
                per_pack=max(1, int(get("per_pack") or defaults.per_pack)),
                queue_timeout_s=float(get("queue_timeout_s") or defaults.queue_timeout_s),
                admin_roles=tuple(str(r) for r in roles),
                async_after_s=float(get("async_after_s") or defaults.async_after_s),
                async_grace_s=float(_first(get("async_grace_s"), defaults.async_grace_s)),
                visibility_timeout_s=max(1.0, float(get("visibility_timeout_s") or defaults.visibility_timeout_s)),
            )
        except (TypeError, ValueError) as exc:
            from opspack.errors import ConfigError

            raise ConfigError(f"[jobs] in opspack.toml has a bad value: {exc}") from None


__all__ = [
    "FINAL",
    "STATES",
    "Cancel",
    "Executor",
    "Inline",
    "Job",
    "JobState",
    "JobStore",
    "JobsSettings",
    "ProgressLine",
    "ProgressSink",
    "WorkItem",
    "final_state",
    "host_name",
]
