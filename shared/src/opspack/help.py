"""``help`` in chat and on the command line, built from registry data alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opspack.registry import Entry, Registry, effects_text
from opspack.results import KV, Error, Reply, Table, Text


def _arg_lines(entry: Entry) -> list[str]:
    schema = entry["args_schema"]
    required = set(schema.get("required", []))
    positional = entry["chat"].get("positional", [])
    lines = []
    for name, prop in schema.get("properties", {}).items():
        label = f"<{name}>" if name in positional else "--" + name.replace("_", "-")
        if name == entry["chat"].get("mapping"):
            label = "KEY=value"
        kind = prop.get("type", "string")
        if kind == "array":
            kind = f"list of {prop.get('items', {}).get('type', 'string')}"
        if "enum" in prop:
            kind = "|".join(str(v) for v in prop["enum"])
        bits = [f"{label} ({kind}{', required' if name in required else ''})"]
        if prop.get("description"):
            bits.append(prop["description"])
        if "default" in prop and prop["default"] not in (None, [], {}):
            bits.append(f"default {prop['default']}")
        lines.append(" - ".join(bits))
    return lines


def command_help(entry: Entry) -> list[Any]:
    """Full help for one command."""
    chat = entry["chat"]
    items: dict[str, Any] = {
        "usage": chat["usage"],
        "command": entry["id"],
        "pack": f"{entry['pack']['name']} {entry['pack']['version']}",
        "effects": effects_text(entry["effects"]),
        "permission": entry["permission"],
    }
    if chat.get("aliases"):
        items["aliases"] = ", ".join(chat["aliases"])
    if chat.get("examples"):
        items["examples"] = list(chat["examples"])
    out: list[Any] = [KV(items, title=entry["summary"])]
    body = entry.get("description") or ""
    args = _arg_lines(entry)
    if args:
        body = (body + "\n\n" if body else "") + "Arguments:\n" + "\n".join(f"  {a}" for a in args)
    if body:
        out.append(Text(body))
    return out


def overview(registry: Registry, entries: Sequence[Entry] | None = None, title: str | None = None) -> Table:
    rows: list[list[Any]] = [[e["chat"]["usage"], e["summary"]] for e in (entries if entries is not None else registry)]
    return Table(columns=["command", "what it does"], rows=rows, title=title or "Commands")


def search_reply(registry: Registry, text: str, *, fallback: bool = False) -> Reply | None:
    """Answer ``help search <text>``: commands ranked by how well they match what they do.
    With ``fallback`` (``help <words>`` named no command) None when nothing matches."""
    from opspack.search import search

    found = search(registry, text)
    if not found:
        if fallback:
            return None
        return Reply(
            ok=True,
            command=None,
            results=[Text(f"No command matches `{text}`. Type `help` to see them all.")],
        )
    title = f"No command is named `{text}`; commands about it" if fallback else f"Commands about `{text}`"
    return Reply(
        ok=True,
        command=None,
        results=[overview(registry, found, title), Text("Type `help <command>` for its arguments and examples.")],
    )


def help_reply(registry: Registry, words: Sequence[str]) -> Reply:
    """Answer ``help [words...]``: everything, a pack or a group, one command, or (``help search
    <text>``, or words that name no command) the commands whose descriptions match."""
    if not words:
        packs = ", ".join(p["name"] for p in registry.packs) or "none installed"
        return Reply(
            ok=True,
            command=None,
            results=[
                overview(registry, title=f"Commands ({len(registry)}; packs: {packs})"),
                Text("Type `help <command>` for its arguments and examples."),
            ],
        )
    entries, n = registry.match(words)
    named = bool(entries) and n == len(words)
    if words[0].lower() == "search" and len(words) > 1 and not named and not registry.with_prefix(words):
        reply = search_reply(registry, " ".join(words[1:]))
        assert reply is not None
        return reply
    if len(entries) == 1 and n == len(words):
        return Reply(ok=True, command=None, results=command_help(entries[0]))
    prefixed = registry.with_prefix(words)
    if prefixed:
        return Reply(ok=True, command=None, results=[overview(registry, prefixed, f"Commands for `{' '.join(words)}`")])
    if entries:
        return Reply(ok=True, command=None, results=[r for e in entries for r in command_help(e)])
    found = search_reply(registry, " ".join(words), fallback=True)
    if found is not None:
        return found
    close = registry.closest(" ".join(words))
    hint = (
        "Did you mean: " + "; ".join(f"`{c['chat']['usage']}`" for c in close) + "?"
        if close
        else "Type `help` to see the commands."
    )
    return Reply.failure(Error("usage", f"No command matches `{' '.join(words)}`.", hint))
