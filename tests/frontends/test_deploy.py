"""Several runners, several workers (docs/deploy.md): two `opspack serve`, two `opspack worker`,
one Redis and one PostgreSQL, each a real process. A job started on one runner is followed on
the other, a confirmation issued by one is redeemed on the other, and every answer is in the
shared audit trail."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import start_runner
from frontend_helpers import Runner, child_env, opspack_exe
from opspack_testkit import need, stop_process


@pytest.fixture(scope="module")
def cluster(registry_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Runner]]:
    from opspack_testkit.servers.postgres import PostgresServer, PostgresUnavailable
    from opspack_testkit.servers.redis import RedisServer

    folder = tmp_path_factory.mktemp("cluster")
    with contextlib.ExitStack() as stack:
        try:
            pg = stack.enter_context(PostgresServer())
        except PostgresUnavailable as exc:
            need(False, str(exc))
            raise
        pg.psql("CREATE DATABASE cluster")
        redis = stack.enter_context(RedisServer())
        settings = {"OPSPACK_AUDIT_URL": pg.url(database="cluster", password=True), "OPSPACK_BROKER_URL": redis.url()}
        workers = []
        for i in range(2):
            log = open(folder / f"worker{i}.log", "wb")  # noqa: SIM115 - closed below
            stack.callback(log.close)
            proc = subprocess.Popen(
                [opspack_exe(), "--registry", str(registry_file), "worker", "--packs", "echo", "--concurrency", "2"],
                env=child_env(**settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(stop_process, proc)
            workers.append(proc)
        runners = [
            stack.enter_context(start_runner(registry_file, tmp_path_factory.mktemp(f"runner{i}"), **settings))
            for i in range(2)
        ]
        yield runners


def _client(runner: Runner) -> httpx.Client:
    return httpx.Client(base_url=runner.url, headers={"Authorization": f"Bearer {runner.token}"}, timeout=60)


def test_a_job_started_on_one_runner_is_followed_on_the_other(cluster: list[Runner]) -> None:
    one, other = cluster
    with _client(one) as a, _client(other) as b:
        r = a.post("/chat", json={"text": "echo steps --count 4 --pause 0.3", "user": "alice", "async": True})
        assert r.status_code == 202, r.text
        job_id = r.json()["job"]["id"]
        events: list[tuple[str, Any]] = []
        with b.stream("GET", f"/jobs/{job_id}/events") as stream:
            name = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: ") and name:
                    events.append((name, json.loads(line[len("data: ") :])))
        assert events[-1][0] == "result" and events[-1][1]["results"][0]["text"] == "4 steps done"
        assert [d["message"] for k, d in events if k == "progress"] == [f"step {i} of 4" for i in range(1, 5)]
        seen = b.post("/chat", json={"text": f"job {job_id}", "user": "alice"}).json()
        assert seen["ok"] and "succeeded" in json.dumps(seen)


def test_a_confirmation_from_one_runner_is_redeemed_on_the_other(cluster: list[Runner]) -> None:
    one, other = cluster
    with _client(one) as a, _client(other) as b:
        asked = a.post("/chat", json={"text": "disk wipe sdz", "user": "bob"}).json()
        token = asked["error"]["confirm"]["token"]
        done = b.post("/chat", json={"confirm_token": token, "user": "bob"}).json()
        assert done["ok"], done


def test_both_runners_answer_while_the_workers_share_the_queue(cluster: list[Runner]) -> None:
    answers = []
    for i in range(10):
        with _client(cluster[i % 2]) as c:
            answers.append(c.post("/chat", json={"text": f"echo hello-{i}", "user": f"u{i}"}).json())
    assert all(a["ok"] for a in answers), answers
    assert [a["results"][0]["text"] for a in answers] == [f"hello-{i}" for i in range(10)]
