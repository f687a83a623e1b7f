"""`sql blocking` on a PostgreSQL server with 200 connections: time and round trips,
against the naive way (a new connection per command, then one query per session).

Run: python benchmarks/bench_sql.py   (needs PostgreSQL from Debian's packages and
opspack-sql[postgres]; starts its own private server on a free loopback port).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.servers.postgres import PostgresServer

CONNECTIONS = 200
BENCH_PASSWORD = "bench"  # noqa: S105 - a throwaway server's login
RUNS = 20


def naive_blocking(url: str, password: str) -> tuple[int, int]:
    """What a hand-written script does: connect, list sessions, ask each one who blocks it."""
    trips = 0
    with psycopg.connect(url, password=password, autocommit=True) as conn:
        trips += 1
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")]
        blocked = 0
        for pid in pids:
            trips += 1
            (blockers,) = conn.execute("SELECT pg_blocking_pids(%s)", (pid,)).fetchone()  # type: ignore[misc]
            if blockers:
                blocked += 1
                for b in blockers:
                    trips += 1
                    conn.execute("SELECT query, xact_start FROM pg_stat_activity WHERE pid = %s", (b,)).fetchall()
    return trips, blocked


def main() -> None:
    with PostgresServer(max_connections=CONNECTIONS + 50) as pg:
        pg.psql("CREATE DATABASE app")
        pg.psql("CREATE ROLE app LOGIN PASSWORD 'bench'; GRANT pg_monitor TO app;")
        url = f"postgresql://app@127.0.0.1:{pg.port}/app"
        idle = [
            psycopg.connect(host="127.0.0.1", port=pg.port, user="app", password=BENCH_PASSWORD, dbname="app")
            for _ in range(CONNECTIONS - 4)  # + holder, 2 waiters and the pack's own = 200
        ]
        env = {"OPSPACK_SQL_URL": url, "OPSPACK_SQL_PASSWORD": BENCH_PASSWORD}
        rt = Runtime(registry_from_package("opspack_sql"), config=Config.load(environ=env))
        try:
            with pg.blocking_workload("app") as work:
                total = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
                pack_times: list[float] = []
                for _ in range(RUNS):
                    t = time.perf_counter()
                    reply = rt.chat("sql blocking", Caller())
                    pack_times.append(time.perf_counter() - t)
                    assert reply.ok, reply.error
                rows = reply.to_dict()["results"][0]["rows"]
                assert sorted(int(str(r[0]).split()[-1]) for r in rows) == sorted([work.holder, *work.waiters])
                # the pooled Database of the default profile (benchmark-only peek at the pool)
                db: Any = next(e.value for e in rt.pool._entries.values())
                naive_times: list[float] = []
                naive_trips = 0
                for _ in range(RUNS):
                    t = time.perf_counter()
                    naive_trips, blocked = naive_blocking(url, BENCH_PASSWORD)
                    naive_times.append(time.perf_counter() - t)
                    assert blocked == 2
        finally:
            rt.close()
            for c in idle:
                c.close()

    def ms(x: float) -> str:
        return f"{x * 1000:7.1f} ms"

    print(f"sql blocking, PostgreSQL 15, {total} client connections, {RUNS} runs each")
    print(f"{'':34}{'first':>10}{'median':>10}{'max':>10}  round trips per command")
    print(
        f"{'opspack (pooled, 1 query)':34}{ms(pack_times[0]):>10}{ms(statistics.median(pack_times[1:])):>10}"
        f"{ms(max(pack_times[1:])):>10}  {db.round_trips / RUNS:.0f} (connections opened: {db.connects})"
    )
    print(
        f"{'naive (connect + 1 per session)':34}{ms(naive_times[0]):>10}{ms(statistics.median(naive_times)):>10}"
        f"{ms(max(naive_times)):>10}  {naive_trips} + connect"
    )
    print(f"speed-up (median): {statistics.median(naive_times) / statistics.median(pack_times[1:]):.1f}x")


if __name__ == "__main__":
    main()
