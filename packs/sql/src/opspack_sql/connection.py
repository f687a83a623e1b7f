"""Connections: which database a command talks to, and a small pool per profile.

``sql waits db1`` names the profile ``[sql.profiles.db1]``; without a name the
command uses the ``[sql]`` settings (or ``--profile``). Each profile gets one
:class:`Database` kept in the runtime's connection pool: it holds a few idle
driver connections, sets the statement timeout when it opens one (in the
startup packet on PostgreSQL, one statement on MariaDB/MySQL and SQL Server),
and counts round trips. No driver is imported before a command connects.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from opspack import ConfigError, Context, NotFound
from opspack.settings import Settings

from opspack_sql.dialects import SCHEMES, Dialect, dialect_for

T = TypeVar("T")

#: The name that means "the [sql] settings" where a profile name is expected.
DEFAULT_PROFILE = "default"


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed connection URL, without its password."""

    scheme: str
    host: str
    port: int | None
    user: str
    database: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        where = f"{self.host}:{self.port}" if self.port else self.host
        return f"{self.scheme}://{self.user + '@' if self.user else ''}{where}/{self.database}"


def parse_url(url: str) -> tuple[Target, str | None]:
    """``postgresql://app@db1:5432/app?sslmode=require`` -> (Target, password in the URL or None)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"setting url has the scheme {parts.scheme or '(none)'!r}, which the sql pack does not know",
            "Use postgresql://, mysql:// (or mariadb://) or mssql://, e.g. postgresql://app@db1/app.",
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("setting url has a port that is not a number") from None
    target = Target(
        scheme=scheme,
        host=unquote(parts.hostname or ""),
        port=port,
        user=unquote(parts.username or ""),
        database=unquote(parts.path.lstrip("/")),
        options=dict(parse_qsl(parts.query)),
    )
    return target, unquote(parts.password) if parts.password is not None else None


class Runner:
    """One checked-out connection: :meth:`query` is one round trip."""

    def __init__(self, db: Database, conn: Any) -> None:
        self._db = db
        self._conn = conn
        self.server_version = db.server_version

    def query(self, sql: str, params: tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
        self._db.round_trips += 1
        cur = self._conn.cursor()
        try:
            cur.execute(sql, params)
            if cur.description is None:
                return []
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            cur.close()


class Database:
    """Connections to one database (one profile), reused between commands; thread-safe."""

    def __init__(
        self,
        target: Target,
        password: str | None,
        *,
        statement_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        max_idle: int = 4,
    ) -> None:
        self.target = target
        self.dialect: Dialect = dialect_for(target.scheme)
        self._password = password
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self.round_trips = 0
        self.connects = 0
        self.server_version = ""
        self.connect_seconds: float | None = None

    def _open(self) -> Any:
        began = time.monotonic()
        conn = self.dialect.connect(self.target, self._password, self.statement_timeout, self.connect_timeout)
        self.connect_seconds = time.monotonic() - began
        self.connects += 1
        self.server_version = _server_version(conn)
        return conn

    def _checkout(self) -> tuple[Any, bool]:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if self.dialect.is_alive(conn):
                    return conn, True
                _close(conn)
        return self._open(), False

    def _checkin(self, conn: Any) -> None:
        with self._lock:
            if self.dialect.is_alive(conn) and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        _close(conn)

    def run(self, work: Callable[[Runner], T]) -> T:
        """Run ``work`` on a pooled connection; a kept connection found dead is replaced once."""
        conn, reused = self._checkout()
        try:
            result = work(Runner(self, conn))
        except Exception as exc:
            _close(conn)
            if not (reused and self.dialect.is_disconnect(exc)):
                raise
            conn = self._open()
            try:
                result = work(Runner(self, conn))
            except Exception:
                _close(conn)
                raise
        self._checkin(conn)
        return result

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)


def _close(conn: Any) -> None:
    # closing a broken connection may fail in any driver-specific way; nothing to do then
    with contextlib.suppress(Exception):
        conn.close()


def _server_version(conn: Any) -> str:
    info = getattr(conn, "info", None)  # psycopg
    if info is not None and hasattr(info, "server_version"):
        return str(info.server_version)
    get = getattr(conn, "get_server_info", None)  # PyMySQL: from the handshake
    if callable(get):
        return str(get())
    return ""


def profile_settings(ctx: Context, db: str | None) -> tuple[str | None, Settings]:
    """The settings a command uses: those of profile ``db``, else the invocation's own."""
    if db is None:
        return ctx.profile, ctx.settings
    known = ctx.settings.profiles()
    if db in known:
        return db, ctx.settings.for_profile(db)
    if db == DEFAULT_PROFILE:
        return None, ctx.settings.for_profile(None)
    if not known:
        raise NotFound(
            f"database profile '{db}' not found: no [sql.profiles.*] are configured",
            "Add [sql.profiles.<name>] with a url to opspack.toml, or leave the name out to use the [sql] settings.",
        )
    raise NotFound.with_matches("database profile", db, known)


_SETTINGS = ["url", "password", "statement_timeout", "connect_timeout"]


@dataclass(slots=True)
class Opened:
    """What a command works with: the pooled database, its profile's settings and name."""

    db: Database
    settings: Settings
    profile: str | None


def database(ctx: Context, db: str | None) -> Opened:
    """The pooled :class:`Database` for profile ``db`` (None: the default settings)."""
    profile, settings = profile_settings(ctx, db)
    url = str(settings["url"] or "").strip()
    if not url:
        where = f"[sql.profiles.{profile}]" if profile else "[sql]"
        raise ConfigError(
            f"no database url is set in {where}",
            f"Set url in {where} of opspack.toml (or OPSPACK_SQL_URL), e.g. postgresql://app@db1/app; "
            "put the password in the password setting as an env:, file: or vault: reference.",
        )
    target, url_password = parse_url(url)
    ctx.secret(url_password)
    password = str(settings["password"] or "") or url_password
    statement_timeout = float(settings["statement_timeout"])
    connect_timeout = float(settings["connect_timeout"])
    if statement_timeout <= 0:
        raise ConfigError("setting statement_timeout must be a positive number of seconds")

    def make() -> Database:
        return Database(target, password, statement_timeout=statement_timeout, connect_timeout=connect_timeout)

    key = ("sql", profile, settings.fingerprint(_SETTINGS))
    found: Database = ctx.pool.get(key, make, close=lambda d: d.close(), group=("sql", profile))
    return Opened(found, settings, profile)
