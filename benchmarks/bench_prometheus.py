"""prometheus pack: `graph` of 20 series x 720 points (time to PNG, PNG size) and `alerts` with 500
firing alerts (Alertmanager requests), against real Prometheus and Alertmanager, in one run.

Starts Debian's ``prometheus`` and ``prometheus-alertmanager`` (opspack_testkit.servers.prometheus).

- graph: 20 series of 6 hours of samples 30 s apart, written into Prometheus's TSDB before it
  starts (``promtool tsdb create-blocks-from openmetrics``), drawn over 6h at a 30 s step:
  20 x 721 points, 1000x500 pixels. Reported,
  median of ``--runs`` warm calls: the whole command (chat text -> range query -> PNG -> Image
  result), the drawing alone (matplotlib + PNG encoding, the same series), and the range query
  alone (one ``requests`` call); the PNG's size. Targets: under 300 ms, under 150 KB.
- alerts: 500 alerts posted to Alertmanager (25 alert names x 20 instances), then ``alerts`` run
  through a counting proxy in front of Alertmanager: how many requests reached it (target: one),
  how long the command took, and how many rows the table has.

    python benchmarks/bench_prometheus.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.servers.prometheus import Alertmanager, Prometheus, openmetrics, prometheus_pack_environ

SERIES = 20
RANGE, STEP = "6h", "30s"


def twenty_series(end: float) -> str:
    """SERIES series of 721 points 30 s apart over the 6 hours before ``end``, as OpenMetrics."""
    import math

    start = end - 6 * 3600
    points = {
        f'bench_requests{{instance="web{i:02d}.example.com:9100",job="node"}}': [
            (start + 30 * j, round(100 + 25 * i + 40 * math.sin(j / (15 + i)) + 8 * math.sin(j * 0.7 + i), 3))
            for j in range(721)
        ]
        for i in range(SERIES)
    }
    return openmetrics(points)


@contextmanager
def counting_proxy(target: str) -> Iterator[tuple[str, list[str]]]:
    """An HTTP proxy to ``target`` on a free loopback port; yields its URL and the list of
    ``METHOD path`` it forwarded."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            seen.append(f"{self.command} {self.path.split('?')[0]}")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            request = urllib.request.Request(target + self.path, data=body, method=self.command)  # noqa: S310
            for name in ("Content-Type", "Accept"):
                if self.headers.get(name):
                    request.add_header(name, self.headers[name])
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback
                    status, payload, kind = resp.status, resp.read(), resp.headers.get("Content-Type", "")
            except urllib.error.HTTPError as exc:
                status, payload, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _forward  # noqa: N815 - the names http.server calls

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def bench_graph(runs: int) -> None:
    from opspack_prometheus.draw import Series, draw_png

    end = time.time() - 60
    promql = "bench_requests"
    text = f"graph {promql} --range {RANGE} --end {end:.0f} --step {STEP} --width 1000 --height 500"
    with Prometheus(scrape_self=False, history=twenty_series(end)) as prom:
        runtime = Runtime(
            registry_from_package("opspack_prometheus"), config=Config.load(environ=prometheus_pack_environ(prom))
        )
        caller = Caller(user="bench", frontend="bench", format="slack")
        reply = runtime.chat(text, caller)  # cold: imports matplotlib, makes the session
        assert reply.ok, reply.error
        whole: list[float] = []
        whole_cpu: list[float] = []
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            reply = runtime.chat(text, caller)
            whole.append(time.perf_counter() - t0)
            whole_cpu.append(time.process_time() - c0)
        image = reply.results[0]
        assert image.kind == "image" and (image.width, image.height) == (1000, 500)

        form = {"query": promql, "start": f"{end - 6 * 3600:.0f}", "end": f"{end:.0f}", "step": "30"}
        query: list[float] = []
        with requests.Session() as session:
            for _ in range(runs):
                t0 = time.perf_counter()
                data = session.post(f"{prom.url}/api/v1/query_range", data=form, timeout=30).json()["data"]
                query.append(time.perf_counter() - t0)
        runtime.close()
    result = data["result"]
    points = {len(item["values"]) for item in result}
    series = [
        Series(item["metric"]["instance"], [float(t) for t, _ in item["values"]], [float(v) for _, v in item["values"]])
        for item in result
    ]
    drawing: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        png = draw_png(series, title="bench", step=30, width=1000, height=500)
        drawing.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:7.1f} ms"

    shape = f"{len(result)} series x {'/'.join(map(str, sorted(points)))} points"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"graph: {shape}, 1000x500, median of {runs} warm runs ({os.cpu_count()} CPUs, load average {load})")
    print(f"  whole command (chat text -> range query -> PNG -> Image):   {ms(whole)}   (CPU here {ms(whole_cpu)})")
    print(f"  drawing alone (matplotlib Agg + paletted PNG):              {ms(drawing)}   (CPU {ms(cpu)})")
    print(f"  range query alone (one requests.post to Prometheus):        {ms(query)}   (target for all: < 300 ms)")
    print(f"  PNG size: {len(image.data):,} bytes through the command, {len(png):,} drawn alone (target < 150 KB)")


def bench_alerts(count: int) -> None:
    names = 25
    alerts = [
        {
            "labels": {
                "alertname": f"BenchAlert{i % names:02d}",
                "instance": f"host{i // names:03d}",
                "severity": "critical" if i % 5 == 0 else "warning",
            },
            "annotations": {"summary": f"bench alert {i}"},
        }
        for i in range(count)
    ]
    with Alertmanager() as am, Prometheus(scrape_self=False) as prom:
        am.post_alerts(alerts)
        am.wait_for_alerts(count)
        with counting_proxy(am.url) as (proxy_url, seen):
            env = {**prometheus_pack_environ(prom), "OPSPACK_PROMETHEUS_ALERTMANAGER_URL": proxy_url}
            runtime = Runtime(registry_from_package("opspack_prometheus"), config=Config.load(environ=env))
            caller = Caller(user="bench", frontend="bench", format="slack")
            t0 = time.perf_counter()
            reply = runtime.chat("alerts", caller)
            took = time.perf_counter() - t0
            runtime.close()
    assert reply.ok, reply.error
    status, table = reply.results
    print(f"alerts: {count} firing alerts in Alertmanager ({names} names, grouped by alertname)")
    print(f"  Alertmanager requests for one `alerts`: {len(seen)} ({', '.join(seen)})   (target: 1)")
    print(f"  rows: {len(table.rows)}; status: {status.message}; took {took * 1000:.0f} ms (first call, cold session)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--alerts", type=int, default=500)
    args = parser.parse_args()
    bench_graph(args.runs)
    bench_alerts(args.alerts)


if __name__ == "__main__":
    main()
