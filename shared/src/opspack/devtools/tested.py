"""Every command has a test that invokes it (``nox -s command_tests``, run by ``changed`` and CI).

A command counts as tested when a test file holds a string that invokes it: chat text that
starts with the command's words or one of its aliases (``"disk top --path /tmp"``, also
in an f-string or a ``parametrize`` list; ``help ...`` does not count), or its id
(``"disk.disk.top"``, as calls through ``/invoke`` or MCP name it). The files looked at
are the tests of the command's pack (``packs/<pack>/tests/``; the core's in
``shared/tests/``): those run with the pack in its own nox session, so that is where a
command's test belongs (a mention in the cross-pack ``tests/`` does not count).

Standard library only, so the noxfile loads it by path before anything is installed;
``python shared/src/opspack/devtools/tested.py [ROOT]`` runs it too.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REGISTRY = "registry.json"


def _strings(tree: ast.AST) -> Iterator[str]:
    """Every string literal, and every f-string with its fields written ``{}``; not docstrings
    and other strings that stand alone as statements (they invoke nothing)."""
    skipped: set[int] = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                skipped.add(id(value))
                parts.append(value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else "{}")
            yield "".join(parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            yield node.value


def strings_of(path: Path) -> list[str]:
    """The string literals of a Python file (none when it does not parse)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    return list(_strings(tree))


def _invokes(text: str, forms: list[list[str]]) -> bool:
    words = [w.lower() for w in text.split()]
    if words[:1] == ["help"]:
        return False
    return any(len(words) >= len(f) and words[: len(f)] == f for f in forms)


def test_folders(root: Path, pack: str) -> list[Path]:
    """Where the tests of ``pack``'s commands may be."""
    return [root / "shared" / "tests" if pack == "core" else root / "packs" / pack / "tests"]


def untested(root: Path) -> list[dict[str, Any]]:
    """The registry's commands that no test invokes."""
    data = json.loads((root / REGISTRY).read_text(encoding="utf-8"))
    cache: dict[Path, list[str]] = {}

    def texts(folder: Path) -> Iterator[str]:
        for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
            if path not in cache:
                cache[path] = strings_of(path)
            yield from cache[path]

    missing = []
    for command in data.get("commands", []):
        chat = command["chat"]
        forms = [[w.lower() for w in chat["words"]], *([w.lower() for w in a.split()] for a in chat["aliases"])]
        found = False
        for folder in test_folders(root, command["pack"]["name"]):
            if any(t.strip() == command["id"] or _invokes(t, forms) for t in texts(folder)):
                found = True
                break
        if not found:
            missing.append(command)
    return missing


def problems(root: Path) -> list[str]:
    """One line per untested command, naming where its test goes and what it looks like."""
    out = []
    for command in untested(root):
        pack = command["pack"]["name"]
        folder = "shared/tests/" if pack == "core" else f"packs/{pack}/tests/"
        example = (command["chat"]["examples"] or [" ".join(command["chat"]["words"])])[0]
        out.append(
            f"{command['id']} (`{' '.join(command['chat']['words'])}`): no test invokes it. Fix: add a test to "
            f'{folder} that runs it, e.g. run_command("{example}", registry=registry, environ={{...}}), and '
            "checks its reply."
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """``tested.py [ROOT]``: exit 1 when a command has no test, naming each."""
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0]) if args else Path.cwd()
    found = problems(root)
    for line in found:
        sys.stderr.write(line + "\n")
    if found:
        sys.stderr.write(f"{len(found)} command(s) without a test that invokes them\n")
        return 1
    count = len(json.loads((root / REGISTRY).read_text(encoding="utf-8")).get("commands", []))
    print(f"every one of the {count} commands in {REGISTRY} is invoked by a test")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
