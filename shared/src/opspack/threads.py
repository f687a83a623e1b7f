"""The core's background threads, started with SIGINT blocked in them.

The kernel hands a process-wide SIGINT (Ctrl-C) to any thread that does not block it.
Python runs its handler in the main thread anyway, but only once the main thread looks:
when the signal went to another thread, a main thread waiting in a system call (readline's
``select()`` at ``opspack shell``'s prompt, a command's socket read under ``opspack run``)
is not woken, and Ctrl-C seems to do nothing until the next key or byte. So every
background thread the core starts (the database's writer, the jobs' heartbeat, id
reservation and retry, the executors' helpers, the progress line's ticker, the chat
front-ends' job followers) blocks SIGINT as the first thing it runs, and is started with
SIGINT blocked in the starting thread too, so that no signal reaches it in between. The
runtime's command threads are left alone: a program a command starts inherits its
thread's signal mask, and must stop at Ctrl-C as it would anywhere. On platforms without
``pthread_sigmask`` (Windows) nothing is blocked: there the console's Ctrl-C is delivered
to the main thread already.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

_CAN_MASK = hasattr(signal, "pthread_sigmask")


def block_sigint() -> None:
    """Block SIGINT in the calling thread, so that it is left to the main thread (a no-op
    where threads have no signal masks)."""
    if _CAN_MASK:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _quiet(target: Callable[..., object], args: tuple[Any, ...]) -> None:
    block_sigint()
    target(*args)


def start_thread(target: Callable[..., object], *args: Any, name: str) -> threading.Thread:
    """Start a daemon thread named ``name`` that runs ``target(*args)`` with SIGINT blocked
    (see the module's text); the thread, started."""
    thread = threading.Thread(target=_quiet, args=(target, args), name=name, daemon=True)
    if not _CAN_MASK:
        thread.start()
        return thread
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # inherited from its first instant
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return thread


__all__ = ["block_sigint", "start_thread"]
