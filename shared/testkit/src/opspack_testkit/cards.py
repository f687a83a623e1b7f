"""Validate Microsoft Teams Adaptive Cards with the real ``adaptivecards`` parser.

The parser is the ``adaptivecards`` npm package (the one the Adaptive Cards
designer and web hosts use), run under Node by ``adaptivecards/validate.mjs``
next to this module. Its ``node_modules`` never lives in the source tree: it is
installed once into ``$OPSPACK_CACHE/adaptivecards-<hash of package.json>``
(default cache: ``~/.cache/opspack``).

CI can install it up front::

    python -c "from opspack_testkit.cards import ensure_adaptivecards as e; e()"

Each error string reads ``"<JSON path>: <event>: <message>"``, for example
``'$.body[0]: UnknownElementType: Unknown element type "Table". ...'``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "CardValidatorUnavailable",
    "ensure_adaptivecards",
    "validate_adaptive_cards",
]

_SOURCE_DIR = Path(__file__).resolve().parent / "adaptivecards"
_PACKAGE_JSON = "package.json"
_VALIDATE_SCRIPT = "validate.mjs"
# A file the bundle needs; its presence marks a usable install.
_BUNDLE = Path("node_modules", "adaptivecards", "dist", "adaptivecards.min.js")
_NPM_INSTALL_ARGS = (
    "install",
    "--no-audit",
    "--no-fund",
    "--omit=peer",  # the dist bundle already contains the `swiper` peer dependency
    "--ignore-scripts",
    "--prefer-offline",  # the version is pinned: a cached tarball will do
    "--no-update-notifier",
    "--loglevel=error",
)
_INSTALL_TIMEOUT_S = 600.0
_VALIDATE_TIMEOUT_S = 300.0


class CardValidatorUnavailable(RuntimeError):
    """Node.js/npm are missing, or the ``adaptivecards`` package cannot be installed."""


def _cache_root() -> Path:
    configured = os.environ.get("OPSPACK_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "opspack"


def _short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _require_tool(name: str, purpose: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CardValidatorUnavailable(
            f"`{name}` was not found on PATH; it is needed to {purpose}. "
            "Install Node.js (18 or newer, with npm) to validate Adaptive Cards."
        )
    return path


def ensure_adaptivecards() -> Path:
    """Install the validator (once) and return its folder in the cache.

    The folder holds package.json, node_modules and a copy of validate.mjs. It is
    built in a temporary sibling folder and renamed into place, so concurrent
    processes never see a half-installed one; a process that loses the race
    discards its own copy.
    """
    package_json = (_SOURCE_DIR / _PACKAGE_JSON).read_bytes()
    root = _cache_root()
    target = root / f"adaptivecards-{_short_hash(package_json)}"
    if not (target / _BUNDLE).is_file():
        npm = _require_tool("npm", "install the adaptivecards package")
        _require_tool("node", "run the adaptivecards package")
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
        try:
            staging.chmod(0o755)
            (staging / _PACKAGE_JSON).write_bytes(package_json)
            _npm_install(npm, staging)
            if not (staging / _BUNDLE).is_file():
                raise CardValidatorUnavailable(f"`npm install` in {staging} succeeded but {_BUNDLE} is missing")
            _validate_script(staging)
            try:
                staging.rename(target)
            except OSError as exc:
                # Normally another process finished first: use its install.
                if not (target / _BUNDLE).is_file():
                    raise CardValidatorUnavailable(
                        f"cannot install into {target} ({exc}); delete that folder and retry"
                    ) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _validate_script(target)
    return target


def _npm_install(npm: str, folder: Path) -> None:
    try:
        result = subprocess.run(
            [npm, *_NPM_INSTALL_ARGS],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=_INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CardValidatorUnavailable(f"`npm install` of adaptivecards timed out after {exc.timeout:.0f}s") from exc
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-4000:]
        raise CardValidatorUnavailable(f"`npm install` of adaptivecards failed (exit {result.returncode}):\n" + output)


def _validate_script(folder: Path) -> Path:
    """The current validate.mjs, inside ``folder`` so it resolves node_modules.

    The install folder is keyed by package.json alone, so the script is copied
    under a name keyed by its own content: editing it needs no reinstall, and
    processes running different versions never overwrite each other's copy.
    """
    source = (_SOURCE_DIR / _VALIDATE_SCRIPT).read_bytes()
    script = folder / f"validate-{_short_hash(source)}.mjs"
    if not script.is_file():
        fd, name = tempfile.mkstemp(prefix=f".{script.name}.", dir=folder)
        partial = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(source)
            partial.chmod(0o644)
            partial.replace(script)  # atomic: readers never see a partial file
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
    return script


def validate_adaptive_cards(cards: list[dict[str, Any]]) -> list[list[str]]:
    """Validate Adaptive Cards for Teams (schema 1.5); one list of errors per card.

    Each card is checked against the version it declares (capped at 1.5, the
    highest Teams renders), with Teams' limit of 6 actions per action set. An
    empty list means the parser found nothing wrong. It reports unknown or
    too-new element/action types, properties and enum values too new for the
    declared version, invalid enum values, unsupported card versions, elements
    in the wrong place, duplicate ids, input problems and a few missing
    properties (Action.OpenUrl ``url``, Action.ShowCard ``card``, card
    ``type``/``version``). It does NOT report other missing required
    properties (TextBlock ``text``, Image ``url``, FactSet ``facts``, Fact
    ``title``/``value``...), unknown properties, wrong JSON types of string,
    number or boolean properties, malformed URLs, the content of
    Action.Submit ``data``, or non-object entries in ``body``/``actions``.

    Raises CardValidatorUnavailable if Node.js/npm are missing or the install
    fails, and RuntimeError if the validator itself fails.
    """
    if not cards:
        return []
    node = _require_tool("node", "run the adaptivecards package")
    script = _validate_script(ensure_adaptivecards())
    try:
        result = subprocess.run(
            [node, str(script)],
            input=json.dumps(cards, allow_nan=False),
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=_VALIDATE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"Adaptive Card validator timed out after {exc.timeout:.0f}s") from exc
    if result.returncode != 0:
        raise RuntimeError(
            f"Adaptive Card validator {script} failed (exit {result.returncode}):\n" + result.stderr.strip()[-4000:]
        )
    return _parse_output(result.stdout, len(cards))


def _parse_output(stdout: str, expected: int) -> list[list[str]]:
    try:
        decoded: object = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"Adaptive Card validator printed invalid JSON: {stdout[:500]!r}") from exc
    if not isinstance(decoded, list) or len(decoded) != expected:
        raise RuntimeError(f"Adaptive Card validator returned {stdout[:500]!r}, expected {expected} result(s)")
    results: list[list[str]] = []
    for entry in decoded:
        if not isinstance(entry, list) or not all(isinstance(error, str) for error in entry):
            raise RuntimeError(f"Adaptive Card validator returned a malformed entry: {entry!r}")
        results.append([str(error) for error in entry])
    return results
