"""Generating the registry from the packs in ``packs/`` (``opspack registry build|check``).

For each ``packs/<name>/pyproject.toml`` it imports ``opspack_<name>`` from the
pack's ``src/`` (client libraries are imported lazily by packs, so only the core
is needed), reads its :class:`~opspack.pack.Pack` and the commands of its modules,
and writes ``src/opspack_<name>/opspack-pack.json`` plus the merged
``registry.json`` at the top. ``check`` regenerates in memory and fails on any
difference with the files on disk, printing the command that fixes it.

Before a pack is imported, the modules the build imports (the package, its command
modules and the pack's own modules they import at their top) are read for the lazy-import
rule: an import at module level of anything but the standard library, the core and the
pack itself fails the build naming the file, the line, the import and the rule. A pack that
still fails to import because a module is missing is reported the same way.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import json
import sys
import tomllib
import traceback
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


LAZY_RULE = (
    "the lazy-import rule (docs/packs.md): a pack imports its client library inside the functions "
    "that use it (or in a private module they import), so listing commands and building the registry "
    "never need it. Fix: move the import into the function(s) that use it"
)


def _module_file(src: PackSource, module: str) -> Path | None:
    """The file of one of the pack's own modules (``opspack_disk.client``), if it has one."""
    base = src.root / "src" / Path(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _top_level_imports(tree: ast.Module) -> list[tuple[int, str, str]]:
    """(line, module, statement) of the imports that run when the module is imported: at its
    top, also inside top-level ``try``/``if``/``with`` blocks, but not under ``if TYPE_CHECKING``."""
    out: list[tuple[int, str, str]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                out.extend((node.lineno, a.name, f"import {a.name}") for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = ", ".join(a.name for a in node.names)
                out.append((node.lineno, node.module, f"from {node.module} import {names}"))
                out.extend((node.lineno, f"{node.module}.{a.name}", "") for a in node.names)  # submodules
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With):
                visit(node.body)

    visit(tree.body)
    return out


def lazy_import_problems(src: PackSource, modules: list[str]) -> list[str]:
    """Module-level imports of anything but the standard library, the core and the pack itself
    in ``modules`` and the pack's own modules they import at their top (see the module's docstring)."""
    problems: list[str] = []
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop(0)
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(src, module)
        if path is None:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except SyntaxError:
            continue  # the import reports it, with the line
        for line, name, statement in _top_level_imports(tree):
            top = name.split(".")[0]
            if top == src.entry_point:
                todo.append(name)
            elif statement and top not in sys.stdlib_module_names and top != "opspack" and top != "__future__":
                rel = path.relative_to(src.root.parent.parent) if src.name != "core" else path
                problems.append(f"{rel}, line {line}: `{statement}` at module level breaks {LAZY_RULE}.")
    return problems


def _import(src: PackSource, module: str) -> Any:
    """Import one of the pack's modules; a missing module is a :class:`BuildError` naming the
    import that needs it and the lazy-import rule."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if not isinstance(exc, ModuleNotFoundError) or exc.name is None:
            raise
        if exc.name.split(".")[0] == src.entry_point:
            raise BuildError(f"pack {src.name}: {module} cannot be imported from {src.root / 'src'}: {exc}") from None
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(src.root))]
        where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno}: `{frames[-1].line}`)" if frames else ""
        raise BuildError(
            f"pack {src.name}: importing {module} needs {exc.name}, which is not installed here{where}. "
            f"Building the registry needs only the core: keep to {LAZY_RULE}."
        ) from None


def _load_pack(src: PackSource) -> tuple[Pack, list[CommandSpec]]:
    src_dir = str(src.root / "src")
    if src_dir not in sys.path:
        sys.path.insert(0, src_dir)
    # a folder made after this process started (new-pack) may be cached as missing
    sys.path_importer_cache.pop(src_dir, None)
    if src.name != "core":
        problems = lazy_import_problems(src, [src.entry_point])
        if problems:
            raise BuildError("\n".join(problems))
    module = _import(src, src.entry_point)
    pack = getattr(module, "pack", None)
    if not isinstance(pack, Pack):
        raise BuildError(f"{src.entry_point} must define `pack = Pack(...)`")
    if pack.name != src.name:
        raise BuildError(f"{src.entry_point}.pack is named {pack.name!r}, expected {src.name!r}")
    if src.name != "core":
        problems = lazy_import_problems(src, list(pack.modules))
        if problems:
            raise BuildError("\n".join(problems))
    for name in pack.modules:
        _import(src, name)
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
                    old.splitlines(), text.splitlines(), f"{rel} (on disk)", f"{rel} (as generated now)", lineterm=""
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
