"""`opspack serve` under 20,000 idle connections: /chat latency and /healthz meanwhile.

Starts a real runner (uvicorn, one process) on a loopback port with its open-files limit
set to 20,000 (as a runner that 21,000 idle connections once stopped), a one-command pack
(the one of bench_serve.py). Then, in SEPARATE processes:

- attackers hold --idle connections that never send a byte, spread over processes and
  loopback source addresses (so neither the clients' own open-files limit nor the
  ephemeral ports run out); a connection the runner closes is opened again after
  --reconnect seconds, so the pressure stays. They run at a lower priority (nice 10): an
  attacker is on other machines, and here they share the runner's CPUs;
- once they are all open, a bot sends /chat requests one after another over one
  kept-alive connection and measures each answer, and every 0.1 s a fresh connection
  asks /healthz and another one /chat (a newcomer, who must get in past the idle crowd).

    python benchmarks/bench_idle.py [--idle 20000] [--seconds 15] [--reconnect 1] [--serve NAME=VALUE]

Prints how many connections the attackers held, how often the runner closed them, the
runner's CPU and memory, the /chat latency percentiles (target: p99 < 100 ms on a 2-core
machine) and how many /healthz and newcomer /chat requests were answered (target: all).
Linux only (it binds to 127.0.0.2, 127.0.0.3... and reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_serve import TOKEN, _free_port, _opspack, _pct, _wait, ping_pack

OPEN_FILES = 20_000
#: connections one attacker process holds at most (each is one open file of its own)
PER_PROCESS = 6_000


def _raise_own_limit(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


# -- an attacker process ----------------------------------------------------------------------
def attacker_main(port: int, count: int, source: str, reconnect: float) -> None:
    """Hold ``count`` idle connections from ``source`` until SIGTERM; print what happened."""
    _raise_own_limit(count + 100)
    os.nice(10)  # an attacker is elsewhere: on this machine, it should not take the runner's CPU first
    stats = {"opened": 0, "closed_by_runner": 0, "failed": 0, "open": 0}
    stop = asyncio.Event()

    async def slot() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            except OSError:
                stats["failed"] += 1
                await asyncio.sleep(reconnect)
                continue
            stats["opened"] += 1
            stats["open"] += 1
            try:
                reading = asyncio.ensure_future(reader.read(1))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if reading.done():
                    stats["closed_by_runner"] += 1
                for f in (reading, stopping):
                    f.cancel()
            except OSError:
                stats["closed_by_runner"] += 1
            finally:
                stats["open"] -= 1
                writer.close()
            await asyncio.sleep(reconnect)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        tasks = []
        for i in range(count):
            tasks.append(asyncio.ensure_future(slot()))
            if i % 200 == 199:
                await asyncio.sleep(0.01)  # open them over a moment, not in one burst of SYNs
        while stats["opened"] + stats["failed"] < count and not stop.is_set():
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        samples = []
        while not stop.is_set():
            samples.append(stats["open"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        await asyncio.gather(*tasks, return_exceptions=True)
        stats["open_samples"] = samples  # type: ignore[assignment]

    asyncio.run(run())
    print(json.dumps(stats), flush=True)


# -- the bot measuring ------------------------------------------------------------------------
async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[bytes, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head.split(b" ", 2)[1], await reader.readexactly(length)


def _chat_request(port: int, close: bool = False) -> bytes:
    body = json.dumps({"text": "ping", "user": "bench"}).encode()
    return (
        f"POST /chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    ).encode() + body


def bot_main(port: int, seconds: float) -> None:
    """/chat one after another on a kept-alive connection; /healthz and /chat from newcomers."""
    chat = _chat_request(port)
    fresh_chat = _chat_request(port, close=True)
    healthz = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    out: dict[str, Any] = {"kept": [], "fresh": [], "healthz_ok": 0, "healthz_failed": 0, "errors": []}

    async def kept(deadline: float) -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                status, body = await asyncio.wait_for(_request(reader, writer, chat), 10)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                out["errors"].append(f"kept: {type(exc).__name__}")
                writer = reader = None
                continue
            out["kept"].append(time.perf_counter() - start)
            if status != b"200" or b'"ok":true' not in body.replace(b" ", b""):
                out["errors"].append(f"kept: {status.decode()} {body[:200]!r}")
        if writer is not None:
            writer.close()

    async def newcomer(raw: bytes, timings: list[float] | None) -> bool:
        start = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                status, _ = await asyncio.wait_for(_request(reader, writer, raw), 10)
            finally:
                writer.close()
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            out["errors"].append(f"newcomer: {type(exc).__name__}")
            return False
        if timings is not None:
            timings.append(time.perf_counter() - start)
        return status == b"200"

    async def newcomers(deadline: float) -> None:
        while time.perf_counter() < deadline:
            ok = await newcomer(healthz, None)
            out["healthz_ok" if ok else "healthz_failed"] += 1
            if not await newcomer(fresh_chat, out["fresh"]):
                out["errors"].append("newcomer /chat was not answered 200")
            await asyncio.sleep(0.1)

    async def run() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(kept(deadline), newcomers(deadline))

    asyncio.run(run())
    out["errors"] = out["errors"][:10]
    print(json.dumps(out))


# -- the benchmark -------------------------------------------------------------------------------
def _process(pid: int) -> tuple[float, int]:
    """CPU seconds used so far and resident memory (bytes) of a process (Linux; zeros elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return cpu, rss


def _bot(port: int, seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--bot", str(port), "--seconds", str(seconds)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--idle", type=int, default=20_000, help="idle connections the attackers hold")
    p.add_argument("--seconds", type=float, default=15.0, help="how long the bot measures under the load")
    p.add_argument("--processes", type=int, default=0, help="attacker processes (default: as needed)")
    p.add_argument("--reconnect", type=float, default=1.0, help="seconds before an attacker opens a closed one again")
    p.add_argument("--open-files", type=int, default=OPEN_FILES, help="the runner's RLIMIT_NOFILE")
    p.add_argument(
        "--serve",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a [serve] setting for the runner (OPSPACK_SERVE_<NAME>), e.g. max_connections=30000",
    )
    p.add_argument("--attacker", nargs=4, metavar=("PORT", "COUNT", "SOURCE", "RECONNECT"), help=argparse.SUPPRESS)
    p.add_argument("--bot", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.attacker:
        port, count, source, reconnect = args.attacker
        attacker_main(int(port), int(count), source, float(reconnect))
        return
    if args.bot:
        bot_main(args.bot, args.seconds)
        return

    processes = args.processes or math.ceil(args.idle / PER_PROCESS)
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        registry, env = ping_pack(tmp)
        for setting in args.serve:
            name, _, value = setting.partition("=")
            env[f"OPSPACK_SERVE_{name.upper()}"] = value
        port = _free_port()
        limit = f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({args.open_files},) * 2)"
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"{limit}; os.execv(sys.argv[1], sys.argv[1:])",
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
        attackers: list[subprocess.Popen[str]] = []
        try:
            _wait(port, server)
            _bot(port, 2.0)  # warm up: imports, the command's module in the workers
            quiet = _bot(port, 3.0)
            started = time.perf_counter()
            for i in range(processes):
                share = args.idle // processes + (1 if i < args.idle % processes else 0)
                attackers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            __file__,
                            "--attacker",
                            str(port),
                            str(share),
                            f"127.0.0.{2 + i}",
                            str(args.reconnect),
                        ],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            for proc in attackers:
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    raise SystemExit("an attacker process failed")
            ramp = time.perf_counter() - started
            cpu_before, _ = _process(server.pid)
            loaded = _bot(port, args.seconds)
            cpu_after, rss = _process(server.pid)
            alive = server.poll() is None
        finally:
            for proc in attackers:
                proc.send_signal(signal.SIGTERM)
            stats = []
            for proc in attackers:
                out, _ = proc.communicate(timeout=60)
                lines = [line for line in out.splitlines() if line.startswith("{")]
                if lines:
                    stats.append(json.loads(lines[-1]))
            server.terminate()
            server.wait(timeout=30)

    opened = sum(s["opened"] for s in stats)
    closed = sum(s["closed_by_runner"] for s in stats)
    failed = sum(s["failed"] for s in stats)
    samples = [sum(column) for column in zip(*(s["open_samples"] for s in stats), strict=False)]
    print(f"opspack serve under {args.idle:,} idle connections ({os.cpu_count()} CPUs, loopback)")
    print(
        f"  runner: open-files limit {args.open_files:,}, [serve] settings: {', '.join(args.serve) or 'defaults'}; "
        f"attackers: {processes} "
        f"processes, a closed connection opened again after {args.reconnect:g} s"
    )
    print(f"  {args.idle:,} idle connections opened in {ramp:.1f} s; runner still up: {alive}")
    if samples:
        print(
            f"  idle connections open as the attackers see them, while measured: min {min(samples):,}, "
            f"max {max(samples):,} (the runner holds at most max_connections, 10,000 by default, and "
            f"closes idle ones after keep_alive, 5 s)"
        )
    print(f"  attackers' connections: {opened:,} opened, {closed:,} closed by the runner, {failed:,} failed to open")
    print(
        f"  the runner meanwhile: {(cpu_after - cpu_before) / args.seconds:.0%} of a CPU, "
        f"{rss / 2**20:,.0f} MiB resident at the end"
    )
    for name, result in (("quiet (no attack)", quiet), (f"under {args.idle:,} idle connections", loaded)):
        lat, fresh = result["kept"], result["fresh"]
        print(f"  /chat one after another on a kept-alive connection, {name}: {len(lat)} answered")
        if lat:
            print(
                f"    latency (ms): p50 {_pct(lat, 0.50):.1f}  p90 {_pct(lat, 0.90):.1f}  "
                f"p99 {_pct(lat, 0.99):.1f}  max {max(lat) * 1000:.1f}   (target p99 < 100)"
            )
        print(
            f"    newcomers (a new connection each, every 0.1 s): /healthz {result['healthz_ok']} answered 200, "
            f"{result['healthz_failed']} not; /chat {len(fresh)} answered"
            + (f", p50 {_pct(fresh, 0.50):.1f} ms, p99 {_pct(fresh, 0.99):.1f} ms" if fresh else "")
        )
        if result["errors"]:
            print(f"    first errors: {result['errors']}")


if __name__ == "__main__":
    main()
