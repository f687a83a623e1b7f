"""Who may run what: a TOML policy mapping chat users, groups and channels to roles,
and roles to permissions (globs over command permissions).

::

    [defaults]
    read_only = "allow"      # read-only commands: allowed for any known user
    mutating = "deny"        # mutating commands: denied unless a role allows them
    contact = "#ops-admins"  # who grants permissions (named in every "denied" answer)

    [users]                  # chat user -> roles
    alice = ["ops"]

    [groups]                 # a group name the front-end passes (Caller.groups) -> roles
    "ops-team" = ["ops"]

    [channels]               # everyone in a channel gets these roles there
    "#incident" = ["responder"]

    [roles.ops]
    allow = ["vmware.vm.*", "jenkins.*", "*.read"]
    deny = ["vmware.host.maintenance_*"]
    granted_by = "@ops-leads"

    [roles.responder]
    allow = ["vmware.vm.reset"]

    [roles.dba-leads]
    allow = ["sql.*"]

    [approvals]              # permissions that need a second person's approval
    "sql.kill" = ["dba-leads"]

A command answers to its permission (``vmware.vm.power_off``), its id, and, when it is
read-only, to ``<pack>.read``, so ``*.read`` allows every read. Without a policy file
everything is allowed (a single operator at a terminal). The policy file is named by
``OPSPACK_POLICY`` or ``[policy] file`` in opspack.toml.

The names a front-end passes (:attr:`Caller.groups`) are group names: they grant roles only
through ``[groups]``, never by naming a role. A policy that names an undefined role does
not load; :func:`check` also names users and groups without roles, unknown tables and keys,
and every pattern that matches no command of a registry (``opspack policy check``).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opspack.context import Caller
from opspack.errors import ConfigError
from opspack.registry import Entry
from opspack.results import Error

log = logging.getLogger("opspack.policy")


@dataclass
class Role:
    name: str
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    granted_by: str | None = None


@dataclass
class Decision:
    allowed: bool
    permission: str
    reason: str
    granted_by: str | None = None
    approvers: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    """What :meth:`Policy.judge` answers: the refusal (None: allowed), why, and who
    approved it when a second person's approval held."""

    error: Error | None
    reason: str
    approver: str | None = None


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"policy: {where} must be a list of strings")


@dataclass
class Policy:
    """A parsed policy; :meth:`decide` says whether a caller may run a command."""

    users: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    channels: dict[str, list[str]] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    approvals: dict[str, list[str]] = field(default_factory=dict)
    read_only_default: str = "allow"
    mutating_default: str = "deny"
    contact: str | None = None
    source: str = "policy"

    @classmethod
    def from_toml(cls, text: str, source: str = "policy") -> Policy:
        """Parse a policy; a :class:`ConfigError` when it is not valid TOML or names an undefined role."""
        return cls.from_data(_toml(text, source), source)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], source: str = "policy") -> Policy:
        """A policy from parsed TOML data; see :meth:`from_toml`."""
        pol, undefined = cls._parse(data, source)
        if undefined:
            raise ConfigError(f"policy {source}: {undefined[0]}", "Define the role under [roles.<name>] or remove it.")
        return pol

    @classmethod
    def _parse(cls, data: Mapping[str, Any], source: str) -> tuple[Policy, list[str]]:
        """The policy and the places that name an undefined role (types are checked: a
        wrong one raises :class:`ConfigError`)."""
        defaults = _table(data, "defaults", source)
        pol = cls(source=source)
        for key in ("read_only", "mutating"):
            value = defaults.get(key, "allow" if key == "read_only" else "deny")
            if value not in ("allow", "deny"):
                raise ConfigError(f"policy {source}: defaults.{key} must be allow or deny")
            setattr(pol, f"{key}_default", value)
        contact = defaults.get("contact")
        if contact is not None and not isinstance(contact, str):
            raise ConfigError(f"policy {source}: defaults.contact must be a string")
        pol.contact = contact
        for name in ("users", "groups", "channels"):
            entries = _table(data, name, source)
            setattr(pol, name, {str(k): _strings(v, f"{name}.{k}") for k, v in entries.items()})
        for name, spec in _table(data, "roles", source).items():
            if not isinstance(spec, dict):
                raise ConfigError(f"policy {source}: roles.{name} must be a table ([roles.{name}])")
            granted_by = spec.get("granted_by")
            if granted_by is not None and not isinstance(granted_by, str):
                raise ConfigError(f"policy {source}: roles.{name}.granted_by must be a string")
            pol.roles[name] = Role(
                name=name,
                allow=_strings(spec.get("allow", []), f"roles.{name}.allow"),
                deny=_strings(spec.get("deny", []), f"roles.{name}.deny"),
                granted_by=granted_by,
            )
        pol.approvals = {k: _strings(v, f"approvals.{k}") for k, v in _table(data, "approvals", source).items()}
        undefined: list[str] = []
        for name in ("users", "groups", "channels", "approvals"):
            for who, roles in getattr(pol, name).items():
                unknown = [r for r in roles if r not in pol.roles]
                if unknown:
                    undefined.append(f"{name}.{who} names undefined roles {', '.join(unknown)}")
        return pol, undefined

    def roles_of(self, caller: Caller) -> list[str]:
        """The roles ``caller`` holds: its user's, its groups' (through ``[groups]`` only: a
        group named like a role grants nothing) and its channel's."""
        roles: list[str] = list(self.users.get(caller.user, []))
        for group in caller.groups:
            roles.extend(self.groups.get(group, []))
        if caller.channel:
            roles.extend(self.channels.get(caller.channel, []))
        return list(dict.fromkeys(roles))

    def may_approve(self, approvers: Iterable[str], caller: Caller) -> bool:
        """Whether ``caller`` holds one of the ``approvers`` roles."""
        return bool(set(self.roles_of(caller)) & set(approvers))

    def is_known(self, caller: Caller) -> bool:
        """Whether the policy knows ``caller`` (a user entry, or a role from a group or channel)."""
        return caller.user in self.users or bool(self.roles_of(caller))

    @staticmethod
    def names(entry: Entry) -> list[str]:
        """What a command answers to: its permission, its id, and <pack>.read for reads."""
        names = [entry["permission"], entry["id"]]
        if entry["effects"].get("read_only"):
            names.append(f"{entry['pack']['name']}.read")
        return list(dict.fromkeys(names))

    def decide(self, entry: Entry, caller: Caller) -> Decision:
        names = self.names(entry)
        permission = entry["permission"]
        roles = [self.roles[r] for r in self.roles_of(caller) if r in self.roles]

        def matches(patterns: Iterable[str]) -> str | None:
            for pattern in patterns:
                if any(fnmatch.fnmatchcase(n, pattern) for n in names):
                    return pattern
            return None

        granted_by = self._granter(permission)
        for role in roles:
            hit = matches(role.deny)
            if hit:
                return Decision(False, permission, f"role {role.name} denies {hit}", granted_by)
        approvers = next((a for p, a in self.approvals.items() if any(fnmatch.fnmatchcase(n, p) for n in names)), [])
        for role in roles:
            hit = matches(role.allow)
            if hit:
                return Decision(True, permission, f"role {role.name} allows {hit}", granted_by, approvers)
        if entry["effects"].get("read_only"):
            if self.read_only_default == "allow" and self.is_known(caller):
                return Decision(True, permission, "read-only commands are allowed for known users", granted_by)
            why = "user is not known to the policy" if not self.is_known(caller) else "reads are denied by default"
            return Decision(False, permission, why, granted_by)
        if self.mutating_default == "allow" and self.is_known(caller):
            return Decision(True, permission, "mutating commands are allowed by default", granted_by, approvers)
        return Decision(False, permission, "no role of the user allows it", granted_by)

    def _granter(self, permission: str) -> str | None:
        for role in self.roles.values():
            if role.granted_by and any(fnmatch.fnmatchcase(permission, p) for p in role.allow):
                return role.granted_by
        return self.contact

    def gate(self, entry: Entry, caller: Caller) -> Error | None:
        """A runtime gate: None when allowed, else a ``denied`` error naming what is needed."""
        return self.judge(entry, caller).error

    def judge(self, entry: Entry, caller: Caller) -> Verdict:
        """:meth:`gate`'s answer with why (for the audit trail): the role and pattern that
        allow or deny it, the approval it awaits, or who approved it."""
        decision = self.decide(entry, caller)
        if not decision.allowed:
            who = decision.granted_by or "an opspack administrator"
            error = Error(
                "denied",
                f"{caller.user} may not run {entry['id']}: it needs permission {decision.permission} "
                f"({decision.reason}).",
                f"Ask {who} to grant {decision.permission}.",
            )
            return Verdict(error, decision.reason)
        if not decision.approvers:
            return Verdict(None, decision.reason)
        roles = ", ".join(decision.approvers)
        approver = caller.approved_by
        if not approver or approver == caller.user:
            from opspack.results import Confirmation

            error = Error(
                "denied",
                f"{entry['id']} needs a second person's approval (a member of {roles}).",
                f"Ask a member of {roles} to approve it.",
                confirm=Confirmation(
                    command=entry["id"],
                    args={},
                    prompt=f"{caller.user} asks to run {entry['id']}; approve?",
                    approvers=list(decision.approvers),
                ),
            )
            return Verdict(error, f"{decision.reason}; awaits approval by a member of {roles}")
        approving = Caller(user=approver, groups=caller.approver_groups, channel=caller.approver_channel)
        if not self.may_approve(decision.approvers, approving):
            error = Error(
                "denied",
                f"{approver} may not approve {entry['id']}: approvers are {roles}.",
                f"Ask a member of {roles} to approve it.",
            )
            return Verdict(error, f"not an approver: {approver} is not a member of {roles}")
        return Verdict(None, f"{decision.reason}; approved by {approver}", approver)

    def visible(self, entries: Iterable[Entry], caller: Caller) -> list[Entry]:
        """The commands this caller may run (for help, list and GET /registry)."""
        return [e for e in entries if self.decide(e, caller).allowed]


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"policy {source} is not valid TOML: {exc}") from None


def _table(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"policy {source}: {name} must be a table ([{name}])")
    return value


#: the tables a policy has, and the keys of those whose keys are fixed
_TABLES = ("defaults", "users", "groups", "channels", "roles", "approvals")
_DEFAULTS_KEYS = ("read_only", "mutating", "contact")
_ROLE_KEYS = ("allow", "deny", "granted_by")


def check(text: str, registry: Iterable[Entry], source: str = "policy") -> list[str]:
    """What is wrong with a policy, one line each (empty: nothing): it does not load (not
    TOML, a wrong type), names an undefined role, has an unknown table or key, gives a
    user, group or channel no role, or has an allow, deny or approval pattern that matches
    no command of ``registry`` (``opspack policy check``)."""
    try:
        data = _toml(text, source)
        pol, problems = Policy._parse(data, source)
    except ConfigError as exc:
        return [exc.message]
    problems = [f"{source}: {p}" for p in problems]
    problems += [f"{source}: unknown table [{name}]" for name in data if name not in _TABLES]
    problems += [
        f"{source}: defaults.{k} is not a setting" for k in data.get("defaults", {}) if k not in _DEFAULTS_KEYS
    ]
    for role, spec in data.get("roles", {}).items():
        problems += [f"{source}: roles.{role}.{k} is not a setting" for k in spec if k not in _ROLE_KEYS]
    for name in ("users", "groups", "channels"):
        problems += [f"{source}: {name}.{who} has no roles" for who, roles in getattr(pol, name).items() if not roles]
    names = [n for entry in registry for n in Policy.names(entry)]

    def unmatched(where: str, patterns: Iterable[str]) -> list[str]:
        return [
            f"{source}: {where}: {p} matches no command"
            for p in patterns
            if not any(fnmatch.fnmatchcase(n, p) for n in names)
        ]

    for role in pol.roles.values():
        problems += unmatched(f"roles.{role.name}.allow", role.allow)
        problems += unmatched(f"roles.{role.name}.deny", role.deny)
    problems += unmatched("approvals", pol.approvals)
    return problems


def policy_path(config_data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    if env.get("OPSPACK_POLICY"):
        return Path(env["OPSPACK_POLICY"]).expanduser()
    table = config_data.get("policy", {})
    if isinstance(table, dict) and table.get("file"):
        return Path(str(table["file"])).expanduser()
    return None


def load_policy(
    config_data: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    warn_for: Iterable[Entry] | None = None,
) -> Policy | None:
    """The policy in force, or None when none is configured (everything allowed). A
    :class:`ConfigError` when it cannot be read or does not load. ``warn_for``: commands to
    :func:`check` it against, each problem logged as a warning."""
    path = policy_path(config_data, environ)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"policy file {path} cannot be read: {exc.strerror}") from None
    policy = Policy.from_toml(text, str(path))
    if warn_for is not None:
        for problem in check(text, warn_for, str(path)):
            log.warning("%s (opspack policy check names every problem)", problem)
    return policy
