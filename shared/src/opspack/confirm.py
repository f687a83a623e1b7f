"""One-time confirmation tokens for destructive commands, shared by every front-end.

When the runtime answers a destructive command with a confirmation request (error
kind ``denied`` with a ``confirm`` object), a front-end calls :meth:`Confirmations.issue`:
it stores the command, its arguments and the user under a random token, valid for
one use by that user within ``ttl`` seconds (5 minutes by default), and writes the
token into the request (``error.confirm.token``). The confirmed call presents the
token; :meth:`Confirmations.redeem` checks it and hands back what to run, and the
front-end runs it with ``Caller(confirmed=True)``.

Tokens live in the process that issued them (a runner with several worker processes
needs sticky sessions, or one worker). The store is thread-safe and bounded.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opspack.errors import Denied
from opspack.results import Reply

DEFAULT_TTL_S = 300.0
MAX_PENDING = 10_000


@dataclass(frozen=True)
class Pending:
    """A confirmation waiting for its user: what will run when the token comes back."""

    command: str
    args: dict[str, Any]
    user: str
    expires: float
    text: str | None = None
    channel: str | None = None
    #: when set, a different user holding one of these roles redeems it (an approval)
    approvers: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass
class Confirmations:
    """Issue and redeem one-time confirmation tokens (thread-safe)."""

    ttl: float = DEFAULT_TTL_S
    clock: Callable[[], float] = time.monotonic
    max_pending: int = MAX_PENDING
    _pending: dict[str, Pending] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def issue(self, reply: Reply, user: str, channel: str | None = None, roles: tuple[str, ...] = ()) -> Reply:
        """Give ``reply``'s confirmation request (if any) a token bound to ``user``."""
        confirm = reply.error.confirm if reply.error is not None else None
        if confirm is None:
            return reply
        token = secrets.token_urlsafe(18)
        now = self.clock()
        pending = Pending(
            command=confirm.command,
            args=dict(confirm.args),
            user=user,
            expires=now + self.ttl,
            text=confirm.text,
            channel=channel,
            approvers=tuple(confirm.approvers or ()),
            roles=tuple(roles),
        )
        with self._lock:
            self._purge(now)
            if len(self._pending) >= self.max_pending:
                # Drop the oldest request rather than grow without bound.
                self._pending.pop(next(iter(self._pending)))
            self._pending[token] = pending
        confirm.token = token
        minutes = max(1, round(self.ttl / 60))
        assert reply.error is not None
        if pending.approvers:
            who = ", ".join(pending.approvers)
            reply.error.hint = f"A member of {who} approves it by answering `confirm {token}` within {minutes} min."
        else:
            reply.error.hint = f"To run it, answer `confirm {token}` within {minutes} min."
        return reply

    def peek(self, token: str) -> Pending | None:
        """What ``token`` would run, without using it (None when unknown or expired)."""
        with self._lock:
            self._purge(self.clock())
            return self._pending.get(token)

    def redeem(self, token: str, user: str, text: str | None = None) -> Pending:
        """Consume ``token`` for ``user``; raise :class:`Denied` when it is not valid.

        ``text``, when given, is the chat text of the call that presents the token
        (``vm power-off web01``); it must name what was confirmed, or the token is
        refused and stays valid.
        """
        now = self.clock()
        with self._lock:
            self._purge(now)
            pending = self._pending.get(token)
            if pending is None:
                raise Denied(
                    "This confirmation is unknown, expired or already used.",
                    "Run the command again to get a new confirmation.",
                )
            if pending.approvers:
                if secrets.compare_digest(pending.user, user):
                    raise Denied(
                        "You cannot approve your own request.",
                        f"Ask a member of {', '.join(pending.approvers)} to answer `confirm <token>`.",
                    )
            elif not secrets.compare_digest(pending.user, user):
                raise Denied(
                    f"This confirmation belongs to another user, not {user}.",
                    "Only the person who asked can confirm; run the command yourself to get your own.",
                )
            if text is not None and pending.text is not None and text != pending.text:
                raise Denied(
                    f"This confirmation is for `{pending.text}`, not `{text}`.",
                    "Confirm the command you were asked about, or run this one to get its own confirmation.",
                )
            del self._pending[token]
        return pending

    def discard(self, token: str) -> bool:
        """Drop ``token`` unused (the user said no); False when it was not pending."""
        with self._lock:
            return self._pending.pop(token, None) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _purge(self, now: float) -> None:
        expired = [t for t, p in self._pending.items() if p.expires <= now]
        for t in expired:
            del self._pending[t]


__all__ = ["DEFAULT_TTL_S", "Confirmations", "Pending"]
