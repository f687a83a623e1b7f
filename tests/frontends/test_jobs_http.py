"""Jobs over HTTP on a real `opspack serve` (its pool of worker processes): 202 with the job,
GET /jobs/<id>, the Server-Sent Events stream, GET /jobs, and hung commands of one user
that slow nobody else."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from frontend_helpers import Runner


def _client(runner: Runner) -> httpx.Client:
    return httpx.Client(base_url=runner.url, headers={"Authorization": f"Bearer {runner.token}"}, timeout=30)


def _until_final(client: httpx.Client, job_id: int, seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "interrupted", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is still {job['state']}")


def test_async_chat_answers_202_and_the_job_ends_with_its_reply(runner: Runner) -> None:
    with _client(runner) as client:
        r = client.post("/chat", json={"text": "echo steps --count 3 --pause 0.1", "user": "alice", "async": True})
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        assert set(job) == {"id", "state", "command", "user"}
        assert job["command"] == "echo.msg.steps" and job["user"] == "alice"
        done = _until_final(client, job["id"])
        assert done["state"] == "succeeded" and done["reply"]["ok"] is True
        assert [p["message"] for p in done["progress"]] == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]
        assert done["progress"][-1]["percent"] == 100.0
        assert done["created"] and done["started"] and done["finished"]
        listed = client.get("/jobs", params={"user": "alice", "state": "succeeded"}).json()["jobs"]
        assert job["id"] in [j["id"] for j in listed]


def test_async_invoke_and_the_event_stream(runner: Runner) -> None:
    with _client(runner) as client:
        r = client.post(
            "/invoke", json={"command": "echo.msg.steps", "args": {"count": 4, "pause": 0.15}, "async": True}
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job"]["id"]
        events: list[tuple[str, Any]] = []
        with client.stream("GET", f"/jobs/{job_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: ") and name:
                    events.append((name, json.loads(line[len("data: ") :])))
    kinds = [k for k, _ in events]
    assert kinds[0] == "state" and kinds[-1] == "result"
    assert kinds.count("progress") == 4
    assert [d["percent"] for k, d in events if k == "progress"] == [25.0, 50.0, 75.0, 100.0]
    assert events[-1][1]["ok"] is True and events[-1][1]["results"][0]["text"] == "4 steps done"


def test_a_finished_job_rendered_like_a_chat_answer(runner: Runner) -> None:
    """``GET /jobs/<id>?format=text`` adds the result as /chat renders it, for bots that post it as is."""
    with _client(runner) as client:
        r = client.post("/chat", json={"text": "echo steps --count 2 --pause 0.05", "user": "bob", "async": True})
        job_id = r.json()["job"]["id"]
        _until_final(client, job_id)
        plain = client.get(f"/jobs/{job_id}").json()
        assert "rendered" not in plain
        text = client.get(f"/jobs/{job_id}", params={"format": "text"}).json()
        assert text["state"] == "succeeded" and text["rendered"].strip() == "2 steps done"
        slack = client.get(f"/jobs/{job_id}", params={"format": "slack"}).json()
        assert "2 steps done" in json.dumps(slack["rendered"][0]["blocks"])
        assert client.get(f"/jobs/{job_id}", params={"format": "pdf"}).status_code == 400


def test_unknown_jobs_and_bad_queries(runner: Runner) -> None:
    with _client(runner) as client:
        for path in ("/jobs/999999999", "/jobs/nope", "/jobs/999999999/events"):
            r = client.get(path)
            assert r.status_code == 404 and r.json()["error"]["kind"] == "not_found", path
        assert client.get("/jobs", params={"state": "sleeping"}).status_code == 400


def test_a_destructive_command_asks_first_even_when_async(runner: Runner) -> None:
    with _client(runner) as client:
        r = client.post("/chat", json={"text": "disk wipe sda", "user": "alice", "async": True})
        assert r.status_code == 200
        confirm = r.json()["error"]["confirm"]
        assert r.json()["error"]["kind"] == "denied" and confirm["token"]


def test_one_users_hung_commands_do_not_slow_anyone_else(runner: Runner) -> None:
    """mallory floods the runner with commands that hang until they are killed: past the
    per-user limit they answer busy at once, and alice is answered as fast as ever."""
    replies: list[dict[str, Any]] = []

    def flood() -> None:
        with _client(runner) as client:
            r = client.post("/chat", json={"text": "echo hang", "user": "mallory"})
            replies.append(r.json())

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    with _client(runner) as client:
        for _ in range(5):  # how fast: benchmarks/bench_jobs.py measures it
            r = client.post("/chat", json={"text": "echo hi", "user": "alice"})
            assert r.status_code == 200 and r.json()["ok"] is True, r.text
    for t in threads:
        t.join()
    kinds = sorted(r["error"]["kind"] for r in replies)
    assert kinds.count("timeout") == 4 and kinds.count("busy") == 4, kinds
    busy = next(r for r in replies if r["error"]["kind"] == "busy")
    assert "per-user limit" in busy["error"]["message"]
