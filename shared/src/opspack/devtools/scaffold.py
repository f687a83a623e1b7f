"""``opspack new-pack <name>``: a new pack folder from the template, registered at once.

The template (``opspack/devtools/templates/pack/``) holds every file a pack needs: pyproject.toml
(version 0.1.0, the entry point), README, CHANGELOG, ``changes/``, one example command and
tests that start nothing external. Paths and texts use ``{{name}}`` (the pack's name),
``{{dist}}`` (its name in the distribution), ``{{NAME}}`` (upper case, as in settings'
environment variables) and ``{{summary}}``; a ``.tmpl`` suffix is dropped.
"""

from __future__ import annotations

import keyword
import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from opspack.devtools import registry_build as build

NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
#: words the core's chat grammar and commands use; a pack named like them would be confusing
RESERVED = frozenset({"core", "help", "shared", "opspack", "history", "friction", "whats_new", "test", "tests"})


class ScaffoldError(Exception):
    """The name is not usable or the pack exists already."""


def check_name(name: str, root: Path) -> None:
    if not NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"pack name {name!r}: use lower case letters, digits and single underscores, "
            "starting with a letter (vmware, netbox, sql_server)"
        )
    if name in RESERVED:
        raise ScaffoldError(f"pack name {name!r} is reserved; pick another")
    if (root / "packs" / name).exists():
        raise ScaffoldError(f"packs/{name} exists already")


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _walk(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        if item.name == "__pycache__":
            continue
        rel = f"{prefix}{item.name}"
        if item.is_dir():
            out.extend(_walk(item, rel + "/"))
        else:
            out.append((rel, item))
    return out


def render_template(name: str, summary: str) -> dict[str, str]:
    """The new pack's files (path relative to ``packs/<name>/`` → text)."""
    values = {"name": name, "dist": name.replace("_", "-"), "NAME": name.upper(), "summary": summary}
    template = files("opspack.devtools") / "templates" / "pack"
    return {
        _fill(rel, values).removesuffix(".tmpl"): _fill(item.read_text("utf-8"), values)
        for rel, item in _walk(template)
    }


def new_pack(root: Path, name: str, summary: str | None = None) -> list[Path]:
    """Create ``packs/<name>/`` and rebuild the registry; return the files written."""
    check_name(name, root)
    summary = (summary or f"Commands for {name.replace('_', ' ')}").strip().rstrip(".")
    folder = root / "packs" / name
    written: list[Path] = []
    try:
        for rel, text in render_template(name, summary).items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        license_file = root / "LICENSE"
        if license_file.is_file():  # every distribution ships the project's license
            (folder / "LICENSE").write_bytes(license_file.read_bytes())
            written.append(folder / "LICENSE")
        written.extend(p for p in build.write(root) if p not in written)
    except Exception:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    return written


def next_steps(name: str) -> list[str]:
    return [
        f"Install it and write your commands: pip install -e 'packs/{name}[test]', then edit "
        f"packs/{name}/src/opspack_{name}/example.py (add your client library to "
        f"packs/{name}/pyproject.toml dependencies; import it inside functions).",
        f'After changing commands: opspack registry build && nox -s "tests({name})" registry lint typecheck',
        f"Describe the pack in packs/{name}/README.md, commit, and open a merge request "
        "following CONTRIBUTING.md's checklist.",
    ]


def cli(args: object) -> int:
    """``opspack new-pack <name> [--summary TEXT] [--root DIR]``."""
    import sys

    name: str = getattr(args, "name")  # noqa: B009
    try:
        root = Path(getattr(args, "root", None) or build.find_root())
        written = new_pack(root, name, getattr(args, "summary", None))
    except (ScaffoldError, build.BuildError) as exc:
        sys.stderr.write(f"opspack new-pack: {exc}\n")
        return 2 if isinstance(exc, ScaffoldError) else 1
    for path in written:
        sys.stdout.write(f"wrote {path.relative_to(root)}\n")
    sys.stdout.write(f"\nPack {name} created and registered. Next:\n")
    for i, step in enumerate(next_steps(name), 1):
        sys.stdout.write(f"  {i}. {step}\n")
    return 0
