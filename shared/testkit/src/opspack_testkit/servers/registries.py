"""Package registries on loopback: pypiserver (Python) and verdaccio (npm), for publishing tests.

::

    with PypiServer() as index:                  # pypi-server on a free loopback port
        index.upload_url                         # http://127.0.0.1:PORT/  (twine --repository-url)
        index.simple_url                         # http://127.0.0.1:PORT/simple/  (pip --index-url)

    with Verdaccio() as npm:                     # verdaccio 6.8, no uplinks: nothing leaves the machine
        npm.url                                  # http://127.0.0.1:PORT/  (npm --registry)
        token = npm.add_user("ci", "secret")     # what `npm adduser` does; the token npm publishes with

pypiserver accepts uploads without a password (``-P . -a .``) and keeps the packages in its
temporary folder. A package it does not hold is answered with a redirect to PyPI (its
default fallback), as a team's mirror would, so ``pip install --index-url`` finds the
third-party dependencies of the packages uploaded to it.

The pypiserver command is ``pypi-server`` next to the running Python (``pip install
pypiserver``). verdaccio is installed once with npm into
``$OPSPACK_CACHE/verdaccio-<version>`` (default ``~/.cache/opspack``); CI does it up front::

    python -c "from opspack_testkit.servers.registries import ensure_verdaccio as e; print(e())"
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = [
    "VERDACCIO_VERSION",
    "PypiServer",
    "RegistryError",
    "RegistryUnavailable",
    "Verdaccio",
    "ensure_verdaccio",
    "pypiserver_binary",
]

#: 6.8 runs on Debian 12's Node 20 (6.10 wants Node 22)
VERDACCIO_VERSION = "6.8.0"


class RegistryUnavailable(RuntimeError):
    """pypiserver or verdaccio (or Node.js/npm to install it) is missing."""


class RegistryError(ServerError):
    """The registry did not start, or a request to it failed."""


def _cache_root() -> Path:
    configured = os.environ.get("OPSPACK_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "opspack"


def pypiserver_binary() -> Path:
    """``pypi-server`` next to the running Python, else the one on ``PATH``."""
    beside = Path(sys.executable).with_name("pypi-server")
    if beside.is_file():
        return beside
    found = shutil.which("pypi-server")
    if not found:
        raise RegistryUnavailable("pypi-server is not installed; install: pip install pypiserver")
    return Path(found)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - http://127.0.0.1 only
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class PypiServer(ManagedProcess):
    """A running pypiserver on loopback that takes uploads without a password."""

    name = "pypiserver"
    error = RegistryError

    def __init__(self, *, start_timeout: float = 60.0) -> None:
        super().__init__(start_timeout=start_timeout)
        self.binary: Path | None = None

    def prepare(self) -> None:
        """Find ``pypi-server`` and make the packages folder."""
        self.binary = pypiserver_binary()
        (self.workdir / "packages").mkdir()

    def command(self) -> list[str]:
        """``pypi-server run`` on :attr:`port`, uploads allowed to anyone."""
        assert self.binary is not None
        return [str(self.binary), "run", "-p", str(self.port), "-i", self.host, "-P", ".", "-a", ".", "packages"]

    def ready(self) -> bool:
        """The simple index answers."""
        return _http_ok(self.simple_url)

    @property
    def upload_url(self) -> str:
        """Where twine uploads (``--repository-url``)."""
        return f"http://{self.host}:{self.port}/"

    @property
    def simple_url(self) -> str:
        """The simple index pip installs from (``--index-url``)."""
        return f"http://{self.host}:{self.port}/simple/"

    def files(self) -> list[str]:
        """The names of the files uploaded so far."""
        return sorted(p.name for p in (self.workdir / "packages").iterdir())


def ensure_verdaccio() -> Path:
    """Install verdaccio (once) into the cache and return its executable."""
    target = _cache_root() / f"verdaccio-{VERDACCIO_VERSION}"
    binary = target / "node_modules" / ".bin" / "verdaccio"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RegistryUnavailable("Node.js and npm are needed to install verdaccio")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        package = {"name": "opspack-verdaccio", "private": True, "dependencies": {"verdaccio": VERDACCIO_VERSION}}
        (staging / "package.json").write_text(json.dumps(package), encoding="utf-8")
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
            cwd=staging,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            raise RegistryUnavailable(f"npm install verdaccio failed: {(proc.stderr or proc.stdout)[-2000:]}")
        try:
            staging.rename(target)
        except OSError:
            if not binary.exists():  # another process won the race when it exists
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


class Verdaccio(ManagedProcess):
    """A running verdaccio on loopback with no uplinks; users are added with :meth:`add_user`."""

    name = "verdaccio"
    error = RegistryError

    def __init__(self, *, start_timeout: float = 90.0) -> None:
        super().__init__(start_timeout=start_timeout)
        self.binary: Path | None = None

    def prepare(self) -> None:
        """Install verdaccio if needed and write its configuration (storage in the folder)."""
        self.binary = ensure_verdaccio()
        config = "\n".join(
            [
                f"storage: {self.workdir / 'storage'}",
                "auth:",
                "  htpasswd:",
                f"    file: {self.workdir / 'htpasswd'}",
                "    max_users: 100",
                "uplinks: {}",
                "packages:",
                "  '**':",
                "    access: $all",
                "    publish: $authenticated",
                "listen:",
                f"  - {self.host}:{self.port}",
                "log: {type: stdout, format: pretty, level: warn}",
                "",
            ]
        )
        (self.workdir / "config.yaml").write_text(config, encoding="utf-8")

    def command(self) -> list[str]:
        """``verdaccio --config config.yaml``."""
        assert self.binary is not None
        return [str(self.binary), "--config", str(self.workdir / "config.yaml")]

    def ready(self) -> bool:
        """The ping endpoint answers."""
        return _http_ok(self.url + "-/ping")

    @property
    def url(self) -> str:
        """The registry's address (``npm --registry``)."""
        return f"http://{self.host}:{self.port}/"

    def add_user(self, name: str, password: str) -> str:
        """Create a user the way ``npm adduser`` does; returns its token."""
        body = json.dumps({"name": name, "password": password, "type": "user", "roles": []}).encode()
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            f"{self.url}-/user/org.couchdb.user:{name}",
            data=body,
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                token = json.loads(answer.read()).get("token")
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise RegistryError(f"adding user {name}: {exc}") from exc
        if not isinstance(token, str) or not token:
            raise RegistryError(f"adding user {name}: no token in the answer")
        return token

    def npmrc(self, token: str) -> str:
        """An ``.npmrc`` that sends ``token`` to this registry."""
        return f"//{self.host}:{self.port}/:_authToken={token}\n"
