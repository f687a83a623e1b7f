"""One-time confirmation tokens for destructive commands, shared by every front-end.

When the runtime answers a destructive command with a confirmation request (error
kind ``denied`` with a ``confirm`` object), a front-end calls :meth:`Confirmations.issue`:
it stores the command, its arguments and the user under a random token, valid for
one use by that user within ``ttl`` seconds (5 minutes by default), and writes the
token into the request (``error.confirm.token``). The confirmed call presents the
token; :meth:`Confirmations.redeem` checks it and hands back what to run, and the
front-end runs it with ``Caller(confirmed=True)``.

A token that is refused says why to the audit trail (:class:`Refused`'s ``reason``):
``wrong user``, ``own request``, ``other command``, ``sealed elsewhere``, ``reused``,
``declined``, ``expired`` or ``unknown token``; used, declined and expired tokens are
remembered (their hashes, for :data:`REMEMBER_S`) to tell those apart. The person
presenting a token that is gone is told no more than that it is unknown, expired or
already used.

Where tokens live: :class:`Confirmations` keeps them in the process that issued them
(thread-safe and bounded); :class:`SqlConfirmations` keeps them in the audit trail's
database, so that every process sharing it redeems them. A :class:`~opspack.frontends.gateway.Gateway`
uses the database whenever the audit trail is on: two runners behind one address with a
PostgreSQL trail (or on one host with the default SQLite file) accept each other's tokens.

What the database holds of a confirmation's arguments: the masked ones (what the request
showed), and the real ones only encrypted (:class:`Sealer`, Fernet from ``cryptography``)
with the key of ``OPSPACK_CONFIRM_KEY`` or ``[serve] confirm_key`` (a reference allowed:
``vault:...``, ``env:...``, ``file:...``; several keys, comma-separated, decrypt and the
first encrypts, for rotation). Without a key, arguments that hold no secret are kept as
they are, and those that do are sealed with a key this process made at start: the
confirmation is then answered on this runner only (another one answers ``denied``, says
why and leaves the token for this one), and not after a restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from opspack.errors import ConfigError, Denied
from opspack.masking import MASK
from opspack.results import Reply
from opspack.store import Column, Database, Table

if TYPE_CHECKING:
    from opspack.settings import Config

DEFAULT_TTL_S = 300.0
MAX_PENDING = 10_000
#: how long a used, declined or expired token is remembered, to say why it is refused
REMEMBER_S = 86_400.0

GONE_MESSAGE = "This confirmation is unknown, expired or already used."
GONE_HINT = "Run the command again to get a new confirmation."


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
    #: the requester's groups, as its front-end passed them (an approval runs with them)
    groups: tuple[str, ...] = ()
    #: the arguments as the request showed them, secrets masked
    shown: dict[str, Any] | None = None
    #: why this process cannot run it (its real arguments are sealed with another key)
    unavailable: str | None = None


@dataclass(frozen=True)
class Spent:
    """A token that can no longer be redeemed, remembered to say why."""

    why: Literal["used", "declined", "expired"]
    at: float
    by: str | None = None
    command: str | None = None


class Refused(Denied):
    """A confirmation token refused; ``reason`` says why, for the audit trail (it starts with
    one of ``wrong user``, ``own request``, ``other command``, ``sealed elsewhere``, ``reused``,
    ``declined``, ``expired``, ``unknown token``); ``command`` and ``text`` name what it confirms, when known."""

    def __init__(
        self, reason: str, message: str, hint: str | None, command: str | None = None, text: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.reason = reason
        self.command = command
        self.text = text


@dataclass
class Confirmations:
    """Issue and redeem one-time confirmation tokens (thread-safe), kept in this process.

    :class:`SqlConfirmations` keeps them in a database instead, for several processes."""

    ttl: float = DEFAULT_TTL_S
    clock: Callable[[], float] = time.monotonic
    max_pending: int = MAX_PENDING
    _pending: dict[str, Pending] = field(default_factory=dict, init=False, repr=False)
    _spent: dict[str, Spent] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def issue(self, reply: Reply, user: str, channel: str | None = None, groups: tuple[str, ...] = ()) -> Reply:
        """Give ``reply``'s confirmation request (if any) a token bound to ``user`` (who asked
        in ``channel``, with ``groups``)."""
        confirm = reply.error.confirm if reply.error is not None else None
        if confirm is None:
            return reply
        assert reply.error is not None
        run_args = confirm.run_args
        if run_args is None:  # a request read back from a store: only what it showed is known
            if MASK in json.dumps(confirm.args, ensure_ascii=False, default=str):
                reply.error.hint = "Run the command again to confirm it: this request no longer holds its arguments."
                return reply
            run_args = confirm.args
        token = secrets.token_urlsafe(18)
        now = self.clock()
        pending = Pending(
            command=confirm.command,
            args=dict(run_args),
            user=user,
            expires=now + self.ttl,
            text=confirm.text,
            channel=channel,
            approvers=tuple(confirm.approvers or ()),
            groups=tuple(groups),
            shown=dict(confirm.args),
        )
        self._put(token, pending, now)
        confirm.token = token
        minutes = max(1, round(self.ttl / 60))
        if pending.approvers:
            who = ", ".join(pending.approvers)
            reply.error.hint = f"A member of {who} approves it by answering `confirm {token}` within {minutes} min."
        else:
            reply.error.hint = f"To run it, answer `confirm {token}` within {minutes} min."
        return reply

    def peek(self, token: str) -> Pending | None:
        """What ``token`` would run, without using it (None when unknown or expired)."""
        return self._get(token, self.clock())

    def redeem(self, token: str, user: str, text: str | None = None) -> Pending:
        """Consume ``token`` for ``user``; raise :class:`Refused` when it is not valid.

        ``text``, when given, is the chat text of the call that presents the token
        (``vm power-off web01``); it must name what was confirmed, or the token is
        refused and stays valid. So it stays when the wrong user presents it.
        """
        now = self.clock()
        pending = self._get(token, now)
        if pending is None:
            raise self._gone_refusal(token, now)
        if pending.approvers:
            if secrets.compare_digest(pending.user, user):
                raise Refused(
                    "own request: the requester cannot approve it",
                    "You cannot approve your own request.",
                    f"Ask a member of {', '.join(pending.approvers)} to answer `confirm <token>`.",
                    pending.command,
                    pending.text,
                )
        elif not secrets.compare_digest(pending.user, user):
            raise Refused(
                f"wrong user: the confirmation is {pending.user}'s",
                f"This confirmation belongs to another user, not {user}.",
                "Only the person who asked can confirm; run the command yourself to get your own.",
                pending.command,
                pending.text,
            )
        if text is not None and pending.text is not None and text != pending.text:
            raise Refused(
                f"other command: presented with `{text}`",
                f"This confirmation is for `{pending.text}`, not `{text}`.",
                "Confirm the command you were asked about, or run this one to get its own confirmation.",
                pending.command,
                pending.text,
            )
        if pending.unavailable is not None:  # refused here, and left for the runner that can run it
            raise Refused(
                "sealed elsewhere: its secret arguments are sealed with another runner's key",
                pending.unavailable,
                "Answer it where it was asked, or give every runner the same [serve] confirm_key "
                "(OPSPACK_CONFIRM_KEY); or run the command again here.",
                pending.command,
                pending.text,
            )
        if not self._take(token, Spent("used", now, user, pending.command)):  # used meanwhile (another process)
            raise self._gone_refusal(token, self.clock())
        return pending

    def discard(self, token: str, by: str | None = None) -> bool:
        """Drop ``token`` unused (``by`` said no); False when it was not pending."""
        now = self.clock()
        pending = self._get(token, now)
        return self._take(token, Spent("declined", now, by, pending.command if pending else None))

    def gone(self, token: str) -> Spent | None:
        """Why ``token`` can no longer be redeemed: used, declined or expired (None: it is
        pending, or was never issued, or is forgotten)."""
        return self._gone(token, self.clock())

    def _gone_refusal(self, token: str, now: float) -> Refused:
        spent = self._gone(token, now)
        if spent is None:
            return Refused("unknown token", GONE_MESSAGE, GONE_HINT)
        if spent.why == "used":
            reason = f"reused: already used by {spent.by}" if spent.by else "reused"
        elif spent.why == "declined":
            reason = f"declined: {spent.by} said no" if spent.by else "declined"
        else:
            reason = "expired"
        return Refused(reason, GONE_MESSAGE, GONE_HINT, spent.command)

    def __len__(self) -> int:
        with self._lock:
            self._purge(self.clock())
            return len(self._pending)

    # -- storage: a dict in this process ---------------------------------------------
    def _put(self, token: str, pending: Pending, now: float) -> None:
        with self._lock:
            self._purge(now)
            if len(self._pending) >= self.max_pending:
                # Drop the oldest request rather than grow without bound.
                self._pending.pop(next(iter(self._pending)))
            self._pending[token] = pending

    def _get(self, token: str, now: float) -> Pending | None:
        with self._lock:
            self._purge(now)
            return self._pending.get(token)

    def _take(self, token: str, spent: Spent) -> bool:
        """Remove ``token``, remembering it as ``spent``; True only for the one caller that removed it."""
        with self._lock:
            if self._pending.pop(token, None) is None:
                return False
            self._remember(token, spent)
            return True

    def _gone(self, token: str, now: float) -> Spent | None:
        with self._lock:
            self._purge(now)
            return self._spent.get(token)

    def _remember(self, token: str, spent: Spent) -> None:
        if len(self._spent) >= self.max_pending:
            self._spent.pop(next(iter(self._spent)))
        self._spent[token] = spent

    def _purge(self, now: float) -> None:
        expired = [t for t, p in self._pending.items() if p.expires <= now]
        for t in expired:
            gone = self._pending.pop(t)
            self._remember(t, Spent("expired", gone.expires, None, gone.command))
        forgotten = [t for t, s in self._spent.items() if s.at <= now - REMEMBER_S]
        for t in forgotten:
            del self._spent[t]


#: confirmation tokens in the audit trail's database (a hash of each token, never the token)
CONFIRMATIONS = Table(
    "opspack_confirmations",
    (
        Column("token_sha256", "VARCHAR(64)", nullable=False, primary_key=True),
        Column("expires", "FLOAT", nullable=False, index=True),
        Column("pending", "TEXT", nullable=False),
    ),
)
#: tokens used, declined or expired, remembered for :data:`REMEMBER_S` to say why one is refused
SPENT = Table(
    "opspack_confirmations_spent",
    (
        Column("token_sha256", "VARCHAR(64)", nullable=False, primary_key=True),
        Column("at", "FLOAT", nullable=False, index=True),
        Column("why", "VARCHAR(20)", nullable=False),
        Column("by_user", "VARCHAR(200)"),
        Column("command", "VARCHAR(200)"),
    ),
)
_REMEMBER_SPENT = (
    "INSERT INTO opspack_confirmations_spent (token_sha256, at, why, by_user, command) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


class SqlConfirmations(Confirmations):
    """Confirmation tokens in a database table, so that any process sharing the database
    redeems them: several runners behind one address, or a runner restarted meanwhile.

    The table (``opspack_confirmations``) is created in ``database``, the audit trail's
    (:attr:`opspack.audit.AuditLog.database`); it holds a SHA-256 of each token, never the
    token, so reading the database does not let anyone confirm. One-time use holds across
    processes: a redeem counts only when its ``DELETE`` removed the row (PostgreSQL makes a
    second ``DELETE`` of the row wait for the first and then find nothing; SQLite runs one
    writer at a time). Expiry uses the wall clock. Used, declined and expired tokens move
    to ``opspack_confirmations_spent`` (hash, when, why, by whom, which command).

    A row holds the arguments as shown (masked) and the real ones sealed with ``sealer``
    (see the module's text): with a shared key always, without one whenever they differ
    from the shown ones.
    """

    def __init__(
        self,
        database: Database,
        ttl: float = DEFAULT_TTL_S,
        max_pending: int = MAX_PENDING,
        sealer: Sealer | None = None,
    ) -> None:
        super().__init__(ttl=ttl, clock=time.time, max_pending=max_pending)
        self.database = database
        self.sealer = sealer or Sealer()
        database.create_tables(CONFIRMATIONS, SPENT)

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def _load(self, stored: str, unseal: bool = True) -> Pending:
        """A pending confirmation from its stored form (the one place rows are read back):
        a row from before groups had their name (``roles``) gives its groups, and sealed real
        arguments are opened, or it says why this process cannot run it (``unavailable``).
        ``unseal=False``: the shown arguments only, for a row read for its command."""
        data = json.loads(stored)
        if "roles" in data:  # a token issued before groups had their name
            data["groups"] = data.pop("roles")
        for name in ("approvers", "groups"):
            data[name] = tuple(data.get(name) or ())
        sealed = data.pop("sealed", None)
        if sealed is not None:
            data["shown"] = data["args"]
            opened = self.sealer.open(str(sealed)) if unseal else None
            if opened is None:
                data["unavailable"] = (
                    "This confirmation holds secret arguments sealed by another runner, which alone can run it."
                )
            else:
                data["args"] = json.loads(opened)
        known = {f.name for f in fields(Pending)}
        return Pending(**{k: v for k, v in data.items() if k in known})

    def _put(self, token: str, pending: Pending, now: float) -> None:
        data = asdict(pending)
        shown = data.pop("shown")
        data.pop("unavailable")
        if shown is not None and (self.sealer.shared or _json(shown) != _json(pending.args)):
            # in the order given, so that the run's chat text is the request's
            data["sealed"] = self.sealer.seal(json.dumps(pending.args, ensure_ascii=False, default=str))
            data["args"] = shown
        row = {
            "token_sha256": self._key(token),
            "expires": pending.expires,
            "pending": json.dumps(data, default=str),
        }
        with self.database.transaction() as tx:
            expired = tx.query(
                "SELECT token_sha256, expires, pending FROM opspack_confirmations WHERE expires <= ?", (now,)
            )
            for key, expires, stored in expired:
                tx.execute(_REMEMBER_SPENT, (key, expires, "expired", None, self._load(stored, unseal=False).command))
            tx.execute("DELETE FROM opspack_confirmations WHERE expires <= ?", (now,))
            tx.execute("DELETE FROM opspack_confirmations_spent WHERE at <= ?", (now - REMEMBER_S,))
            tx.insert(CONFIRMATIONS, row)

    def _get(self, token: str, now: float) -> Pending | None:
        found = self.database.scalar(
            "SELECT pending FROM opspack_confirmations WHERE token_sha256 = ? AND expires > ?", (self._key(token), now)
        )
        return None if found is None else self._load(found)

    def _take(self, token: str, spent: Spent) -> bool:
        key = self._key(token)
        with self.database.transaction() as tx:
            gone = tx.execute(
                "DELETE FROM opspack_confirmations WHERE token_sha256 = ? AND expires > ?", (key, time.time())
            )
            if gone != 1:
                return False
            tx.execute(_REMEMBER_SPENT, (key, spent.at, spent.why, spent.by, spent.command))
        return True

    def _gone(self, token: str, now: float) -> Spent | None:
        key = self._key(token)
        rows = self.database.query(
            "SELECT why, at, by_user, command FROM opspack_confirmations_spent WHERE token_sha256 = ?", (key,)
        )
        if rows:
            why, at, by, command = rows[0]
            return Spent(why, float(at), by, command)
        rows = self.database.query(
            "SELECT expires, pending FROM opspack_confirmations WHERE token_sha256 = ? AND expires <= ?", (key, now)
        )
        return Spent("expired", float(rows[0][0]), None, self._load(rows[0][1], unseal=False).command) if rows else None

    def __len__(self) -> int:
        count = self.database.scalar("SELECT COUNT(*) FROM opspack_confirmations WHERE expires > ?", (time.time(),))
        return int(count or 0)


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)


#: the environment variable naming the key(s) that seal confirmations' arguments
CONFIRM_KEY_ENV = "OPSPACK_CONFIRM_KEY"
_KEY_HINT = (
    "A key is 32 random bytes in URL-safe base64: "
    "python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
)


class Sealer:
    """Encrypts and decrypts text with Fernet (AES-128-CBC with HMAC-SHA256, from
    ``cryptography``). ``keys``: the shared keys, the first encrypting, all decrypting (a
    rotation); none: a key made in this process, which only this process can decrypt with
    (:attr:`shared` is False). ``cryptography`` is imported when something is sealed."""

    def __init__(self, keys: Sequence[str] = ()) -> None:
        self.keys = [_fernet_key(k) for k in keys]
        self.shared = bool(self.keys)
        self._fernet: Any = None
        self._lock = threading.Lock()

    def _cipher(self) -> Any:
        with self._lock:
            if self._fernet is None:
                try:
                    from cryptography.fernet import Fernet, MultiFernet
                except ImportError:  # pragma: no cover - a dependency of the core
                    raise ConfigError(
                        "Sealing confirmations needs the cryptography package.", "pip install cryptography"
                    ) from None
                keys = self.keys or [base64.urlsafe_b64encode(secrets.token_bytes(32))]
                self._fernet = MultiFernet([Fernet(k) for k in keys])
            return self._fernet

    def seal(self, text: str) -> str:
        """``text`` encrypted (a Fernet token)."""
        return str(self._cipher().encrypt(text.encode("utf-8")).decode("ascii"))

    def open(self, token: str) -> str | None:
        """The text ``token`` holds; None when none of the keys made it."""
        from cryptography.fernet import InvalidToken

        try:
            return str(self._cipher().decrypt(token.encode("ascii")).decode("utf-8"))
        except (InvalidToken, ValueError):
            return None

    @classmethod
    def from_config(cls, config: Config) -> Sealer:
        """The sealer of ``OPSPACK_CONFIRM_KEY`` or ``[serve] confirm_key`` (a value, a
        reference, or several comma-separated; a list in TOML), else a key of this process."""
        from opspack.settings import resolve_reference

        raw: Any = config.environ.get(CONFIRM_KEY_ENV) or config.table("serve").get("confirm_key")
        if not raw:
            return cls()
        items = raw if isinstance(raw, list) else str(raw).split(",")
        keys: list[str] = []
        for item in items:
            if str(item).strip():
                value, _ = resolve_reference(str(item).strip(), config.environ)
                keys.append(value)
        return cls(keys)


def _fernet_key(key: str) -> bytes:
    """A key as Fernet takes it: 32 bytes in URL-safe base64 (standard base64 accepted)."""
    text = key.strip()
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError("confirm_key is not a key: it must be 32 bytes in base64.", _KEY_HINT)
    return base64.urlsafe_b64encode(raw)


__all__ = [
    "CONFIRM_KEY_ENV",
    "DEFAULT_TTL_S",
    "REMEMBER_S",
    "Confirmations",
    "Pending",
    "Refused",
    "Sealer",
    "Spent",
    "SqlConfirmations",
]
