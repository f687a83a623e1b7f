"""hubot-opspack with real Hubot 14 from npm and its Shell adapter, against a real runner.

Hubot is installed once into ``$OPSPACK_CACHE/hubot-<hash>`` (default ~/.cache/opspack).
Each test runs ``hubot -d -e "<text>" -r frontends/hubot/scripts`` (scripts given with -r
are awaited before -e runs; stdout must be a pipe). A confirmation spans two processes,
so it goes through the runner's token (``confirm <token>``); the command bus's own
yes/no proposal is driven in one process by a small Node harness.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
from pathlib import Path

import httpx
import pytest
from frontend_helpers import Runner, child_env
from opspack_testkit import free_port, need
from opspack_testkit.samples import png_bytes, vm_list_table

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "frontends" / "hubot" / "scripts"
HUBOT_VERSION = "14.1.0"
PACKAGE_JSON = json.dumps(
    {"name": "opspack-hubot-test", "private": True, "type": "module", "dependencies": {"hubot": HUBOT_VERSION}},
    indent=2,
)


def cache_root() -> Path:
    return Path(os.environ.get("OPSPACK_CACHE") or Path.home() / ".cache" / "opspack").expanduser()


def ensure_hubot() -> Path:
    """npm-install Hubot once into the cache (staged, then renamed: safe for parallel runs)."""
    target = cache_root() / f"hubot-{hashlib.sha256(PACKAGE_JSON.encode()).hexdigest()[:12]}"
    if (target / "node_modules" / ".bin" / "hubot").exists():
        return target
    npm = shutil.which("npm")
    assert npm is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / "package.json").write_text(PACKAGE_JSON)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
            cwd=staging,
            check=True,
            capture_output=True,
            timeout=600,
        )
        try:
            staging.rename(target)
        except OSError:
            if not (target / "node_modules" / ".bin" / "hubot").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def hubot_home() -> Path:
    need(shutil.which("node") is not None and shutil.which("npm") is not None, "Node.js and npm are not installed")
    return ensure_hubot()


def hubot(home: Path, runner: Runner, text: str, tmp_path: Path, url: str | None = None, **env: str) -> str:
    """`hubot -d -e TEXT` with the opspack script (``env``: more variables); returns stdout
    (replies and logs)."""
    proc = subprocess.run(
        [str(home / "node_modules" / ".bin" / "hubot"), "-d", "-e", text, "-r", str(SCRIPTS)],
        cwd=tmp_path,  # no ./scripts, no external-scripts.json
        env=child_env(OPSPACK_URL=url or runner.url, OPSPACK_TOKEN=runner.token, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out
    return re.sub(r"\x1b\[[0-9;]*m", "", out)  # the Shell adapter prints replies in bold


def test_chat_text_runs_server_test(hubot_home: Path, runner: Runner, open_port: int, tmp_path: Path) -> None:
    out = hubot(hubot_home, runner, f"server test 127.0.0.1 --ports {open_port}", tmp_path)
    assert f"127.0.0.1:{open_port}" in out and "open" in out
    assert "all 2 checks passed" in out.lower() or "ok" in out.lower()


def test_command_bus_runs_server_test(hubot_home: Path, runner: Runner, open_port: int, tmp_path: Path) -> None:
    out = hubot(hubot_home, runner, f"server.host.test --host 127.0.0.1 --ports {open_port},1", tmp_path)
    assert f"127.0.0.1:{open_port}" in out and "127.0.0.1:1" in out and "connection refused" in out


def test_long_command_starts_a_job_then_shows_progress_and_result(
    hubot_home: Path, runner: Runner, tmp_path: Path
) -> None:
    """`echo steps` has a 120 s timeout: long work. The room gets "Started job N" at once,
    progress lines (one every 5 s at most, and the last one), then the result; `-e` waits."""
    out = hubot(hubot_home, runner, "echo steps --count 3 --pause 0.3", tmp_path)
    started = re.search(r"Started job (\d+): echo steps --count 3 --pause 0\.3", out)
    assert started, out
    job = started.group(1)
    first = out.index(f"job {job}: ▓▓▓░░░░░░░ 33% step 1 of 3")
    last = out.index(f"job {job}: ▓▓▓▓▓▓▓▓▓▓ 100% step 3 of 3")
    assert started.start() < first < last < out.index("3 steps done"), out
    assert "step 2 of 3" not in out  # 0.3 s after the first line: its turn never came


def test_long_command_on_the_command_bus(hubot_home: Path, runner: Runner, tmp_path: Path) -> None:
    out = hubot(hubot_home, runner, "echo.msg.steps --count 2 --pause 0.2", tmp_path)
    started = re.search(r"Started job (\d+): echo.msg.steps --count 2 --pause 0.2", out)
    assert started, out
    assert started.start() < out.index("step 2 of 2") < out.index("2 steps done") < out.index("Done."), out


def test_a_job_whose_event_stream_breaks_off_is_followed_by_polling(
    hubot_home: Path, runner: Runner, tmp_path: Path
) -> None:
    """A proxy between Hubot and the runner cuts every event stream after its first progress event."""
    port = free_port()
    proxy = _Forwarder(port, int(runner.url.rsplit(":", 1)[1]), cut_events=True)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        out = hubot(hubot_home, runner, "echo steps --count 4 --pause 0.4", tmp_path, url=f"http://127.0.0.1:{port}")
    finally:
        proxy.shutdown()
        proxy.server_close()
    started = re.search(r"Started job (\d+)", out)
    assert started, out
    assert proxy.cuts >= 1, "the proxy cut no event stream"
    assert "polling instead" in out, out
    first = out.index(f"job {started.group(1)}: ▓▓▓░░░░░░░ 25% step 1 of 4")
    assert first < out.index("100% step 4 of 4") < out.index("4 steps done"), out


def test_a_picture_is_posted_as_its_link(hubot_home: Path, runner: Runner, tmp_path: Path) -> None:
    """The Shell adapter cannot upload: a 90 KB PNG is a link the runner serves without a token."""
    out = hubot(hubot_home, runner, "echo picture", tmp_path)
    found = re.search(r"\[image: Request rate \(last 6 h\) \(image/png, [\d,]+ bytes\)\] (http://\S+)", out)
    assert found, out
    assert found.group(1).startswith(runner.url + "/artifacts/")
    got = httpx.get(found.group(1), timeout=30)
    assert got.status_code == 200 and got.content == png_bytes()


@pytest.mark.parametrize("fmt", ["slack", "mattermost"])
def test_uploads_the_adapter_cannot_make_are_links(hubot_home: Path, runner: Runner, tmp_path: Path, fmt: str) -> None:
    """Messages for Slack or Mattermost carry files as upload entries: on an adapter without an
    upload API, each is posted as its link (a cut 1,200-row table's CSV, a picture)."""
    out = hubot(hubot_home, runner, "echo table --rows 1200", tmp_path, OPSPACK_FORMAT=fmt)
    found = re.search(r"VMs \(1200\): (http://\S+)", out)
    assert found, out
    got = httpx.get(found.group(1), timeout=30)
    assert got.status_code == 200 and got.text == vm_list_table(1200).to_csv()
    out = hubot(hubot_home, runner, "echo picture", tmp_path, OPSPACK_FORMAT=fmt)
    found = re.search(r"Request rate: (http://\S+)", out)
    assert found, out
    assert httpx.get(found.group(1), timeout=30).content == png_bytes()


def test_destructive_command_through_its_confirmation(hubot_home: Path, runner: Runner, tmp_path: Path) -> None:
    asked = hubot(hubot_home, runner, "disk wipe sdh", tmp_path)
    assert "needs your confirmation" in asked and "sdh wiped" not in asked
    token = re.search(r"confirm ([A-Za-z0-9_-]{20,})", asked)
    assert token, asked
    done = hubot(hubot_home, runner, f"confirm {token.group(1)}", tmp_path)
    assert "sdh wiped" in done
    again = hubot(hubot_home, runner, f"confirm {token.group(1)}", tmp_path)
    assert "already used" in again


HARNESS = """
import { Robot, TextMessage, User } from 'hubot'
const robot = new Robot('Shell', false, 'hubot')
const said = []
await robot.loadAdapter()
robot.adapter.send = async (envelope, ...strings) => { said.push(...strings) }
robot.adapter.reply = async (envelope, ...strings) => { said.push(...strings) }
await robot.load(process.argv[2])
robot.setupCommandListeners() // what robot.run() does first, without the Shell's readline
const user = new User('al', { name: 'al', room: '#ops' })
for (const text of process.argv.slice(3)) {
  said.push(`>>> ${text}`)
  await robot.receive(new TextMessage(user, `@hubot ${text}`, String(said.length)))
}
console.log(JSON.stringify(said))
robot.shutdown()
process.exit(0)
"""


def test_command_bus_proposal_then_yes(hubot_home: Path, runner: Runner, tmp_path: Path) -> None:
    harness = hubot_home / "harness-opspack.mjs"
    harness.write_text(HARNESS)
    proc = subprocess.run(
        ["node", str(harness), str(SCRIPTS), "echo.disk.wipe --disk sdk", "yes"],
        cwd=hubot_home,
        env=child_env(OPSPACK_URL=runner.url, OPSPACK_TOKEN=runner.token),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    said = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    text = "\n".join(said)
    ask, _, answer = text.partition(">>> yes")
    assert "Run it? (yes/no)" in ask and "sdk wiped" not in ask
    assert "sdk wiped" in answer


LATE_HARNESS = """
import { Robot } from 'hubot'
const robot = new Robot('Shell', false, 'hubot')
await robot.loadAdapter()
await robot.load(process.argv[2])  // the runner is not up yet: the first reading fails
const before = Boolean(robot.commands.getCommand('echo.msg.say'))
console.log('loaded')
const deadline = Date.now() + 60000
while (!robot.commands.getCommand('echo.msg.say') && Date.now() < deadline) {
  await new Promise(resolve => setTimeout(resolve, 100))
}
const after = Boolean(robot.commands.getCommand('echo.msg.say'))
console.log(JSON.stringify({ before, after, count: robot.commands.listCommands({ prefix: 'echo.' }).length }))
robot.shutdown()
process.exit(0)
"""


class _Forwarder(socketserver.ThreadingTCPServer):
    """Loopback port -> the runner: 'the runner comes up' once this starts listening.
    ``cut_events``: a connection that asks for a job's event stream is cut (both ways) once
    the first progress event went through, as a proxy or a network drop would."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, target: int, *, cut_events: bool = False) -> None:
        self.target = target
        self.cut_events = cut_events
        self.cuts = 0
        super().__init__(("127.0.0.1", port), _Pipe)


class _Pipe(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _Forwarder)
        upstream = socket.create_connection(("127.0.0.1", server.target))
        streaming = threading.Event()  # the client asked this connection for an event stream

        def pump(src: socket.socket, dst: socket.socket, back: bool) -> None:
            seen = b""
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    if not back and server.cut_events and re.search(rb"GET /jobs/\d+/events", data):
                        streaming.set()
                    dst.sendall(data)
                    seen = seen[-4096:] + data if back and streaming.is_set() else b""
                    if b"event: progress" in seen:
                        server.cuts += 1
                        for sock in (src, dst):
                            sock.shutdown(socket.SHUT_RDWR)
                        return
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(upstream, self.request, True), daemon=True)
        back.start()
        pump(self.request, upstream, False)
        back.join(30)
        upstream.close()


def test_commands_appear_when_the_runner_comes_up_after_hubot(hubot_home: Path, runner: Runner, tmp_path: Path) -> None:
    """Hubot started first (as containers often do) retries the registry until the runner answers."""
    harness = hubot_home / "harness-late-runner.mjs"
    harness.write_text(LATE_HARNESS)
    port = free_port()
    proc = subprocess.Popen(
        ["node", str(harness), str(SCRIPTS)],
        cwd=hubot_home,
        env=child_env(OPSPACK_URL=f"http://127.0.0.1:{port}", OPSPACK_TOKEN=runner.token, OPSPACK_RETRY_S="0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while (line := proc.stdout.readline().decode()) and line.strip() != "loaded":
            lines.append(line)
        assert line.strip() == "loaded", "".join(lines)
        forwarder = _Forwarder(port, int(runner.url.rsplit(":", 1)[1]))
        threading.Thread(target=forwarder.serve_forever, daemon=True).start()
        out = proc.stdout.read().decode()
        proc.wait(timeout=90)
    finally:
        proc.kill()
    forwarder.shutdown()
    forwarder.server_close()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["before"] is False and result["after"] is True
    assert result["count"] >= 5, out
