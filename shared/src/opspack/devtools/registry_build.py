"""Generating the registry from the packs in ``packs/`` (``opspack registry build|check``).

For each ``packs/<name>/pyproject.toml`` it imports ``opspack_<name>`` from the
pack's ``src/`` (client libraries are imported lazily by packs, so only the core
is needed), reads its :class:`~opspack.pack.Pack` and the commands of its modules,
and writes ``src/opspack_<name>/opspack-pack.json`` plus the merged
``registry.json`` at the top. ``check`` regenerates in memory and fails on any
difference, printing the command that fixes it.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opspack.declare import SPEC_ATTR, CommandSpec
from opspack.devtools.publish import PYPI, configured_index, install_command
from opspack.pack import Pack
from opspack.registry import PACK_FILE, SCHEMA_VERSION, Entry

REGENERATE = "opspack registry build"
HEADER = f"Generated from packs/*/ by `{REGENERATE}`. Do not edit by hand."


class BuildError(Exception):
    """A pack's declarations are inconsistent (reported with the pack's name)."""


@dataclass
class PackSource:
    name: str
    root: Path
    distribution: str
    version: str
    entry_point: str
    #: the index the install lines name (``[publish] index`` of publish.toml)
    index: str = PYPI


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder above ``start`` holding ``packs/``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "packs").is_dir() and (folder / "shared").is_dir():
            return folder
    raise BuildError("not inside an opspack checkout (no packs/ and shared/ folders above here)")


def discover(root: Path) -> list[PackSource]:
    out: list[PackSource] = []
    index = configured_index(root)
    core = root / "shared"
    if (core / "src" / "opspack_core" / "__init__.py").is_file():
        project = tomllib.loads((core / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
        out.append(PackSource("core", core, "opspack", str(project.get("version", "")), "opspack_core", index))
    for pyproject in sorted((root / "packs").glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        project = data.get("project", {})
        name = pyproject.parent.name
        eps = project.get("entry-points", {}).get("opspack.packs", {})
        if eps.get(name) != f"opspack_{name}":
            raise BuildError(
                f"packs/{name}/pyproject.toml must declare "
                f'[project.entry-points."opspack.packs"] {name} = "opspack_{name}"'
            )
        dist = project.get("name", "")
        if dist != f"opspack-{name.replace('_', '-')}":
            raise BuildError(f"packs/{name}: distribution must be named opspack-{name}")
        out.append(
            PackSource(
                name=name,
                root=pyproject.parent,
                distribution=dist,
                version=str(project.get("version", "")),
                entry_point=eps[name],
                index=index,
            )
        )
    return out


def _load_pack(src: PackSource) -> tuple[Pack, list[CommandSpec]]:
    src_dir = str(src.root / "src")
    if src_dir not in sys.path:
        sys.path.insert(0, src_dir)
    module = importlib.import_module(src.entry_point)
    pack = getattr(module, "pack", None)
    if not isinstance(pack, Pack):
        raise BuildError(f"{src.entry_point} must define `pack = Pack(...)`")
    if pack.name != src.name:
        raise BuildError(f"{src.entry_point}.pack is named {pack.name!r}, expected {src.name!r}")
    return pack, _collect(pack)


def _collect(pack: Pack) -> list[CommandSpec]:
    """The commands of a pack's modules, in the order they are defined."""
    specs: list[CommandSpec] = []
    for module_name in pack.modules:
        mod = importlib.import_module(module_name)
        members = sorted(
            (
                (inspect.getsourcelines(obj)[1], spec)
                for obj in vars(mod).values()
                if callable(obj)
                and isinstance(spec := getattr(obj, SPEC_ATTR, None), CommandSpec)
                and obj.__module__ == module_name
            ),
            key=lambda m: m[0],
        )
        specs.extend(s for _, s in members)
    return specs


def pack_entry(pack: Pack, src: PackSource) -> dict[str, Any]:
    return {
        "name": pack.name,
        "distribution": src.distribution,
        "version": src.version,
        "summary": pack.summary,
        "install": install_command(src.distribution, src.version, src.index),
        "settings": [{**s.to_dict(), "env": s.env_var(pack.name)} for s in pack.settings],
    }


def command_entry(spec: CommandSpec, pack: Pack, src: PackSource) -> Entry:
    declared = {s.name for s in pack.settings}
    settings = spec.settings if spec.settings is not None else [s.name for s in pack.settings]
    unknown = [s for s in settings if s not in declared]
    if unknown:
        raise BuildError(f"{spec.id} names unknown settings: {', '.join(unknown)}")
    if not spec.summary:
        raise BuildError(f"{spec.id} needs a docstring whose first line is its summary")
    missing_docs = [a.name for a in spec.args if not a.description]
    if missing_docs:
        raise BuildError(f"{spec.id}: describe {', '.join(missing_docs)} in the docstring's Args:")
    return {
        "id": spec.id,
        "pack": {"name": pack.name, "distribution": src.distribution, "version": src.version},
        "install": install_command(src.distribution, src.version, src.index),
        "entry_point": spec.entry_point,
        "summary": spec.summary,
        "description": spec.description,
        "group": f"{pack.name}.{spec.group_name}",
        "chat": {
            "words": spec.chat_words,
            "positional": spec.positional,
            "mapping": spec.mapping_arg,
            "usage": spec.usage(),
            "aliases": spec.aliases,
            "examples": spec.examples,
        },
        "args_schema": spec.args_schema(),
        "result_kinds": spec.kinds(),
        "effects": spec.effects(),
        "permission": spec.permission or spec.id,
        "settings": settings,
        "timeout_s": spec.timeout_s,
    }


def _check_words(commands: list[Entry], pack: str) -> None:
    seen: dict[tuple[str, ...], str] = {}
    for c in commands:
        forms = [c["chat"]["words"], *(a.split() for a in c["chat"]["aliases"])]
        for words in forms:
            key = tuple(w.lower() for w in words)
            if key in seen and seen[key] != c["id"]:
                raise BuildError(f"pack {pack}: `{' '.join(key)}` names both {seen[key]} and {c['id']}")
            seen[key] = c["id"]


def build(root: Path) -> dict[Path, str]:
    """Every generated file (path → text) for the checkout at ``root``."""
    outputs: dict[Path, str] = {}
    packs: list[dict[str, Any]] = []
    commands: list[Entry] = []
    ids: dict[str, str] = {}
    for src in discover(root):
        pack, specs = _load_pack(src)
        pentry = pack_entry(pack, src)
        centries = [command_entry(s, pack, src) for s in specs]
        for c in centries:
            if c["id"] in ids:
                raise BuildError(f"command id {c['id']} is declared twice")
            ids[c["id"]] = src.name
        _check_words(centries, pack.name)
        pack_file = src.root / "src" / src.entry_point / PACK_FILE
        outputs[pack_file] = _dump(
            {"$comment": HEADER, "schema_version": SCHEMA_VERSION, "pack": pentry, "commands": centries}
        )
        packs.append(pentry)
        commands.extend(centries)
    outputs[root / "registry.json"] = _dump(
        {"$comment": HEADER, "schema_version": SCHEMA_VERSION, "packs": packs, "commands": commands}
    )
    return outputs


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write(root: Path) -> list[Path]:
    """Write the generated files; return those that changed."""
    changed = []
    for path, text in build(root).items():
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def check(root: Path) -> list[str]:
    """Problems with the generated files (empty when they are up to date)."""
    problems: list[str] = []
    for path, text in build(root).items():
        rel = path.relative_to(root)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old is None:
            problems.append(f"{rel} is missing")
        elif old != text:
            diff = list(
                difflib.unified_diff(
                    old.splitlines(), text.splitlines(), f"{rel} (committed)", f"{rel} (generated)", lineterm=""
                )
            )
            shown = "\n".join(diff[:40]) + ("\n..." if len(diff) > 40 else "")
            problems.append(f"{rel} is stale:\n{shown}")
    return problems


def registry_from_package(package: str, version: str = "0.0.0") -> Any:
    """A :class:`~opspack.registry.Registry` built in memory from an importable pack
    package (tests and tools that have a pack but no checkout)."""
    from opspack.registry import Registry

    name = package.removeprefix("opspack_")
    src = PackSource(name, Path("."), f"opspack-{name.replace('_', '-')}", version, package)
    module = importlib.import_module(package)
    pack = getattr(module, "pack", None)
    if not isinstance(pack, Pack):
        raise BuildError(f"{package} must define `pack = Pack(...)`")
    specs = _collect(pack)
    commands = [command_entry(s, pack, src) for s in specs]
    _check_words(commands, name)
    return Registry(packs=[pack_entry(pack, src)], commands=commands)
