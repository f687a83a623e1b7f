"""Nothing answered is missing from the audit trail: `kill -9` of a real `opspack serve` in
the middle of bursts of calls, ten times; every call answered 200 has its record.

The figure: ``nox -s integration -- -k durability -s``."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

from conftest import start_runner
from frontend_helpers import TOKEN


def _burst(port: int, prefix: str, calls: int, answered: list[str], stop: threading.Event) -> None:
    """Send ``calls`` calls one after another on one keep-alive connection; note each 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for n in range(calls):
            if stop.is_set():
                return
            marker = f"{prefix}-{n}"
            body = json.dumps({"command": "echo.msg.say", "args": {"text": marker}, "user": "burst"})
            conn.request(
                "POST",
                "/invoke",
                body=body,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            data = response.read()
            if response.status == 200 and json.loads(data).get("ok"):
                answered.append(marker)
    except (OSError, http.client.HTTPException):
        return  # the runner was killed under this connection
    finally:
        conn.close()


def test_every_answered_call_is_in_the_audit_after_kill_9(registry_file: Path, tmp_path: Path) -> None:
    rng = random.Random(20261206)
    missing_total = answered_total = 0
    for round_ in range(10):
        db = tmp_path / f"audit-{round_}.db"
        with start_runner(registry_file, tmp_path, OPSPACK_AUDIT_URL=f"sqlite:///{db}") as runner:
            port = int(runner.url.rsplit(":", 1)[1])
            warm: list[str] = []
            _burst(port, f"r{round_}warm", 1, warm, threading.Event())  # the workers are up
            assert warm, runner.log.read_text()
            answered: list[str] = []
            stop = threading.Event()
            threads = [
                threading.Thread(target=_burst, args=(port, f"r{round_}c{c}", 200, answered, stop)) for c in range(8)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 1.5))  # somewhere in the burst
            os.kill(runner.process.pid, signal.SIGKILL)
            runner.process.wait(10)
            stop.set()
            for t in threads:
                t.join(15)
        assert answered, f"round {round_}: nothing was answered before the kill"
        with sqlite3.connect(db) as conn:
            stored = {json.loads(args).get("text") for (args,) in conn.execute("SELECT args FROM opspack_invocations")}
        missing = [m for m in answered if m not in stored]
        assert not missing, f"round {round_}: {len(missing)} of {len(answered)} answered calls have no record"
        answered_total += len(answered)
        missing_total += len(missing)
    print(f"\nkill -9 in ten bursts: {answered_total} calls answered 200, {missing_total} without an audit record")
    assert missing_total == 0 and answered_total > 0
