"""Everything the repository runs: lint, types, each pack's tests, the registry, docs, demo.

Plain ``nox`` runs what CI runs. Packs are discovered from ``packs/*/pyproject.toml``;
each pack's tests run in a virtualenv holding only the core, the test kit (shared/testkit/)
and that pack, so an undeclared dependency fails there: ``nox -s "tests(server)" -- -k cert``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
#: The core with the extras its front-ends need (opspack serve, mcp, slack).
CORE_ALL = "shared[serve,mcp,slack,postgres,celery]"
#: The test kit (opspack-testkit, shared/testkit/), editable. Packs' `test` extras name it
#: without a path: it goes in the same install as them, so the resolver takes this copy
#: and never asks the index for it.
TESTKIT = ["-e", "shared/testkit"]
#: Front-end clients tested in tests/frontends that are not core extras (httpx: starlette's TestClient).
FRONTEND_CLIENTS = ["errbot>=6.2,<7", "schemathesis>=4,<5", "httpx>=0.27"]
#: The loopback package index tests/frontends/test_publish.py uploads to (pypiserver).
INDEX_SERVER = ["pypiserver>=2.3,<3"]
PACKS = sorted(p.parent.name for p in ROOT.glob("packs/*/pyproject.toml"))
PYTHON = os.environ.get("OPSPACK_NOX_PYTHON") or None

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "registry", "command_tests", "tests", "oldest_core", "integration", "docs"]


def _release(tool: str = "release") -> object:
    """shared/src/opspack/devtools/<tool>.py (release, tested), loaded by path: it needs only
    the standard library."""
    import importlib.util

    name = f"_opspack_{tool}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "shared" / "src" / "opspack" / "devtools" / f"{tool}.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


#: OPSPACK_CHANGED_SINCE=<base-ref> limits `tests` to what a change against that ref touches
#: (everything when shared/, noxfile.py or .ci/ changed): the fast CI path.
TEST_TARGETS = ["core", "testkit", *PACKS]
if os.environ.get("OPSPACK_CHANGED_SINCE"):
    _touched = set(_release().targets_for(ROOT, os.environ["OPSPACK_CHANGED_SINCE"]))  # type: ignore[attr-defined]
    TEST_TARGETS = [t for t in TEST_TARGETS if t in _touched] or ["core"]


def _pytest(session: nox.Session, *paths: str) -> None:
    """Run pytest; "no tests collected" (exit 5) is a failure, as in CI."""
    session.run("pytest", "-q", "-p", "no:cacheprovider", *paths, *session.posargs)


def _pack_extras(name: str) -> str:
    import tomllib

    data = tomllib.loads((ROOT / "packs" / name / "pyproject.toml").read_text())
    extras = data.get("project", {}).get("optional-dependencies", {})
    return f"[{','.join(sorted(extras))}]" if extras else ""


def _pack_args(*names: str) -> list[str]:
    """``pip install`` arguments for these packs: editable, with every extra they declare."""
    return [arg for name in names for arg in ("-e", f"packs/{name}{_pack_extras(name)}")]


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
    """mypy (strict) on the core, the test kit and every pack."""
    session.install("mypy==2.4.1", "-e", CORE_ALL, *TESTKIT, *_pack_args(*PACKS))
    session.run("mypy", "shared/src", "shared/testkit/src", *[f"packs/{n}/src" for n in PACKS])


@nox.session(python=PYTHON)
@nox.parametrize("target", TEST_TARGETS, ids=TEST_TARGETS)
def tests(session: nox.Session, target: str) -> None:
    """The tests of the core, of the test kit, or of one pack in a virtualenv with only the
    core, the test kit and that pack."""
    if target == "core":
        # vault: references read from a real OpenBao; the audit trail on a real PostgreSQL;
        # celery: jobs on real `opspack worker` processes over a real Redis
        session.install("-e", "shared[vault,postgres,celery]", "-e", "shared/testkit[openbao]")
        _pytest(session, "shared/tests")
        return
    if target == "testkit":
        session.install("-e", "shared", *TESTKIT)
        _pytest(session, "shared/testkit/tests")
        return
    session.install("-e", "shared", *TESTKIT, *_pack_args(target))
    _pack_test_installs(session, target)
    _pytest(session, f"packs/{target}/tests")


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Cross-pack tests (tests/): every pack installed, the command line, the demo console,
    and the front-ends (tests/frontends: opspack serve, MCP, Hubot from npm, Errbot, Slack, Teams),
    and a pack made by `opspack new-pack` passing its own nox session (so nox is installed)."""
    session.install("-e", CORE_ALL, *TESTKIT, *FRONTEND_CLIENTS, *INDEX_SERVER, "nox", "uv", *_pack_args(*PACKS))
    for name in PACKS:
        _pack_test_installs(session, name)
    _pytest(session, "tests")


def _third_party(requirements: list[str], testkit_extras: dict[str, list[str]]) -> list[str]:
    """The requirements that are not opspack's own distributions (installed from the checkout),
    with those of the test kit's extras that a requirement names (``opspack-testkit[openbao]``)."""
    from packaging.requirements import Requirement

    found: list[str] = []
    for text in requirements:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        if name == "opspack-testkit":
            found += _third_party([r for e in sorted(requirement.extras) for r in testkit_extras.get(e, [])], {})
        elif not name.startswith("opspack"):
            found.append(text)
    return found


@nox.session(python=PYTHON)
@nox.parametrize("pack", PACKS, ids=PACKS)
def oldest_core(session: nox.Session, pack: str) -> None:
    """A pack's tests against the oldest core it claims (X of its `opspack>=X`), the core built
    from the git history at the commit that released X (no index is asked for opspack);
    the test kit and the pack are this checkout's."""
    import tempfile
    import tomllib

    publishing = _publishing()
    pyproject = ROOT / "packs" / pack / "pyproject.toml"
    floor = publishing.core_floor(pyproject)  # type: ignore[attr-defined]
    commit = publishing.core_commit(ROOT, floor)  # type: ignore[attr-defined]
    if publishing.same_core(ROOT, commit):  # type: ignore[attr-defined]
        session.log(f"{pack} claims opspack>={floor}, this checkout's own core: tests({pack}) runs against it")
        session.skip(f"the oldest core {pack} claims is this checkout's; nothing older to test")
    session.log(f"{pack} claims opspack>={floor}: the core as released in {commit[:12]}")
    with tempfile.TemporaryDirectory(prefix="opspack-core-") as tmp:
        core = publishing.export_core(ROOT, commit, Path(tmp))  # type: ignore[attr-defined]
        # a fresh install each run: the session's virtualenv may hold another core
        session.install("--reinstall-package", "opspack", str(core))
    testkit = tomllib.loads((ROOT / "shared" / "testkit" / "pyproject.toml").read_text())["project"]
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    third_party = _third_party(
        [*testkit["dependencies"], *project["dependencies"], *[r for reqs in extras.values() for r in reqs]],
        testkit.get("optional-dependencies", {}),
    )
    session.install(*third_party)
    session.install("--no-deps", "-e", "shared/testkit", "-e", f"packs/{pack}")
    _pack_test_installs(session, pack)
    installed = session.run("python", "-c", "import importlib.metadata as m; print(m.version('opspack'))", silent=True)
    if str(installed).strip() != floor and publishing._release_tuple(str(installed)) != publishing._release_tuple(
        floor
    ):  # type: ignore[attr-defined]
        session.error(f"the core installed is {str(installed).strip()}, not {floor}")
    _pytest(session, f"packs/{pack}/tests")


@nox.session(python=PYTHON)
def registry(session: nox.Session) -> None:
    """registry.json and each pack's opspack-pack.json are up to date and valid, and the
    docs' example policy loads and matches real commands of it."""
    session.install("-e", "shared", *TESTKIT)
    session.run("opspack", "registry", "check")
    session.run("opspack", "--registry", "registry.json", "policy", "check", "docs/examples/policy.toml")
    session.run(
        "python",
        "-c",
        "import json; from opspack_testkit.validate import validate_registry; "
        "validate_registry(json.load(open('registry.json'))); print('registry.json matches its schema')",
    )


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Speed and memory figures (dispatch overhead, registry load, the runner); prints a report."""
    # nox, uv and mypy: bench_newcomer.py times a contributor's path, gates included
    session.install("-e", "shared[serve,celery]", *TESTKIT, *_pack_args(*PACKS), "nox", "uv", "mypy==2.4.1")
    for name in PACKS:
        _pack_test_installs(session, name)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script.relative_to(ROOT)), *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The chat console with every pack installed: type `help`, then `server test localhost`.

    First what the demo's services need (scripts/install-test-deps.sh --demo: PostgreSQL,
    Go and govmomi for vcsim, Redis; through sudo when not root); what cannot be installed is
    skipped, and the demo names the service that could not start."""
    # the test kit starts the demo's simulators (vcsim, OpenBao, PostgreSQL, switches)
    session.run("bash", str(ROOT / "scripts" / "install-test-deps.sh"), "--demo", external=True)
    session.install("-e", "shared[vault,celery]", "-e", "shared/testkit[openbao]", *_pack_args(*PACKS))
    for name in PACKS:
        _pack_test_installs(session, name)
    session.run("python", "scripts/demo.py", *session.posargs)


def _base(session: nox.Session) -> str:
    if session.posargs:
        return str(session.posargs[0])
    return os.environ.get("OPSPACK_BASE", "origin/main")


@nox.session(python=False)
def changed(session: nox.Session) -> None:
    """The fast CI path: `nox -s changed -- <base-ref>` tests only the packs a change touches
    (everything when shared/, noxfile.py or .ci/ changed), then checks the registry, that every
    command has a test, and the release rules (versions, fragments) against the same base."""
    base = _base(session)
    targets = _release().targets_for(ROOT, base)  # type: ignore[attr-defined]
    session.log(f"changed against {base}: {', '.join(targets) or 'no pack or core files'}")
    for target in targets:
        session.notify(f"tests({target})", posargs=[])
    session.notify("registry", posargs=[])
    session.notify("command_tests", posargs=[])
    session.notify("release_check", posargs=[base])


@nox.session(python=False)
def command_tests(session: nox.Session) -> None:
    """Every command in registry.json is invoked by a test (its chat words or its id in a test of
    its pack: packs/<name>/tests/, the core's shared/tests/); fails naming each command that is
    not, and where its test goes."""
    problems = _release("tested").problems(ROOT)  # type: ignore[attr-defined]
    for problem in problems:
        session.warn(problem)
    if problems:
        session.error(f"{len(problems)} command(s) without a test that invokes them")
    session.log("every command in registry.json is invoked by a test")


@nox.session(python=False)
def release_check(session: nox.Session) -> None:
    """`nox -s release_check -- <base-ref>`: each changed pack (and the core) bumped its version
    in its pyproject.toml and added a fragment to its changes/ (a new pack needs neither), and
    registry.json has every pack's version; fails naming the pack and the fix."""
    base = _base(session)
    release = _release()
    try:
        problems, notes = release.report(ROOT, base)  # type: ignore[attr-defined]
    except release.ReleaseError as exc:  # type: ignore[attr-defined]
        session.error(str(exc))
    for problem in problems:
        session.warn(problem)
    if problems:
        session.error(f"{len(problems)} release problem(s) against {base}")
    for note in notes:
        session.log(note)
    session.log(f"release check passed against {base}")


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """A wheel and an sdist for the core, the test kit and each pack into dist/; each wheel must
    carry the LICENSE and the core's wheel no test code; then each pack's wheel is installed
    alone (with the core's wheel) in a clean virtualenv and must list its commands."""
    import json
    import shutil
    import tempfile
    import zipfile

    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.install("build")
    for folder in ["shared", "shared/testkit", *[f"packs/{n}" for n in PACKS]]:
        session.run("python", "-m", "build", "--installer", "uv", "--outdir", str(dist), folder, silent=True)
    license_text = (ROOT / "LICENSE").read_bytes()
    for built in sorted(dist.glob("*.whl")):
        with zipfile.ZipFile(built) as whl:
            shipped = [n for n in whl.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
            if len(shipped) != 1 or whl.read(shipped[0]) != license_text:
                session.error(f"{built.name} does not carry the project's LICENSE in its .dist-info/licenses/")
    core_wheel = next(dist.glob("opspack-*.whl"))
    with zipfile.ZipFile(core_wheel) as wheel_zip:
        names = wheel_zip.namelist()
        entry_points = "".join(wheel_zip.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    test_code = [n for n in names if n.startswith(("opspack/testing/", "opspack_testkit/"))]
    if test_code or "[pytest11]" in entry_points:
        session.error(f"{core_wheel.name} carries test code or a pytest plugin: {test_code or 'pytest11'}")
    registry = json.loads((ROOT / "registry.json").read_text())
    for name in PACKS:
        wheel = next(dist.glob(f"opspack_{name}-*.whl"))
        expected = sorted(c["id"] for c in registry["commands"] if c["pack"]["name"] == name)
        with tempfile.TemporaryDirectory(prefix=f"opspack-{name}-") as tmp:
            venv = Path(tmp) / "venv"
            session.run("uv", "venv", "--quiet", "--python", sys.executable, str(venv), external=True)
            py = str(venv / "bin" / "python")
            session.run("uv", "pip", "install", "--quiet", "--python", py, str(core_wheel), str(wheel), external=True)
            listed = session.run(
                str(venv / "bin" / "opspack"), "list", "--pack", name, "--json", external=True, silent=True
            )
            ids = sorted(e["id"] for e in json.loads(str(listed)))
            if ids != expected:
                session.error(f"{wheel.name} alone lists {ids}, the registry has {expected}")
            session.log(f"{wheel.name}: installs alone and lists its {len(ids)} commands")


def _publishing() -> object:
    """shared/src/opspack/devtools/publish.py, loaded by path: it needs only the standard library."""
    import importlib.util

    name = "_opspack_publish"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "shared" / "src" / "opspack" / "devtools" / "publish.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@nox.session(python=PYTHON)
def publish(session: nox.Session) -> None:
    """`nox -s publish -- [--index URL] [--npm-registry URL]`: build every distribution whose
    version is not on the index yet (the core, the test kit, each pack) and upload it with twine
    (credentials as twine reads them: TWINE_USERNAME/TWINE_PASSWORD, ~/.pypirc); with
    --npm-registry, hubot-opspack too with `npm publish` (credentials from npm's config).
    The index defaults to `[publish] index` of publish.toml."""
    import argparse
    import tempfile

    publishing = _publishing()
    parser = argparse.ArgumentParser(prog="nox -s publish --")
    parser.add_argument("--index", default=publishing.configured_index(ROOT), help="the simple index URL")  # type: ignore[attr-defined]
    parser.add_argument("--upload-url", help="twine's --repository-url (default: the index without simple/)")
    parser.add_argument("--npm-registry", help="publish hubot-opspack to this npm registry too")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be published")
    args = parser.parse_args(session.posargs)
    todo = publishing.pending(ROOT, args.index, args.npm_registry)  # type: ignore[attr-defined]
    if not todo:
        session.log(f"everything is on {args.index} already")
        return
    session.log("to publish: " + ", ".join(f"{d.name} {d.version}" for d in todo))
    if args.dry_run:
        return
    python = [d for d in todo if d.kind == "python"]
    if python:
        session.install("build", "twine")
    with tempfile.TemporaryDirectory(prefix="opspack-publish-") as tmp:
        for dist in python:
            out = Path(tmp) / dist.name
            session.run(
                "python", "-m", "build", "--installer", "uv", "--outdir", str(out), str(dist.folder), silent=True
            )
            files = sorted(str(f) for f in out.iterdir())
            session.run("twine", "check", "--strict", *files)
            upload = args.upload_url or publishing.upload_url(args.index)  # type: ignore[attr-defined]
            session.run("twine", "upload", "--non-interactive", "--repository-url", upload, *files)
        for dist in todo:
            if dist.kind == "npm":
                session.run(
                    "npm", "publish", "--registry", args.npm_registry, "--no-audit", str(dist.folder), external=True
                )
    session.log("published: " + ", ".join(f"{d.name} {d.version}" for d in todo))


@nox.session(python=PYTHON)
def changelog(session: nox.Session) -> None:
    """`nox -s changelog -- <pack|core|testkit> [--draft]`: towncrier assembles the fragments in
    changes/ into CHANGELOG.md under the version in the pack's pyproject.toml."""
    import tomllib

    if not session.posargs:
        session.error("usage: nox -s changelog -- <pack|core|testkit> [--draft]")
    name = session.posargs[0]
    folder = ROOT / {"core": "shared", "testkit": "shared/testkit"}.get(name, f"packs/{name}")
    if not (folder / "pyproject.toml").is_file():
        session.error(f"no pack named {name}")
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    session.install("towncrier==26.9.0")
    session.run(
        "towncrier",
        "build",
        "--config",
        str(ROOT / "towncrier.toml"),
        "--dir",
        str(folder),
        "--name",
        project["name"],
        "--version",
        project["version"],
        *(["--draft"] if "--draft" in session.posargs else ["--yes"]),
    )


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The docs site (mkdocs, material theme): the command reference is generated from
    registry.json, then `mkdocs build --strict` (warnings are errors) writes site/."""
    session.install("-e", "shared", "mkdocs==1.6.1", "mkdocs-material==9.8.2")
    session.run("python", "-m", "opspack.devtools.docsgen", "registry.json", "docs/reference")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
