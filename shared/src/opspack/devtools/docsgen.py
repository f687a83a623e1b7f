"""The command reference of the docs site, generated from ``registry.json``:
one Markdown page per pack (settings, then each command with its usage, arguments,
examples, effects and permission) and an index.

``python -m opspack.devtools.docsgen registry.json docs/reference`` (``nox -s docs`` runs it before
``mkdocs build --strict``). The pages are build output: not committed, never edited.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opspack.registry import effects_text

HEADER = "<!-- Generated from registry.json by `python -m opspack.devtools.docsgen`. Do not edit. -->\n\n"


def _cell(value: Any) -> str:
    text = "" if value is None else (json.dumps(value) if isinstance(value, bool) else str(value))
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _arg_type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " \\| ".join(_cell(v) for v in prop["enum"])
    kind = str(prop.get("type", "string"))
    if kind == "array":
        items = prop.get("items", {})
        inner = " \\| ".join(_cell(v) for v in items["enum"]) if "enum" in items else items.get("type", "string")
        return f"list of {inner}"
    if kind == "object":
        return "KEY=value pairs"
    return kind


def command_section(entry: dict[str, Any]) -> str:
    chat = entry["chat"]
    out = [f"### {_code(chat['usage'])} {{#{_anchor(entry['id'])}}}", "", entry["summary"] + ".", ""]
    if entry.get("description"):
        out += [entry["description"], ""]
    schema = entry.get("args_schema", {})
    props: dict[str, Any] = schema.get("properties", {})
    if props:
        required = set(schema.get("required", []))
        positional = set(chat.get("positional", []))
        out += ["| argument | type | required | default | description |", "|---|---|---|---|---|"]
        for name, prop in props.items():
            label = f"<{name}>" if name in positional else "--" + name.replace("_", "-")
            if name == chat.get("mapping"):
                label = "KEY=value"
            default = prop.get("default")
            out.append(
                f"| {_code(label)} | {_arg_type(prop)} | {'yes' if name in required else 'no'} | "
                f"{_code(json.dumps(default)) if default not in (None, [], {}) else ''} | "
                f"{_cell(prop.get('description', ''))} |"
            )
        out.append("")
    if chat.get("examples"):
        out += ["Examples:", "", "```", *chat["examples"], "```", ""]
    facts = [
        f"id {_code(entry['id'])}",
        f"effects: {effects_text(entry['effects'])}",
        f"permission {_code(entry['permission'])}",
        f"timeout {entry.get('timeout_s', 30):g} s",
    ]
    if chat.get("aliases"):
        facts.append("aliases: " + ", ".join(_code(a) for a in chat["aliases"]))
    out += ["*" + "; ".join(facts) + ".*", ""]
    return "\n".join(out)


def pack_page(pack: dict[str, Any], commands: Sequence[dict[str, Any]]) -> str:
    out = [
        HEADER + f"# {pack['name']}",
        "",
        f"{pack['summary']}.",
        "",
        f"Distribution {_code(pack['distribution'])} {pack['version']}: {_code(pack['install'])}",
        "",
        "## Settings",
        "",
    ]
    settings = pack.get("settings", [])
    if settings:
        out += ["| setting | environment | default | secret | meaning |", "|---|---|---|---|---|"]
        for s in settings:
            default = s.get("default")
            shown = (
                "(required)" if s.get("required") else _code(json.dumps(default)) if default not in (None, "") else ""
            )
            out.append(
                f"| {_code(s['name'])} | {_code(s['env'])} | {shown} | {'yes' if s.get('secret') else ''} | "
                f"{_cell(s.get('description', ''))} |"
            )
        out.append("")
        out += [f"Or in `opspack.toml`, under `[{pack['name']}]` (profiles: `[{pack['name']}.profiles.<name>]`).", ""]
    else:
        out += ["None.", ""]
    out += ["## Commands", ""]
    out += [f"- [{_code(c['chat']['usage'])}](#{_anchor(c['id'])}): {c['summary']}" for c in commands]
    out.append("")
    out += [command_section(c) for c in commands]
    return "\n".join(out).rstrip() + "\n"


def _anchor(command_id: str) -> str:
    """The heading id of a command's section (set with attr_list: ``{#...}``)."""
    return command_id.replace(".", "-").replace("_", "-")


def index_page(data: dict[str, Any]) -> str:
    out = [
        HEADER + "# Command reference",
        "",
        f"{len(data['commands'])} commands in {len(data['packs'])} packs, generated from `registry.json`.",
        "",
        "| pack | version | commands | what it does |",
        "|---|---|---|---|",
    ]
    for p in data["packs"]:
        n = sum(1 for c in data["commands"] if c["pack"]["name"] == p["name"])
        out.append(f"| [{p['name']}]({p['name']}.md) | {p['version']} | {n} | {_cell(p['summary'])} |")
    return "\n".join(out) + "\n"


def generate(data: dict[str, Any]) -> dict[str, str]:
    """File name → Markdown for the reference folder."""
    pages = {"index.md": index_page(data)}
    for p in data["packs"]:
        commands = [c for c in data["commands"] if c["pack"]["name"] == p["name"]]
        pages[f"{p['name']}.md"] = pack_page(p, commands)
    return pages


def write(registry: Path, out: Path) -> list[Path]:
    data = json.loads(registry.read_text(encoding="utf-8"))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    written = []
    for name, text in generate(data).items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        sys.stderr.write("usage: python -m opspack.devtools.docsgen <registry.json> <output folder>\n")
        return 2
    written = write(Path(args[0]), Path(args[1]))
    print(f"wrote {len(written)} reference pages to {args[1]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
