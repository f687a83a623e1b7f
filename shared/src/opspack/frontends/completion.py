"""Shell completion for ``opspack``: its subcommands and options, and the chat words of
``opspack run`` and ``opspack help`` (``vm`` → ``list``, ``power-on`` ...; then the command's
``--options``), from the registry alone: no pack is imported.

``opspack completion bash`` (or ``zsh``) prints the script to load::

    source <(opspack completion bash)        # in ~/.bashrc
    source <(opspack completion zsh)         # in ~/.zshrc, after compinit

The script asks ``opspack __complete <words...>`` (the words after ``opspack``, the last one
being the word under the cursor, maybe empty) for the candidates, one per line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

SHELLS = ("bash", "zsh")

BASH = r"""# bash completion for opspack: source <(opspack completion bash)
_opspack_complete() {
    local IFS=$'\n'
    COMPREPLY=($(opspack __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -F _opspack_complete opspack
"""

ZSH = r"""#compdef opspack
# zsh completion for opspack: source <(opspack completion zsh) after compinit
_opspack() {
    local -a candidates
    candidates=("${(@f)$(opspack __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    candidates=(${candidates:#})
    (( ${#candidates} )) && compadd -Q -- "${candidates[@]}"
}
compdef _opspack opspack
"""

#: ``opspack run`` options that take a value (the next word is that value, not chat text)
_VALUED = {"--format", "--profile", "--user", "--group", "--role", "--registry"}


def script(shell: str) -> str:
    """The completion script for ``shell`` (bash or zsh)."""
    return {"bash": BASH, "zsh": ZSH}[shell]


def _options(p: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in p._actions for o in a.option_strings if o.startswith("--") and a.help != argparse.SUPPRESS)


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def chat_candidates(registry: Any, typed: Sequence[str], prefix: str) -> list[str]:
    """What may follow the chat words ``typed``, starting with ``prefix``: the next word of
    every command whose words start with ``typed``; once ``typed`` names a command, its
    ``--options``."""
    want = [w.lower() for w in typed]
    words: set[str] = set()
    for form in registry.chat_forms():
        if "." in form:  # ids (vmware.vm.list): typed whole, not offered word by word
            continue
        parts = form.split(" ")
        if len(parts) > len(want) and parts[: len(want)] == want:
            words.add(parts[len(want)])
    if not words and typed:
        entries, _ = registry.match(list(typed))
        if len(entries) == 1:
            props = entries[0]["args_schema"].get("properties", {})
            last = props.get(typed[-1][2:].replace("-", "_"), {}) if typed[-1].startswith("--") else {}
            if last and last.get("type") != "boolean":
                return []  # the word under the cursor is that option's value
            positional = set(entries[0]["chat"].get("positional", []))
            words = {"--" + name.replace("_", "-") for name in props if name not in positional}
    return sorted(w for w in words if w.startswith(prefix))


def candidates(words: Sequence[str], parser: argparse.ArgumentParser, registry: Any) -> list[str]:
    """The completions of the last of ``words`` (the words after ``opspack``)."""
    if not words:
        words = [""]
    *before, prefix = words
    subs = _subparsers(parser)
    rest = list(before)
    while rest and rest[0].startswith("-"):  # top-level options: --registry FILE, --no-color
        if rest.pop(0) == "--registry" and rest:
            rest.pop(0)
    if not rest:
        pool = _options(parser) if prefix.startswith("-") else sorted(n for n in subs if not n.startswith("_"))
        return [c for c in pool if c.startswith(prefix)]
    cmd, args = rest[0], rest[1:]
    sub = subs.get(cmd)
    if sub is None:
        return []
    if args and args[-1] == "--format":
        from opspack.renderers import FORMATS

        return [f for f in FORMATS if f.startswith(prefix)]
    if cmd == "completion":
        return [s for s in SHELLS if s.startswith(prefix)] if not args else []
    if cmd in ("run", "help"):
        chat: list[str] = []
        after_dashes = False
        i = 0
        while i < len(args):
            word = args[i]
            if after_dashes or not word.startswith("-"):
                chat.append(word)
            elif word == "--":
                after_dashes = True
            elif word in _VALUED:
                i += 1
            i += 1
        if prefix.startswith("-") and not after_dashes and not chat:
            return [o for o in _options(sub) if o.startswith(prefix)]
        if cmd == "help" and chat[:1] == ["search"]:
            return []
        return chat_candidates(registry, chat, prefix)
    if prefix.startswith("-"):
        return [o for o in _options(sub) if o.startswith(prefix)]
    return []


def complete(argv: Sequence[str], parser: argparse.ArgumentParser) -> int:
    """``opspack __complete <words...>``: print the candidates, one per line."""
    import sys

    from opspack.registry import Registry

    words = list(argv)
    path = None
    if "--registry" in words[:-1]:
        at = words.index("--registry")
        path = words[at + 1] if at + 1 < len(words) - 1 else None
    try:
        registry = Registry.from_file(path) if path else Registry.from_installed()
    except (OSError, ValueError):
        registry = Registry()
    out = candidates(words, parser, registry)
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return 0


__all__ = ["SHELLS", "candidates", "chat_candidates", "complete", "script"]
