"""``opspack new-pack <name>``: a new pack folder from the template, registered at once.

The template (``opspack/devtools/templates/pack/``) holds every file a pack needs: pyproject.toml
(version 0.1.0, the entry point), README, CHANGELOG, ``changes/``, one example command and
tests that start nothing external. Paths and texts use ``{{name}}`` (the pack's name),
``{{dist}}`` (its name in the distribution), ``{{NAME}}`` (upper case, as in settings'
environment variables) and ``{{summary}}``; a ``.tmpl`` suffix is dropped.

``opspack new-pack <name> --from-script path.py [--words "disk top"]`` makes the pack around
an argparse script instead: the template's files without its example command, setting and
tests, the script wrapped by :func:`opspack.devtools.wrap.wrap` (its command, a copy of the
script, a test that runs it) and a README and CHANGELOG that describe that command.
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


#: the template's example: left out of a pack made from a script
EXAMPLE_FILES = ("src/opspack_{name}/example.py", "tests/test_{name}.py")

INIT_FROM_SCRIPT = '''"""opspack-{dist}: {summary}."""

from opspack.pack import Pack

pack = Pack(
    name="{name}",
    summary="{summary}",
    modules=[],
)
'''

README_FROM_SCRIPT = """# opspack-{dist}

{summary}.

| command | what it does |
|---|---|
| `{usage}` | {command_summary} |

`{said}` runs `src/opspack_{name}/scripts/{script}` (a copy of the original script) in a
subprocess, at most {timeout:g} s.
{output}
A non-zero exit is an error (`backend`) with the end of the script's error output.

## Examples

```
$ opspack run -- {example}
$ opspack run --format markdown -- {example}
```

## Tests

`nox -s "tests({name})"` runs `tests/` in a virtualenv holding only the core and this pack.
The tests run the command through the real runtime and check every rendering.
"""

CHANGELOG_FROM_SCRIPT = """# Changelog of opspack-{dist}

<!-- towncrier release notes start -->

## 0.1.0

- First release: `{said}` ({command_summary_lower}, from the script {script}).
"""


def new_pack(
    root: Path,
    name: str,
    summary: str | None = None,
    *,
    script: Path | None = None,
    words: str | None = None,
    example: str | None = None,
    read_only: bool = False,
    timeout: float = 60.0,
) -> list[Path]:
    """Create ``packs/<name>/`` and rebuild the registry; return the files written.

    With ``script``, the pack holds that script as its one command (see the module's
    docstring); ``words`` default to the pack's name and ``run``."""
    from opspack.devtools import wrap

    check_name(name, root)
    prints_json = False
    if script is not None:
        parser = wrap.read_parser(script)
        prints_json = bool(wrap.json_mode(parser)[1])
        wrap.params_of(parser, script.name)  # a parser wrap cannot take fails before any file is written
        summary = summary or wrap.summary_of(parser, script)
        if words is None:
            words = f"{name.replace('_', '-')} run"
        wrap.split_words(words)
    summary = (summary or f"Commands for {name.replace('_', ' ')}").strip().rstrip(".")
    folder = root / "packs" / name
    written: list[Path] = []
    files = render_template(name, summary)
    if script is not None:
        for rel in EXAMPLE_FILES:
            del files[rel.format(name=name)]
        files[f"src/opspack_{name}/__init__.py"] = INIT_FROM_SCRIPT.format(
            name=name, dist=name.replace("_", "-"), summary=summary.replace('"', "'")
        )
    try:
        for rel, text in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        license_file = root / "LICENSE"
        if license_file.is_file():  # every distribution ships the project's license
            (folder / "LICENSE").write_bytes(license_file.read_bytes())
            written.append(folder / "LICENSE")
        if script is None:
            written.extend(p for p in build.write(root) if p not in written)
        else:
            wrapped = wrap.wrap(root, script, name, words=words, example=example, timeout=timeout, read_only=read_only)
            written.extend(p for p in wrapped if p not in written)
            _describe_script(root, name, summary, script, prints_json, timeout)
    except Exception:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    return written


def _describe_script(root: Path, name: str, summary: str, script: Path, prints_json: bool, timeout: float) -> None:
    """The README and CHANGELOG of a pack made from a script: its command as registered."""
    import json

    data = json.loads((root / "registry.json").read_text(encoding="utf-8"))
    entry = next(c for c in data["commands"] if c["pack"]["name"] == name)
    output = (
        "It always runs in JSON mode; the JSON becomes a table, key-values or a status."
        if prints_json
        else "JSON on its output becomes a table or key-values, CSV a table, anything else text."
    )
    values = {
        "name": name,
        "dist": name.replace("_", "-"),
        "summary": summary,
        "usage": entry["chat"]["usage"].replace("|", "\\|"),
        "command_summary": entry["summary"],
        "command_summary_lower": entry["summary"][:1].lower() + entry["summary"][1:],
        "said": " ".join(entry["chat"]["words"]),
        "script": script.name,
        "timeout": timeout,
        "output": output,
        "example": (entry["chat"]["examples"] or [" ".join(entry["chat"]["words"])])[0],
    }
    folder = root / "packs" / name
    (folder / "README.md").write_text(README_FROM_SCRIPT.format(**values), encoding="utf-8")
    (folder / "CHANGELOG.md").write_text(CHANGELOG_FROM_SCRIPT.format(**values), encoding="utf-8")


#: every gate a merge request must pass, as one nox command (the pack's name filled in)
GATES = 'nox -s "tests({name})" registry command_tests release_check lint typecheck'


def next_steps(name: str, *, from_script: bool = False) -> list[str]:
    """What to do after ``new-pack``, numbered by the command line."""
    gates = GATES.format(name=name)
    if from_script:
        return [
            f"Read the command and its test: packs/{name}/src/opspack_{name}/<script>.py and "
            f"packs/{name}/tests/ (give the test's example real arguments if the script needs them).",
            f"Run the gates: {gates}  (in a git checkout; release_check takes a base: -- origin/main)",
            "Commit, and open a merge request following CONTRIBUTING.md's checklist.",
        ]
    return [
        f"Install it and write your commands: pip install -e 'packs/{name}[test]', then edit "
        f"packs/{name}/src/opspack_{name}/example.py (add your client library to "
        f"packs/{name}/pyproject.toml dependencies; import it inside functions).",
        f"After changing commands: opspack registry build && {gates}",
        f"Describe the pack in packs/{name}/README.md, commit, and open a merge request "
        "following CONTRIBUTING.md's checklist.",
    ]


def cli(args: object) -> int:
    """``opspack new-pack <name> [--summary TEXT] [--from-script PATH [--words "W V"] [--example TEXT]
    [--read-only|--mutating] [--timeout S]] [--root DIR]``."""
    import sys

    from opspack.devtools.wrap import WrapError

    name: str = getattr(args, "name")  # noqa: B009
    script = getattr(args, "from_script", None)
    script_only = [f"--{o.replace('_', '-')}" for o in ("words", "example") if getattr(args, o, None)]
    if script_only and not script:
        sys.stderr.write(f"opspack new-pack: {' and '.join(script_only)} go with --from-script PATH\n")
        return 2
    try:
        root = Path(getattr(args, "root", None) or build.find_root())
        written = new_pack(
            root,
            name,
            getattr(args, "summary", None),
            script=Path(script) if script else None,
            words=getattr(args, "words", None),
            example=getattr(args, "example", None),
            read_only=bool(getattr(args, "read_only", False)),
            timeout=float(getattr(args, "timeout", 60.0)),
        )
    except (ScaffoldError, WrapError, build.BuildError) as exc:
        sys.stderr.write(f"opspack new-pack: {exc}\n")
        return 2 if isinstance(exc, ScaffoldError) else 1
    for path in written:
        sys.stdout.write(f"wrote {path.relative_to(root)}\n")
    sys.stdout.write(f"\nPack {name} created and registered. Next:\n")
    for i, step in enumerate(next_steps(name, from_script=bool(script)), 1):
        sys.stdout.write(f"  {i}. {step}\n")
    return 0
