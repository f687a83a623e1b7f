"""Independent versions: which packs a change touches, and whether each touched pack
bumped its version and added a changelog fragment.

Standard library only, so the noxfile can load it by path before anything is installed
(``nox -s release_check -- origin/main``, ``nox -s changed -- origin/main``).

A *unit* is a pack (``packs/<name>/``), the core (``shared/``, unit name ``core``) or the
test kit (``shared/testkit/``, unit name ``testkit``; its files are not the core's). Each
has its version in its own ``pyproject.toml`` and its unreleased notes as fragments
``changes/<slug>.<added|changed|fixed|removed>.md``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

FRAGMENT_TYPES = ("added", "changed", "fixed", "removed")
FRAGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*\.(" + "|".join(FRAGMENT_TYPES) + r")\.md$")
#: a change to one of these tests everything (the core, the repository's tooling, CI)
EVERYTHING = ("shared/", "noxfile.py", ".ci/")
CORE = "core"
TESTKIT = "testkit"


class ReleaseError(Exception):
    """git failed or a base ref is unknown."""


@dataclass(frozen=True)
class Unit:
    """A separately released distribution: a pack or the core."""

    name: str
    folder: str  # relative to the repository root, with a trailing slash

    @property
    def pyproject(self) -> str:
        return self.folder + "pyproject.toml"

    @property
    def changes(self) -> str:
        return self.folder + "changes/"


def _git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def units(root: Path) -> list[Unit]:
    """The core, the test kit and every pack of the checkout at ``root``."""
    found = [Unit(CORE, "shared/")]
    if (root / "shared" / "testkit" / "pyproject.toml").is_file():
        found.append(Unit(TESTKIT, "shared/testkit/"))
    found += [Unit(p.parent.name, f"packs/{p.parent.name}/") for p in sorted(root.glob("packs/*/pyproject.toml"))]
    return found


def owner(found: list[Unit], path: str) -> Unit | None:
    """The unit a file belongs to: the one with the deepest folder holding it (the test kit's
    files are not the core's), or None."""
    holders = [u for u in found if path.startswith(u.folder)]
    return max(holders, key=lambda u: len(u.folder)) if holders else None


def changed_files(root: Path, base: str) -> list[str]:
    """Files that differ from ``base``: committed since the merge base, staged, unstaged or new."""
    try:
        merge_base = _git(root, "merge-base", base, "HEAD").strip()
    except ReleaseError:
        merge_base = base
    _git(root, "rev-parse", "--verify", "--quiet", merge_base + "^{commit}")
    names = set(_git(root, "diff", "--name-only", merge_base).split())
    names |= set(_git(root, "ls-files", "--others", "--exclude-standard").split())
    return sorted(names)


def touched(root: Path, files: list[str]) -> tuple[list[str], bool]:
    """(names of the units whose folder a file is in, whether everything must be tested)."""
    everything = any(f == e or (e.endswith("/") and f.startswith(e)) for f in files for e in EVERYTHING)
    found = units(root)
    owners = {owner(found, f) for f in files}
    names = [u.name for u in found if u in owners]
    # a pack deleted by the change is not tested
    return names, everything


def targets_for(root: Path, base: str) -> list[str]:
    """The ``tests(<target>)`` parameters the fast CI path runs for a change against ``base``."""
    names, everything = touched(root, changed_files(root, base))
    if everything:
        return [u.name for u in units(root)]
    return names


def _version_tuple(version: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.+-]", version))


def _version_at(root: Path, unit: Unit, rev: str | None) -> str | None:
    if rev is None:
        path = root / unit.pyproject
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
    else:
        text = _git(root, "show", f"{rev}:{unit.pyproject}", check=False)
        if not text:
            return None
    return str(tomllib.loads(text).get("project", {}).get("version", "")) or None


def check(root: Path, base: str) -> list[str]:
    """Problems that block a release of the change against ``base`` (empty: fine); see :func:`report`."""
    return report(root, base)[0]


def report(root: Path, base: str) -> tuple[list[str], list[str]]:
    """(problems that block a release of the change against ``base``, what was found fine).

    Every pack or core whose files changed needs a higher version than at the base and at
    least one new fragment in its ``changes/``; fragment names must follow the pattern.
    A new pack needs neither (its first version is its first release). The version of
    every pack in ``registry.json`` must be the one in its ``pyproject.toml`` (a bump
    makes the registry stale until ``opspack registry build`` is run).
    """
    try:
        merge_base = _git(root, "merge-base", base, "HEAD").strip()
    except ReleaseError:
        merge_base = base
    files = changed_files(root, base)
    problems: list[str] = []
    notes: list[str] = []
    found = units(root)
    for unit in found:
        mine = [f for f in files if owner(found, f) == unit]
        if not mine:
            continue
        label = _label(unit)
        bad = [
            f
            for f in mine
            if f.startswith(unit.changes) and f != unit.changes + ".gitkeep" and not FRAGMENT.match(Path(f).name)
        ]
        for f in bad:
            problems.append(f"{label}: {f} is not named <slug>.<{'|'.join(FRAGMENT_TYPES)}>.md")
        old = _version_at(root, unit, merge_base)
        new = _version_at(root, unit, None)
        if old is None:
            # a new pack: released for the first time with the version it has
            notes.append(f"{label}: new pack: no bump needed (first release {new})")
            continue
        if new is None:
            notes.append(f"{label}: removed")
            continue
        if _version_tuple(new) <= _version_tuple(old):
            problems.append(f"{label}: files changed but the version is still {new}; bump it in {unit.pyproject}")
        fragments = [f for f in mine if f.startswith(unit.changes) and FRAGMENT.match(Path(f).name)]
        added = [f for f in fragments if (root / f).is_file()]
        if not added:
            problems.append(
                f"{label}: files changed but no changelog fragment was added; "
                f"add {unit.changes}<slug>.<{'|'.join(FRAGMENT_TYPES)}>.md"
            )
        elif _version_tuple(new) > _version_tuple(old):
            notes.append(f"{label}: {old} -> {new}, fragment {', '.join(Path(f).name for f in added)}")
    problems.extend(stale_versions(root, found))
    return problems, notes


def _label(unit: Unit) -> str:
    return {CORE: "core", TESTKIT: "test kit"}.get(unit.name, f"pack {unit.name}") + f" ({unit.folder})"


def stale_versions(root: Path, found: list[Unit]) -> list[str]:
    """Packs whose version in ``registry.json`` is not the one in their ``pyproject.toml``."""
    path = root / "registry.json"
    if not path.is_file():
        return []
    try:
        listed = {p["name"]: str(p.get("version", "")) for p in json.loads(path.read_text(encoding="utf-8"))["packs"]}
    except (ValueError, KeyError, TypeError):
        return ["registry.json does not parse; run `opspack registry build`"]
    out = []
    for unit in found:
        if unit.name not in listed:
            continue
        version = _version_at(root, unit, None)
        if version is not None and listed[unit.name] != version:
            package = "opspack_core" if unit.name == CORE else f"opspack_{unit.name}"
            out.append(
                f"{_label(unit)}: the version is {version} but registry.json says {listed[unit.name]} (the "
                f"version is in the generated files): run `opspack registry build` and commit registry.json "
                f"and {unit.folder}src/{package}/opspack-pack.json"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    """``python release.py check|targets <base>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("check", "targets"):
        sys.stderr.write("usage: release.py check|targets <base-ref>\n")
        return 2
    root = Path.cwd()
    try:
        if args[0] == "targets":
            print(" ".join(targets_for(root, args[1])))
            return 0
        problems, notes = report(root, args[1])
    except ReleaseError as exc:
        sys.stderr.write(f"release check: {exc}\n")
        return 2
    for p in problems:
        sys.stderr.write(p + "\n")
    if problems:
        return 1
    for note in notes:
        print(f"release check: {note}")
    print(f"release check passed against {args[1]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
