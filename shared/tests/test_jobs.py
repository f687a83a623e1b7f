"""Jobs: ids, states and progress in the shared database; worker processes that can be
stopped; bulkheads; the chat words and what the audit trail says."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opspack.context import Caller
from opspack.executor import Embedded
from opspack.frontends.gateway import Gateway
from opspack.jobs import JobStore
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack.store import Database

SAMPLE = str(Path(__file__).parent / "sample_pack")


def _environ(environ: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **environ, "PYTHONPATH": SAMPLE}


@pytest.fixture
def pooled(registry: Registry, environ: dict[str, str], tmp_path: Path) -> Iterator[Runtime]:
    """A runtime with a pool of two worker processes, its jobs in an SQLite file."""
    from opspack.audit import AuditLog

    env = _environ(environ)
    rt = Runtime(
        registry,
        config=Config(data={}, environ=env),
        audit=AuditLog(f"sqlite:///{tmp_path / 'audit.db'}"),
        executor=lambda r: Embedded(
            workers=2, per_user=2, per_pack=3, queue_timeout_s=5, registry_data=registry.to_data(), environ=env
        ),
    )
    yield rt
    rt.close()


def test_ids_are_unique_across_stores_on_one_database(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    a, b = JobStore(db, beat=False), JobStore(db, beat=False)
    ids = [a.new(command="x", user="u").id for _ in range(150)] + [b.new(command="x", user="u").id for _ in range(150)]
    assert len(set(ids)) == 300 and all(i > 0 for i in ids)
    a.close()
    b.close()


def test_a_job_is_written_behind_and_read_by_another_store(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    mine, other = JobStore(db, beat=False), JobStore(db, beat=False)
    job = mine.new(command="sample.thing.list", user="alice", pack="sample")
    assert mine.start(job.id)
    mine.report(job.id, "half way", 50.0)
    mine.flush()
    seen = other.get(job.id)
    assert seen is not None and seen.state == "running" and [p.message for p in seen.progress] == ["half way"]
    mine.finish(job.id, "succeeded", {"ok": True, "command": "sample.thing.list", "results": [], "error": None})
    mine.flush()
    done = other.get(job.id)
    assert done is not None and done.state == "succeeded" and done.reply is not None and done.reply["ok"]
    assert done.to_dict()["progress"][0]["percent"] == 50.0
    assert [j.id for j in other.find(user="alice")] == [job.id]
    mine.close()
    other.close()


def test_claim_is_a_compare_and_set(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    runner, w1, w2 = (JobStore(db, beat=False) for _ in range(3))
    job = runner.new(command="c", user="u")
    runner.flush()
    got = [w.claim(job.id) for w in (w1, w2)]
    assert sum(g is not None for g in got) == 1
    for s in (runner, w1, w2):
        s.close()


def test_a_released_job_is_the_database_s_and_other_processes_end_it(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    runner, worker = JobStore(db, beat=False), JobStore(db, beat=False)
    job = runner.new(command="c", user="u")
    released = runner.release(job.id)
    assert released is not None and released.state == "queued"
    assert worker.claim(job.id) is not None
    # the runner's calls no longer touch it: the worker's claim stands
    assert not runner.start(job.id) and runner.report(job.id, "x") is None
    assert runner.finish(job.id, "failed", None) is None
    runner.flush()
    assert runner.get(job.id).state == "running"  # type: ignore[union-attr]
    # ending is a compare-and-set on the state and on who holds it
    assert not worker.end(job.id, "failed", None, only_from=("queued",))
    assert not worker.end(job.id, "failed", None, host="someone-else")
    assert not worker.requeue(job.id, host="someone-else")
    assert worker.end(job.id, "succeeded", {"ok": True}, only_from=("running",), host=worker.host)
    assert runner.get(job.id).state == "succeeded"  # type: ignore[union-attr]
    runner.close()
    worker.close()


def test_a_job_ended_elsewhere_is_not_reopened_by_its_holder(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    runner, worker = JobStore(db, beat=False), JobStore(db, beat=False)
    job = runner.new(command="c", user="u")
    runner.release(job.id)
    assert worker.claim(job.id) is not None
    runner.request_cancel(job.id)
    worker.report(job.id, "still going", 50.0)  # the worker's copy knows of no cancellation
    worker.flush()
    assert worker.cancel_requested(job.id)  # its write kept the cancellation asked for
    assert runner.end(job.id, "cancelled", None)
    worker.report(job.id, "and going", 60.0)
    worker.flush()
    ended = runner.get(job.id)
    assert ended is not None and ended.state == "cancelled"
    runner.close()
    worker.close()


def test_jobs_of_a_host_that_stopped_end_interrupted(tmp_path: Path) -> None:
    import opspack.jobs as jobs

    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    dead, alive = JobStore(db), JobStore(db)
    job = dead.new(command="c", user="u")
    dead.start(job.id)
    dead.flush()
    dead._beating.set()  # it stops beating, as a process killed with -9 would
    db.execute(
        "UPDATE opspack_job_hosts SET seen = ? WHERE name = ?", (time.time() - jobs.HOST_TIMEOUT_S - 1, dead.host)
    )
    assert alive.reap() == [job.id]
    ended = alive.get(job.id)
    assert ended is not None and ended.state == "interrupted" and ended.reply is not None
    assert ended.reply["error"]["kind"] == "interrupted"
    alive.close()


def test_jobs_of_a_store_that_never_beats_are_not_reaped(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    quiet, reaper = JobStore(db, beat=False), JobStore(db)  # the command line's store, a worker's
    job = quiet.new(command="c", user="u")
    quiet.start(job.id)
    quiet.flush()
    assert reaper.reap() == []
    assert quiet.get(job.id).state == "running"  # type: ignore[union-attr]
    quiet.close()
    reaper.close()


def test_commands_run_in_worker_processes(pooled: Runtime) -> None:
    reply = pooled.chat("thing list --limit 2", Caller(user="alice"))
    assert reply.ok, reply.error
    jobs = pooled.jobs.find(user="alice")
    assert jobs[0].state == "succeeded" and jobs[0].command == "sample.thing.list"


def test_a_hung_command_is_killed_at_its_timeout_and_its_worker_replaced(pooled: Runtime) -> None:
    # `thing hang` ignores SIGALRM's exception by sleeping in C: only killing the process stops it
    started = time.monotonic()
    reply = pooled.chat("thing hang --seconds 60", Caller(user="alice"))
    assert reply.error is not None and reply.error.kind == "timeout"
    assert time.monotonic() - started < 20
    again = pooled.chat("thing list --limit 1", Caller(user="alice"))
    assert again.ok, again.error
    assert pooled.executor.stats()["running"] == 0  # type: ignore[attr-defined]


def test_bulkheads_answer_busy_and_spare_other_users(pooled: Runtime) -> None:
    replies: list[object] = []
    threads = [
        threading.Thread(target=lambda: replies.append(pooled.chat("thing hang --seconds 3", Caller(user="mallory"))))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while pooled.executor.stats()["running"] < 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    third = pooled.chat("thing list", Caller(user="mallory"))
    assert third.error is not None and third.error.kind == "busy" and "per-user limit" in third.error.message
    for t in threads:
        t.join()
    assert pooled.chat("thing list", Caller(user="alice")).ok


def test_cancel_stops_a_running_job(pooled: Runtime) -> None:
    gateway = Gateway(pooled)
    job = pooled.start(gateway_parse(pooled, "thing hang --seconds 30"), Caller(user="alice"))
    assert not isinstance(job, type(None))
    deadline = time.monotonic() + 10
    while pooled.executor.stats()["running"] < 1 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    other = gateway.chat(f"job cancel {job.id}", Caller(user="bob"))  # type: ignore[union-attr]
    assert other.error is not None and other.error.kind == "denied"
    own = gateway.chat(f"job cancel {job.id}", Caller(user="alice"))  # type: ignore[union-attr]
    assert own.ok, own.error
    reply = pooled.wait(job)  # type: ignore[arg-type]
    assert reply.error is not None and reply.error.kind == "cancelled"
    pooled.jobs.flush()
    assert pooled.jobs.get(job.id).state == "cancelled"  # type: ignore[union-attr]


def test_a_worker_killed_mid_job_ends_it_interrupted(pooled: Runtime) -> None:
    box: list[object] = []
    t = threading.Thread(target=lambda: box.append(pooled.chat("thing change-slowly --seconds 5", Caller(user="al"))))
    t.start()
    deadline = time.monotonic() + 10
    pids: list[int] = []
    while not pids and time.monotonic() < deadline:
        pids = [w.process.pid for w in pooled.executor.busy_workers()]  # type: ignore[attr-defined]
        time.sleep(0.05)
    os.kill(pids[0], signal.SIGKILL)
    t.join()
    reply = box[0]
    assert reply.error is not None and reply.error.kind == "interrupted"  # type: ignore[attr-defined]


def gateway_parse(rt: Runtime, text: str) -> object:
    from opspack import grammar

    return grammar.parse(text, rt.registry)


def test_a_job_past_its_timeout_whose_host_never_beat_ends_interrupted(tmp_path: Path) -> None:
    """The command line's jobs (no heartbeat): one left running by a process that crashed ends
    once it is past its timeout, so no job stays open forever."""
    import opspack.jobs as jobs

    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    cli, runner = JobStore(db, beat=False), JobStore(db)
    fresh = cli.new(command="c", user="u", timeout_s=30.0)
    stale = cli.new(command="c", user="u", timeout_s=30.0)
    for job in (fresh, stale):
        cli.start(job.id)
    cli.flush()
    long_ago = time.time() - 30.0 - jobs.HOST_TIMEOUT_S - 1
    db.execute("UPDATE opspack_jobs SET created = ? WHERE id = ?", (long_ago, stale.id))
    assert runner.reap() == [stale.id]
    assert runner.get(fresh.id).state == "running"  # type: ignore[union-attr]
    runner.close()
