"""Publishing and installing from an index, as a team adopting opspack would, on loopback
registries the tests start: `nox -s publish` uploads every distribution to a real pypiserver
and hubot-opspack to a real verdaccio 6.8; then an empty virtualenv installs one pack from
that index and runs it, and an empty npm folder installs hubot-opspack and runs it in Hubot.

Slow (nox builds every distribution): integration only. pypiserver answers projects it does
not hold (pydantic, pyvmomi ...) with a redirect to PyPI, as a team's mirror does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from frontend_helpers import Runner, child_env, listening
from opspack_testkit import free_port, need
from opspack_testkit.servers.registries import PypiServer, RegistryUnavailable, Verdaccio
from test_hubot import ensure_hubot

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Published:
    index: PypiServer
    npm: Verdaccio
    npmrc: Path
    output: str


def clean_env(**extra: str) -> dict[str, str]:
    """No pip or npm settings of this machine's (a team's clean machine), no virtualenv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "NPM_CONFIG_", "npm_config_", "UV_", "OPSPACK_")) and k != "VIRTUAL_ENV"
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    if os.environ.get("OPSPACK_CACHE"):
        env["OPSPACK_CACHE"] = os.environ["OPSPACK_CACHE"]
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def nox(*args: str, env: dict[str, str], timeout: float = 1500) -> str:
    return run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *args], ROOT, env, timeout)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    need(shutil.which("npm") is not None and shutil.which("node") is not None, "Node.js and npm are not installed")
    try:
        index, npm = PypiServer(), Verdaccio()
    except RegistryUnavailable as exc:  # pragma: no cover - depends on the machine
        need(False, str(exc))
        raise
    folder = tmp_path_factory.mktemp("publish")
    with index, npm:
        npmrc = folder / "publisher.npmrc"
        npmrc.write_text(npm.npmrc(npm.add_user("release", "release-secret")), encoding="utf-8")
        env = clean_env(TWINE_USERNAME="release", TWINE_PASSWORD="unused", NPM_CONFIG_USERCONFIG=str(npmrc))
        out = nox("-s", "publish", "--", "--index", index.simple_url, "--npm-registry", npm.url, env=env)
        yield Published(index, npm, npmrc, out)


def venv(folder: Path) -> Path:
    run([sys.executable, "-m", "venv", str(folder)], folder.parent, clean_env(), timeout=300)
    return folder / "bin"


@pytest.mark.slow
def test_publish_uploads_every_distribution_once(published: Published) -> None:
    files = published.index.files()
    for folder in [
        "shared",
        "shared/testkit",
        *sorted(str(p.parent.relative_to(ROOT)) for p in ROOT.glob("packs/*/pyproject.toml")),
    ]:
        text = (ROOT / folder / "pyproject.toml").read_text()
        name = re.search(r'^name = "([^"]+)"', text, re.M)
        version = re.search(r'^version = "([^"]+)"', text, re.M)
        assert name and version
        stem = name.group(1).replace("-", "_")
        assert f"{stem}-{version.group(1)}-py3-none-any.whl" in files, files
        assert f"{stem}-{version.group(1)}.tar.gz" in files, files
    # a second run finds every version there and builds nothing
    env = clean_env(NPM_CONFIG_USERCONFIG=str(published.npmrc))
    again = nox(
        "-s", "publish", "--", "--index", published.index.simple_url, "--npm-registry", published.npm.url, env=env
    )
    assert "everything is on" in again


@pytest.mark.slow
def test_one_pack_from_the_index_in_an_empty_venv(published: Published, tmp_path: Path) -> None:
    bin_dir = venv(tmp_path / "venv")
    env = clean_env()
    run(
        [str(bin_dir / "pip"), "install", "-q", "--index-url", published.index.simple_url, "opspack-vmware"],
        tmp_path,
        env,
    )
    listing = subprocess.run(
        [str(bin_dir / "pip"), "list", "--format", "json"], env=env, capture_output=True, text=True, check=True
    )
    installed = json.loads(listing.stdout)
    names = {p["name"].lower().replace("_", "-") for p in installed}
    assert {n for n in names if n.startswith("opspack")} == {"opspack", "opspack-vmware"}
    assert "pyvmomi" in names
    # the core's and pyvmomi's own dependencies only: no other pack's client library
    assert not names & {"hvac", "python-gitlab", "python-jenkins", "netmiko", "requests-toolbelt"}
    listed = json.loads(run([str(bin_dir / "opspack"), "list", "--pack", "vmware", "--json"], tmp_path, env))
    registry = json.loads((ROOT / "registry.json").read_text())
    assert sorted(e["id"] for e in listed) == sorted(
        c["id"] for c in registry["commands"] if c["pack"]["name"] == "vmware"
    )
    assert "vm list" in run([str(bin_dir / "opspack"), "list"], tmp_path, env)


@pytest.mark.slow
def test_hubot_opspack_from_the_npm_registry(published: Published, runner: Runner, tmp_path: Path) -> None:
    home = ensure_hubot()
    project = tmp_path / "bot"
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": "our-bot", "private": True, "type": "module"}))
    empty_rc = tmp_path / "empty.npmrc"
    empty_rc.write_text("")
    # hubot itself is not on this registry (no uplinks): Hubot comes from the test's cache, so
    # npm is told not to fetch the peer dependency
    run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--legacy-peer-deps",
            "--registry",
            published.npm.url,
            "hubot-opspack",
        ],
        project,
        clean_env(NPM_CONFIG_USERCONFIG=str(empty_rc), NPM_CONFIG_CACHE=str(tmp_path / "npm-cache")),
    )
    package = json.loads((ROOT / "frontends" / "hubot" / "package.json").read_text())
    installed = json.loads((project / "node_modules" / "hubot-opspack" / "package.json").read_text())
    assert installed["version"] == package["version"]
    proc = subprocess.run(
        [
            str(home / "node_modules" / ".bin" / "hubot"),
            "-d",
            "-e",
            "echo steps --count 2 --pause 0.1",
            "-r",
            str(project / "node_modules" / "hubot-opspack" / "scripts"),
        ],
        cwd=project,
        env=child_env(OPSPACK_URL=runner.url, OPSPACK_TOKEN=runner.token),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out
    assert "2 steps done" in re.sub(r"\x1b\[[0-9;]*m", "", out), out


TOKEN = "tok-admin"


def call(url: str, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            data: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        data = json.loads(exc.read())
        data["status"] = exc.code
    return data


def ids_of(url: str, pack: str) -> list[str]:
    return sorted(c["id"] for c in call(url, "/registry?user=ops")["commands"] if c["pack"]["name"] == pack)


@contextlib.contextmanager
def venv_runner(bin_dir: Path, folder: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`opspack serve` of that virtualenv on a free port, run from a folder holding no checkout."""
    port = free_port()
    log = folder / "serve.log"
    command = [str(bin_dir / "opspack"), "serve", "--port", str(port), "--no-access-log"]
    environ = clean_env(OPSPACK_SERVE_TOKENS=TOKEN, OPSPACK_AUDIT_URL=f"sqlite:///{folder / 'audit.db'}", **env)
    try:
        with listening(command, port=port, log=log, env=environ, cwd=folder, timeout=60) as proc:
            yield f"http://127.0.0.1:{port}", proc
    finally:
        print(log.read_text()[-3000:])


@pytest.mark.slow
def test_second_pack_next_to_a_running_runner(published: Published, tmp_path: Path, open_port: int) -> None:
    """Install from the index, start the runner, install a second pack next to it: its
    commands run without a restart (POST /admin/reload, then the periodic check)."""
    bin_dir = venv(tmp_path / "venv")
    env = clean_env()
    pip = [str(bin_dir / "pip"), "install", "-q", "--index-url", published.index.simple_url]
    run([*pip, "opspack[serve]", "opspack-vmware"], tmp_path, env)
    home = tmp_path / "home"
    home.mkdir()
    with venv_runner(bin_dir, home, OPSPACK_SERVE_RELOAD_S="0") as (url, proc):
        assert ids_of(url, "vmware") and not ids_of(url, "server")
        run([*pip, "opspack-server"], tmp_path, env)
        assert not ids_of(url, "server")  # no periodic check: nothing changes by itself
        reply = call(url, "/admin/reload", {"user": "ops"})
        assert reply["ok"], reply
        server_version = version_of("packs/server")
        assert f"Reloaded: +server {server_version}" in json.dumps(reply), reply
        assert ids_of(url, "server")
        args = {"host": "127.0.0.1", "ports": [open_port]}
        answer = call(url, "/invoke", {"command": "server.host.test", "args": args, "user": "ops"})
        assert answer["ok"], answer
        # whats-new with no checkout: the runner's snapshots say exactly what the reload added
        for since in ("last-reload", "7d"):
            news = call(url, "/invoke", {"command": "core.whats_new.show", "args": {"since": since}, "user": "ops"})
            assert news["ok"], news
            rows = news["results"][0]["rows"]
            assert {r[0] for r in rows} == {"added"} and {r[3] for r in rows} == {f"server {server_version}"}
            assert len(rows) == len(ids_of(url, "server"))
        # removed next to the runner, then SIGHUP: its commands are gone
        run([str(bin_dir / "pip"), "uninstall", "-q", "-y", "opspack-server"], tmp_path, env)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: not ids_of(url, "server"))
        assert ids_of(url, "vmware")
    # the periodic check ([serve] reload_s) finds a pack installed with nobody asking
    with venv_runner(bin_dir, home, OPSPACK_SERVE_RELOAD_S="1") as (url, proc):
        assert not ids_of(url, "server")
        run([*pip, "opspack-server"], tmp_path, env)
        wait_until(lambda: bool(ids_of(url, "server")))
        answer = call(url, "/invoke", {"command": "server.host.test", "args": args, "user": "ops"})
        assert answer["ok"], answer
    # from chat: `packs` lists, `packs install` installs from the configured index after a confirmation
    with venv_runner(bin_dir, home, OPSPACK_SERVE_RELOAD_S="0", OPSPACK_CORE_INDEX=published.index.simple_url) as (
        url,
        proc,
    ):
        listed = call(url, "/invoke", {"command": "core.packs.list", "user": "ops"})
        assert listed["ok"], listed
        newest = {r[0]: r[2] for r in listed["results"][0]["rows"]}
        assert newest["opspack-vmware"] == version_of("packs/vmware")
        for wrong in ("requests>=2", "testkit", "core"):
            refused = call(url, "/invoke", {"command": "core.packs.install", "args": {"pack": wrong}, "user": "ops"})
            assert not refused["ok"] and refused["error"]["kind"] == "usage", refused
        asked = call(url, "/invoke", {"command": "core.packs.install", "args": {"pack": "sql"}, "user": "ops"})
        assert not asked["ok"] and asked["error"]["confirm"], asked
        assert not ids_of(url, "sql")
        done = call(url, "/invoke", {"confirm_token": asked["error"]["confirm"]["token"], "user": "ops"})
        assert done["ok"], done
        assert f"+sql {version_of('packs/sql')}" in json.dumps(done), done
        assert ids_of(url, "sql")
        news = call(url, "/invoke", {"command": "core.whats_new.show", "args": {"since": "last-reload"}, "user": "ops"})
        assert {r[3] for r in news["results"][0]["rows"]} == {f"sql {version_of('packs/sql')}"}, news


def version_of(folder: str) -> str:
    found = re.search(r'^version = "([^"]+)"', (ROOT / folder / "pyproject.toml").read_text(), re.M)
    assert found
    return found.group(1)


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.2)
