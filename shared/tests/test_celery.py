"""Jobs on Celery workers: a real Redis, real `opspack worker` processes, and a runner whose
runtime hands its jobs to them through the shared database (an SQLite file, or PostgreSQL).

The workers run the sample pack from its folder (PYTHONPATH) with a visibility timeout of a
few seconds, so what Redis gives back after a worker died comes back quickly. Workers and
runners of different databases use different Redis databases (or servers): a worker takes
whatever its queues hold, and a job missing from its database would be dropped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opspack.audit import AuditLog
from opspack.context import Caller
from opspack.jobs import Job, JobsSettings
from opspack.registry import Registry
from opspack.results import Progress, Reply
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import in_ci, need, stop_process
from opspack_testkit.servers.redis import RedisServer, RedisUnavailable

try:
    import celery  # noqa: F401 - the extra these tests need
except ImportError:
    if in_ci():  # the core's nox session installs it: a missing one is a broken setup, not a skip
        raise
    pytest.skip("the celery extra is not installed: pip install 'opspack[celery]'", allow_module_level=True)

from opspack.celery_executor import executor_for

SAMPLE = Path(__file__).parent / "sample_pack"
#: seconds before Redis hands out again what a dead worker took (production: 50)
VISIBILITY_S = 4
#: how long a job of a killed worker may take to end: Redis gives its message back after the
#: visibility timeout and a sweep; the workers' reaper would end it after the heartbeat timeout
HOST_WAIT_S = VISIBILITY_S + 40


def _start_redis(port: int = 0) -> RedisServer:
    try:
        return RedisServer(port=port).start()
    except RedisUnavailable as exc:
        need(False, str(exc))
        raise


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = _start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def two_packs(registry: Registry) -> Registry:
    """The sample pack and the core's own: two packs, two queues."""
    core = Registry.from_installed(only=["core"])
    return Registry(packs=[*registry.packs, *core.packs], commands=[*registry.commands, *core.commands])


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory, two_packs: Registry) -> Path:
    path = tmp_path_factory.mktemp("celery") / "registry.json"
    path.write_text(json.dumps(two_packs.to_data()))
    return path


def _environ(broker: str, database: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env.update(
        PYTHONPATH=str(SAMPLE),
        OPSPACK_BROKER_URL=broker,
        OPSPACK_AUDIT_URL=database,
        OPSPACK_JOBS_VISIBILITY_TIMEOUT_S=str(VISIBILITY_S),
        OPSPACK_SAMPLE_URL="https://backend.example",
        OPSPACK_SAMPLE_PASSWORD="s3cr3t-pa55",
        **more,
    )
    return env


class Worker:
    """One `opspack worker` process (and its pool), its output in a file."""

    def __init__(self, registry_file: Path, env: dict[str, str], log: Path, *, packs: str, concurrency: int = 1):
        self.log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opspack.frontends.cli",
                "--registry",
                str(registry_file),
                "worker",
                "--packs",
                packs,
                "--concurrency",
                str(concurrency),
            ],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while " ready." not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"opspack worker did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: the worker and, with it, its pool's processes."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('celery-db') / 'audit.db'}"


@pytest.fixture(scope="module")
def workers(
    redis: RedisServer, registry_file: Path, shared_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Worker]]:
    """One worker for the sample pack's queue, one for the core's, one job at a time each."""
    env = _environ(redis.url(), shared_db)
    logs = tmp_path_factory.mktemp("workers")
    started = {
        "sample": Worker(registry_file, env, logs / "sample.log", packs="sample"),
        "core": Worker(registry_file, env, logs / "core.log", packs="core"),
    }
    yield started
    for worker in started.values():
        worker.stop()


def _runner(registry: Registry, env: dict[str, str]) -> Runtime:
    settings = JobsSettings.load({}, env)
    return Runtime(
        registry,
        config=Config(data={}, environ=env),
        audit=AuditLog(env["OPSPACK_AUDIT_URL"]),
        executor=lambda rt: executor_for(rt, settings),
    )


@pytest.fixture
def runner(two_packs: Registry, redis: RedisServer, shared_db: str, workers: dict[str, Worker]) -> Iterator[Runtime]:
    rt = _runner(two_packs, _environ(redis.url(), shared_db))
    yield rt
    rt.close()


def _start(rt: Runtime, text: str, user: str = "alice", **caller: Any) -> Job:
    from opspack import grammar

    started = rt.start(grammar.parse(text, rt.registry), Caller(user=user, **caller))
    assert isinstance(started, Job), started
    return started


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def _state(rt: Runtime, job: Job) -> Job:
    found = rt.jobs.get(job.id)
    assert found is not None
    return found


def _records(rt: Runtime, command: str) -> list[Any]:
    audit = rt.audit
    assert audit is not None
    audit.flush()
    return [r for r in audit.history(limit=500) if r.command == command]


def _runs(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


# -- running, answering, reporting ---------------------------------------------------------
def test_a_job_runs_on_a_worker_and_answers(runner: Runtime) -> None:
    reply = runner.chat("thing list --limit 2", Caller(user="alice", channel="#ops"))
    assert reply.ok, reply.error
    assert reply.results[0].to_dict()["rows"] == [["thing0", "off", 0], ["thing1", "on", 1]]
    job = runner.jobs.find(user="alice", limit=1)[0]
    assert job.state == "succeeded" and job.command == "sample.thing.list" and job.attempts == 1
    assert job.host is not None and job.host != runner.jobs.host  # a worker ran it, not the runner
    # the worker wrote the one audit record, with the arguments masked as the runner would
    records = [r for r in _records(runner, "sample.thing.list") if r.channel == "#ops"]
    assert len(records) == 1 and records[0].ok and records[0].text == "thing list --limit 2"


def test_progress_reaches_the_caller_and_the_job(runner: Runtime) -> None:
    seen: list[Progress] = []
    reply = runner.chat("thing change-slowly --seconds 1 --key p1", Caller(user="alice", on_progress=seen.append))
    assert reply.ok, reply.error
    assert [p.message for p in seen] == [f"p1: step {i} of 10" for i in range(1, 11)]
    assert seen[-1].percent == 100.0
    job = _state(runner, runner.jobs.find(user="alice", limit=1)[0])
    assert [p.message for p in job.progress] == [p.message for p in seen]


def test_secrets_stay_masked_on_the_worker(runner: Runtime) -> None:
    reply = runner.chat("thing connect", Caller(user="alice"))
    assert reply.ok, reply.error
    assert "s3cr3t-pa55" not in json.dumps(reply.to_dict())
    stored = runner.jobs.find(user="alice", limit=1)[0]
    assert "s3cr3t-pa55" not in json.dumps(_state(runner, stored).to_dict())


def test_a_hung_command_is_stopped_by_the_hard_time_limit(runner: Runtime) -> None:
    # `thing hang` (timeout 1 s) swallows the runtime's own timeout: Celery kills its process at 1 + 5 s
    started = time.monotonic()
    reply = runner.chat("thing hang --seconds 60", Caller(user="alice"))
    took = time.monotonic() - started
    assert reply.error is not None and reply.error.kind == "timeout", reply.error
    assert 5 < took < 20
    job = runner.jobs.find(user="alice", limit=1)[0]
    assert job.state == "failed"
    records = _records(runner, "sample.thing.hang")
    assert records and records[0].error_kind == "timeout"
    again = runner.chat("thing list --limit 1", Caller(user="alice"))  # the worker goes on with a new process
    assert again.ok, again.error


def test_a_busy_pack_does_not_delay_another_packs_queue(runner: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    slow = _start(runner, f"thing append {log} --seconds 4")
    waiting = _start(runner, "thing list --limit 1")  # behind it in the sample pack's queue
    _wait_for("the slow job to run", lambda: _state(runner, slow).state == "running")
    began = time.monotonic()
    other = runner.chat("friction list", Caller(user="alice"))  # the core pack's queue, its own worker
    assert other.ok, other.error
    assert time.monotonic() - began < 3
    assert _state(runner, slow).state == "running" and _state(runner, waiting).state == "queued"
    assert runner.wait(slow).ok and runner.wait(waiting).ok
    assert len(_runs(log)) == 1


def test_the_limits_count_every_runners_jobs_in_the_database(
    two_packs: Registry, redis: RedisServer, shared_db: str, workers: dict[str, Worker], tmp_path: Path
) -> None:
    env = _environ(redis.url(), shared_db, OPSPACK_JOBS_PER_USER="1")
    first, second = _runner(two_packs, env), _runner(two_packs, env)
    try:
        job = _start(first, f"thing append {tmp_path / 'runs'} --seconds 2", user="mallory")
        reply = second.chat("thing list", Caller(user="mallory"))
        assert reply.error is not None and reply.error.kind == "busy" and "per-user limit" in reply.error.message
        assert second.chat("thing list", Caller(user="bob")).ok
        assert first.wait(job).ok
        assert second.chat("thing list", Caller(user="mallory")).ok
    finally:
        first.close()
        second.close()


def test_cancel_stops_the_job_on_its_worker(runner: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    job = _start(runner, f"thing append {log} --seconds 20")
    _wait_for("the job to run", lambda: _state(runner, job).state == "running" and len(_runs(log)) == 1)
    assert runner.cancel(job.id)
    reply = runner.wait(job, timeout=10)
    assert reply.error is not None and reply.error.kind == "cancelled"
    assert _state(runner, job).state == "cancelled"
    pid = _runs(log)[0]
    _wait_for("its worker process to be stopped", lambda: not Path(f"/proc/{pid}").exists(), timeout=10)
    assert runner.chat("thing list --limit 1", Caller(user="alice")).ok  # and the worker goes on
    assert [r.error_kind for r in _records(runner, "sample.thing.append") if r.error_kind == "cancelled"]


# -- workers that die ---------------------------------------------------------------------------
def test_a_killed_worker_process_ends_its_change_interrupted_at_once(runner: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    job = _start(runner, f"thing append {log} --seconds 20")
    _wait_for("the change to begin", lambda: len(_runs(log)) == 1)
    os.kill(_runs(log)[0], signal.SIGKILL)  # the pool's process, as the OOM killer would
    reply = runner.wait(job, timeout=10)
    assert reply.error is not None and reply.error.kind == "interrupted", reply.error
    assert "may have run in part" in (reply.error.hint or "")
    time.sleep(VISIBILITY_S + 2)  # what Celery gave back was delivered again, and ran nothing
    assert len(_runs(log)) == 1
    assert _state(runner, job).state == "interrupted" and _state(runner, job).attempts == 1
    assert runner.chat("thing list --limit 1", Caller(user="alice")).ok


@pytest.fixture
def pair(
    two_packs: Registry, redis: RedisServer, registry_file: Path, tmp_path: Path
) -> Iterator[tuple[Runtime, list[Worker]]]:
    """A runner and two workers of the sample pack, on a database and a Redis database of their own."""
    env = _environ(redis.url(db=1), f"sqlite:///{tmp_path / 'audit.db'}")
    started = [Worker(registry_file, env, tmp_path / f"worker{i}.log", packs="sample") for i in (1, 2)]
    rt = _runner(two_packs, env)
    yield rt, started
    rt.close()
    for worker in started:
        worker.stop()


def _holder(job: Job, workers: list[Worker]) -> Worker:
    assert job.host is not None
    pid = int(job.host.split(":")[1])
    return next(w for w in workers if w.pid == pid)


def test_kill_9_of_a_worker_mid_change_ends_it_interrupted_never_run_twice(
    pair: tuple[Runtime, list[Worker]], tmp_path: Path
) -> None:
    rt, workers = pair
    log = tmp_path / "runs"
    job = _start(rt, f"thing append {log} --seconds 8")
    _wait_for("the change to begin", lambda: len(_runs(log)) == 1)
    dead = _holder(_state(rt, job), workers)
    dead.kill()
    killed = time.monotonic()
    reply = rt.wait(job, timeout=HOST_WAIT_S)
    assert reply.error is not None and reply.error.kind == "interrupted", reply.error
    # Redis gave the message back after the visibility timeout; the worker that took it saw the dead holder
    assert time.monotonic() - killed < VISIBILITY_S + 8
    time.sleep(VISIBILITY_S + 2)
    assert len(_runs(log)) == 1, "a change that is not idempotent ran twice"
    final = _state(rt, job)
    assert final.state == "interrupted" and final.attempts == 1
    assert [r.error_kind for r in _records(rt, "sample.thing.append")] == ["interrupted"]
    assert rt.chat("thing list --limit 1", Caller(user="alice")).ok  # the other worker took it


def test_an_idempotent_job_of_a_killed_worker_runs_again_on_another(
    pair: tuple[Runtime, list[Worker]], tmp_path: Path
) -> None:
    rt, workers = pair
    log = tmp_path / "runs"
    seen: list[Progress] = []
    job = _start(rt, f"thing probe {log} --seconds 3", on_progress=seen.append)
    _wait_for("the probe to begin", lambda: len(_runs(log)) == 1)
    dead = _holder(_state(rt, job), workers)
    dead.kill()
    killed = time.monotonic()
    reply = rt.wait(job, timeout=HOST_WAIT_S)
    assert reply.ok, reply.error
    assert time.monotonic() - killed < VISIBILITY_S + 8 + 3
    runs = _runs(log)
    assert len(runs) == 2 and runs[0] != runs[1]
    final = _state(rt, job)
    assert final.state == "succeeded" and final.attempts == 2
    assert _holder(final, workers) is not dead
    assert seen and seen[-1].percent == 100.0


def test_a_job_longer_than_the_visibility_timeout_runs_once(pair: tuple[Runtime, list[Worker]], tmp_path: Path) -> None:
    rt, workers = pair
    log = tmp_path / "runs"
    job = _start(rt, f"thing append {log} --seconds {VISIBILITY_S * 2}")
    reply = rt.wait(job, timeout=60)
    assert reply.ok, reply.error
    assert len(_runs(log)) == 1
    final = _state(rt, job)
    assert final.state == "succeeded" and final.attempts == 1
    # Redis handed the message out again while it ran: the other worker saw it running and let it be
    other = next(w for w in workers if w is not _holder(final, workers))
    assert f"job {job.id} still runs on {final.host}" in other.output()


# -- the broker -----------------------------------------------------------------------------
def test_redis_down_is_a_backend_error_and_jobs_go_on_when_it_is_back(
    two_packs: Registry, registry_file: Path, tmp_path: Path
) -> None:
    broker = _start_redis()
    env = _environ(broker.url(), f"sqlite:///{tmp_path / 'audit.db'}")
    worker = Worker(registry_file, env, tmp_path / "worker.log", packs="sample")
    rt = _runner(two_packs, env)
    try:
        assert rt.chat("thing list --limit 1", Caller(user="alice")).ok
        port = broker.port
        broker.stop()
        started = time.monotonic()
        reply = rt.chat("thing list --limit 1", Caller(user="alice"))
        assert time.monotonic() - started < 10
        assert reply.error is not None and reply.error.kind == "backend", reply.error
        assert f"redis://127.0.0.1:{port}/0" in reply.error.message
        failed = rt.jobs.find(user="alice", limit=1)[0]
        assert failed.state == "failed"
        assert _records(rt, "sample.thing.list")[0].error_kind == "backend"
        broker = _start_redis(port)  # the same address, empty: as after a restart
        answers: list[Reply] = []

        def answered() -> bool:
            answers.append(rt.chat("thing list --limit 1", Caller(user="alice")))
            return answers[-1].ok

        _wait_for("a job to go through again", answered, timeout=90)
        assert {a.error.kind for a in answers if a.error is not None} <= {"backend", "busy"}
        assert worker.proc.poll() is None
    finally:
        rt.close()
        worker.stop()
        broker.stop()


def test_a_job_no_worker_takes_ends_busy(two_packs: Registry, tmp_path: Path) -> None:
    broker = _start_redis()  # no worker consumes its queues
    env = _environ(broker.url(), f"sqlite:///{tmp_path / 'audit.db'}", OPSPACK_JOBS_QUEUE_TIMEOUT_S="1")
    rt = _runner(two_packs, env)
    try:
        reply = rt.chat("thing list", Caller(user="alice"))
        assert reply.error is not None and reply.error.kind == "busy", reply.error
        assert "opspack.sample" in reply.error.message
        assert "opspack worker --packs sample" in (reply.error.hint or "")
        job = rt.jobs.find(user="alice", limit=1)[0]
        assert job.state == "failed" and job.attempts == 0
        assert [r.error_kind for r in _records(rt, "sample.thing.list")] == ["busy"]
    finally:
        rt.close()
        broker.stop()


def test_worker_needs_a_broker_and_a_shared_database(registry_file: Path, tmp_path: Path) -> None:
    def worker(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
        return subprocess.run(
            [sys.executable, "-m", "opspack.frontends.cli", "--registry", str(registry_file), "worker", *args],
            env={**base, "PYTHONPATH": str(SAMPLE), **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    no_broker = worker(OPSPACK_AUDIT_URL=f"sqlite:///{tmp_path / 'a.db'}")
    assert no_broker.returncode == 1 and "OPSPACK_BROKER_URL" in no_broker.stderr
    not_redis = worker(OPSPACK_BROKER_URL="amqp://guest@localhost//")
    assert not_redis.returncode == 1 and "must be Redis" in not_redis.stderr
    no_database = worker(OPSPACK_BROKER_URL="redis://127.0.0.1:1/0", OPSPACK_AUDIT_URL="off")
    assert no_database.returncode == 1 and "audit database" in no_database.stderr
    unknown = worker(
        "--packs", "sample,nope", OPSPACK_BROKER_URL="redis://127.0.0.1:1/0", OPSPACK_AUDIT_URL="sqlite:///x.db"
    )
    assert unknown.returncode == 1 and "No pack named nope" in unknown.stderr and "sample" in unknown.stderr
    for proc in (no_broker, not_redis, no_database, unknown):
        assert "Traceback" not in proc.stderr


def test_postgresql_as_the_shared_database(
    two_packs: Registry, redis: RedisServer, registry_file: Path, postgres_url: str, tmp_path: Path
) -> None:
    env = _environ(redis.url(db=2), postgres_url)
    worker = Worker(registry_file, env, tmp_path / "worker.log", packs="sample")
    rt = _runner(two_packs, env)
    try:
        seen: list[Progress] = []
        reply = rt.chat("thing change-slowly --seconds 0.5 --key pg", Caller(user="alice", on_progress=seen.append))
        assert reply.ok, reply.error
        assert len(seen) == 10
        assert rt.jobs.find(user="alice", limit=1)[0].state == "succeeded"
        assert len(_records(rt, "sample.thing.change_slowly")) == 1
    finally:
        rt.close()
        worker.stop()


def test_the_runner_stays_responsive_while_many_jobs_run(runner: Runtime) -> None:
    replies: list[Reply] = []
    threads = [
        threading.Thread(target=lambda user=f"u{i}": replies.append(runner.chat("thing list", Caller(user=user))))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(replies) == 8 and all(r.ok for r in replies), [r.error for r in replies]
