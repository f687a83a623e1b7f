"""The connection a command uses: ldap3 made from the pack's settings, kept between commands.

Imported by the command modules inside their functions, so listing commands never imports
ldap3. :class:`Directory` wraps one bound ldap3 connection with what every command needs:
paged searches, range retrieval of big multi-valued attributes (``member;range=0-1499``),
finding a user or a group by name, and changes that fail with an error naming the object.
It counts its LDAP round trips (:attr:`Directory.round_trips`).

TLS: ``ldaps://`` connects over TLS; ``ldap://`` is upgraded with StartTLS before the bind.
A simple bind over a plain connection happens only when ``allow_plain_bind`` says the server
is a lab. The certificate is verified (against ``ca_file`` when set) unless ``verify_tls`` is off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as lx
from opspack import ConfigError, Context
from opspack.errors import BackendError, NotFound, OpsError, UsageError

from opspack_directory import errors
from opspack_directory.flavors import Entry, Flavor, LockPolicy, escape, flavor, rdn_value

T = TypeVar("T")

_SETTINGS = ["url", "user", "password", "base_dn", "flavor", "verify_tls", "ca_file", "allow_plain_bind", "timeout"]
#: seconds a read password policy is reused
_POLICY_TTL = 300.0
#: the most values of a filter OR'ed together in one search
OR_CHUNK = 100
#: values asked for per range step (Active Directory's default MaxValRange)
RANGE_STEP = 1500


def _decode(values: Iterable[Any]) -> list[str]:
    out = []
    for v in values:
        if isinstance(v, bytes):
            out.append(v.decode("utf-8", errors="replace"))
        else:
            out.append(str(v))
    return out


def to_entry(item: dict[str, Any]) -> Entry:
    """An ldap3 response item as an :class:`Entry`."""
    raw: dict[str, list[bytes]] = {}
    for key, values in (item.get("raw_attributes") or {}).items():
        raw[key.lower()] = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    return Entry(dn=str(item.get("dn", "")), attrs={k: _decode(v) for k, v in raw.items()}, raw=raw)


class Directory:
    """One bound connection to the directory and the pack's settings that shape its work."""

    def __init__(self, conn: ldap3.Connection, flavor: Flavor, base_dn: str, page_size: int) -> None:
        self.conn = conn
        self.flavor = flavor
        self.base_dn = base_dn
        self.page_size = max(1, min(int(page_size), 5000))
        #: LDAP requests sent (each search page, each range step, each change counts one)
        self.round_trips = 0
        self.lock = threading.Lock()
        self._policy: tuple[float, str, LockPolicy] | None = None

    # -- reading ----------------------------------------------------------------------------
    def search(
        self,
        filter_: str,
        attributes: list[str],
        *,
        base: str | None = None,
        scope: str = ldap3.SUBTREE,
        limit: int = 0,
    ) -> list[Entry]:
        """Every entry matching ``filter_`` under ``base`` (default: the base DN), read in pages
        of ``page_size`` with the paged-results control; at most ``limit`` when it is not 0."""
        out: list[Entry] = []
        cookie: Any = None
        paged = scope != ldap3.BASE
        while True:
            self.round_trips += 1
            self.conn.search(
                base if base is not None else self.base_dn,
                filter_,
                search_scope=scope,
                attributes=attributes,
                paged_size=min(self.page_size, limit) if paged and limit else (self.page_size if paged else None),
                paged_cookie=cookie,
            )
            out += [to_entry(r) for r in self.conn.response or [] if r.get("type") == "searchResEntry"]
            if limit and len(out) >= limit:
                return out[:limit]
            controls = (self.conn.result or {}).get("controls") or {}
            cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
            if not paged or not cookie:
                return out

    def read(self, dn: str, attributes: list[str]) -> Entry | None:
        """The entry at ``dn`` (None when it does not exist)."""
        try:
            found = self.search("(objectClass=*)", attributes, base=dn, scope=ldap3.BASE)
        except lx.LDAPNoSuchObjectResult:
            return None
        return found[0] if found else None

    def ranged(self, dn: str, attribute: str) -> list[str]:
        """Every value of a multi-valued attribute. Active Directory answers at most
        MaxValRange (1,500) values of ``member`` at once, so it is read in ranges,
        ``member;range=0-1499``, ``member;range=1500-2999``..., each answer saying where it
        ended (``member;range=1500-*`` for the last); OpenLDAP answers them all at once."""
        if not self.flavor.ranged_values:
            entry = self.read(dn, [attribute])
            return entry.all(attribute) if entry is not None else []
        values: list[str] = []
        start = 0
        low = attribute.lower()
        while True:
            entry = self.read(dn, [f"{attribute};range={start}-{start + RANGE_STEP - 1}"])
            if entry is None:
                return values
            key = next((k for k in entry.attrs if k == low or k.startswith(low + ";range=")), None)
            if key is None:
                return values
            values += entry.attrs[key]
            high = key.rsplit("-", 1)[1] if ";range=" in key else "*"
            if high == "*" or not entry.attrs[key]:
                return values
            start = int(high) + 1

    def policy(self, setting: str = "") -> LockPolicy:
        """The password policy's lockout and expiry figures (read once every few minutes)."""
        dn, attributes = self.flavor.policy_entry(self.base_dn, setting)
        now = time.monotonic()
        if self._policy is not None and self._policy[1] == dn and now - self._policy[0] < _POLICY_TTL:
            return self._policy[2]
        try:
            entry = self.read(dn, attributes)
        except lx.LDAPOperationResult:
            entry = None
        policy = self.flavor.lock_policy(entry)
        self._policy = (now, dn, policy)
        return policy

    # -- finding ----------------------------------------------------------------------------
    def _find(self, what: str, text: str, filter_: str, attributes: list[str], near: str) -> Entry:
        text = text.strip()
        if "=" in text and "," in text:  # a DN
            entry = self.read(text, attributes)
            if entry is None:
                raise NotFound(f"{what} '{text}' does not exist in the directory.")
            return entry
        found = self.search(filter_, attributes, limit=2)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise UsageError(f"More than one {what} is named '{text}'.", f"Give the full DN, e.g. {found[0].dn}")
        candidates = self.search(near, [self.flavor.login_attr, "cn", self.flavor.group_name_attr], limit=50)
        names = [self.flavor.name_of(c) for c in candidates]
        raise NotFound.with_matches(what, text, names)

    def user(self, text: str, attributes: list[str] | None = None) -> Entry:
        """The user named by login, principal name, mail or DN; ``not_found`` with close names."""
        fl = self.flavor
        first = escape(text.strip()[:3])
        near = f"(&{fl.user_class}(|({fl.login_attr}={first}*)(cn=*{first}*)))"
        return self._find("user", text, fl.find_user(text), attributes or fl.user_attributes(), near)

    def group(self, text: str, attributes: list[str] | None = None) -> Entry:
        """The group named by name or DN; ``not_found`` with close names."""
        fl = self.flavor
        first = escape(text.strip()[:3])
        near = f"(&{fl.group_class}(cn=*{first}*))"
        attrs = attributes or ["cn", fl.group_name_attr, "objectClass", "description", "memberOf"]
        return self._find("group", text, fl.find_group(text), attrs, near)

    # -- changing -------------------------------------------------------------------------
    def modify(self, dn: str, changes: dict[str, Any], what: str) -> None:
        """Apply ldap3 ``changes`` to ``dn``; an error names ``what`` (``"user jdoe"``)."""
        if not changes:
            return
        self.round_trips += 1
        try:
            self.conn.modify(dn, changes)
        except lx.LDAPOperationResult as exc:
            raise _about(exc, what) from None

    def add(self, dn: str, attributes: dict[str, Any], what: str) -> None:
        """Create ``dn``; an error names ``what``."""
        self.round_trips += 1
        object_class = attributes.get("objectClass")
        rest = {k: v for k, v in attributes.items() if k != "objectClass"}
        try:
            self.conn.add(dn, object_class, rest)
        except lx.LDAPOperationResult as exc:
            raise _about(exc, what) from None

    def delete(self, dn: str, what: str) -> None:
        """Delete ``dn`` (used to take back a half-made account)."""
        self.round_trips += 1
        try:
            self.conn.delete(dn)
        except lx.LDAPOperationResult as exc:
            raise _about(exc, what) from None

    @property
    def realm(self) -> str:
        """The DNS name of the base DN's ``DC=`` parts (``corp.example.com``)."""
        parts = [p.split("=", 1)[1] for p in self.base_dn.split(",") if p.strip().lower().startswith("dc=")]
        return ".".join(parts).lower()


def _about(exc: BaseException, what: str) -> OpsError:
    return errors.about(exc, what) or BackendError(f"The directory refused the operation on {what}.")


def _tls(ctx: Context) -> ldap3.Tls:
    verify = bool(ctx.settings["verify_tls"])
    ca_file = str(ctx.settings["ca_file"] or "").strip()
    try:
        return ldap3.Tls(
            validate=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE,
            ca_certs_file=ca_file or None,
            version=ssl.PROTOCOL_TLS_CLIENT,
        )
    except lx.LDAPSSLConfigurationError as exc:
        raise ConfigError(f"setting ca_file: {exc}", "Give the path of a PEM file.") from None


def _make(ctx: Context) -> Directory:
    ctx.settings.require(["url", "user", "password"])
    fl = flavor(str(ctx.settings["flavor"]))
    url = str(ctx.settings["url"]).strip()
    parts = urlsplit(url if "://" in url else f"ldaps://{url}")
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise ConfigError(
            f"setting url is {url!r}, expected ldaps://host or ldap://host",
            "ldaps:// connects over TLS; ldap:// is upgraded with StartTLS.",
        )
    password = str(ctx.settings["password"])
    ctx.secret(password)
    timeout = float(ctx.settings["timeout"])
    use_ssl = parts.scheme == "ldaps"
    plain = parts.scheme == "ldap" and bool(ctx.settings["allow_plain_bind"])
    server = ldap3.Server(
        parts.hostname,
        port=parts.port or (636 if use_ssl else 389),
        use_ssl=use_ssl,
        tls=None if plain else _tls(ctx),
        get_info=ldap3.NONE,
        connect_timeout=timeout,
    )
    conn = ldap3.Connection(
        server,
        user=str(ctx.settings["user"]),
        password=password,
        authentication=ldap3.SIMPLE,
        raise_exceptions=True,
        auto_range=False,
        receive_timeout=max(1, round(timeout)),
        return_empty_attributes=False,
    )
    trips = 1
    try:
        conn.open()
        if parts.scheme == "ldap" and not plain:
            trips += 1
            if not conn.start_tls():
                raise ConfigError(
                    "StartTLS failed: the server did not upgrade the connection to TLS.",
                    "Use an ldaps:// url, or a server with TLS; allow_plain_bind=true only for a lab.",
                )
        conn.bind()
    except BaseException:
        with contextlib.suppress(lx.LDAPException, OSError):
            conn.unbind()  # the socket may be half-wrapped: keep the first error
        raise
    base = str(ctx.settings["base_dn"] or "").strip()
    if not base:
        trips += 1
        conn.search(
            "", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["defaultNamingContext", "namingContexts"]
        )
        root = to_entry(conn.response[0]) if conn.response else Entry("")
        base = root.first("defaultNamingContext") or root.first("namingContexts")
        if not base:
            conn.unbind()
            raise ConfigError("the directory does not say its naming context", "Set the pack's base_dn.")
    directory = Directory(conn, fl, base, int(ctx.settings["page_size"]))
    directory.round_trips = trips
    return directory


def _close(directory: Directory) -> None:
    with contextlib.suppress(lx.LDAPException):
        directory.conn.unbind()


def _expired(exc: BaseException) -> bool:
    return isinstance(
        exc,
        lx.LDAPSocketReceiveError
        | lx.LDAPSocketSendError
        | lx.LDAPSessionTerminatedByServerError
        | lx.LDAPSocketOpenError,
    )


def call(ctx: Context, use: Callable[[Directory], T]) -> T:
    """Run ``use(directory)`` on the kept connection; connect again once if the server had
    closed it (an idle timeout)."""

    def locked(directory: Directory) -> T:
        with directory.lock:
            return use(directory)

    result: T = ctx.with_connection(lambda: _make(ctx), locked, expired=_expired, close=_close, settings=_SETTINGS)
    return result


def now() -> dt.datetime:
    """The current time (UTC)."""
    return dt.datetime.now(dt.UTC)


def short(dn: str) -> str:
    """A DN's first value, for a person to read."""
    return rdn_value(dn)
