"""Throughput and latency of `opspack serve`: POST /invoke of a trivial command.

Starts a real runner (uvicorn, one process) on a loopback port with a one-command
pack written to a temporary folder, then runs a load generator in a SEPARATE
process: an asyncio client holding keep-alive HTTP/1.1 connections, sending
pre-built requests and timing each answer. Bounded by count and time. Compares
with the naive way a non-Python bot would run a command without a runner: one
`opspack run --format json` process per request.

    python benchmarks/bench_serve.py [--connections 32] [--seconds 10] [--requests 20000]
        [--executors embedded,threads,celery]

Prints requests/s and the latency percentiles, with the commands in the runner's worker
processes (the default), for comparison in threads of the runner, and on Celery (one
`opspack worker --concurrency 4` over a Redis the benchmark starts); the target is
>= 1,000 requests/s with p99 < 50 ms at 32 connections on a 2-core machine, with the
runner's worker processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOKEN = "bench-token-0123456789"  # noqa: S105  (a throwaway loopback token)

PACK_INIT = '''"""A one-command pack for the benchmark."""
from opspack.pack import Pack

pack = Pack(name="benchping", summary="Benchmark commands", modules=["opspack_benchping.ping"], settings=[])
'''
PACK_MODULE = '''"""The trivial command."""
from opspack import Text, command


@command(group="net", verb="ping", words=["ping"], settings=[])
def ping(*, text: str = "pong") -> Text:
    """Answer at once.

    Args:
        text: what to answer
    """
    return Text(text)
'''


# -- the load generator (runs in its own process) ------------------------------------------
async def _worker(
    host: str, port: int, request: bytes, deadline: float, budget: list[int], latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != b"200" or b'"ok":true' not in body.replace(b" ", b""):
                errors.append(status.decode() + " " + body[:200].decode(errors="replace"))
    finally:
        writer.close()


def client_main(host: str, port: int, connections: int, seconds: float, requests: int) -> None:
    body = json.dumps({"command": "benchping.net.ping", "args": {"text": "pong"}, "user": "bench"}).encode()
    request = (
        f"POST /invoke HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors: list[str] = []

    async def run() -> float:
        deadline = time.perf_counter() + seconds
        budget = [requests]
        start = time.perf_counter()
        await asyncio.gather(
            *(_worker(host, port, request, deadline, budget, latencies, errors) for _ in range(connections))
        )
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    print(json.dumps({"elapsed": elapsed, "latencies": latencies, "errors": errors[:5], "error_count": len(errors)}))


# -- the benchmark ------------------------------------------------------------------------------
def ping_pack(tmp: str) -> tuple[Path, dict[str, str]]:
    """The one-command pack written to ``tmp``, its registry.json, and the environment of a
    runner serving it (the benchmark's token, no rate limit: one token makes every call)."""
    pkg = Path(tmp, "opspack_benchping")
    pkg.mkdir()
    (pkg / "__init__.py").write_text(PACK_INIT)
    (pkg / "ping.py").write_text(PACK_MODULE)
    sys.path.insert(0, tmp)
    from opspack.devtools.registry_build import registry_from_package

    registry = Path(tmp, "registry.json")
    registry.write_text(json.dumps(registry_from_package("opspack_benchping", "0.0.1").to_data()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env.update(PYTHONPATH=tmp, OPSPACK_SERVE_TOKENS=TOKEN, XDG_DATA_HOME=tmp, OPSPACK_SERVE_RATE="0")
    return registry, env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("opspack serve exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("opspack serve did not start")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _opspack() -> str:
    exe = Path(sys.executable).with_name("opspack")
    return str(exe) if exe.exists() else "opspack"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=32)
    p.add_argument(
        "--executors",
        type=lambda v: [x for x in v.split(",") if x],
        default=["embedded", "threads", "celery"],
        help="where commands run: embedded (worker processes), threads, celery (Redis and a worker)",
    )
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--naive", type=int, default=10, help="how many `opspack run` processes to time")
    p.add_argument("--client", nargs=2, metavar=("HOST", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        client_main(args.client[0], int(args.client[1]), args.connections, args.seconds, args.requests)
        return

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        registry, env = ping_pack(tmp)
        # one trivial command from every connection at once: the bulkheads (4 per user, 8 per
        # pack by default) would answer most of them `busy`, which is not what is measured here
        env.update(OPSPACK_JOBS_PER_USER=str(4 * args.connections), OPSPACK_JOBS_PER_PACK=str(4 * args.connections))
        results = {}
        for ex in args.executors:
            settings = {"OPSPACK_JOBS_EXECUTOR": ex, "OPSPACK_AUDIT_URL": f"sqlite:///{tmp}/{ex}.db"}
            if ex != "celery":
                results[ex] = _measure(args, registry, {**env, **settings})
                continue
            from opspack_testkit.servers.redis import RedisServer

            with RedisServer() as redis:
                settings.update(OPSPACK_JOBS_EXECUTOR="embedded", OPSPACK_BROKER_URL=redis.url())
                worker = subprocess.Popen(
                    [_opspack(), "--registry", str(registry), "worker", "--concurrency", "4"],
                    env={**env, **settings},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    results[ex] = _measure(args, registry, {**env, **settings})
                finally:
                    worker.terminate()
                    worker.wait(timeout=30)

        naive: list[float] = []
        for _ in range(args.naive):
            start = time.perf_counter()
            subprocess.run(
                [_opspack(), "--registry", str(registry), "run", "--format", "json", "--", "ping"],
                env=env,
                check=True,
                capture_output=True,
            )
            naive.append(time.perf_counter() - start)

    print(f"opspack serve, POST /invoke of a trivial command ({os.cpu_count()} CPUs, loopback)")
    print(
        f"  load generator: separate process, {args.connections} keep-alive connections, "
        f"bounded by {args.requests} requests / {args.seconds:g} s"
    )
    for executor, result in results.items():
        lat: list[float] = result["latencies"]
        rps = len(lat) / result["elapsed"]
        result["rps"] = rps
        where = {
            "embedded": "the runner's worker processes ([jobs] executor = embedded)",
            "threads": "threads of the runner ([jobs] executor = threads)",
            "celery": "a Celery worker of 4 processes over Redis ([jobs] broker)",
        }.get(executor, executor)
        print(f"  commands in {where}:")
        print(f"    requests:     {len(lat)} in {result['elapsed']:.2f} s, errors: {result['error_count']}")
        print(f"    throughput:   {rps:,.0f} requests/s   (target >= 1,000 with worker processes)")
        print(f"    latency (ms): p50 {_pct(lat, 0.50):.1f}  p90 {_pct(lat, 0.90):.1f}  ", end="")
        print(f"p99 {_pct(lat, 0.99):.1f}  max {max(lat) * 1000:.1f}   (target p99 < 50)")
        if result["errors"]:
            print(f"    first errors: {result['errors']}")
    if {"embedded", "threads"} <= set(results):
        ratio = results["embedded"]["rps"] / results["threads"]["rps"]
        print(f"  worker processes answer {ratio:.2f}x the requests per second of threads")
    if {"embedded", "celery"} <= set(results):
        ratio = results["celery"]["rps"] / results["embedded"]["rps"]
        print(f"  Celery answers {ratio:.2f}x the requests per second of the runner's worker processes")
    rps = max(r["rps"] for r in results.values())
    print("naive way, one `opspack run --format json` process per request:")
    print(
        f"  {len(naive)} runs, mean {statistics.mean(naive) * 1000:.0f} ms each "
        f"-> {1 / statistics.mean(naive):.1f} requests/s sequentially"
    )
    print(f"  the runner answers {rps * statistics.mean(naive):,.0f}x as many requests per second")


def _measure(args: argparse.Namespace, registry: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start a runner with ``env``, warm it up, put the load on it; the client's result."""
    port = _free_port()
    server = subprocess.Popen(
        [
            _opspack(),
            "--registry",
            str(registry),
            "serve",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        _wait(port, server)
        client = [sys.executable, __file__, "--client", "127.0.0.1", str(port)]
        # Warm up (imports, the command's module in every worker, the pools), then measure.
        subprocess.run(
            [*client, "--connections", str(args.connections), "--seconds", "3", "--requests", "2000"],
            check=True,
            capture_output=True,
        )
        out = subprocess.run(
            [
                *client,
                "--connections",
                str(args.connections),
                "--seconds",
                str(args.seconds),
                "--requests",
                str(args.requests),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


if __name__ == "__main__":
    main()
