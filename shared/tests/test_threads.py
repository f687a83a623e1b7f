"""The core's background threads leave Ctrl-C (SIGINT) to the main thread."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest
from opspack.jobs import JobStore
from opspack.store import Database
from opspack.threads import start_thread

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no per-thread signal masks here")


def _mask() -> set[int]:
    return {int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, set())}


def _blocked_in(thread: threading.Thread) -> set[int]:
    """The signals ``thread`` blocks, as Linux shows them (SigBlk in its task's status)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    bits = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
    return {n for n in range(1, 65) if bits & (1 << (n - 1))}


def test_a_thread_started_by_the_core_blocks_sigint_and_its_starter_does_not() -> None:
    seen: list[set[int]] = []
    before = _mask()
    start_thread(lambda tag: seen.append(_mask() | {tag}), 0, name="opspack-test").join(5)
    assert seen and signal.SIGINT in seen[0] and 0 in seen[0]
    assert _mask() == before and signal.SIGINT not in before


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the threads' masks from /proc")
def test_the_writer_and_the_jobs_heartbeat_block_sigint(tmp_path: Path) -> None:
    store = JobStore(Database(f"sqlite:///{tmp_path / 'jobs.db'}"), beat=True)
    try:
        store.new(command="sample.thing.list", user="al")
        store.flush()
        threads = {t.name: t for t in threading.enumerate()}
        for name in ("opspack-writer", "opspack-jobs-heartbeat"):
            assert signal.SIGINT in _blocked_in(threads[name]), name
        assert signal.SIGINT not in _blocked_in(threading.main_thread())
    finally:
        store.close()
