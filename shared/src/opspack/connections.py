"""Client connections kept and reused between commands in one process.

A pack asks its context for a connection with a factory; the pool keys it by pack,
profile and a fingerprint of the settings it was made from, so a rotated password
makes a new connection and the old one is closed. When a backend says the session
expired, the pack calls :meth:`ConnectionPool.discard` (or uses
:meth:`~opspack.context.Context.with_connection`, which retries once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("opspack.connections")


@dataclass(slots=True)
class _Entry:
    value: Any
    close: Callable[[Any], None] | None
    created: float
    group: Hashable


class ConnectionPool:
    """Connections by key, created once and reused; thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.created = 0

    def _key_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def get(
        self,
        key: Hashable,
        factory: Callable[[], T],
        *,
        close: Callable[[T], None] | None = None,
        group: Hashable = None,
        max_age: float | None = None,
    ) -> T:
        """The connection under ``key``, made with ``factory`` when there is none.

        Args:
            key: the full key (pack, profile, settings fingerprint, name).
            factory: makes a new connection.
            close: closes a connection that is replaced or discarded.
            group: connections of one group are replaced together when the key changes
                (a rotated secret); typically (pack, profile, name).
            max_age: seconds after which the connection is made anew.
        """
        with self._key_lock(key):
            entry = self._entries.get(key)
            if entry is not None and (max_age is None or time.monotonic() - entry.created < max_age):
                return entry.value  # type: ignore[no-any-return]
            if entry is not None:
                self._close(key)
            value = factory()
            self.created += 1
            stale = [k for k, e in self._entries.items() if group is not None and e.group == group]
            for k in stale:
                self._close(k)
            self._entries[key] = _Entry(value, close, time.monotonic(), group)
            return value

    def discard(self, key: Hashable) -> None:
        """Forget (and close) the connection under ``key``, e.g. after it expired."""
        with self._key_lock(key):
            self._close(key)

    def _close(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry.close is not None:
            try:
                entry.close(entry.value)
            except Exception:
                log.debug("closing connection %r failed", key, exc_info=True)

    def close_all(self) -> None:
        for key in list(self._entries):
            self.discard(key)

    def __len__(self) -> int:
        return len(self._entries)
