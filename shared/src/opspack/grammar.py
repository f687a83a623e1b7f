"""The chat grammar: ``<words...> <positional...> [key=value] [--key value] [--flag] [--no-flag]``.

Parsing needs only registry data (the command's words and ``args_schema``), so a
front-end can parse without importing any pack. Values stay strings (lists for
list arguments, booleans for flags); the runtime validates and converts them
against the command's own types.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from opspack.errors import UsageError
from opspack.registry import Entry, Registry

MAX_TEXT = 4000
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_QUOTING = re.compile(r"[\\'\"]")
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Parsed:
    """A call resolved to its registry entry: what the runtime runs, with no second lookup.

    ``args`` are raw values (chat strings, lists, flags) or typed ones from an API call;
    ``tokens`` are the words as typed (empty for a call by id)."""

    entry: Entry
    args: dict[str, Any] = field(default_factory=dict)
    tokens: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        return self.entry["id"]


def tokenize(text: str) -> list[str]:
    """Split chat text like a shell would (quotes, backslashes), with clear errors."""
    if _CONTROL.search(text):
        raise UsageError(
            "The command contains control characters.",
            "Type the command as plain text.",
        )
    if _SURROGATE.search(text):
        raise UsageError("The command is not valid UTF-8 text.", "Type the command as plain text.")
    if len(text) > MAX_TEXT:
        raise UsageError(
            f"The command is {len(text):,} characters long; the limit is {MAX_TEXT:,}.",
            "Shorten it; pass long values through a file or a setting.",
        )
    if not _QUOTING.search(text):
        return text.split()
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:
        raise UsageError(
            f"Could not read the command: {str(exc).lower()}.",
            "Close every quote you open; put a value with spaces in quotes.",
        ) from None


def _schema_type(prop: dict[str, Any]) -> str:
    t = prop.get("type", "string")
    return t if isinstance(t, str) else "string"


def usage_hint(entry: Entry) -> str:
    return f"Usage: {entry['chat']['usage']}"


def parse(text: str, registry: Registry, tokens: list[str] | None = None) -> Parsed:
    """Resolve chat text (or its ``tokens``) to a command and raw arguments, or raise :class:`UsageError`."""
    if tokens is None:
        tokens = tokenize(text.strip())
    if not tokens:
        raise UsageError("The command is empty.", "Type `help` to see the commands.")
    entries, n = registry.match(tokens)
    if not entries:
        from opspack.registry import not_installed

        missing = not_installed(tokens, registry)
        if missing is not None:
            raise UsageError(
                f"`{missing['words']}` is a command of the {missing['name']} pack "
                f"({missing['distribution']}), which is not installed here.",
                f"Install it beside opspack: {missing['install']}",
            )
        close = registry.closest(" ".join(tokens[:3]))
        hint = (
            "Did you mean: " + "; ".join(f"`{c['chat']['usage']}`" for c in close) + "?"
            if close
            else "Type `help` to see the commands."
        )
        raise UsageError(f"Unknown command `{' '.join(tokens[:3])}`.", hint)
    if len(entries) > 1:
        forms = "; ".join(f"`{e['pack']['name']} {' '.join(e['chat']['words'])}`" for e in entries)
        raise UsageError(
            f"`{' '.join(tokens[:n])}` names commands of several packs.",
            f"Say which: {forms}.",
        )
    entry = entries[0]
    return Parsed(entry=entry, args=parse_args(entry, tokens[n:]), tokens=tuple(tokens))


def parse_args(entry: Entry, tokens: list[str]) -> dict[str, Any]:
    """Turn argument tokens into raw values keyed by argument name."""
    schema = entry["args_schema"]
    props: dict[str, dict[str, Any]] = schema.get("properties", {})
    positional: list[str] = list(entry["chat"].get("positional", []))
    mapping = entry["chat"].get("mapping")
    args: dict[str, Any] = {}
    pos_index = 0
    only_positional = False
    i = 0
    name_for = {n.replace("_", "-"): n for n in props} | {n: n for n in props}

    def unknown_option(raw: str) -> UsageError:
        import difflib

        options = ["--" + n.replace("_", "-") for n in props if n not in positional]
        close = difflib.get_close_matches(raw, options, n=3, cutoff=0.5)
        did = f"Did you mean {' or '.join(close)}? " if close else ""
        known = ", ".join(options) if options else "none"
        return UsageError(
            f"`{entry['chat']['words'][-1]}` has no option {raw}.",
            f"{did}Options: {known}. {usage_hint(entry)}",
        )

    def put(name: str, value: Any, given: str) -> None:
        prop = props[name]
        if _schema_type(prop) == "array":
            items = value if isinstance(value, list) else [value]
            args.setdefault(name, []).extend(items)
            return
        if name in args:
            raise UsageError(
                f"Argument {name} was given twice ({args[name]!r} and {given!r}).",
                usage_hint(entry),
            )
        args[name] = value

    def split_list(name: str, value: str) -> list[str] | str:
        if _schema_type(props[name]) == "array":
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if only_positional:
            pass
        elif tok == "--":
            only_positional = True
            continue
        elif tok.startswith("--") and len(tok) > 2:
            body = tok[2:]
            key, eq, value = body.partition("=")
            name = name_for.get(key)
            if name is None and key.startswith("no-") and not eq:
                neg = name_for.get(key[3:])
                if neg is not None and _schema_type(props[neg]) == "boolean":
                    put(neg, False, tok)
                    continue
            if name is None or name == mapping:
                raise unknown_option(tok.split("=")[0])
            if _schema_type(props[name]) == "boolean" and not eq:
                put(name, True, tok)
                continue
            if not eq:
                if i >= len(tokens):
                    raise UsageError(
                        f"Option {tok} needs a value.",
                        usage_hint(entry),
                    )
                value = tokens[i]
                i += 1
            put(name, split_list(name, value), value)
            continue
        elif "=" in tok:
            key, _, value = tok.partition("=")
            name = name_for.get(key)
            if name is not None and name != mapping and _KEY.match(key):
                put(name, split_list(name, value), value)
                continue
            if mapping and _KEY.match(key):
                args.setdefault(mapping, {})[key] = value
                continue
        # a positional value
        if pos_index < len(positional):
            name = positional[pos_index]
            if _schema_type(props[name]) == "array":
                put(name, tok, tok)
                continue
            put(name, tok, tok)
            pos_index += 1
            continue
        if positional and _schema_type(props[positional[-1]]) == "array":
            put(positional[-1], tok, tok)
            continue
        raise UsageError(
            f"Unexpected argument `{tok}`.",
            usage_hint(entry),
        )
    missing = [r for r in schema.get("required", []) if r not in args]
    if missing:
        raise UsageError(
            f"Missing {', '.join(missing)} for `{' '.join(entry['chat']['words'])}`.",
            usage_hint(entry),
        )
    return args


def to_chat_text(entry: Entry, args: dict[str, Any]) -> str:
    """The chat text that runs ``entry`` with ``args`` (for menus and confirmations)."""
    parts = list(entry["chat"]["words"])
    positional = list(entry["chat"].get("positional", []))
    mapping = entry["chat"].get("mapping")
    props = entry["args_schema"].get("properties", {})

    def q(v: Any) -> str:
        s = str(v).lower() if isinstance(v, bool) else str(v)
        return shlex.quote(s) if s else "''"

    for name in positional:
        if name in args and args[name] is not None:
            value = args[name]
            parts.extend(q(v) for v in (value if isinstance(value, list) else [value]))
    for name, value in args.items():
        if name in positional or value is None:
            continue
        if name == mapping and isinstance(value, dict):
            parts.extend(q(f"{k}={v}") for k, v in value.items())
            continue
        flag = "--" + name.replace("_", "-")
        if _schema_type(props.get(name, {})) == "boolean":
            parts.append(flag if value else f"--no-{name.replace('_', '-')}")
        elif isinstance(value, list):
            parts.extend([flag, q(",".join(str(v) for v in value))])
        else:
            parts.extend([flag, q(value)])
    return " ".join(parts)


def parse_since(value: str, now: float | None = None) -> float:
    """A point in the past as people type it, as an epoch timestamp: an age (``30s``,
    ``30m``, ``12h``, ``7d``, ``2w``) or an ISO date or time (``2026-11-01``, UTC unless given)."""
    now = time.time() if now is None else now
    m = _DURATION.match(value.strip().lower())
    if m:
        return now - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"since: got {value!r}, expected a duration like 7d, 12h, 30m or a date like 2026-11-01"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
