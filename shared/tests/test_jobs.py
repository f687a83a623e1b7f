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


# -- calls awaited on an event loop (opspack serve's hot path) ------------------------------
def _ready(rt: Runtime) -> None:
    """Wait until every worker process has started and an id block is at hand."""
    rt.jobs.new(command="warm", user="x")
    deadline = time.monotonic() + 30
    while rt.executor.stats()["idle"] < 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)


@pytest.fixture
def no_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fails a test in which a call on the loop fell back to a thread of its own."""
    fell_back: list[int] = []
    original = Embedded._in_thread

    def spy(self: Embedded, item: object, *args: object, **kwargs: object) -> object:
        fell_back.append(item.job)  # type: ignore[attr-defined]
        return original(self, item, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Embedded, "_in_thread", spy)
    return fell_back


def _on_loop(rt: Runtime, *calls: tuple[str, str]) -> list[object]:
    """Run chat texts ``(user, text)`` at once through Gateway.chat_async on one event loop."""
    import asyncio

    gateway = Gateway(rt)
    _ready(rt)

    async def offload(func: object, *args: object) -> object:
        return await asyncio.to_thread(func, *args)  # type: ignore[arg-type]

    async def main() -> list[object]:
        return list(
            await asyncio.gather(*(gateway.chat_async(text, Caller(user=u), None, offload) for u, text in calls))
        )

    return asyncio.run(main())


def test_calls_on_an_event_loop_wait_in_line_for_a_worker(pooled: Runtime, no_threads: list[int]) -> None:
    _ready(pooled)
    assert pooled.runs_on_loop(gateway_parse(pooled, "thing list"), Caller(user="a"))  # type: ignore[arg-type]
    # six calls (three users, two each: the per-user limit) on two workers: four wait in line
    assert isinstance(pooled.executor, Embedded)
    pooled.executor.limits.per_pack = 6
    pooled.executor.limits.queue_timeout_s = 120  # the order is under test, not the time: a loaded machine may be slow
    texts = [(f"u{i % 3}", "thing change-slowly --seconds 0.3") for i in range(6)]
    replies = _on_loop(pooled, *texts)
    assert all(r.ok for r in replies), [r.error for r in replies]  # type: ignore[attr-defined]
    assert pooled.executor.stats() == {"queued": 0, "running": 0, "idle": 2, "workers": 2}
    assert no_threads == []  # all six driven by the loop itself
    pooled.jobs.flush()
    done = [j for u in ("u0", "u1", "u2") for j in pooled.jobs.find(user=u)]
    assert len(done) == 6 and {j.state for j in done} == {"succeeded"}
    assert all(len(pooled.jobs.get(j.id).progress) == 10 for j in done)  # type: ignore[union-attr]  # read off the pipe by the loop
    # never more than two at once: at each start, fewer than two others were running
    for job in done:
        assert job.started is not None and job.finished is not None
        overlapping = [o for o in done if o is not job and o.started <= job.started < o.finished]  # type: ignore[operator]
        assert len(overlapping) <= 1, (job.id, [o.id for o in overlapping])


def test_on_an_event_loop_a_hung_command_is_killed_and_a_waiting_call_answers_busy(pooled: Runtime) -> None:
    assert isinstance(pooled.executor, Embedded)
    pooled.executor.limits.queue_timeout_s = 0.5
    replies = _on_loop(
        pooled, ("alice", "thing hang --seconds 60"), ("bob", "thing hang --seconds 60"), ("carol", "thing list")
    )
    kinds = [r.error.kind if r.error else None for r in replies]  # type: ignore[attr-defined]
    assert kinds == ["timeout", "timeout", "busy"], replies
    # the killed workers were replaced: the pool serves again, from the loop and from threads
    assert [r.ok for r in _on_loop(pooled, ("alice", "thing list"), ("bob", "thing list"))] == [True, True]  # type: ignore[attr-defined]
    assert pooled.chat("thing list", Caller(user="carol")).ok
    assert pooled.executor.stats()["running"] == 0


def test_on_an_event_loop_cancel_and_a_killed_worker_end_the_job(pooled: Runtime, no_threads: list[int]) -> None:
    import asyncio

    _ready(pooled)
    gateway = Gateway(pooled)
    executor = pooled.executor
    assert isinstance(executor, Embedded)

    async def offload(func: object, *args: object) -> object:
        return await asyncio.to_thread(func, *args)  # type: ignore[arg-type]

    async def main() -> list[object]:
        cancelled = asyncio.ensure_future(
            gateway.chat_async("thing change-slowly --seconds 10 --key a", Caller(user="alice"), None, offload)
        )
        killed = asyncio.ensure_future(
            gateway.chat_async("thing change-slowly --seconds 10 --key b", Caller(user="bob"), None, offload)
        )
        while len(executor.busy_workers()) < 2:
            await asyncio.sleep(0.05)
        by_user = {r.item.user: r for r in executor._running.values()}
        assert executor.cancel(by_user["alice"].item.job)
        os.kill(by_user["bob"].worker.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
        return [await asyncio.wait_for(cancelled, 10), await asyncio.wait_for(killed, 10)]

    cancelled, killed = asyncio.run(main())
    assert cancelled.error is not None and cancelled.error.kind == "cancelled"  # type: ignore[attr-defined]
    assert killed.error is not None and killed.error.kind == "interrupted"  # type: ignore[attr-defined]
    assert no_threads == []
    assert executor.stats()["running"] == 0
    assert pooled.chat("thing list", Caller(user="carol")).ok


def test_on_an_event_loop_a_read_whose_worker_died_runs_again_once(pooled: Runtime, tmp_path: Path) -> None:
    import asyncio

    _ready(pooled)
    gateway = Gateway(pooled)
    executor = pooled.executor
    assert isinstance(executor, Embedded)
    log = tmp_path / "runs.log"

    async def offload(func: object, *args: object) -> object:
        return await asyncio.to_thread(func, *args)  # type: ignore[arg-type]

    async def main() -> object:
        call = asyncio.ensure_future(
            gateway.chat_async(f"thing probe {log} --seconds 1", Caller(user="alice"), None, offload)
        )
        while not (log.exists() and log.read_text().strip()):  # the first run has begun
            await asyncio.sleep(0.05)
        os.kill(executor.busy_workers()[0].process.pid, signal.SIGKILL)
        return await asyncio.wait_for(call, 20)

    reply = asyncio.run(main())
    assert reply.ok, reply.error  # type: ignore[attr-defined]
    assert len(log.read_text().split()) == 2  # the killed run and the one after it, no more
