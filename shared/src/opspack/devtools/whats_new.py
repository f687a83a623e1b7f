"""``whats-new``: commands added, changed or removed since a date or a version, read from
the history of ``registry.json`` in git (``git log -- registry.json``, ``git show <rev>:registry.json``).

``--since`` takes:

- a date (``2025-06-01``) or an age (``7d``, ``12h``): compared with the registry as it was then;
- a version, ``0.2.0``: per pack, compared with the newest registry in which that pack's
  version was at most 0.2.0 (a pack that did not exist then is new as a whole);
  ``jenkins@0.2.0`` does the same for one pack only;
- any git revision (``v1.4``, ``HEAD~20``, ``origin/main``).

The current registry is the checkout's ``registry.json`` (uncommitted changes included).
Each row tells when the command last changed: the date of the oldest commit of the
unbroken run of commits in which it has been as it is now.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opspack import grammar
from opspack.errors import ConfigError, UsageError
from opspack.results import Table, Text

REGISTRY = "registry.json"
#: the fields whose change makes a command "changed" (not its pack's version or install line)
COMPARED = ("summary", "description", "chat", "args_schema", "result_kinds", "effects", "permission", "timeout_s")
_VERSION = re.compile(r"^\d+(\.\d+)*([.+-]?\w+)*$")


@dataclass
class Change:
    kind: str  # added | changed | removed
    id: str
    pack: str
    usage: str
    summary: str
    what: str
    when: str


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False, timeout=60)
    except OSError as exc:
        raise ConfigError(f"cannot run git: {exc}", "whats-new reads registry.json's history with git.") from None


class History:
    """registry.json as it was at each commit that changed it (loaded on demand)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        proc = _git(repo, "log", "--format=%H %cI", "--", REGISTRY)
        if proc.returncode != 0:
            raise ConfigError(
                f"{repo} is not a git checkout with a history of {REGISTRY}",
                "Run whats-new in a clone of the packs repository (or set OPSPACK_CORE_REPO to one).",
            )
        self.revisions: list[tuple[str, dt.datetime]] = []
        for line in proc.stdout.splitlines():
            sha, _, when = line.partition(" ")
            self.revisions.append((sha, dt.datetime.fromisoformat(when)))
        self._cache: dict[str, dict[str, Any]] = {}

    def at(self, rev: str) -> dict[str, Any]:
        if rev not in self._cache:
            proc = _git(self.repo, "show", f"{rev}:{REGISTRY}")
            self._cache[rev] = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}
        return self._cache[rev]

    def current(self) -> dict[str, Any]:
        path = self.repo / REGISTRY
        if not path.is_file():
            raise ConfigError(f"{path} does not exist", "Run `opspack registry build` in the checkout.")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+-]", version))


def _commands(data: dict[str, Any], pack: str | None = None) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in data.get("commands", []) if pack is None or c["pack"]["name"] == pack}


def _pack_versions(data: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: str(p.get("version", "")) for p in data.get("packs", [])}


def _signature(entry: dict[str, Any]) -> str:
    return json.dumps({k: entry.get(k) for k in COMPARED}, sort_keys=True)


def _what_changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts: list[str] = []
    old_args = set(old.get("args_schema", {}).get("properties", {}))
    new_args = set(new.get("args_schema", {}).get("properties", {}))
    added = sorted(new_args - old_args)
    removed = sorted(old_args - new_args)
    if added:
        parts.append("new arguments: " + ", ".join(added))
    if removed:
        parts.append("removed arguments: " + ", ".join(removed))
    if not added and not removed and old.get("args_schema") != new.get("args_schema"):
        parts.append("arguments changed")
    for key, label in (
        ("summary", "summary"),
        ("description", "help"),
        ("effects", "effects"),
        ("permission", "permission"),
        ("result_kinds", "results"),
        ("timeout_s", "timeout"),
    ):
        if old.get(key) != new.get(key):
            parts.append(label)
    if old.get("chat", {}).get("words") != new.get("chat", {}).get("words"):
        parts.append(f"words were `{' '.join(old['chat']['words'])}`")
    elif old.get("chat") != new.get("chat"):
        parts.append("chat usage or examples")
    return "; ".join(parts) or "changed"


def parse_since(since: str, now: dt.datetime | None = None) -> tuple[str, Any]:
    """("date", datetime) | ("version", (pack or None, version)) | ("rev", revision)."""
    text = since.strip()
    try:
        stamp = grammar.parse_since(text, now.timestamp() if now is not None else None)
    except UsageError:
        pass
    else:
        return "date", dt.datetime.fromtimestamp(stamp, dt.UTC)
    pack, at, version = text.rpartition("@")
    if _VERSION.match(version) and (not at or re.fullmatch(r"[a-z][a-z0-9_]*", pack)):
        return "version", (pack or None, version)
    return "rev", text


def _changed_at(history: History, current: dict[str, Any]) -> dict[str, dt.datetime | None]:
    """For each current command, when it reached its current form (None: not committed yet)."""
    now = {cid: _signature(c) for cid, c in _commands(current).items()}
    out: dict[str, dt.datetime | None] = {}
    open_ids = set(now)
    newer: dt.datetime | None = None  # the date of the previous (newer) revision walked
    for sha, when in history.revisions:
        cmds = _commands(history.at(sha))
        for cid in list(open_ids):
            if cid not in cmds or _signature(cmds[cid]) != now[cid]:
                out[cid] = newer
                open_ids.discard(cid)
        if not open_ids:
            break
        newer = when
    for cid in open_ids:
        out[cid] = newer
    return out


def _baselines(history: History, current: dict[str, Any], since: str) -> tuple[dict[str, dict[str, Any]], str]:
    """Per pack name: its commands at the baseline; and a phrase describing the baseline."""
    mode, value = parse_since(since)
    packs = set(_pack_versions(current)) | {c["pack"]["name"] for c in current.get("commands", [])}
    if mode == "date":
        older = [(sha, when) for sha, when in history.revisions if when <= value]
        base = history.at(older[0][0]) if older else {}
        packs |= set(_pack_versions(base))
        return {p: _commands(base, p) for p in packs}, f"since {value:%Y-%m-%d %H:%M} UTC"
    if mode == "rev":
        proc = _git(history.repo, "rev-parse", "--verify", "--quiet", f"{value}^{{commit}}")
        if proc.returncode != 0:
            raise UsageError(
                f"--since: got {value!r}, expected a date (2025-06-01), an age (7d), a version (0.2.0, "
                "jenkins@0.2.0) or a git revision"
            )
        base = history.at(proc.stdout.strip())
        packs |= set(_pack_versions(base))
        return {p: _commands(base, p) for p in packs}, f"since {value}"
    only, version = value
    if only is not None:
        packs = {only}
    else:  # packs removed since then count too
        for sha, _ in history.revisions:
            packs |= set(_pack_versions(history.at(sha)))
    out: dict[str, dict[str, Any]] = {}
    for pack in packs:
        out[pack] = {}
        for sha, _ in history.revisions:  # newest first
            data = history.at(sha)
            have = _pack_versions(data).get(pack)
            if have and _version_key(have) <= _version_key(version):
                out[pack] = _commands(data, pack)
                break
    return out, f"since {only + '@' if only else ''}{version}"


def changes(repo: Path, since: str, pack: str | None = None) -> tuple[list[Change], str]:
    """What changed in the registry of the checkout at ``repo`` since ``since``."""
    history = History(repo)
    current = history.current()
    baselines, phrase = _baselines(history, current, since)
    when = _changed_at(history, current)
    now_cmds = _commands(current)
    out: list[Change] = []
    for name, base in sorted(baselines.items()):
        if pack is not None and name != pack:
            continue
        mine = {cid: c for cid, c in now_cmds.items() if c["pack"]["name"] == name}
        for cid, entry in mine.items():
            stamp = when.get(cid)
            label = f"{stamp:%Y-%m-%d}" if stamp else "not committed"
            common = {
                "id": cid,
                "pack": f"{name} {entry['pack']['version']}",
                "usage": entry["chat"]["usage"],
                "summary": entry["summary"],
                "when": label,
            }
            if cid not in base:
                out.append(Change(kind="added", what="new command", **common))
            elif _signature(base[cid]) != _signature(entry):
                out.append(Change(kind="changed", what=_what_changed(base[cid], entry), **common))
        for cid, entry in base.items():
            if cid not in mine:
                out.append(
                    Change(
                        kind="removed",
                        id=cid,
                        pack=name,
                        usage=entry["chat"]["usage"],
                        summary=entry["summary"],
                        what="no longer available",
                        when="",
                    )
                )
    return out, phrase


def report(repo: Path, since: str, pack: str | None = None, hidden: set[str] | None = None) -> list[Table | Text]:
    """The ``whats-new`` results: a table of changes, added first, newest first within each kind.
    ``hidden``: command ids the caller may not run (the permission policy), left out."""
    found, phrase = changes(repo, since, pack)
    if hidden:
        found = [c for c in found if c.id not in hidden]
    found.sort(key=lambda c: ({"added": 0, "changed": 1, "removed": 2}[c.kind], _neg(c.when), c.id))
    if not found:
        return [Text(f"No command was added or changed {phrase}.")]
    table = Table(
        columns=["change", "command", "what it does", "what changed", "pack", "when"],
        rows=[[c.kind, c.usage, c.summary, c.what, c.pack, c.when] for c in found],
        title=f"What's new {phrase}",
    )
    return [table, Text("Type `help <command>` for its arguments and examples.")]


def _neg(when: str) -> tuple[int, str]:
    """Sort key: uncommitted first, then newest dates first."""
    if when == "not committed":
        return (0, "")
    return (1, "".join(chr(0x10FFFF - ord(ch)) for ch in when))


# -- the runner's registry snapshots (no checkout needed) ---------------------------------
LAST_RELOAD = "last-reload"


def _snapshot_base(snapshots: list[dict[str, Any]], since: str) -> tuple[dict[str, Any], str]:
    """The snapshot to compare the newest with (``snapshots`` newest first), and a phrase."""
    if since.strip() == LAST_RELOAD:
        base = snapshots[1] if len(snapshots) > 1 else snapshots[0]
        when = dt.datetime.fromtimestamp(snapshots[0]["at"], dt.UTC)
        return base, f"at the last reload ({snapshots[0]['reason']}, {when:%Y-%m-%d %H:%M} UTC)"
    mode, value = parse_since(since)
    oldest = snapshots[-1]
    if mode == "date":
        older = [s for s in snapshots if dt.datetime.fromtimestamp(s["at"], dt.UTC) <= value]
        return (older[0] if older else oldest), f"since {value:%Y-%m-%d %H:%M} UTC"
    if mode == "version":
        only, version = value
        pack = only or "core"
        for snap in snapshots:
            have = snap["packs"].get(pack)
            if have and _version_key(have) <= _version_key(version):
                return snap, f"since {pack}@{version}"
        return oldest, f"since {pack}@{version}"
    raise UsageError(
        f"--since: got {value!r}, expected a date (2025-06-01), an age (7d), a version (0.2.0, jenkins@0.2.0) "
        f"or {LAST_RELOAD} (git revisions need a checkout: set `repo`)"
    )


def snapshot_report(
    snapshots: list[dict[str, Any]], since: str, pack: str | None = None, hidden: set[str] | None = None
) -> list[Table | Text]:
    """The ``whats-new`` results from the runner's registry snapshots (newest first), the
    newest compared with the one ``since`` names: a date or age (the newest snapshot taken by
    then, else the oldest), a version (the newest in which that pack, or the core, was at most
    it) or ``last-reload`` (the one before the newest)."""
    if not snapshots:
        return [Text("The runner has kept no snapshot of its commands yet.")]
    base, phrase = _snapshot_base(snapshots, since)
    now = snapshots[0]
    old_cmds, new_cmds = base["commands"], now["commands"]
    rows: list[list[Any]] = []
    for kind, ids in (
        ("added", sorted(set(new_cmds) - set(old_cmds))),
        ("changed", sorted(i for i in set(new_cmds) & set(old_cmds) if new_cmds[i]["digest"] != old_cmds[i]["digest"])),
        ("removed", sorted(set(old_cmds) - set(new_cmds))),
    ):
        for cid in ids:
            entry = new_cmds.get(cid) or old_cmds[cid]
            if (pack and entry["pack"] != pack) or (hidden and cid in hidden):
                continue
            rows.append([kind, entry["usage"], entry["summary"], f"{entry['pack']} {entry['version']}"])
    if not rows:
        return [Text(f"No command was added or changed {phrase}.")]
    changes = [
        f"{name} {before or '-'} -> {after or '-'}"
        for name in sorted(set(base["packs"]) | set(now["packs"]))
        if (before := base["packs"].get(name)) != (after := now["packs"].get(name))
    ]
    table = Table(columns=["change", "command", "what it does", "pack"], rows=rows, title=f"What's new {phrase}")
    note = f"Packs: {', '.join(changes)}. " if changes else ""
    return [table, Text(f"{note}Type `help <command>` for its arguments and examples.")]
