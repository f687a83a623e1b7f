"""Exceptions a command raises to answer with an error result.

Raise one of these from a command (or from a pack's error translator) and the
runtime turns it into an :class:`~opspack.results.Error` of the matching kind.
Any other exception becomes an ``internal`` error whose details go to the log,
never to the chat room.
"""

from __future__ import annotations

from collections.abc import Iterable

from opspack.results import Error, ErrorKind


class OpsError(Exception):
    """Base class: an error result with a kind, a message and a hint."""

    kind: ErrorKind = "internal"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_error(self) -> Error:
        return Error(kind=self.kind, message=self.message, hint=self.hint)


class UsageError(OpsError):
    """The user typed something the command cannot take."""

    kind: ErrorKind = "usage"


class NotFound(OpsError):
    """The object asked for does not exist."""

    kind: ErrorKind = "not_found"

    @classmethod
    def with_matches(cls, what: str, name: str, candidates: Iterable[str], *, limit: int = 5) -> NotFound:
        """``NotFound`` naming the closest of ``candidates`` (difflib) in its hint; when
        none is close and there are at most ``limit`` candidates, the hint names them all."""
        import difflib

        pool = list(dict.fromkeys(candidates))
        close = difflib.get_close_matches(name, pool, n=limit, cutoff=0.5)
        if not close:
            low = name.lower()
            close = [c for c in pool if low in c.lower()][:limit]
        if close:
            hint: str | None = f"Did you mean: {', '.join(close)}?"
        elif 0 < len(pool) <= limit:
            hint = f"Known: {', '.join(pool)}."
        else:
            hint = None
        return cls(f"{what} '{name}' not found", hint)


class Denied(OpsError):
    """The user may not run this (or the backend refused the bot's account)."""

    kind: ErrorKind = "denied"


class ConfigError(OpsError):
    """Settings are missing or wrong, or a dependency is not installed."""

    kind: ErrorKind = "config"


class BackendError(OpsError):
    """The backend answered with a failure or could not be reached.

    ``retryable=True`` marks a transient failure (connection refused or reset, 502/503/504):
    the runtime then retries read-only, idempotent commands with backoff, within their
    timeout. Mutating commands are never retried."""

    kind: ErrorKind = "backend"

    def __init__(self, message: str, hint: str | None = None, *, retryable: bool = False) -> None:
        super().__init__(message, hint)
        self.retryable = retryable


class CommandTimeout(OpsError):
    """The backend did not answer in time."""

    kind: ErrorKind = "timeout"


class Busy(OpsError):
    """A concurrency limit was reached (the message names it); try again later."""

    kind: ErrorKind = "busy"


class Interrupted(OpsError):
    """The worker running the command died and it was not safe to run it again."""

    kind: ErrorKind = "interrupted"


class Cancelled(OpsError):
    """Someone cancelled the job."""

    kind: ErrorKind = "cancelled"


class Ambiguous(UsageError):
    """A name matches several objects; the message lists them."""

    def __init__(self, what: str, name: str, candidates: Iterable[str]) -> None:
        names = list(candidates)
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        super().__init__(
            f"{what} '{name}' is ambiguous: {len(names)} match ({shown})",
            "Give the full path or a more specific name.",
        )
        self.candidates = names
