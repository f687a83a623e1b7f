"""grafana pack: requests per `grafana graph` and the time of a 1000x500 render, pack vs a direct call.

Runs against the test kit's fake Grafana (opspack_testkit.fakes.grafana) (loopback, real HTTP, real PNGs), in one run:

- how many HTTP requests one `grafana graph <search words> <panel>` costs (expected: one search,
  one dashboard read, one render), and which;
- the time of a 1000x500 render through the whole pack (chat text -> runtime -> lookup -> render ->
  PNG checks -> Image result) against one direct `requests.get` of the render URL with the uid, slug
  and panel id already known (the floor: what the render alone costs).

    python benchmarks/bench_grafana.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import requests
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.grafana import TOKEN, FakeGrafana

TEXT = "grafana graph checkout 'Request rate' --width 1000 --height 500"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with FakeGrafana() as fake:
        runtime = Runtime(registry_from_package("opspack_grafana"), config=Config.load(environ=fake.environ()))
        caller = Caller(user="bench", frontend="bench", format="slack")

        # requests per graph (the first run also makes the kept HTTP session)
        reply = runtime.chat(TEXT, caller)
        assert reply.ok, reply.error
        paths = fake.paths()
        size = len(reply.results[0].data)

        pack_times: list[float] = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            reply = runtime.chat(TEXT, caller)
            pack_times.append(time.perf_counter() - t0)
            assert reply.ok
        per_graph = (len(fake.server.requests) - len(paths)) / args.runs

        url = f"{fake.url}/render/d-solo/chk0ut01/checkout-service"
        params = {"panelId": "1", "from": "now-6h", "to": "now", "width": "1000", "height": "500"}
        direct_times: list[float] = []
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            for _ in range(args.runs):
                t0 = time.perf_counter()
                resp = session.get(url, params=params, timeout=30)
                direct_times.append(time.perf_counter() - t0)
                assert resp.status_code == 200 and resp.content[:8] == b"\x89PNG\r\n\x1a\n"
        runtime.close()

    pack_ms = statistics.median(pack_times) * 1000
    direct_ms = statistics.median(direct_times) * 1000
    print(f"grafana graph by search words: {len(paths)} requests on the first call ({', '.join(paths)})")
    print(f"  requests per call, mean of {args.runs} calls with the kept session: {per_graph:g}")
    print(f"1000x500 render ({size:,} bytes PNG), median of {args.runs}:")
    print(f"  through the pack (chat text to Image result, 3 requests): {pack_ms:8.2f} ms")
    print(f"  direct requests.get of the render URL (ids known, 1 request): {direct_ms:8.2f} ms")
    print(f"  pack overhead: {pack_ms - direct_ms:+.2f} ms ({pack_ms / direct_ms:.2f}x)")


if __name__ == "__main__":
    main()
