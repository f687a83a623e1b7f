"""The invocation context a command receives: who asks, where, and the pack's settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opspack.audit import AuditLog
    from opspack.connections import ConnectionPool
    from opspack.masking import Masker
    from opspack.registry import Entry, Registry
    from opspack.results import Progress
    from opspack.settings import Settings

T = TypeVar("T")


@dataclass
class Caller:
    """Who runs a command and from where; front-ends fill it in.

    ``groups`` are the names a front-end passes for the user (Slack user groups, the
    runner's ``roles``/``groups`` fields): the policy maps them to roles through its
    ``[groups]`` table, never taking one for a role. ``roles`` are what the policy granted:
    the runtime fills them in before a command runs (whatever a front-end put there is
    replaced), so a command reads ``ctx.caller.roles`` and can trust them."""

    user: str = "local"
    groups: tuple[str, ...] = ()
    channel: str | None = None
    frontend: str = "cli"
    format: str = "text"
    profile: str | None = None
    confirmed: bool = False
    confirm_token: str | None = None
    #: who approved the call (a command that needs a second person's approval) ...
    approved_by: str | None = None
    #: ... and the groups and channel that approver spoke with, which the policy reads too
    approver_groups: tuple[str, ...] = ()
    approver_channel: str | None = None
    #: the name of the runner's bearer token the call came with (None off the runner)
    token: str | None = None
    #: the roles the policy grants this caller (filled in by the runtime)
    roles: tuple[str, ...] = ()
    #: called with each Progress a command reports while it runs (a front-end streams it)
    on_progress: Callable[[Progress], None] | None = field(default=None, repr=False, compare=False)


@dataclass
class Context:
    """What a command gets besides its arguments.

    ``settings`` holds the pack's resolved settings (typed; secrets registered for
    masking). ``connection`` returns a client kept between commands in this process.
    """

    command: str
    pack: str
    caller: Caller
    settings: Settings
    pool: ConnectionPool
    masker: Masker
    #: the audit trail in force (None: turned off); opened when first asked for
    audit_source: Callable[[], AuditLog | None] | None = field(default=None, repr=False)
    #: the commands a caller may run (the runtime's policy and gates)
    visibility: Callable[[Caller], list[Entry]] | None = field(default=None, repr=False)
    #: every installed command's metadata (what the runtime runs from)
    registry: Registry | None = field(default=None, repr=False)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("opspack.declare"))

    @property
    def audit(self) -> AuditLog | None:
        """The audit trail of the runtime running this command, or None when it is off."""
        return self.audit_source() if self.audit_source is not None else None

    def visible_commands(self) -> list[Entry]:
        """The registry entries the caller may run (what help would show them)."""
        if self.visibility is not None:
            return self.visibility(self.caller)
        return list(self.registry) if self.registry is not None else []

    @property
    def user(self) -> str:
        return self.caller.user

    @property
    def profile(self) -> str | None:
        return self.caller.profile

    def progress(self, message: str, percent: float | None = None, *, done: bool = False) -> Progress:
        """Report where long work stands. The front-end shows it at once when it can stream
        (the shell, the command line); return it so the command can also include it in its
        results for front-ends that cannot."""
        from opspack.results import Progress

        item = Progress(self.masker(message), percent=percent, done=done)
        if self.caller.on_progress is not None:
            try:
                self.caller.on_progress(item)
            except Exception:
                self.log.debug("progress callback failed", exc_info=True)
        return item

    def resolve(self, value: str, *, secret: bool = True) -> str:
        """Resolve a value a pack reads from its own files (an inventory's password): an
        ``env:``, ``file:`` or ``vault:`` reference, with this invocation's environment; the
        result is registered for masking unless ``secret=False``."""
        resolved = self.settings.resolve(value)
        if secret:
            self.secret(resolved)
        return resolved

    def secret(self, value: str | None) -> None:
        """Register a value that must never appear in a reply (a token a backend issued)."""
        self.masker.add(value)

    def _key(self, name: str, settings: list[str] | None) -> tuple[Any, Any]:
        group = (self.pack, self.caller.profile, name)
        return (*group, self.settings.fingerprint(settings)), group

    def connection(
        self,
        factory: Callable[[], T],
        *,
        name: str = "default",
        close: Callable[[T], None] | None = None,
        settings: list[str] | None = None,
        max_age: float | None = None,
    ) -> T:
        """A client for this pack and profile, made by ``factory`` once and then reused.

        It is made anew when the settings it depends on (``settings``, default all)
        change, or after ``max_age`` seconds."""
        key, group = self._key(name, settings)
        return self.pool.get(key, factory, close=close, group=group, max_age=max_age)

    def discard_connection(self, *, name: str = "default", settings: list[str] | None = None) -> None:
        """Drop the kept client, e.g. because the backend said its session expired."""
        key, _ = self._key(name, settings)
        self.pool.discard(key)

    def with_connection(
        self,
        factory: Callable[[], T],
        use: Callable[[T], Any],
        *,
        expired: Callable[[BaseException], bool],
        name: str = "default",
        close: Callable[[T], None] | None = None,
        settings: list[str] | None = None,
    ) -> Any:
        """Run ``use(client)``; if it fails with an error ``expired`` recognises,
        make the client anew and run it once more."""
        client = self.connection(factory, name=name, close=close, settings=settings)
        try:
            return use(client)
        except BaseException as exc:
            if not expired(exc):
                raise
            self.discard_connection(name=name, settings=settings)
            client = self.connection(factory, name=name, close=close, settings=settings)
            return use(client)
