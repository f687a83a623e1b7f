"""Core overhead: dispatch (chat text → reply rendered as Markdown) and registry loading.

Targets (issue: Core): dispatch adds at most 200 µs (median) over calling the function
directly and rendering its table; a registry of 5,000 commands loads in at most 100 ms
and 50 MB. Also reported: the audit trail's write rate on SQLite (the standard library's
sqlite3, a background writer storing batches), and one `opspack run` from a cold start
with the audit trail on (wall time and peak memory of the process).
Run: ``nox -s benchmarks`` or ``python benchmarks/bench_core.py``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "benchpack"))


def median_us(fn: object, n: int) -> float:
    samples = []
    call = fn  # type: ignore[assignment]
    for _ in range(50):
        call()  # type: ignore[operator]
    for _ in range(n):
        t = time.perf_counter_ns()
        call()  # type: ignore[operator]
        samples.append(time.perf_counter_ns() - t)
    return statistics.median(samples) / 1000


def bench_dispatch(n: int = 5000, audit_dir: str | None = None, timeouts: str = "thread") -> dict[str, float]:
    from opspack.audit import AuditLog
    from opspack.context import Caller
    from opspack.devtools.registry_build import registry_from_package
    from opspack.renderers.markdown import render_markdown
    from opspack.results import Reply
    from opspack.runtime import Runtime
    from opspack.settings import Config
    from opspack_bench.trivial import ten_rows

    audit = AuditLog(f"sqlite:///{audit_dir}/audit.db") if audit_dir else None
    runtime = Runtime(
        registry_from_package("opspack_bench"),
        config=Config(data={}, environ={}),
        audit=audit,
        timeouts=timeouts,  # type: ignore[arg-type]
    )
    caller = Caller()
    text = "vm list --cluster prod --limit 10"
    reply = runtime.chat(text, caller)
    assert reply.ok and len(reply.results[0].rows) == 10  # type: ignore[attr-defined]

    def direct() -> None:
        render_markdown(Reply(ok=True, command=None, results=[ten_rows("prod", 10)]))

    def full() -> None:
        render_markdown(runtime.chat(text, caller))

    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(4)

    def handoff() -> None:
        pool.submit(int).result()

    d = median_us(direct, n)
    f = median_us(full, n)
    h = median_us(handoff, n)
    pool.shutdown()
    runtime.close()
    return {"direct_us": d, "dispatch_us": f, "overhead_us": f - d, "handoff_us": h}


def bench_audit_writes(audit_dir: str, n: int = 20_000, threads: int = 4) -> dict[str, float]:
    """Records per second into the SQLite audit trail, queued by ``threads`` threads, until flushed."""
    import threading

    from opspack.audit import AuditLog, Record

    audit = AuditLog(f"sqlite:///{audit_dir}/writes.db")

    def produce(k: int) -> None:
        for i in range(n // threads):
            text = f"vm list --limit {i}"
            audit.record(Record(time.time(), f"user{k}", "#ops", "bench", "bench.vm.list", text, "{}", True, None, 1.0))

    t = time.perf_counter()
    workers = [threading.Thread(target=produce, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    audit.flush()
    elapsed = time.perf_counter() - t
    stored = audit.count()
    audit.close()
    assert stored == n // threads * threads, stored
    return {"records": stored, "per_second": stored / elapsed}


def bench_cold_run(audit_dir: str, runs: int = 5) -> dict[str, float]:
    """One `opspack run` process with the audit trail on: median wall time and the largest peak RSS."""
    import os
    import resource

    from opspack.devtools.registry_build import registry_from_package

    registry = Path(audit_dir) / "registry.json"
    registry.write_text(json.dumps(registry_from_package("opspack_bench").to_data()))
    env = {**os.environ, "PYTHONPATH": str(HERE / "benchpack"), "OPSPACK_AUDIT_URL": f"sqlite:///{audit_dir}/run.db"}
    cli = [sys.executable, "-m", "opspack.frontends.cli", "--registry", str(registry)]
    cmd = [*cli, "run", "--", "vm", "list", "--limit", "3"]
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # compiles .pyc files, creates the database
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - t)
    # ru_maxrss of waited-for children: the largest of these runs (KiB on Linux)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_ms": statistics.median(walls) * 1000, "peak_mb": peak_kib / 1024}


def make_registry(path: Path, count: int) -> None:
    """A registry of ``count`` commands shaped like real entries (60 packs)."""
    from opspack.devtools.registry_build import registry_from_package

    template = registry_from_package("opspack_bench").to_data()["commands"][0]
    commands = []
    for i in range(count):
        pack = f"pack{i % 60}"
        entry = json.loads(json.dumps(template))
        entry["id"] = f"{pack}.group{i // 60 % 40}.verb{i}"
        entry["pack"]["name"] = pack
        entry["chat"]["words"] = [f"group{i // 60 % 40}", f"verb{i}"]
        entry["chat"]["usage"] = f"group{i // 60 % 40} verb{i} [--cluster CLUSTER] [--limit LIMIT]"
        entry["summary"] = f"Do thing number {i} to the infrastructure"
        entry["description"] = "A longer description of what this command does and why. " * 3
        commands.append(entry)
    path.write_text(json.dumps({"schema_version": 1, "packs": [], "commands": commands}))


LOAD = """
import json, sys, time, tracemalloc
if sys.argv[2] == "memory":
    tracemalloc.start()
t0 = time.perf_counter()
from opspack.registry import Registry
t = time.perf_counter()
reg = Registry.from_file(sys.argv[1])
found, n = reg.match(["group35", "verb4503", "--limit", "3"])
elapsed = time.perf_counter() - t
peak = tracemalloc.get_traced_memory()[1]
assert found and found[0]["id"].endswith("verb4503"), found
print(json.dumps({"seconds": elapsed, "import_seconds": t - t0, "peak_bytes": peak, "commands": len(reg)}))
"""


def bench_registry(count: int = 5000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registry.json"
        make_registry(path, count)
        size = path.stat().st_size

        def run(mode: str) -> dict[str, float]:
            cmd = [sys.executable, "-c", LOAD, str(path), mode]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            data: dict[str, float] = json.loads(out.stdout)
            return data

        timed = [run("time") for _ in range(7)]
        memory = run("memory")
    return {
        "file_mb": size / 1e6,
        "load_ms": statistics.median(r["seconds"] for r in timed) * 1000,
        "import_ms": statistics.median(r["import_seconds"] for r in timed) * 1000,
        "peak_mb": memory["peak_bytes"] / 1e6,
    }


def main() -> None:
    s = bench_dispatch(timeouts="signal")
    print(
        f"dispatch as the command line and shell run it (timeouts by SIGALRM, no thread handoff): median "
        f"{s['dispatch_us']:.0f} µs; direct call + render: {s['direct_us']:.0f} µs; "
        f"overhead {s['overhead_us']:.0f} µs (target <= 200 µs)"
    )
    d = bench_dispatch()
    print(
        "dispatch as servers run it (a worker thread per command): chat text -> parse -> validate -> call -> "
        f"Markdown of 10 rows: median {d['dispatch_us']:.0f} µs; "
        f"direct call + render: {d['direct_us']:.0f} µs; overhead {d['overhead_us']:.0f} µs (target <= 200 µs)"
    )
    print(
        f"  of which one worker-thread handoff (how the runtime enforces timeouts), measured alone: "
        f"{d['handoff_us']:.0f} µs; the rest of the dispatch: {d['overhead_us'] - d['handoff_us']:.0f} µs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        a = bench_dispatch(audit_dir=tmp)
    print(
        f"dispatch with the audit trail on (SQLite, background writer): median {a['dispatch_us']:.0f} µs; "
        f"overhead {a['overhead_us']:.0f} µs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        w = bench_audit_writes(tmp)
    print(
        f"audit trail writes (SQLite through sqlite3, 4 threads queueing, one writer storing batches): "
        f"{w['per_second']:,.0f} records/s ({w['records']:,.0f} records)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        c = bench_cold_run(tmp)
    print(
        f"one `opspack run` from a cold start with the audit trail on (SQLite): median {c['wall_ms']:.0f} ms, "
        f"peak RSS {c['peak_mb']:.0f} MB (the largest of the benchmark's child processes so far)"
    )
    r = bench_registry()
    print(
        f"registry: 5,000 commands ({r['file_mb']:.1f} MB JSON) read + parse + index + first lookup in "
        f"{r['load_ms']:.0f} ms (target <= 100 ms), peak {r['peak_mb']:.1f} MB traced (target <= 50 MB); "
        f"importing opspack.registry into a fresh interpreter before that: {r['import_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
