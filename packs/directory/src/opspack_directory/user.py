"""``user info``, ``user search``, ``user unlock``, ``user disable``, ``user enable``, ``user new``."""

from __future__ import annotations

import json
import secrets
import shlex
import string
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opspack import KV, Context, Result, Status, Table, command
from opspack.errors import ConfigError, OpsError, UsageError

if TYPE_CHECKING:
    from opspack_directory.client import Directory

#: seconds `user new` waits for the password delivery command
DELIVERY_TIMEOUT = 30.0


@command(examples=["user info jdoe", "user info jdoe --nested"])
def info(ctx: Context, user: str, *, nested: bool = False) -> list[Result]:
    """Show an account: name, mail, enabled, locked out (until when), last logon, password age and groups.

    Args:
        user: login name, user principal name, mail address or DN
        nested: list the groups the user is in through other groups too
    """
    from opspack_directory import client, membership
    from opspack_directory.flavors import parent_dn, rdn_value, when

    def use(d: Directory) -> list[Result]:
        entry = d.user(user)
        account = d.flavor.account(entry, d.policy(str(ctx.settings["ppolicy_dn"])), client.now())
        if account.locked:
            locked = (
                f"yes, until {when(account.locked_until)}" if account.locked_until else "yes, until an admin unlocks it"
            )
        else:
            locked = "no"
        if account.password_never_expires:
            expires = "never"
        elif account.must_change_password:
            expires = "must be changed at next logon"
        else:
            expires = when(account.password_expires, "unknown")
        items: dict[str, Any] = {
            "login": account.login,
            "name": account.display,
            "mail": account.mail or "-",
            "enabled": "yes" if account.enabled else "no (disabled)",
            "locked out": locked,
            "last logon": when(account.last_logon),
            "pw last set": when(account.password_set, "never" if not account.must_change_password else "must change"),
            "pw expires": expires,
            "manager": _manager(d, account.manager),
            "OU": parent_dn(account.dn),
        }
        rows: list[list[Any]] = [[rdn_value(g), "direct"] for g in account.groups]
        primary = membership.primary_group(d, entry)
        if primary is not None:
            rows.insert(0, [d.flavor.name_of(primary), "direct (primary group)"])
        if nested:
            above = membership.groups_above(d, entry)
            direct = {g.lower() for g in account.groups}
            for dn, g in sorted(above.items(), key=lambda kv: d.flavor.name_of(kv[1]).lower()):
                if dn not in direct:
                    path = membership.chain(d, entry, g, above) or []
                    rows.append([d.flavor.name_of(g), "via " + " > ".join(rdn_value(p) for p in path[1:-1])])
        items["groups"] = len(rows)
        title = f"{account.display} ({account.login})"
        return [KV(items, title=title), Table(["group", "membership"], rows, title=f"Groups of {account.login}")]

    return client.call(ctx, use)


def _manager(d: Directory, dn: str | None) -> str:
    """The manager's display name (the DN's first value when it cannot be read)."""
    from opspack_directory.flavors import rdn_value

    if not dn:
        return "-"
    entry = d.read(dn, ["displayName", "cn"])
    return (entry.first("displayName") or entry.first("cn")) if entry else rdn_value(dn)


@command(examples=["user search dupont", "user search @example.com --limit 20"])
def search(ctx: Context, text: str, *, limit: int = 50) -> Table:
    """Find users whose login, name or mail contain the text.

    Args:
        text: part of a login, a name or a mail address
        limit: at most this many rows
    """
    from opspack_directory import client
    from opspack_directory.flavors import parent_dn

    if len(text.strip()) < 2:
        raise UsageError("text: give at least two characters to search for")

    def use(d: Directory) -> Table:
        policy = d.policy(str(ctx.settings["ppolicy_dn"]))
        found = d.search(d.flavor.search_users(text.strip()), d.flavor.user_attributes(), limit=limit + 1)
        now = client.now()
        rows: list[list[Any]] = []
        for entry in found[:limit]:
            a = d.flavor.account(entry, policy, now)
            state = "disabled" if not a.enabled else ("locked" if a.locked else "enabled")
            rows.append([a.login, a.display, a.mail or "-", state, parent_dn(a.dn)])
        rows.sort(key=lambda r: str(r[0]).lower())
        more = len(found) > limit
        return Table(
            ["login", "name", "mail", "state", "OU"],
            rows,
            title=f"Users matching '{text.strip()}'" + (f" (first {limit})" if more else ""),
            total=len(found) if more else None,
        )

    return client.call(ctx, use)


@command(mutating=True, idempotent=True, examples=["user unlock jdoe"])
def unlock(ctx: Context, user: str) -> Status:
    """End an account's lockout (after too many wrong passwords).

    Args:
        user: login name, user principal name, mail address or DN
    """
    from opspack_directory import client
    from opspack_directory.flavors import when

    def use(d: Directory) -> Status:
        entry = d.user(user)
        account = d.flavor.account(entry, d.policy(str(ctx.settings["ppolicy_dn"])), client.now())
        if not account.locked:
            return Status("ok", f"{account.login} is not locked out; nothing to do.", title="user unlock")
        d.modify(entry.dn, d.flavor.unlock(entry), f"user {account.login}")
        until = f" (the lockout would have lasted until {when(account.locked_until)})" if account.locked_until else ""
        return Status("ok", f"{account.login} is unlocked and can log on again{until}.", title="user unlock")

    return client.call(ctx, use)


def _check_user(ctx: Context, user: str) -> None:
    """The account exists (before `user disable` asks for confirmation)."""
    from opspack_directory import client

    client.call(ctx, lambda d: d.user(user, [d.flavor.login_attr]))


@command(destructive=True, idempotent=True, check=_check_user, examples=["user disable jdoe"])
def disable(ctx: Context, user: str) -> Status:
    """Disable an account: it can no longer log on (asks for confirmation).

    Args:
        user: login name, user principal name, mail address or DN
    """
    return _set_enabled(ctx, user, False)


@command(mutating=True, idempotent=True, examples=["user enable jdoe"])
def enable(ctx: Context, user: str) -> Status:
    """Enable a disabled account.

    Args:
        user: login name, user principal name, mail address or DN
    """
    return _set_enabled(ctx, user, True)


def _set_enabled(ctx: Context, user: str, enabled: bool) -> Status:
    from opspack_directory import client

    word = "enabled" if enabled else "disabled"

    def use(d: Directory) -> Status:
        entry = d.user(user)
        account = d.flavor.account(entry, d.policy(str(ctx.settings["ppolicy_dn"])), client.now())
        if account.enabled == enabled:
            return Status("ok", f"{account.login} is already {word}.", title=f"user {word[:-1]}")
        d.modify(entry.dn, d.flavor.set_enabled(entry, enabled), f"user {account.login}")
        return Status("ok" if enabled else "warning", f"{account.login} is now {word}.", title=f"user {word[:-1]}")

    return client.call(ctx, use)


# -- user new ---------------------------------------------------------------------------
def templates(value: Any) -> dict[str, dict[str, Any]]:
    """The ``templates`` setting: JSON or TOML text (a ``file:`` reference gives a file's
    text), or the table written under ``[directory.templates]`` in opspack.toml."""
    import ast
    import tomllib

    text = str(value or "").strip()
    if not text:
        return {}
    data: Any = None
    errors = []
    for parse in (json.loads, tomllib.loads, ast.literal_eval):
        try:
            data = parse(text)
            break
        except (ValueError, SyntaxError, tomllib.TOMLDecodeError) as exc:
            errors.append(str(exc))
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise ConfigError(
            "setting templates is neither JSON nor TOML naming templates",
            'Write it as {"staff": {"ou": "OU=Staff,DC=corp,DC=example,DC=com", "groups": ["VPN-Users"]}}.',
        )
    return {str(k): dict(v) for k, v in data.items()}


def random_password(length: int = 20) -> str:
    """A random password with upper and lower case letters, digits and symbols."""
    alphabet = string.ascii_letters + string.digits + "-_.!#%+="
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in pw)
            and any(c.isupper() for c in pw)
            and any(c.isdigit() for c in pw)
            and any(not c.isalnum() for c in pw)
        ):
            return pw


def _deliver(ctx: Context, login: str, mail: str, manager: str, password: str) -> str:
    """Run the password_delivery command with the password on its stdin; what to tell the user."""
    how = str(ctx.settings["password_delivery"] or "none").strip()
    if how.lower() == "none":
        return (
            "Nobody knows its random initial password (password_delivery is none): "
            f"reset the password with your usual tool, then `user enable {login}`."
        )
    try:
        argv = [part.format(login=login, mail=mail, manager=manager) for part in shlex.split(how)]
    except (ValueError, KeyError, IndexError) as exc:
        raise ConfigError(f"setting password_delivery cannot be read: {exc}") from None
    try:
        proc = subprocess.run(
            argv, input=password + "\n", capture_output=True, text=True, timeout=DELIVERY_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(
            f"the password delivery command {Path(argv[0]).name} did not run: {type(exc).__name__}",
            f"The account {login} exists, disabled; reset its password by hand.",
        ) from None
    if proc.returncode != 0:
        raise ConfigError(
            f"the password delivery command {Path(argv[0]).name} failed ({proc.returncode})",
            f"The account {login} exists, disabled; reset its password by hand.",
        )
    return (
        f"Its random initial password was handed to {Path(argv[0]).name} (password_delivery), "
        "which sends it to the person; it must be changed at first logon."
    )


@command(
    mutating=True,
    examples=["user new jdoe --first John --last Doe --template staff --dry-run"],
)
def new(
    ctx: Context,
    login: str,
    *,
    first: str,
    last: str,
    template: str | None = None,
    dry_run: bool = False,
) -> list[Result]:
    """Create an account from a template: disabled, with a random password that must be changed.

    The initial password is never shown in chat: the password_delivery setting says how it
    reaches the person.

    Args:
        login: the login name (sAMAccountName in Active Directory, uid in OpenLDAP)
        first: first name
        last: last name
        template: the template (from the templates setting) giving OU, groups and attributes
        dry_run: show exactly what would be created, and create nothing
    """
    from opspack_directory import client
    from opspack_directory.flavors import escape

    login = login.strip()
    if not login or any(c in login for c in ' ,+"\\<>;=/[]:|*?@'):
        raise UsageError(f"login: got {login!r}, expected letters, digits, dots, dashes or underscores")
    known = templates(ctx.settings["templates"])
    if not known:
        raise ConfigError("no user templates are configured", "Set the directory pack's templates setting.")
    if template is None:
        if len(known) > 1:
            raise UsageError(f"template: give one of {', '.join(sorted(known))}")
        template = next(iter(known))
    if template not in known:
        from opspack.errors import NotFound

        raise NotFound.with_matches("template", template, sorted(known))
    chosen = {**known[template], "name": template}
    password = random_password()
    ctx.secret(password)

    def use(d: Directory) -> list[Result]:
        plan = d.flavor.new_user(login, first.strip(), last.strip(), chosen, password, d.realm)
        taken = d.search(d.flavor.find_user(login), [d.flavor.login_attr], limit=1)
        if taken:
            raise UsageError(f"user {login} already exists ({taken[0].dn}).", f"`user info {login}` shows it.")
        groups = [d.group(g, ["cn", d.flavor.group_name_attr, "objectClass"]) for g in plan.groups]
        hidden = {"objectClass", *plan.secret_attributes}
        shown = {k: v for k, v in plan.attributes.items() if k not in hidden}
        summary: dict[str, Any] = {"DN": plan.dn, **shown, "groups": [d.flavor.name_of(g) for g in groups] or "-"}
        summary["initial pw"] = "random, never shown"
        summary["state"] = "disabled, password must be changed at first logon"
        delivery = str(ctx.settings["password_delivery"] or "none").strip()
        summary["initial pw delivery"] = delivery if delivery.lower() == "none" else shlex.split(delivery)[0]
        if dry_run:
            return [
                KV(summary, title=f"user new {login} (dry run: template {template})"),
                Status("ok", "Dry run: nothing was created.", title="user new"),
            ]
        d.add(plan.dn, plan.attributes, f"user {login}")
        for g in groups:
            try:
                d.modify(g.dn, {"member": [("MODIFY_ADD", [plan.dn])]}, f"group {d.flavor.name_of(g)}")
            except OpsError as exc:
                exc.message = f"Created {login} (disabled), but: {exc.message}"
                exc.hint = f"Add {login} to the remaining groups by hand, and reset its password before enabling it."
                raise
        entry = d.search(
            f"(&{d.flavor.user_class}({d.flavor.login_attr}={escape(login)}))", ["mail", "manager"], limit=1
        )
        mail = entry[0].first("mail") if entry else ""
        manager = entry[0].first("manager") if entry else ""
        told = _deliver(ctx, login, mail, manager, password)
        return [
            KV(summary, title=f"user new {login} (template {template})"),
            Status("ok", f"Created {login}, disabled. {told}", title="user new"),
        ]

    return client.call(ctx, use)
