"""Jobs on a real `opspack serve`: hung commands of one user against everyone else's, and
worker processes killed with -9 in the middle of a burst of changes.

1. The flood: a server that drips one byte a second; user mallory sends 70 `server test
   127.0.0.1 --url http://<drip>/` at once (each would hang until its 30 s timeout), then
   user alice runs `server test 127.0.0.1 --ports <open port>` 20 times: her median and p90
   answer times, and how mallory's 70 were answered (busy at once past the per-user limit,
   timeout for the four that ran). Run against the runner's pool of worker processes and,
   for comparison, the thread path (``[jobs] executor = "threads"``: commands in threads of
   the runner, which cannot be stopped).
2. kill -9: 200 `friction add job-N` (a change, not idempotent) from 20 users, while one
   worker process after another is killed with -9: then every job has ended (none left
   queued or running), none ran twice (the friction log holds each text at most once), and
   each one that did not succeed ended `interrupted`.

    python benchmarks/bench_jobs.py [--flood 70] [--alice 20] [--burst 200]

Targets (issue "Jobs"): alice's median under 1 s while mallory's 70 hang; 0 run twice and 0
lost without an `interrupted` state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TOKEN = "bench-token-0123456789"  # noqa: S105  (a throwaway loopback token)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _opspack() -> str:
    exe = Path(sys.executable).with_name("opspack")
    return str(exe) if exe.exists() else "opspack"


@contextlib.contextmanager
def _listener(drip: bool) -> Iterator[int]:
    """A loopback server: one that drips a byte a second to every client (drip), or one that
    accepts and closes (an open port)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            while not stop.is_set():
                try:
                    conn.sendall(b"H")
                except OSError:
                    return
                stop.wait(1.0)

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            if drip:
                threading.Thread(target=serve_one, args=(conn,), daemon=True).start()
            else:
                conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        server.close()


@contextlib.contextmanager
def _runner(
    folder: Path, executor: str, registry: str | None = None, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env.update(
        OPSPACK_SERVE_TOKENS=TOKEN,
        OPSPACK_SERVE_RATE="0",  # one token for every client here: its rate limit is not what is measured
        OPSPACK_AUDIT_URL=f"sqlite:///{folder / 'audit.db'}",
        OPSPACK_JOBS_EXECUTOR=executor,
        XDG_DATA_HOME=str(folder),
    )
    env.update(settings)
    log = open(folder / f"serve-{executor}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            _opspack(),
            *(["--registry", registry] if registry else []),
            "serve",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()  # noqa: S310 - loopback
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = (folder / f"serve-{executor}.log").read_text()
                    raise SystemExit(f"opspack serve did not start:\n{text}") from None
                time.sleep(0.1)
        time.sleep(1.0)  # the pool's workers start with the runner
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _post(url: str, path: str, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 - loopback
        data: dict[str, Any] = json.loads(r.read())
        return data


def flood(executor: str, n_flood: int, n_alice: int, alice_timeout: float = 10.0) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp,
        _listener(drip=True) as drip,
        _listener(drip=False) as open_port,
        _runner(Path(tmp), executor) as (url, _),
    ):
        mallory: list[str] = []

        def hang() -> None:
            text = f"server test 127.0.0.1 --url http://127.0.0.1:{drip}/"
            try:
                reply = _post(url, "/chat", {"text": text, "user": "mallory"}, timeout=150)
            except OSError:
                return  # the runner was stopped under it
            mallory.append("ok" if reply["ok"] else reply["error"]["kind"])

        threads = [threading.Thread(target=hang, daemon=True) for _ in range(n_flood)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        took = []
        answers = []
        for _ in range(n_alice):
            started = time.perf_counter()
            try:
                text = f"server test 127.0.0.1 --ports {open_port}"
                reply = _post(url, "/chat", {"text": text, "user": "alice"}, timeout=alice_timeout)
                answers.append("ok" if reply["ok"] else reply["error"]["kind"])
            except OSError as exc:
                answers.append(f"no answer ({type(exc).__name__})")
            took.append(time.perf_counter() - started)
        counts: dict[str, int] = {"still hanging": n_flood - len(mallory)}
        for kind in list(mallory):
            counts[kind] = counts.get(kind, 0) + 1
        # the rest hang until their 120 s timeout; stopping the runner ends them
        return {
            "executor": executor,
            "alice_median_s": statistics.median(took),
            "alice_p90_s": sorted(took)[int(0.9 * (len(took) - 1))],
            "alice_answers": sorted(set(answers)),
            "mallory": counts,
        }


def _workers_of(runner_pid: int) -> list[int]:
    """The worker processes of a runner: children of its forkserver (a child of the runner)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        children.setdefault(ppid, []).append(int(entry))
    return [w for fork in children.get(runner_pid, []) for w in children.get(fork, [])]

    # 20 users at once on one pack: room past the per-pack bulkhead (8 by default), which would answer busy


def kill_burst(n: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-jobs-kill-") as tmp,
        _runner(Path(tmp), "embedded", OPSPACK_JOBS_PER_PACK="64") as (
            url,
            proc,
        ),
    ):
        answers: list[dict[str, Any]] = []
        lock = threading.Lock()
        todo = list(range(n))

        def client(user: str) -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop(0)
                reply = _post(url, "/chat", {"text": f"friction add job-{i}", "user": user})
                with lock:
                    answers.append(reply)

        threads = [threading.Thread(target=client, args=(f"user{u}",), daemon=True) for u in range(20)]
        for t in threads:
            t.start()
        kills = 0
        while any(t.is_alive() for t in threads):
            workers = _workers_of(proc.pid)
            if workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(workers[kills % len(workers)], signal.SIGKILL)
                    kills += 1
            time.sleep(0.5)
        for t in threads:
            t.join()
        time.sleep(0.5)  # the jobs and the audit trail are written behind
        with contextlib.closing(sqlite3.connect(Path(tmp) / "audit.db")) as db:
            texts = [r[0] for r in db.execute("SELECT text FROM opspack_friction")]
            states = dict(
                db.execute(
                    "SELECT state, COUNT(*) FROM opspack_jobs WHERE command = 'core.friction.add' GROUP BY state"
                )
            )
        twice = len(texts) - len(set(texts))
        kinds: dict[str, int] = {}
        for a in answers:
            k = "ok" if a["ok"] else a["error"]["kind"]
            kinds[k] = kinds.get(k, 0) + 1
        return {
            "jobs": n,
            "workers_killed": kills,
            "answers": kinds,
            "job_states": states,
            "ran_twice": twice,
            "open_jobs_left": states.get("queued", 0) + states.get("running", 0),
            "lost_without_state": n - sum(states.values()),
        }


NAP_PACK_INIT = '''"""A one-command pack for the benchmark: work that takes 100 ms."""
from opspack.pack import Pack

pack = Pack(name="benchnap", summary="Benchmark commands", modules=["opspack_benchnap.nap"], settings=[])
'''
NAP_PACK_MODULE = '''"""100 ms of waiting, as a quick call to a backend takes."""
import time

from opspack import Text, command


@command(group="work", verb="nap", words=["nap"], settings=[])
def nap(*, ms: int = 100) -> Text:
    """Wait, then answer.

    Args:
        ms: how long to wait
    """
    time.sleep(ms / 1000)
    return Text("rested")
'''


def throughput(n: int, connections: int = 16) -> dict[str, float]:
    """``n`` jobs of 100 ms through one runner with its own pool of 8 worker processes, then
    through a runner with Celery: 2 `opspack worker` x 4 processes over Redis. Jobs per second."""
    from opspack_testkit.servers.redis import RedisServer

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-jobs-nap-") as tmp:
        folder = Path(tmp)
        pkg = folder / "opspack_benchnap"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(NAP_PACK_INIT)
        (pkg / "nap.py").write_text(NAP_PACK_MODULE)
        sys.path.insert(0, tmp)
        from opspack.devtools.registry_build import registry_from_package

        registry = folder / "registry.json"
        registry.write_text(json.dumps(registry_from_package("opspack_benchnap", "0.0.1").to_data()))
        base = {
            "PYTHONPATH": tmp,
            "OPSPACK_JOBS_PER_PACK": str(4 * connections),
            "OPSPACK_JOBS_QUEUE_TIMEOUT_S": "120",
        }
        for mode in ("embedded", "celery"):
            with contextlib.ExitStack() as stack:
                settings = dict(base, OPSPACK_AUDIT_URL=f"sqlite:///{folder / (mode + '.db')}")
                if mode == "celery":
                    redis = stack.enter_context(RedisServer())
                    settings["OPSPACK_BROKER_URL"] = redis.url()
                    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")} | settings
                    for _ in range(2):
                        worker = subprocess.Popen(
                            [_opspack(), "--registry", str(registry), "worker", "--concurrency", "4"],
                            env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True,
                        )
                        stack.callback(_stop_group, worker)
                    time.sleep(3.0)  # the workers connect to Redis
                url, _ = stack.enter_context(_runner(folder, "embedded", registry=str(registry), **settings))
                _post(url, "/invoke", {"command": "benchnap.work.nap", "args": {"ms": 1}, "user": "warm"})
                rate, failures = _naps(url, n, connections)
                results[mode] = rate
                results[mode + "_failures"] = float(failures)
    return results


def _naps(url: str, n: int, connections: int) -> tuple[float, int]:
    """``n`` naps from ``connections`` clients at once: jobs per second, and how many failed."""
    todo = list(range(n))
    lock = threading.Lock()
    failures: list[str] = []

    def client(user: str) -> None:
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            reply = _post(url, "/invoke", {"command": "benchnap.work.nap", "user": user})
            if not reply["ok"]:
                failures.append(reply["error"]["kind"])

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(f"u{c}",)) for c in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.perf_counter() - started), len(failures)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flood", type=int, default=70)
    p.add_argument("--alice", type=int, default=20)
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--naps", type=int, default=1000, help="jobs of 100 ms for the throughput comparison")
    args = p.parse_args()
    print(f"jobs on opspack serve ({os.cpu_count()} CPUs, loopback)")
    # the thread path is measured with fewer tries: each may wait its whole 10 s client timeout
    for executor, tries in (("embedded", args.alice), ("threads", min(args.alice, 3))):
        r = flood(executor, args.flood, tries)
        print(
            f"  flood, {executor:8s}: alice's {tries} server tests: median {r['alice_median_s'] * 1000:.0f} ms, "
            f"p90 {r['alice_p90_s'] * 1000:.0f} ms ({r['alice_answers']}); mallory's {args.flood} "
            f"when alice was done: {r['mallory']}"
        )
    r = kill_burst(args.burst)
    print(
        f"  kill -9:  {r['jobs']} `friction add` jobs, {r['workers_killed']} workers killed: answers {r['answers']}, "
        f"job states {r['job_states']}, ran twice {r['ran_twice']}, left open {r['open_jobs_left']}, "
        f"lost without a state {r['lost_without_state']}   (targets: 0, 0, 0)"
    )
    t = throughput(args.naps)
    print(
        f"  {args.naps} jobs of 100 ms, 16 clients: one runner's 8 worker processes {t['embedded']:.1f} jobs/s; "
        f"Celery, 2 workers x 4 processes over Redis {t['celery']:.1f} jobs/s "
        f"({t['celery'] / t['embedded']:.2f}x; failures {t['embedded_failures']:.0f} / {t['celery_failures']:.0f}; "
        "ideal 80 jobs/s)"
    )


if __name__ == "__main__":
    main()
