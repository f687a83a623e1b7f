"""The two dialects, each mapped in one place: :class:`ActiveDirectory` and :class:`OpenLDAP`.

A flavor knows its directory's object classes and attribute names, how it says that an
account is disabled or locked out and until when, how it records logons and password
changes, what an unlock, a disable and an enable write, and what a new account looks like.
Everything else in the pack (searches, group walks, commands) asks the flavor and never
names a dialect's attribute itself. Standard library only.

Active Directory (and Samba): ``userAccountControl`` flags, ``lockoutTime`` with the domain's
``lockoutDuration``, ``msDS-User-Account-Control-Computed``, ``pwdLastSet`` and
``msDS-UserPasswordExpiryTimeComputed``, ``lastLogonTimestamp``, all FILETIMEs (100 ns since
1601); nested membership through the LDAP_MATCHING_RULE_IN_CHAIN OID.

OpenLDAP: ``inetOrgPerson`` and ``groupOfNames``; the memberof overlay's ``memberOf``; the
ppolicy overlay's ``pwdAccountLockedTime`` (``000001010000Z`` = locked by an administrator:
what ``user disable`` writes), ``pwdChangedTime``, ``pwdReset`` and the policy's
``pwdMaxAge``/``pwdLockoutDuration``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from opspack.errors import ConfigError, UsageError

UTC = dt.UTC
#: LDAP_MATCHING_RULE_IN_CHAIN: Active Directory's transitive membership filter
IN_CHAIN = "1.2.840.113556.1.4.1941"
_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=UTC)
_FILETIME_NEVER = 0x7FFFFFFFFFFFFFFF

# userAccountControl flags (MS-ADTS 2.2.16)
UAC_ACCOUNTDISABLE = 0x0002
UAC_LOCKOUT = 0x0010
UAC_NORMAL_ACCOUNT = 0x0200
UAC_DONT_EXPIRE_PASSWORD = 0x10000
UAC_PASSWORD_EXPIRED = 0x800000

#: ppolicy's value of pwdAccountLockedTime for an account an administrator locked
ADMIN_LOCK = "000001010000Z"


def escape(value: str) -> str:
    """``value`` safe inside an LDAP filter (RFC 4515)."""
    out = []
    for ch in value:
        if ch in "\\*()\x00":
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def from_filetime(value: str | int | None) -> dt.datetime | None:
    """A FILETIME (100 ns intervals since 1601-01-01 UTC) as a datetime; None for 0 and "never"."""
    try:
        ticks = int(value or 0)
    except ValueError:
        return None
    if ticks <= 0 or ticks >= _FILETIME_NEVER:
        return None
    return _FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)


def to_filetime(when: dt.datetime) -> int:
    """A datetime as a FILETIME."""
    return int((when - _FILETIME_EPOCH).total_seconds() * 10_000_000)


def from_generalized(value: str | None) -> dt.datetime | None:
    """An LDAP GeneralizedTime (``20261206101208Z``, ``20261206101208.375208Z``) as a datetime."""
    if not value:
        return None
    text = value.strip().rstrip("Z").split(".")[0].split(",")[0]
    try:
        return dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def to_generalized(when: dt.datetime) -> str:
    """A datetime as a GeneralizedTime (``20261206101208.0Z``)."""
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S.0Z")


def rdn_value(dn: str) -> str:
    """The value of a DN's first part: ``CN=Sales,OU=Groups,...`` -> ``Sales``."""
    first = split_dn(dn)[0] if dn else ""
    return first.split("=", 1)[1] if "=" in first else first


def split_dn(dn: str) -> list[str]:
    """A DN's parts, honouring escaped commas (``CN=Doe\\, John,OU=Staff``)."""
    parts, cur, i = [], "", 0
    while i < len(dn):
        ch = dn[i]
        if ch == "\\" and i + 1 < len(dn):
            cur += dn[i : i + 2]
            i += 2
            continue
        if ch == ",":
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    if cur.strip():
        parts.append(cur.strip())
    return parts


def parent_dn(dn: str) -> str:
    """The DN of the container holding ``dn`` (its OU)."""
    return ",".join(split_dn(dn)[1:])


@dataclass
class Entry:
    """One directory entry: its DN and its attributes (names in lower case, values as text;
    ``raw`` keeps the bytes for binary attributes such as ``objectSid``)."""

    dn: str
    attrs: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, list[bytes]] = field(default_factory=dict, repr=False)

    def first(self, name: str, default: str = "") -> str:
        """The first value of ``name`` (``default`` when it has none)."""
        values = self.attrs.get(name.lower())
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        """Every value of ``name``."""
        return list(self.attrs.get(name.lower(), []))

    def has_class(self, name: str) -> bool:
        """Whether the entry's objectClass includes ``name``."""
        return name.lower() in {c.lower() for c in self.all("objectClass")}


@dataclass
class LockPolicy:
    """What the directory's password policy says about lockouts and expiry (seconds; 0 = none)."""

    lockout_duration: int = 0
    lockout_threshold: int = 0
    max_password_age: int = 0


@dataclass
class Account:
    """A user account in the pack's own terms, whatever the dialect."""

    login: str
    dn: str
    display: str
    mail: str
    enabled: bool
    locked: bool
    #: until when a lockout lasts (None: until an administrator unlocks it, or not locked)
    locked_until: dt.datetime | None
    last_logon: dt.datetime | None
    password_set: dt.datetime | None
    password_expires: dt.datetime | None
    must_change_password: bool
    password_never_expires: bool
    manager: str | None
    groups: list[str]


@dataclass
class NewUser:
    """What ``user new`` would create: the entry, its attributes, the groups to join."""

    dn: str
    attributes: dict[str, Any]
    groups: list[str]
    #: attribute names whose values are secrets (never shown)
    secret_attributes: tuple[str, ...] = ()


class Flavor:
    """A directory dialect (see the module's documentation)."""

    name: ClassVar[str]
    #: the attribute holding a user's login name
    login_attr: ClassVar[str]
    #: the attribute holding a group's name
    group_name_attr: ClassVar[str]
    #: the filter every user matches
    user_class: ClassVar[str]
    #: the filter every group matches
    group_class: ClassVar[str]
    #: the server resolves nested membership itself (the in-chain matching rule)
    in_chain: ClassVar[bool] = False
    #: big multi-valued attributes are read in ranges (``member;range=0-1499``)
    ranged_values: ClassVar[bool] = False
    #: attributes to read for a group's members
    member_attributes: ClassVar[tuple[str, ...]]

    def user_attributes(self) -> list[str]:
        """The attributes `user info` reads."""
        raise NotImplementedError

    def find_user(self, text: str) -> str:
        """A filter for one user named by login, principal name or mail."""
        raise NotImplementedError

    def find_group(self, text: str) -> str:
        """A filter for one group named by its name."""
        return f"(&{self.group_class}(|({self.group_name_attr}={escape(text)})(cn={escape(text)})))"

    def search_users(self, text: str) -> str:
        """A filter for users whose name, login or mail contain ``text``."""
        raise NotImplementedError

    def policy_entry(self, base_dn: str, setting: str) -> tuple[str, list[str]]:
        """Where the password policy lives, and which attributes to read there."""
        raise NotImplementedError

    def lock_policy(self, entry: Entry | None) -> LockPolicy:
        """The policy read from :meth:`policy_entry`."""
        raise NotImplementedError

    def account(self, entry: Entry, policy: LockPolicy, now: dt.datetime) -> Account:
        """``entry`` as an :class:`Account`."""
        raise NotImplementedError

    def login_of(self, entry: Entry) -> str:
        """A user's login name."""
        return entry.first(self.login_attr) or rdn_value(entry.dn)

    def name_of(self, entry: Entry) -> str:
        """A group's (or any member's) short name."""
        if entry.has_class(self.group_object):
            return entry.first(self.group_name_attr) or rdn_value(entry.dn)
        return self.login_of(entry)

    #: the objectClass value of groups
    group_object: ClassVar[str]

    def kind_of(self, entry: Entry) -> str:
        """``user``, ``group``, ``computer`` or ``contact``/``other``."""
        raise NotImplementedError

    def unlock(self, entry: Entry) -> dict[str, Any]:
        """The ldap3 changes that end a lockout."""
        raise NotImplementedError

    def set_enabled(self, entry: Entry, enabled: bool) -> dict[str, Any]:
        """The ldap3 changes that enable or disable an account."""
        raise NotImplementedError

    def new_user(
        self,
        login: str,
        first: str,
        last: str,
        template: Mapping[str, Any],
        password: str,
        realm: str,
    ) -> NewUser:
        """The entry ``user new`` creates: disabled, with ``password``, which must be changed."""
        raise NotImplementedError

    def stale_computers(self, cutoff: dt.datetime) -> str:
        """A filter for computer accounts not logged on since ``cutoff``."""
        raise UsageError(
            f"The {self.name} flavor keeps no computer logon times.",
            "`computers stale` needs an Active Directory (flavor ad).",
        )

    def computer_row(self, entry: Entry) -> list[str]:
        """name, last logon, created, operating system, enabled."""
        raise NotImplementedError


def _template_values(template: Mapping[str, Any], login: str, first: str, last: str) -> dict[str, Any]:
    attrs = template.get("attributes") or {}
    if not isinstance(attrs, Mapping):
        raise ConfigError("templates: a template's attributes must be a table of name = value")
    values = {"login": login, "first": first, "last": last}
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, list):
            out[str(key)] = [str(v).format(**values) for v in value]
        else:
            out[str(key)] = str(value).format(**values)
    return out


def _groups(template: Mapping[str, Any]) -> list[str]:
    groups = template.get("groups") or []
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    return [str(g) for g in groups]


def _ou(template: Mapping[str, Any], name: str) -> str:
    ou = str(template.get("ou") or "").strip()
    if not ou:
        raise ConfigError(
            f"templates: template {name!r} names no ou", "Give each template an ou (the DN to create in)."
        )
    return ou


class ActiveDirectory(Flavor):
    """Microsoft Active Directory and Samba 4 domain controllers."""

    name = "ad"
    login_attr = "sAMAccountName"
    group_name_attr = "sAMAccountName"
    group_object = "group"
    user_class = "(&(objectCategory=person)(objectClass=user))"
    group_class = "(objectClass=group)"
    in_chain = True
    ranged_values = True
    member_attributes = ("sAMAccountName", "displayName", "objectClass", "userAccountControl", "mail")

    def user_attributes(self) -> list[str]:
        return [
            "sAMAccountName",
            "userPrincipalName",
            "displayName",
            "mail",
            "userAccountControl",
            "msDS-User-Account-Control-Computed",
            "lockoutTime",
            "lastLogonTimestamp",
            "pwdLastSet",
            "msDS-UserPasswordExpiryTimeComputed",
            "manager",
            "memberOf",
            "primaryGroupID",
            "objectSid",
            "objectClass",
        ]

    def find_user(self, text: str) -> str:
        t = escape(text)
        return f"(&{self.user_class}(|(sAMAccountName={t})(userPrincipalName={t})(mail={t})))"

    def search_users(self, text: str) -> str:
        t = escape(text)
        return (
            f"(&{self.user_class}(|(sAMAccountName=*{t}*)(displayName=*{t}*)(mail=*{t}*)"
            f"(userPrincipalName=*{t}*)(cn=*{t}*)))"
        )

    def policy_entry(self, base_dn: str, setting: str) -> tuple[str, list[str]]:
        return base_dn, ["lockoutDuration", "lockoutThreshold", "maxPwdAge"]

    def lock_policy(self, entry: Entry | None) -> LockPolicy:
        if entry is None:
            return LockPolicy()

        def seconds(name: str) -> int:
            # a negative interval in 100 ns; -2**63 means "forever" (0 here)
            try:
                value = int(entry.first(name, "0"))
            except ValueError:
                return 0
            return 0 if value <= -(2**63) + 1 else abs(value) // 10_000_000

        try:
            threshold = int(entry.first("lockoutThreshold", "0"))
        except ValueError:
            threshold = 0
        return LockPolicy(seconds("lockoutDuration"), threshold, seconds("maxPwdAge"))

    def account(self, entry: Entry, policy: LockPolicy, now: dt.datetime) -> Account:
        uac = int(entry.first("userAccountControl", "0") or 0)
        computed = int(entry.first("msDS-User-Account-Control-Computed", "0") or 0)
        locked_at = from_filetime(entry.first("lockoutTime"))
        until = None
        if locked_at and policy.lockout_duration:
            until = locked_at + dt.timedelta(seconds=policy.lockout_duration)
        if entry.attrs.get("msds-user-account-control-computed") is not None:
            locked = bool(computed & UAC_LOCKOUT)
        else:
            locked = locked_at is not None and (until is None or until > now)
        pwd_last_set = entry.first("pwdLastSet")
        expiry_raw = entry.first("msDS-UserPasswordExpiryTimeComputed")
        never = bool(uac & UAC_DONT_EXPIRE_PASSWORD) or (expiry_raw.isdigit() and int(expiry_raw) >= _FILETIME_NEVER)
        return Account(
            login=self.login_of(entry),
            dn=entry.dn,
            display=entry.first("displayName") or rdn_value(entry.dn),
            mail=entry.first("mail"),
            enabled=not uac & UAC_ACCOUNTDISABLE,
            locked=locked,
            locked_until=until if locked else None,
            last_logon=from_filetime(entry.first("lastLogonTimestamp")),
            password_set=from_filetime(pwd_last_set),
            password_expires=None if never else from_filetime(expiry_raw),
            must_change_password=pwd_last_set == "0"  # noqa: S105 (FILETIME 0: must change)
            or bool(computed & UAC_PASSWORD_EXPIRED),
            password_never_expires=never,
            manager=entry.first("manager") or None,
            groups=entry.all("memberOf"),
        )

    def kind_of(self, entry: Entry) -> str:
        classes = {c.lower() for c in entry.all("objectClass")}
        for kind in ("computer", "group", "user", "contact", "foreignSecurityPrincipal"):
            if kind.lower() in classes:
                return "foreign" if kind == "foreignSecurityPrincipal" else kind
        return "other"

    def unlock(self, entry: Entry) -> dict[str, Any]:
        return {"lockoutTime": [("MODIFY_REPLACE", ["0"])]}

    def set_enabled(self, entry: Entry, enabled: bool) -> dict[str, Any]:
        uac = int(entry.first("userAccountControl", str(UAC_NORMAL_ACCOUNT)) or UAC_NORMAL_ACCOUNT)
        uac = uac & ~UAC_ACCOUNTDISABLE if enabled else uac | UAC_ACCOUNTDISABLE
        return {"userAccountControl": [("MODIFY_REPLACE", [str(uac)])]}

    def new_user(
        self,
        login: str,
        first: str,
        last: str,
        template: Mapping[str, Any],
        password: str,
        realm: str,
    ) -> NewUser:
        name = str(template.get("name", "")) or login
        ou = _ou(template, name)
        cn = f"{first} {last}".strip().replace(",", "\\,")
        suffix = str(template.get("upn_suffix") or realm)
        attributes: dict[str, Any] = {
            "objectClass": ["top", "person", "organizationalPerson", "user"],
            "sAMAccountName": login,
            "userPrincipalName": f"{login}@{suffix}",
            "givenName": first,
            "sn": last,
            "displayName": f"{first} {last}".strip(),
            "userAccountControl": str(UAC_NORMAL_ACCOUNT | UAC_ACCOUNTDISABLE),
            **_template_values(template, login, first, last),
            "unicodePwd": f'"{password}"'.encode("utf-16-le"),
            "pwdLastSet": "0",
        }
        return NewUser(f"CN={cn},{ou}", attributes, _groups(template), ("unicodePwd",))

    def stale_computers(self, cutoff: dt.datetime) -> str:
        return (
            f"(&(objectCategory=computer)(|(lastLogonTimestamp<={to_filetime(cutoff)})"
            f"(&(!(lastLogonTimestamp=*))(whenCreated<={cutoff.strftime('%Y%m%d%H%M%S.0Z')}))))"
        )

    def computer_row(self, entry: Entry) -> list[str]:
        uac = int(entry.first("userAccountControl", "0") or 0)
        return [
            entry.first("cn") or rdn_value(entry.dn),
            when(from_filetime(entry.first("lastLogonTimestamp"))),
            when(from_generalized(entry.first("whenCreated"))),
            entry.first("operatingSystem"),
            "no" if uac & UAC_ACCOUNTDISABLE else "yes",
        ]


class OpenLDAP(Flavor):
    """OpenLDAP with the memberof and ppolicy overlays (``inetOrgPerson``, ``groupOfNames``)."""

    name = "openldap"
    login_attr = "uid"
    group_name_attr = "cn"
    group_object = "groupOfNames"
    user_class = "(|(objectClass=inetOrgPerson)(objectClass=posixAccount))"
    group_class = "(objectClass=groupOfNames)"
    member_attributes = ("uid", "cn", "displayName", "objectClass", "mail", "pwdAccountLockedTime")

    def user_attributes(self) -> list[str]:
        return [
            "uid",
            "cn",
            "displayName",
            "mail",
            "manager",
            "memberOf",
            "objectClass",
            "pwdAccountLockedTime",
            "pwdChangedTime",
            "pwdReset",
            "pwdPolicySubentry",
            "pwdLastSuccess",
            "authTimestamp",
        ]

    def find_user(self, text: str) -> str:
        t = escape(text)
        return f"(&{self.user_class}(|(uid={t})(mail={t})))"

    def find_group(self, text: str) -> str:
        return f"(&{self.group_class}(cn={escape(text)}))"

    def search_users(self, text: str) -> str:
        t = escape(text)
        return f"(&{self.user_class}(|(uid=*{t}*)(cn=*{t}*)(displayName=*{t}*)(mail=*{t}*)))"

    def policy_entry(self, base_dn: str, setting: str) -> tuple[str, list[str]]:
        return setting or f"cn=default,ou=policies,{base_dn}", ["pwdLockoutDuration", "pwdMaxFailure", "pwdMaxAge"]

    def lock_policy(self, entry: Entry | None) -> LockPolicy:
        if entry is None:
            return LockPolicy()

        def number(name: str) -> int:
            try:
                return int(entry.first(name, "0"))
            except ValueError:
                return 0

        return LockPolicy(number("pwdLockoutDuration"), number("pwdMaxFailure"), number("pwdMaxAge"))

    def account(self, entry: Entry, policy: LockPolicy, now: dt.datetime) -> Account:
        locked_raw = entry.first("pwdAccountLockedTime")
        disabled = locked_raw == ADMIN_LOCK
        locked_at = None if disabled else from_generalized(locked_raw)
        until = (
            locked_at + dt.timedelta(seconds=policy.lockout_duration) if locked_at and policy.lockout_duration else None
        )
        locked = locked_at is not None and (until is None or until > now)
        changed = from_generalized(entry.first("pwdChangedTime"))
        expires = (
            changed + dt.timedelta(seconds=policy.max_password_age) if changed and policy.max_password_age else None
        )
        last = from_generalized(entry.first("pwdLastSuccess") or entry.first("authTimestamp"))
        return Account(
            login=self.login_of(entry),
            dn=entry.dn,
            display=entry.first("displayName") or entry.first("cn") or rdn_value(entry.dn),
            mail=entry.first("mail"),
            enabled=not disabled,
            locked=locked,
            locked_until=until if locked else None,
            last_logon=last,
            password_set=changed,
            password_expires=expires,
            must_change_password=entry.first("pwdReset").upper() == "TRUE",
            password_never_expires=not policy.max_password_age,
            manager=entry.first("manager") or None,
            groups=entry.all("memberOf"),
        )

    def kind_of(self, entry: Entry) -> str:
        if entry.has_class("groupOfNames") or entry.has_class("groupOfUniqueNames"):
            return "group"
        if entry.has_class("inetOrgPerson") or entry.has_class("posixAccount") or entry.has_class("person"):
            return "user"
        if entry.has_class("device"):
            return "computer"
        return "other"

    def unlock(self, entry: Entry) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if entry.first("pwdAccountLockedTime") and entry.first("pwdAccountLockedTime") != ADMIN_LOCK:
            changes["pwdAccountLockedTime"] = [("MODIFY_DELETE", [])]
        return changes

    def set_enabled(self, entry: Entry, enabled: bool) -> dict[str, Any]:
        current = entry.first("pwdAccountLockedTime")
        if enabled:
            return {"pwdAccountLockedTime": [("MODIFY_DELETE", [])]} if current == ADMIN_LOCK else {}
        return {"pwdAccountLockedTime": [("MODIFY_REPLACE", [ADMIN_LOCK])]} if current != ADMIN_LOCK else {}

    def new_user(
        self,
        login: str,
        first: str,
        last: str,
        template: Mapping[str, Any],
        password: str,
        realm: str,
    ) -> NewUser:
        ou = _ou(template, login)
        attributes: dict[str, Any] = {
            "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
            "uid": login,
            "cn": f"{first} {last}".strip(),
            "givenName": first,
            "sn": last or login,
            "displayName": f"{first} {last}".strip(),
            **_template_values(template, login, first, last),
            "userPassword": password,
            "pwdReset": "TRUE",
            "pwdAccountLockedTime": ADMIN_LOCK,
        }
        return NewUser(f"uid={login},{ou}", attributes, _groups(template), ("userPassword",))

    def computer_row(self, entry: Entry) -> list[str]:
        return [rdn_value(entry.dn), "", "", "", ""]


FLAVORS: dict[str, type[Flavor]] = {"ad": ActiveDirectory, "openldap": OpenLDAP}


def flavor(name: str) -> Flavor:
    """The flavor a setting names (``ad`` or ``openldap``)."""
    key = str(name or "ad").strip().lower()
    aliases = {"activedirectory": "ad", "active_directory": "ad", "samba": "ad", "ldap": "openldap"}
    key = aliases.get(key, key)
    if key not in FLAVORS:
        raise ConfigError(
            f"setting flavor is {name!r}, expected ad or openldap",
            "Set OPSPACK_DIRECTORY_FLAVOR to ad (Active Directory, Samba) or openldap.",
        )
    return FLAVORS[key]()


def when(value: dt.datetime | None, empty: str = "never") -> str:
    """A datetime as ``2026-12-06 10:12 UTC`` (``empty`` for None)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else empty


def names(values: Sequence[str]) -> list[str]:
    """The first RDN values of DNs (group names for a person to read)."""
    return [rdn_value(v) for v in values]
