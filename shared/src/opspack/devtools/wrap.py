"""``opspack wrap <script.py> --pack P``: an argparse script becomes a command of a pack.

How the script's :class:`argparse.ArgumentParser` is read: the script runs in a
subprocess (this interpreter, stdin closed, a timeout, a temporary working folder) with
``ArgumentParser.parse_args``/``parse_known_args``/``parse_intermixed_args`` replaced by a
function that writes the parser's description as JSON and ends the process with
``os._exit`` at once, so nothing after the parse (the script's real work) runs.
Why not AST analysis: parsers are often built by helper functions, in loops over option
tables, with ``parents=``, groups, constants or types imported from elsewhere and
defaults computed at run time; only argparse itself knows the result. The cost is that
module-level code before ``parse_args`` runs (imports, mostly), which a ``--help`` run
would do too. A script that never calls ``parse_args`` is described by the first parser
it built.

The generated module is plain Python meant to be edited by hand: one function whose
typed signature is the script's arguments, that builds the script's command line and
calls :func:`opspack.scripts.run_script` (output → results; a non-zero exit → a
``backend`` error). The script is copied beside it, under ``src/opspack_<pack>/scripts/``,
and a test that runs the command through the runtime goes to ``tests/test_<module>.py``.

Rules the script's parser must meet, each failing the wrap with the fix:

- every argument has ``help=`` (it becomes the argument's description in chat help);
- no subcommands (one parser, one command).

A script that can print JSON (an option whose choices include ``json``, such as
``--format table|json``, or a ``--json`` flag) is always run in JSON mode, and that option
is not offered in chat: the output becomes a table, key-values or a status by its shape
(see :mod:`opspack.scripts`), which every chat renders natively.
"""

from __future__ import annotations

import json
import keyword
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opspack.devtools import registry_build as build

INSPECT_TIMEOUT = 30.0

# Runs as ``python -c DRIVER <script> <out.json>``: describe the parser, exit before main work.
DRIVER = r"""
import argparse, json, os, runpy, sys

script, out = sys.argv[1], sys.argv[2]
built = []
_init = argparse.ArgumentParser.__init__


def _record_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    built.append(self)


def _jsonable(value):
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _describe(parser):
    actions = []
    for a in parser._actions:
        kind = type(a).__name__
        t = a.type
        tname = t.__name__ if t in (int, float, str) else (None if t is None else "other")
        choices = None
        if a.choices is not None and not isinstance(a, argparse._SubParsersAction):
            choices = [c for c in a.choices]
            if not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices):
                choices = None
        default = a.default
        if default == argparse.SUPPRESS:
            default = None
        help_text = a.help
        if help_text == argparse.SUPPRESS:
            help_text = "==SUPPRESS=="
        elif help_text:
            try:
                help_text = help_text % {**vars(a), "prog": parser.prog, "default": default}
            except (KeyError, TypeError, ValueError):
                pass
        nargs = a.nargs
        if nargs == argparse.REMAINDER:
            nargs = "..."
        actions.append({
            "kind": kind,
            "dest": a.dest,
            "option_strings": list(a.option_strings),
            "nargs": nargs if nargs is None or isinstance(nargs, (int, str)) else str(nargs),
            "type": tname,
            "choices": choices,
            "default": default if _jsonable(default) else None,
            "default_repr": None if _jsonable(default) else repr(default),
            "help": help_text,
            "required": bool(getattr(a, "required", False)),
            "metavar": a.metavar if isinstance(a.metavar, str) else None,
        })
    return {"prog": parser.prog, "description": parser.description, "epilog": parser.epilog, "actions": actions}


def _capture(self, *args, **kwargs):
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(_describe(self), fh)
    sys.stdout.flush()
    os._exit(0)


argparse.ArgumentParser.__init__ = _record_init
argparse.ArgumentParser.parse_args = _capture
argparse.ArgumentParser.parse_known_args = _capture
argparse.ArgumentParser.parse_intermixed_args = _capture
argparse.ArgumentParser.parse_known_intermixed_args = _capture
sys.argv = [script]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit:
    pass
if built:
    _capture(built[0])
sys.exit(3)
"""


class WrapError(Exception):
    """The script cannot be wrapped as it is (the message says why and what to do)."""


@dataclass
class Param:
    """One argument of the generated function."""

    name: str
    annotation: str
    default: str | None  # Python source, None when required
    positional: bool
    description: str
    argv: list[str] = field(default_factory=list)  # lines that add it to the command line
    example: str | None = None


def read_parser(script: Path, timeout: float = INSPECT_TIMEOUT) -> dict[str, Any]:
    """The script's parser as data (see the module's docstring for how)."""
    if not script.is_file():
        raise WrapError(f"{script} is not a file")
    with tempfile.TemporaryDirectory(prefix="opspack-wrap-") as tmp:
        out = Path(tmp) / "parser.json"
        try:
            proc = subprocess.run(
                [sys.executable, "-c", DRIVER, str(script.resolve()), str(out)],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise WrapError(
                f"{script.name} did not reach its argument parsing within {timeout:g} s; "
                "does it do work before parse_args()?"
            ) from None
        if not out.is_file():
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            if proc.returncode == 3:
                raise WrapError(f"{script.name} builds no argparse.ArgumentParser; wrap needs one")
            raise WrapError(f"{script.name} failed before its arguments were parsed: {detail}")
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return data


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text.strip().lower()).strip("_") or "arg"
    if name[0].isdigit():
        name = "n_" + name
    return name + "_" if keyword.iskeyword(name) or name in ("argv", "script") else name


def _clean_help(text: str | None) -> str:
    return " ".join((text or "").split()).replace("\\", "\\\\").replace('"""', "'''")


def _literal(value: Any) -> str:
    """Python source for a value, strings in double quotes (as ruff format writes them)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _scalar_type(action: dict[str, Any]) -> str:
    choices = action.get("choices")
    if choices:
        return "Literal[" + ", ".join(_literal(c) for c in choices) + "]"
    return {"int": "int", "float": "float"}.get(action.get("type") or "", "str")


def _fits(value: Any, annotation: str, choices: list[Any] | None) -> bool:
    if choices:
        return value in choices
    if annotation == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _flag(action: dict[str, Any]) -> str:
    options: list[str] = action["option_strings"]
    return next((o for o in options if o.startswith("--")), options[0])


def json_mode(parser: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(the ``dest`` of the script's output format option, the arguments that select JSON),
    or ``(None, [])`` when the script has no way to print JSON."""
    for action in parser["actions"]:
        options: list[str] = action["option_strings"]
        if not options:
            continue
        choices = action.get("choices") or []
        if action["kind"] == "_StoreAction" and action.get("nargs") is None and "json" in choices:
            return action["dest"], [_flag(action), "json"]
        if action["kind"] in ("_StoreTrueAction", "_StoreConstAction") and "--json" in options:
            return action["dest"], ["--json"]
    return None, []


def _missing_help(parser: dict[str, Any], hidden: str | None) -> list[str]:
    """The arguments without ``help=`` (how each is written on the script's command line)."""
    out = []
    for action in parser["actions"]:
        if action["kind"] in ("_HelpAction", "_VersionAction") or action["dest"] == hidden:
            continue
        if action["help"] == "==SUPPRESS==" or (action["help"] or "").strip():
            continue
        out.append(_flag(action) if action["option_strings"] else action["dest"])
    return out


def _param(action: dict[str, Any], taken: set[str], hidden: str | None = None) -> Param | None:
    kind = action["kind"]
    if kind in ("_HelpAction", "_VersionAction") or action["help"] == "==SUPPRESS==" or action["dest"] == hidden:
        return None
    if kind == "_SubParsersAction":
        raise WrapError(
            "the script has subcommands (add_subparsers); wrap supports one parser: "
            "split the script or write the command by hand"
        )
    name = _identifier(action["dest"])
    while name in taken:
        name += "_"
    taken.add(name)
    positional = not action["option_strings"]
    flag = "" if positional else _flag(action)
    what = f"<{action['dest']}>" if positional else flag
    description = _clean_help(action["help"]) or f"the script's {what} argument"
    scalar = _scalar_type(action)
    choices = action.get("choices")
    default = action.get("default")
    nargs = action.get("nargs")
    many = nargs in ("*", "+", "...") or isinstance(nargs, int)
    p = Param(name=name, annotation=scalar, default=None, positional=positional, description=description)
    if kind in ("_StoreTrueAction", "_StoreConstAction", "_AppendConstAction"):
        p.annotation, p.default = "bool", "False"
        p.argv = [f"if {name}:", f"    argv.append({_literal(flag)})"]
        return p
    if kind == "_StoreFalseAction":
        p.annotation, p.default = "bool", "True"
        p.description = f"on unless --no-{name.rstrip('_').replace('_', '-')} (the script's {flag}): {description}"
        p.argv = [f"if not {name}:", f"    argv.append({_literal(flag)})"]
        return p
    if kind == "BooleanOptionalAction":
        negative = next((o for o in action["option_strings"] if o.startswith("--no-")), "--no-" + flag[2:])
        p.annotation = "bool | None"
        p.default = _literal(default) if isinstance(default, bool) else "None"
        p.argv = [
            f"if {name} is not None:",
            f"    argv.append({_literal(flag)} if {name} else {_literal(negative)})",
        ]
        return p
    if kind == "_CountAction":
        p.annotation, p.default = "int", str(default) if isinstance(default, int) else "0"
        if not action["help"]:
            p.description += " (how many times)"
        p.argv = [f"argv += [{_literal(flag)}] * {name}"]
        return p
    if kind in ("_AppendAction", "_ExtendAction") or many:
        p.annotation = f"list[{scalar}]"
        required = (positional and (nargs == "+" or isinstance(nargs, int))) or (not positional and action["required"])
        if not required:
            p.annotation += " | None"
            p.default = "None"
        if default not in (None, []):
            p.description += f" (default: {_clean_help(str(default))})"
        if positional:
            p.argv = [f"argv += [str(v) for v in {name} or []]"]
        elif kind in ("_AppendAction", "_ExtendAction") and not many:
            p.argv = [f"for item in {name} or []:", f"    argv += [{_literal(flag)}, str(item)]"]
        else:
            p.argv = [f"if {name}:", f"    argv += [{_literal(flag)}, *[str(v) for v in {name}]]"]
        p.example = "VALUE" if required else None
        return p
    # a single value (store)
    required = (positional and nargs != "?") or (not positional and action["required"])
    if not required:
        if default is not None and _fits(default, scalar, choices):
            p.default = _literal(default)
        else:
            p.annotation += " | None"
            p.default = "None"
            if default is not None or action.get("default_repr"):
                shown = action.get("default_repr") or str(default)
                p.description += f" (default: {_clean_help(shown)})"
    value = f"str({name})"
    if positional:
        p.argv = [f"argv.append({value})"] if required else [f"if {name} is not None:", f"    argv.append({value})"]
    elif (p.default is not None and p.default != "None") or required:
        p.argv = [f"argv += [{_literal(flag)}, {value}]"]
    else:
        p.argv = [f"if {name} is not None:", f"    argv += [{_literal(flag)}, {value}]"]
    if required:
        p.example = str(choices[0]) if choices else (action.get("metavar") or action["dest"]).upper()
    return p


def params_of(parser: dict[str, Any], script: str = "the script") -> list[Param]:
    """The function's arguments, in the order Python allows (positional first); the output
    format option of a script that can print JSON is left out (it is always JSON)."""
    if any(a["kind"] == "_SubParsersAction" for a in parser["actions"]):
        raise WrapError(
            "the script has subcommands (add_subparsers); wrap supports one parser: "
            "split the script or write the command by hand"
        )
    hidden, _ = json_mode(parser)
    missing = _missing_help(parser, hidden)
    if missing:
        names = ", ".join(missing)
        raise WrapError(
            f"{script}: {names} {'has' if len(missing) == 1 else 'have'} no help text, which wrap needs as "
            f'the argument\'s description in chat help and the registry. Fix: add help="..." to '
            f"add_argument({_literal(missing[0])}, ...){' and the others' if len(missing) > 1 else ''} "
            f"in {script}, then run the command again."
        )
    taken = {"ctx"}
    params = [p for a in parser["actions"] if (p := _param(a, taken, hidden)) is not None]
    positional = [p for p in params if p.positional]
    for p in positional[:-1]:
        if p.annotation.startswith("list["):
            raise WrapError(f"<{p.name}> takes several values but is not the last positional argument")
    seen_default = False
    for p in positional:
        if p.default is not None:
            seen_default = True
        elif seen_default:
            raise WrapError(f"the required positional <{p.name}> follows an optional one")
    return positional + [p for p in params if not p.positional]


def summary_of(parser: dict[str, Any], script: Path) -> str:
    """The command's summary line, from the script's description (or its name)."""
    return _summary(parser, script)[0]


def _summary(parser: dict[str, Any], script: Path) -> tuple[str, str]:
    """(summary line, the rest of the description)."""
    text = _clean_help(parser.get("description"))
    if not text:
        return f"Run the script {script.name}", ""
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    rest = text[len(first) :].strip()
    first = first.rstrip(".")
    if len(first) > 90:
        cut = first[:90].rsplit(" ", 1)[0]
        rest = f"... {first[len(cut) :].strip()}. {rest}".strip()
        first = cut + " ..."
    return first, rest


def _doc_lines(text: str, indent: str, hanging: str) -> list[str]:
    return textwrap.wrap(text, 110, initial_indent=indent, subsequent_indent=hanging) or [indent.rstrip()]


def default_example(params: list[Param], words: list[str]) -> str:
    """A chat example: the command's words and its required arguments (placeholders)."""
    return " ".join(
        [
            *words,
            *[
                ("" if p.positional else "--" + p.name.rstrip("_").replace("_", "-") + " ") + p.example
                for p in params
                if p.example
            ],
        ]
    )


def generate(
    script: Path,
    parser: dict[str, Any],
    *,
    pack: str,
    group: str,
    verb: str,
    timeout: float,
    read_only: bool,
    words: list[str] | None = None,
    example: str | None = None,
) -> str:
    """The command module's source (formatted as ruff format would)."""
    params = params_of(parser, script.name)
    _, json_args = json_mode(parser)
    func = _identifier(verb)
    default_words = [group.replace("_", "-"), verb.replace("_", "-")]
    explicit_words = words is not None and words != default_words
    words = words or default_words
    sig: list[str] = []
    for p in params:
        if not p.positional and "*" not in sig:
            sig.append("*")
        sig.append(f"{p.name}: {p.annotation}" + (f" = {p.default}" if p.default is not None else ""))
    example = example or default_example(params, words)
    decorator = [f"group={_literal(group)}", f"verb={_literal(verb)}"]
    if explicit_words:
        decorator.append("words=[" + ", ".join(_literal(w) for w in words) + "]")
    if not read_only:
        decorator.append("mutating=True")
    decorator += [f"examples=[{_literal(example)}]", "timeout=TIMEOUT + 5"]
    deco = "@command(" + ", ".join(decorator) + ")"
    if len(deco) > 120:
        deco = "@command(\n" + "".join(f"    {d},\n" for d in decorator) + ")"
    summary, rest = _summary(parser, script)
    doc = [f'    """{summary}.', ""]
    if rest:
        doc += [*_doc_lines(rest, "    ", "    "), ""]
    doc.append(f"    Runs scripts/{script.name} with the arguments below (generated by `opspack wrap`).")
    if json_args:
        doc.append(f"    The script prints JSON ({' '.join(json_args)}), shown as a table, key-values or a status.")
    if params:
        doc += ["", "    Args:"]
        for p in params:
            doc += _doc_lines(f"{p.name}: {p.description}", "        ", "            ")
    doc.append('    """')
    header = f"def {func}({', '.join(sig)}) -> list[ScriptResult]:"
    if len(header) > 120:
        header = f"def {func}(\n" + "".join(f"    {s},\n" for s in sig) + ") -> list[ScriptResult]:"
    body = ["argv: list[str] = [" + ", ".join(_literal(a) for a in json_args) + "]"]
    for p in params:
        body.extend(p.argv)
    body.append("return run_script(SCRIPT, argv, timeout=TIMEOUT)")
    uses_literal = any("Literal[" in p.annotation for p in params)
    lines = [
        f'"""`{" ".join(words)}`: runs the script {script.name} as a command.',
        "",
        "Generated by `opspack wrap`; plain code, meant to be edited by hand.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from pathlib import Path",
        *(["from typing import Literal"] if uses_literal else []),
        "",
        "from opspack import command",
        "from opspack.scripts import ScriptResult, run_script",
        "",
        f'SCRIPT = Path(__file__).parent / "scripts" / {_literal(script.name)}',
        "#: seconds the script may run before it is stopped",
        f"TIMEOUT = {float(timeout)!r}",
        "",
        "",
        deco,
        header,
        *doc,
        *[f"    {line}" for line in body],
        "",
    ]
    return "\n".join(lines)


def _register_module(init: Path, module: str) -> bool:
    """Add ``module`` to ``modules=[...]`` in the pack's ``__init__.py``."""
    text = init.read_text(encoding="utf-8")
    m = re.search(r"modules\s*=\s*\[(.*?)\]", text, re.DOTALL)
    if m is None:
        return False
    if f'"{module}"' in m.group(1) or f"'{module}'" in m.group(1):
        return True
    items = [s.strip() for s in m.group(1).split(",") if s.strip()]
    items.append(f'"{module}"')
    text = text[: m.start(1)] + ", ".join(items) + text[m.end(1) :]
    init.write_text(text, encoding="utf-8")
    return True


def generate_test(pack: str, cid: str, script: Path, words: list[str], example: str) -> str:
    """A test module that runs the wrapped command through the runtime (its example), checks
    every rendering, and asks chat help for it."""
    said = " ".join(words)
    name = _identifier("_".join(words))
    return "\n".join(
        [
            f'"""`{said}` (the script {script.name}, wrapped) through the real runtime, rendered in every format.',
            "",
            "Generated by `opspack wrap`: make the example use real arguments, and add a test per",
            "case the script handles (no output, bad input, a failure: a non-zero exit is a backend error).",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "import pytest",
            "from opspack.devtools.registry_build import registry_from_package",
            "from opspack.registry import Registry",
            "from opspack_testkit import check_rendering, run_command",
            "",
            "",
            '@pytest.fixture(scope="module")',
            "def registry() -> Registry:",
            f'    reg: Registry = registry_from_package("opspack_{pack}", "0.1.0")',
            "    return reg",
            "",
            "",
            f"def test_{name}(registry: Registry) -> None:",
            f"    reply = run_command({_literal(example)}, registry=registry, environ={{}})",
            '    assert reply.ok, str(reply.to_dict()["error"])  # the error\'s message and hint, in full',
            f'    assert reply.command == "{cid}"',
            '    assert reply.to_dict()["results"]',
            "    check_rendering(reply)",
            "",
            "",
            f"def test_help_{name}(registry: Registry) -> None:",
            f"    reply = run_command({_literal('help ' + said)}, registry=registry, environ={{}})",
            "    assert reply.ok, reply.error",
            "    check_rendering(reply)",
            "",
        ]
    )


def split_words(words: str | list[str] | None) -> list[str] | None:
    """``"disk top"`` → ``["disk", "top"]``; checks each word (lower case letters, digits, dashes)."""
    if words is None:
        return None
    parts = words.split() if isinstance(words, str) else [w for part in words for w in part.split()]
    bad = [w for w in parts if not re.fullmatch(r"[a-z][a-z0-9-]*", w)]
    if len(parts) < 2 or bad:
        raise WrapError(
            f"--words {' '.join(parts)!r}: give two or more chat words, lower case letters, digits and dashes "
            '(--words "disk top" makes the command `disk top`)'
        )
    return parts


def wrap(
    root: Path,
    script: Path,
    pack: str,
    *,
    group: str | None = None,
    verb: str | None = None,
    words: str | list[str] | None = None,
    example: str | None = None,
    timeout: float = 60.0,
    read_only: bool = False,
    force: bool = False,
) -> list[Path]:
    """Write the command module, the script copy and a test into ``packs/<pack>/``, register
    the module with the pack and rebuild the registry; return the files written.

    ``words`` (``"disk top"``) are the command's chat words: the first is its group, the
    rest its verb (the module is named after the script); without them the group is
    ``group`` or the script's name and the verb ``verb`` or ``run``.
    """
    package = root / "packs" / pack / "src" / f"opspack_{pack}"
    if not (package / "__init__.py").is_file():
        raise WrapError(f"no pack {pack!r} in {root / 'packs'}; create it with `opspack new-pack {pack}`")
    chat_words = split_words(words)
    if chat_words is not None:
        group = _identifier(group or chat_words[0])
        verb = _identifier(verb or "_".join(chat_words[1:])).rstrip("_") or "run"
        module = _identifier(script.stem)
    else:
        group = _identifier(group or script.stem)
        verb = _identifier(verb or "run").rstrip("_") or "run"
        module = group
    module_file = package / f"{module}.py"
    if module_file.exists() and not force:
        raise WrapError(f"{module_file.relative_to(root)} exists; pass --force or choose other --words")
    parser = read_parser(script)
    source = generate(
        script,
        parser,
        pack=pack,
        group=group,
        verb=verb,
        timeout=timeout,
        read_only=read_only,
        words=chat_words,
        example=example,
    )
    said = chat_words or [group.replace("_", "-"), verb.replace("_", "-")]
    chat_example = example or default_example(params_of(parser, script.name), said)
    (package / "scripts").mkdir(exist_ok=True)
    copy = package / "scripts" / script.name
    if copy.resolve() != script.resolve():
        shutil.copyfile(script, copy)
    module_file.write_text(source, encoding="utf-8")
    init = package / "__init__.py"
    if not _register_module(init, f"opspack_{pack}.{module}"):
        raise WrapError(f'add "opspack_{pack}.{module}" to modules=[...] in {init.relative_to(root)}')
    written = [module_file, copy, init]
    test_file = root / "packs" / pack / "tests" / f"test_{module}.py"
    if not test_file.exists() or force:
        test_file.parent.mkdir(exist_ok=True)
        test_source = generate_test(pack, f"{pack}.{group}.{verb}", script, said, chat_example)
        test_file.write_text(test_source, encoding="utf-8")
        written.append(test_file)
    for name in [m for m in sys.modules if m == f"opspack_{pack}" or m.startswith(f"opspack_{pack}.")]:
        del sys.modules[name]  # this process may have imported the pack before the new module was listed
    written.extend(p for p in build.write(root) if p not in written)
    return written


def cli(args: object) -> int:
    """``opspack wrap <script.py> --pack P [--words "W V"] [--group G] [--verb V] [--example TEXT]
    [--timeout S] [--read-only|--mutating]``."""
    try:
        root = Path(getattr(args, "root", None) or build.find_root())
        written = wrap(
            root,
            Path(getattr(args, "script")),  # noqa: B009
            getattr(args, "pack"),  # noqa: B009
            group=getattr(args, "group", None),
            verb=getattr(args, "verb", None),
            words=getattr(args, "words", None),
            example=getattr(args, "example", None),
            timeout=float(getattr(args, "timeout", 60.0)),
            read_only=bool(getattr(args, "read_only", False)),
            force=bool(getattr(args, "force", False)),
        )
    except (WrapError, build.BuildError) as exc:
        sys.stderr.write(f"opspack wrap: {exc}\n")
        return 1
    for path in written:
        sys.stdout.write(f"wrote {path.relative_to(root)}\n")
    module = written[0].relative_to(root)
    pack = getattr(args, "pack")  # noqa: B009
    sys.stdout.write(
        f"\nNext: read {module} (names, help, effects) and its test, then "
        f'`nox -s "tests({pack})" registry command_tests lint typecheck`.\n'
    )
    return 0
