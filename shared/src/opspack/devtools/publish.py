"""Publishing: which distributions of the repository are not on the package index yet.

Standard library only, so the noxfile loads it by path before anything is installed
(``nox -s publish -- --index URL [--npm-registry URL]``). A distribution is the core
(``shared/``), the test kit (``shared/testkit/``, named by the packs' ``test`` extras), each
pack (``packs/<name>/``) and the Hubot script ``hubot-opspack`` (``frontends/hubot/``, on npm).

The index the project publishes to is the ``[publish] index`` of ``publish.toml`` at the
repository's top; ``registry.json``'s install lines name it (see :func:`install_command`).
"""

from __future__ import annotations

import json
import re
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

#: the index pip uses when none is given: install lines for it need no ``--index-url``
PYPI = "https://pypi.org/simple/"
CONFIG_FILE = "publish.toml"


class PublishError(Exception):
    """The index cannot be read, or the repository's publishing settings are wrong."""


@dataclass(frozen=True)
class Distribution:
    """One thing to publish: a Python project (built with ``build``) or an npm package."""

    name: str
    version: str
    folder: Path
    kind: str  # "python" or "npm"


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that puts ``0.10.0`` after ``0.9.1`` (numbers as numbers)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+!-]", version))


def normalize(name: str) -> str:
    """The PEP 503 form of a project name (``opspack_vmware`` -> ``opspack-vmware``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def configured_index(root: Path) -> str:
    """The ``[publish] index`` of the repository's ``publish.toml`` (PyPI when absent)."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return PYPI
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("publish", {})
    except tomllib.TOMLDecodeError as exc:
        raise PublishError(f"{path}: {exc}") from exc
    index = table.get("index", PYPI)
    if not isinstance(index, str) or not index.startswith(("http://", "https://")):
        raise PublishError(f"{path}: [publish] index must be an http(s) URL of a simple index, not {index!r}")
    return index if index.endswith("/") else index + "/"


def install_command(distribution: str, version: str | None, index: str = PYPI) -> str:
    """The ``pip install`` line for one distribution from ``index``."""
    target = f"{distribution}=={version}" if version else distribution
    if index.rstrip("/") == PYPI.rstrip("/"):
        return f"pip install {target}"
    return f"pip install --index-url {index} {target}"


def distributions(root: Path) -> list[Distribution]:
    """Every distribution of the checkout at ``root``: core, test kit, packs, then hubot-opspack."""
    folders = [
        root / "shared",
        root / "shared" / "testkit",
        *sorted(p.parent for p in root.glob("packs/*/pyproject.toml")),
    ]
    found: list[Distribution] = []
    for folder in folders:
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        found.append(Distribution(str(project["name"]), str(project["version"]), folder, "python"))
    hubot = root / "frontends" / "hubot" / "package.json"
    if hubot.is_file():
        package = json.loads(hubot.read_text(encoding="utf-8"))
        found.append(Distribution(str(package["name"]), str(package["version"]), hubot.parent, "npm"))
    return found


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href") or ""
            path = urllib.parse.urlsplit(href).path
            self.files.append(urllib.parse.unquote(path.rsplit("/", 1)[-1]))


def _require_http(url: str) -> str:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PublishError(f"{url}: only http(s) indexes and registries are read")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def file_version(filename: str, name: str) -> str | None:
    """The version in a wheel's or sdist's file name of project ``name`` (None: another project's)."""
    stem = normalize(name).replace("-", "_")
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        return parts[1] if len(parts) >= 5 and normalize(parts[0]) == normalize(name) else None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            base = filename[: -len(suffix)]
            project, _, version = base.rpartition("-")
            if project and project.replace("-", "_").replace(".", "_").lower() == stem:
                return version
    return None


def index_versions(index: str, name: str, timeout: float = 30.0) -> set[str]:
    """The versions of ``name`` that the simple index ``index`` holds files of.

    A 404, or a redirect (pypiserver sends projects it does not hold to its fallback), is
    "none"; any other failure raises :class:`PublishError`."""
    url = urllib.parse.urljoin(index if index.endswith("/") else index + "/", normalize(name) + "/")
    opener = urllib.request.build_opener(_NoRedirect)
    _require_http(url)
    request = urllib.request.Request(url, headers={"Accept": "text/html"})  # noqa: S310 - http(s) only, checked
    try:
        with opener.open(request, timeout=timeout) as answer:
            page = answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        if exc.code in (301, 302, 303, 307, 308, 404):
            return set()
        raise PublishError(f"{url}: HTTP {exc.code}") from exc
    except (OSError, urllib.error.URLError) as exc:
        raise PublishError(f"{url}: {exc}") from exc
    links = _Links()
    links.feed(page)
    return {v for f in links.files if (v := file_version(f, name)) is not None}


def npm_versions(registry: str, name: str, timeout: float = 30.0) -> set[str]:
    """The versions of the npm package ``name`` on ``registry`` (a 404 is none)."""
    url = urllib.parse.urljoin(
        registry if registry.endswith("/") else registry + "/", urllib.parse.quote(name, safe="@")
    )
    try:
        with urllib.request.urlopen(_require_http(url), timeout=timeout) as answer:  # noqa: S310 - http(s) only
            document = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return set()
        raise PublishError(f"{url}: HTTP {exc.code}") from exc
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise PublishError(f"{url}: {exc}") from exc
    return set(document.get("versions", {}))


def pending(root: Path, index: str, npm_registry: str | None) -> list[Distribution]:
    """The distributions whose version is not on the index (or npm registry) yet.

    Without ``npm_registry`` the npm package is left out."""
    todo: list[Distribution] = []
    for dist in distributions(root):
        if dist.kind == "npm":
            if npm_registry is not None and dist.version not in npm_versions(npm_registry, dist.name):
                todo.append(dist)
        elif dist.version not in index_versions(index, dist.name):
            todo.append(dist)
    return todo


def upload_url(index: str) -> str:
    """Where twine uploads for a simple index: PyPI's upload address for PyPI, else the index
    without its ``simple/`` (pypiserver, devpi and most mirrors take uploads there)."""
    if index.rstrip("/") == PYPI.rstrip("/"):
        return "https://upload.pypi.org/legacy/"
    base = index.rstrip("/")
    return (base[: -len("/simple")] if base.endswith("/simple") else base) + "/"


def core_floor(pyproject: Path) -> str:
    """The oldest core version a pack claims: X of its ``opspack>=X`` dependency."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    for requirement in project.get("dependencies", []):
        found = re.fullmatch(r"\s*opspack\s*(\[[^\]]*\])?\s*(?P<spec>[^;]*)", str(requirement))
        if found:
            floor = re.search(r">=\s*([0-9][0-9A-Za-z.+-]*)", found.group("spec"))
            if floor:
                return floor.group(1)
    raise PublishError(f"{pyproject}: no opspack>=X among its dependencies")


def _git(root: Path, *args: str) -> str:
    import subprocess

    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PublishError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _release_tuple(version: str) -> tuple[int, ...]:
    """``0.2`` and ``0.2.0`` alike: the numeric release parts without trailing zeros."""
    parts = [int(p) for p in re.findall(r"\d+", version.split("+")[0])]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def core_commit(root: Path, version: str) -> str:
    """The commit holding core ``version``: the last commit on the first-parent history whose
    ``shared/pyproject.toml`` has that version, just before the core moved on to another.

    A change to the core bumps its version (CONTRIBUTING.md), so that commit holds what was
    released as ``version``; the repository's history is the source, so the oldest claimed
    core is built without asking any index for ``opspack``."""
    wanted = _release_tuple(version)
    log = _git(root, "log", "--first-parent", "--format=%H", "--", "shared/pyproject.toml")
    head = _git(root, "rev-parse", "HEAD").strip()
    later = head  # the newest commit is the end of the newest version's run
    for commit in log.split():
        text = _git(root, "show", f"{commit}:shared/pyproject.toml")
        found = str(tomllib.loads(text).get("project", {}).get("version", ""))
        if _release_tuple(found) == wanted:
            return later if later == head else _git(root, "rev-parse", f"{later}^1").strip()
        later = commit
    raise PublishError(f"no commit of the history has the core at version {version} (a shallow clone?)")


def same_core(root: Path, commit: str) -> bool:
    """Whether the core at ``commit`` is the checkout's own: the same ``shared/src`` and
    ``shared/pyproject.toml``, with no uncommitted change to them. Testing a pack against it
    again adds nothing to its ``tests`` session."""
    import subprocess

    parts = ("shared/src", "shared/pyproject.toml")
    if _git(root, "ls-tree", commit, *parts) != _git(root, "ls-tree", "HEAD", *parts):
        return False
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *parts], cwd=root, check=False)
    return dirty.returncode == 0


def export_core(root: Path, commit: str, target: Path) -> Path:
    """Write the core's folder (``shared/`` without its test kit) at ``commit`` into ``target``;
    returns the folder to ``pip install``."""
    import io
    import subprocess
    import tarfile

    proc = subprocess.run(
        ["git", "archive", "--format=tar", commit, "shared"], cwd=root, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise PublishError(f"git archive {commit}: {proc.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as archive:
        members = [m for m in archive.getmembers() if not m.name.startswith("shared/testkit/")]
        archive.extractall(target, members=members, filter="data")
    return target / "shared"
