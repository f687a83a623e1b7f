"""`opspack mcp` driven by the MCP SDK's own client, over stdio and over streamable HTTP
(real subprocesses, started from `/` with their config in the user's config folder)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from frontend_helpers import child_env, listening, opspack_exe
from opspack.audit import AuditLog
from opspack.registry import Registry
from opspack_testkit import free_port, stop_process, wait_for_port
from opspack_testkit.validate import validate_reply_json

mcp = pytest.importorskip("mcp")

from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402
from mcp_types import ToolListChangedNotification  # noqa: E402

Session = Callable[[ClientSession], Awaitable[None]]
#: what strict MCP hosts and model APIs hold tool names to
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
AGENT_TOKEN = "agent-token-0123456789"
ALICE_TOKEN = "alice-token-0123456789"
OTHER_TOKEN = "other-token-0123456789"


def name_of(ident: str) -> str:
    """The tool name the contract gives a command id with no collision."""
    return ident.replace(".", "_")


def with_session(
    registry_file: Path | None,
    body: Session,
    *extra: str,
    elicitation: Any = None,
    cwd: Path | None = None,
    messages: Any = None,
    **env: str,
) -> None:
    """Run ``body`` in a session with ``opspack mcp`` over stdio: on ``registry_file``, or on
    the installed packs when None; ``messages``: the client's message handler."""
    registry_args = ["--registry", str(registry_file)] if registry_file is not None else []
    params = StdioServerParameters(
        command=opspack_exe(),
        args=[*registry_args, "mcp", *extra],
        env=child_env(**env),
        cwd=cwd,
    )

    async def main() -> None:
        with anyio.fail_after(120):
            async with (
                stdio_client(params) as (read, write),
                ClientSession(read, write, elicitation_callback=elicitation, message_handler=messages) as session,
            ):
                await session.initialize()
                await body(session)

    anyio.run(main)


def test_tools_are_the_commands(registry_file: Path, registry: Registry) -> None:
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["tools"] = (await session.list_tools()).tools

    with_session(registry_file, body)
    tools = {t.name: t for t in seen["tools"]}
    assert set(tools) == {name_of(c["id"]) for c in registry} | {"opspack_confirm"}
    assert all(NAME.match(name) for name in tools), [n for n in tools if not NAME.match(n)]
    test = tools["server_host_test"]
    entry = registry.get("server.host.test")
    assert entry is not None and test.input_schema == entry["args_schema"]
    assert test.input_schema["properties"]["ports"]["type"] == "array"
    assert test.annotations is not None and test.annotations.read_only_hint is True
    # outputSchema: the result object, for the commands that answer tables only
    rows = tools["echo_rows_list"].output_schema
    assert rows is not None and rows["required"] == ["ok", "command", "results", "error"]
    assert "table" in rows["$defs"]
    assert tools["echo_msg_say"].output_schema is None
    wipe = tools["echo_disk_wipe"].annotations
    assert wipe is not None
    assert (wipe.read_only_hint, wipe.destructive_hint, wipe.idempotent_hint, wipe.open_world_hint) == (
        False,
        True,
        True,
        True,
    )
    confirm = tools["opspack_confirm"].annotations
    assert confirm is not None and confirm.destructive_hint is True


def test_a_table_answers_what_its_output_schema_says(registry_file: Path) -> None:
    """The SDK client checks structuredContent against the tool's outputSchema itself."""
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        await session.list_tools()  # the client learns the output schemas
        seen["r"] = await session.call_tool("echo_rows_list", {"count": 4})

    with_session(registry_file, body)
    result = seen["r"]
    assert result.is_error is False
    validate_reply_json(result.structured_content)
    table = result.structured_content["results"][0]
    assert (table["kind"], table["columns"], table["rows"][-1]) == ("table", ["n", "square"], [4, 16])


def test_call_server_test_with_a_list_argument(registry_file: Path, open_port: int) -> None:
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["r"] = await session.call_tool("server_host_test", {"host": "127.0.0.1", "ports": [open_port]})

    with_session(registry_file, body)
    result = seen["r"]
    assert result.is_error is False
    validate_reply_json(result.structured_content)
    assert result.structured_content["command"] == "server.host.test"
    assert result.structured_content["results"][0]["row_status"] == ["ok", "ok"]
    assert f"127.0.0.1:{open_port}" in result.content[0].text


def test_images_errors_and_confirmation(registry_file: Path) -> None:
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["pixel"] = await session.call_tool("echo_msg_pixel", {})
        seen["bad"] = await session.call_tool("echo_msg_say", {"text": "x", "times": "lots"})
        seen["ask"] = await session.call_tool("echo_disk_wipe", {"disk": "sdq"})
        token = seen["ask"].structured_content["error"]["confirm"]["token"]
        seen["done"] = await session.call_tool("opspack_confirm", {"token": token})
        seen["again"] = await session.call_tool("opspack_confirm", {"token": token})
        seen["dotted"] = await session.call_tool("echo.msg.say", {"text": "x"})

    with_session(registry_file, body)
    image = seen["pixel"].content[1]
    assert image.type == "image" and image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG")
    assert seen["bad"].is_error is True and seen["bad"].structured_content["error"]["kind"] == "usage"
    ask = seen["ask"]
    assert ask.is_error is True and ask.structured_content["error"]["kind"] == "denied"
    assert "opspack_confirm" in ask.content[0].text
    assert seen["done"].is_error is False
    assert seen["done"].structured_content["results"][0]["message"] == "sdq wiped"
    assert seen["again"].is_error is True
    # a name maps back exactly: the command id is not a tool name
    dotted = seen["dotted"]
    assert dotted.is_error is True and dotted.structured_content["error"]["message"] == "Unknown tool echo.msg.say."


def test_group_tools(registry_file: Path, open_port: int) -> None:
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["tools"] = (await session.list_tools()).tools
        seen["r"] = await session.call_tool(
            "server_host", {"command": "test", "args": {"host": "127.0.0.1", "ports": [open_port]}}
        )
        seen["ask"] = await session.call_tool("echo_disk", {"command": "wipe", "args": {"disk": "sdr"}})
        token = seen["ask"].structured_content["error"]["confirm"]["token"]
        seen["done"] = await session.call_tool("opspack_confirm", {"token": token})
        seen["bad"] = await session.call_tool("echo_disk", {"command": "format"})

    with_session(registry_file, body, "--group-tools")
    tools = {t.name: t for t in seen["tools"]}
    assert {"server_host", "server_tls", "echo_msg", "echo_disk", "opspack_confirm"} <= set(tools)
    assert all(NAME.match(name) for name in tools)
    assert tools["echo_rows"].output_schema is not None and tools["echo_msg"].output_schema is None
    assert tools["echo_msg"].input_schema["properties"]["command"]["enum"] == [
        "hang",
        "join",
        "menu",
        "pixel",
        "say",
        "slow",
        "steps",
    ]
    assert tools["echo_disk"].annotations is not None and tools["echo_disk"].annotations.destructive_hint is True
    assert seen["r"].structured_content["ok"] is True
    assert seen["done"].structured_content["results"][0]["message"] == "sdr wiped"
    assert "wipe" in seen["bad"].structured_content["error"]["hint"]


def test_a_client_with_elicitation_asks_its_user_itself(registry_file: Path) -> None:
    """The user answers the server's question; the model never sees a token."""
    import mcp_types as types

    asked: list[types.ElicitRequestParams] = []
    answers = iter([("accept", True), ("decline", None), ("accept", False)])

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        action, value = next(answers)
        return types.ElicitResult(action=action, content=None if value is None else {"confirm": value})

    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["yes"] = await session.call_tool("echo_disk_wipe", {"disk": "sde"})
        seen["no"] = await session.call_tool("echo_disk_wipe", {"disk": "sdf"})
        seen["unticked"] = await session.call_tool("echo_disk_wipe", {"disk": "sdg"})

    with_session(registry_file, body, elicitation=user)
    assert len(asked) == 3
    assert "disk wipe sde" in asked[0].message and asked[0].requested_schema["required"] == ["confirm"]
    yes = seen["yes"]
    assert yes.is_error is False and "sde wiped" in yes.content[0].text
    validate_reply_json(yes.structured_content)
    for key, disk in (("no", "sdf"), ("unticked", "sdg")):
        result = seen[key]
        assert result.is_error is True and f"{disk} wiped" not in result.content[0].text
        assert result.structured_content["error"]["kind"] == "denied"
        assert "Not run: the user" in result.content[0].text
        assert "token" not in json.dumps(result.structured_content).replace('"token": null', "")


def test_progress_notifications_while_a_tool_runs(registry_file: Path) -> None:
    """A call with a progress token gets each report as notifications/progress, then its result."""
    reports: list[tuple[float, float | None, str | None]] = []
    seen: dict[str, Any] = {}

    async def progress(value: float, total: float | None, message: str | None) -> None:
        reports.append((value, total, message))

    async def body(session: ClientSession) -> None:
        seen["steps"] = await session.call_tool(
            "echo_msg_steps", {"count": 3, "pause": 0.05}, progress_callback=progress
        )
        seen["reports"] = list(reports)
        seen["plain"] = await session.call_tool("echo_msg_steps", {"count": 2, "pause": 0})  # no token
        seen["quiet"] = await session.call_tool("echo_msg_say", {"text": "hi"}, progress_callback=progress)

    with_session(registry_file, body)
    assert seen["steps"].is_error is False and seen["steps"].structured_content["results"][0]["text"] == "3 steps done"
    assert seen["reports"] == [
        (33.3, 100.0, "step 1 of 3"),
        (66.7, 100.0, "step 2 of 3"),
        (100.0, 100.0, "step 3 of 3"),
    ]
    assert seen["plain"].is_error is False and seen["quiet"].is_error is False
    assert reports == seen["reports"]  # a command that reports nothing sends nothing


def test_progress_of_a_grouped_tool(registry_file: Path) -> None:
    reports: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        reports.append((value, total, message))

    async def body(session: ClientSession) -> None:
        result = await session.call_tool(
            "echo_msg", {"command": "steps", "args": {"count": 2, "pause": 0}}, progress_callback=progress
        )
        assert result.is_error is False

    with_session(registry_file, body, "--group-tools")
    assert reports == [(50.0, 100.0, "step 1 of 2"), (100.0, 100.0, "step 2 of 2")]


# -- filters ---------------------------------------------------------------------------
def test_read_only_hides_every_tool_that_changes_anything(registry_file: Path, registry: Registry) -> None:
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["tools"] = (await session.list_tools()).tools
        seen["wipe"] = await session.call_tool("echo_disk_wipe", {"disk": "sdx"})
        seen["confirm"] = await session.call_tool("opspack_confirm", {"token": "x"})
        seen["say"] = await session.call_tool("echo_msg_say", {"text": "hi"})

    with_session(registry_file, body, "--read-only")
    tools = {t.name: t for t in seen["tools"]}
    assert set(tools) == {name_of(c["id"]) for c in registry if c["effects"]["read_only"]}
    assert "echo_disk_wipe" not in tools and "opspack_confirm" not in tools and "echo_msg_say" in tools
    assert all(t.annotations is not None and t.annotations.read_only_hint is True for t in tools.values())
    for key in ("wipe", "confirm"):
        assert seen[key].is_error is True
        assert seen[key].structured_content["error"]["message"].startswith("Unknown tool ")
    assert "sdx wiped" not in json.dumps(seen["wipe"].structured_content)
    assert seen["say"].is_error is False


def test_packs_keep_their_own_tools_and_confirmations(registry_file: Path, open_port: int) -> None:
    """--packs server: only the server pack's tools; a token another MCP server issued for
    another pack's command is refused there, and still works where it was asked."""
    seen: dict[str, Any] = {}

    async def ask(session: ClientSession) -> None:
        seen["ask"] = await session.call_tool("echo_disk_wipe", {"disk": "sdy"})

    async def filtered(session: ClientSession) -> None:
        seen["tools"] = (await session.list_tools()).tools
        seen["echo"] = await session.call_tool("echo_msg_say", {"text": "hi"})
        seen["test"] = await session.call_tool("server_host_test", {"host": "127.0.0.1", "ports": [open_port]})
        seen["foreign"] = await session.call_tool("opspack_confirm", {"token": token()})

    async def confirm(session: ClientSession) -> None:
        seen["done"] = await session.call_tool("opspack_confirm", {"token": token()})

    def token() -> str:
        return str(seen["ask"].structured_content["error"]["confirm"]["token"])

    with_session(registry_file, ask)
    with_session(registry_file, filtered, "--packs", "server")
    with_session(registry_file, confirm)
    names = {t.name for t in seen["tools"]}
    assert names == {"server_host_test", "server_tls_cert", "opspack_confirm"}
    assert seen["echo"].structured_content["error"]["message"] == "Unknown tool echo_msg_say."
    assert seen["test"].is_error is False
    foreign = seen["foreign"].structured_content["error"]
    assert foreign["kind"] == "denied" and "echo.disk.wipe is not one of them" in foreign["message"]
    assert seen["done"].is_error is False and seen["done"].structured_content["results"][0]["message"] == "sdy wiped"


def test_a_pack_that_is_not_installed_stops_it_at_once(registry_file: Path) -> None:
    proc = subprocess.run(
        [opspack_exe(), "--registry", str(registry_file), "mcp", "--packs", "server,nope"],
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "not installed: nope" in proc.stderr and "server" in proc.stderr
    usage = subprocess.run(
        [opspack_exe(), "mcp", "--port", "9"], env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert usage.returncode == 2 and "need --http" in usage.stderr


def test_http_without_tokens_does_not_start(registry_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [opspack_exe(), "--registry", str(registry_file), "mcp", "--http", "--port", str(free_port())],
        env=child_env(HOME=str(tmp_path), XDG_CONFIG_HOME=""),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "opspack mcp: --http has no bearer tokens, so nobody could use it" in proc.stderr


def test_started_from_root_it_reads_the_users_config(registry_file: Path, tmp_path: Path) -> None:
    """An MCP host starts `opspack mcp` from `/`: the config in ~/.config/opspack is found
    (here its policy, which hides the mutating commands)."""
    home = tmp_path / "home"
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[defaults]\nread_only = "allow"\nmutating = "deny"\n[users]\nmcp = ["reader"]\n[roles.reader]\nallow = []\n',
        encoding="utf-8",
    )
    config = home / ".config" / "opspack" / "opspack.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f"[policy]\nfile = {json.dumps(str(policy))}\n", encoding="utf-8")
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["tools"] = {t.name for t in (await session.list_tools()).tools}

    with_session(registry_file, body, cwd=Path("/"), HOME=str(home), XDG_CONFIG_HOME="")
    assert "echo_msg_say" in seen["tools"] and "echo_disk_wipe" not in seen["tools"]


# -- streamable HTTP -------------------------------------------------------------------
@dataclass
class McpHttp:
    url: str
    audit_url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def mcp_http(registry_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpHttp]:
    """`opspack mcp --http` started from `/`, its tokens in $XDG_CONFIG_HOME/opspack/opspack.toml:
    `agent` (from the environment) speaks for the MCP user, `alice` only for alice, `other`
    for anyone; its own audit trail."""
    folder = tmp_path_factory.mktemp("mcp-http")
    config = folder / "xdg" / "opspack" / "opspack.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        '[serve.tokens.agent]\ntoken = "env:AGENT_TOKEN"\nusers = ["mcp"]\n'
        f'[serve.tokens.alice]\ntoken = "{ALICE_TOKEN}"\nusers = ["alice"]\n'
        f'[serve.tokens.other]\ntoken = "{OTHER_TOKEN}"\nusers = "*"\n',
        encoding="utf-8",
    )
    audit_url = f"sqlite:///{folder / 'audit.db'}"
    port = free_port()
    log = folder / "mcp.log"
    env = child_env(XDG_CONFIG_HOME=str(folder / "xdg"), AGENT_TOKEN=AGENT_TOKEN, OPSPACK_AUDIT_URL=audit_url)
    command = [opspack_exe(), "--registry", str(registry_file), "mcp", "--http", "--port", str(port)]
    with listening(command, port=port, log=log, env=env, cwd="/") as proc:
        yield McpHttp(f"http://127.0.0.1:{port}/mcp", audit_url, proc, log)


def with_http_session(url: str, token: str, body: Session) -> None:
    async def main() -> None:
        with anyio.fail_after(120):
            async with (
                create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await body(session)

    anyio.run(main)


def test_http_lists_and_calls_tools(mcp_http: McpHttp, registry: Registry, open_port: int) -> None:
    seen: dict[str, Any] = {}
    reports: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        reports.append((value, total, message))

    async def body(session: ClientSession) -> None:
        seen["tools"] = (await session.list_tools()).tools
        seen["test"] = await session.call_tool("server_host_test", {"host": "127.0.0.1", "ports": [open_port]})
        seen["rows"] = await session.call_tool("echo_rows_list", {"count": 2})
        seen["steps"] = await session.call_tool("echo_msg_steps", {"count": 2, "pause": 0}, progress_callback=progress)

    with_http_session(mcp_http.url, AGENT_TOKEN, body)
    names = {t.name for t in seen["tools"]}
    assert names == {name_of(c["id"]) for c in registry} | {"opspack_confirm"}
    assert all(NAME.match(name) for name in names)
    test = seen["test"]
    assert test.is_error is False and test.structured_content["command"] == "server.host.test"
    assert f"127.0.0.1:{open_port}" in test.content[0].text
    assert seen["rows"].structured_content["results"][0]["rows"] == [[1, 1], [2, 4]]
    assert seen["steps"].is_error is False
    assert reports == [(50.0, 100.0, "step 1 of 2"), (100.0, 100.0, "step 2 of 2")]
    # the audit trail names the token each call came with
    audit = AuditLog(mcp_http.audit_url)
    try:
        for _ in range(100):
            records = audit.history(command_prefix="server.host.test", limit=5)
            if records:
                break
            anyio.run(anyio.sleep, 0.1)
        assert [(r.user, r.frontend, r.token) for r in records] == [("mcp", "mcp", "agent")]
    finally:
        audit.close()


def test_http_refuses_a_bad_token(mcp_http: McpHttp) -> None:
    opened: list[bool] = []

    async def body(session: ClientSession) -> None:
        opened.append(True)

    with pytest.raises(ExceptionGroup) as refused:  # the SDK's task groups wrap the error
        with_http_session(mcp_http.url, "not-a-token", body)
    assert refused.group_contains(MCPError, match="error response", depth=2) and not opened
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    accept = {"Accept": "application/json, text/event-stream"}

    def bearer(token: str) -> dict[str, str]:
        return {**accept, "Authorization": f"Bearer {token}"}

    with httpx.Client(timeout=30) as client:
        missing = client.post(mcp_http.url, json=initialize, headers=accept)
        wrong = client.post(mcp_http.url, json=initialize, headers=bearer("nope"))
        in_query = client.post(mcp_http.url + "?token=" + AGENT_TOKEN, json=initialize, headers=accept)
        alice = client.post(mcp_http.url, json=initialize, headers=bearer(ALICE_TOKEN))
        opened = client.post(mcp_http.url, json=initialize, headers=bearer(AGENT_TOKEN))
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        borrowed = client.post(mcp_http.url, json=initialized, headers={**bearer(OTHER_TOKEN), **session})
        kept = client.post(mcp_http.url, json=initialized, headers={**bearer(AGENT_TOKEN), **session})
    for answer in (missing, wrong, in_query):
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"]["kind"] == "denied"
    assert alice.status_code == 403 and alice.json()["error"]["message"] == "The token alice may not speak for mcp."
    assert opened.status_code == 200
    assert borrowed.status_code == 404  # a session answers only the token that opened it
    assert kept.status_code == 202


# -- tool list changes -----------------------------------------------------------------
NEW_PACK = '''
"""A pack installed while the MCP server runs."""
from opspack import Pack, Text, command

pack = Pack(name="mcpnew", summary="arrives while the server runs", modules=["opspack_mcpnew"])


@command(group="late", verb="hello", settings=[])
def hello() -> Text:
    """Say hello."""
    return Text("hello")
'''


def write_pack(site: Path) -> str:
    """The pack ``opspack_mcpnew`` in the folder ``site`` (its code and its pack file, but no
    ``.dist-info`` yet, so it is not installed); its command's id."""
    import sys

    from opspack.devtools.registry_build import registry_from_package
    from opspack.registry import SCHEMA_VERSION

    package = site / "opspack_mcpnew"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(NEW_PACK, encoding="utf-8")
    sys.path.insert(0, str(site))
    try:
        built = registry_from_package("opspack_mcpnew", "1.0.0")
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("opspack_mcpnew", None)
    data = {"schema_version": SCHEMA_VERSION, "pack": built.packs[0], "commands": built.commands}
    (package / "opspack-pack.json").write_text(json.dumps(data), encoding="utf-8")
    [entry] = built.commands
    return str(entry["id"])


def install_pack(site: Path) -> None:
    """Install the pack of :func:`write_pack` for importlib.metadata: its ``.dist-info`` with
    the ``opspack.packs`` entry point, in a folder on the server's PYTHONPATH."""
    info = site / "opspack_mcpnew-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: opspack-mcpnew\nVersion: 1.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[opspack.packs]\nmcpnew = opspack_mcpnew\n", encoding="utf-8")


def on_path(site: Path) -> str:
    """PYTHONPATH for a server process that also imports from ``site``."""
    import os

    return os.pathsep.join([str(site), child_env()["PYTHONPATH"]])


async def tool_names_of(session: ClientSession) -> set[str]:
    return {t.name for t in (await session.list_tools()).tools}


async def until(notes: list[Any], timeout: float = 30.0) -> None:
    """Wait until the client was told the tool list changed."""
    with anyio.fail_after(timeout):
        while not any(isinstance(n, ToolListChangedNotification) for n in notes):
            await anyio.sleep(0.05)


def test_a_pack_installed_meanwhile_is_announced_then_listed(tmp_path: Path) -> None:
    """`packs reload` (the tool) finds a pack installed since the start: the client is told
    (notifications/tools/list_changed) and the next tools/list has the pack's tool."""
    site = tmp_path / "site"
    ident = write_pack(site)
    notes: list[Any] = []
    seen: dict[str, Any] = {}

    async def note(message: Any) -> None:
        notes.append(message)

    async def body(session: ClientSession) -> None:
        result = session.initialize_result
        seen["capabilities"] = result.capabilities if result is not None else None
        seen["before"] = await tool_names_of(session)
        install_pack(site)
        seen["reload"] = await session.call_tool("core_packs_reload", {})
        await until(notes)
        seen["after"] = await tool_names_of(session)
        seen["call"] = await session.call_tool(name_of(ident), {})

    with_session(
        None,
        body,
        cwd=tmp_path,
        messages=note,
        PYTHONPATH=on_path(site),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        OPSPACK_MCP_RELOAD_S="0",  # only the tool reads the packs again
    )
    tools = seen["capabilities"].tools
    assert tools is not None and tools.list_changed is True
    assert name_of(ident) not in seen["before"] and "core_packs_reload" in seen["before"]
    assert seen["reload"].is_error is False, seen["reload"].content
    assert "mcpnew" in seen["reload"].content[0].text
    assert seen["after"] == seen["before"] | {name_of(ident)}
    assert seen["call"].is_error is False and seen["call"].content[0].text == "hello"


def test_http_sessions_hear_of_a_pack_the_periodic_check_finds(tmp_path: Path) -> None:
    """`opspack mcp --http` with `[mcp] reload_s`: a pack installed with nobody asking is
    announced to each connected client session, and listed."""
    site = tmp_path / "site"
    ident = write_pack(site)
    config = tmp_path / "xdg" / "opspack" / "opspack.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[serve.tokens.agent]\ntoken = "{AGENT_TOKEN}"\nusers = ["mcp"]\n[mcp]\nreload_s = 0.3\n', encoding="utf-8"
    )
    port = free_port()
    log = tmp_path / "mcp.log"
    env = child_env(XDG_CONFIG_HOME=str(tmp_path / "xdg"), PYTHONPATH=on_path(site))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [opspack_exe(), "mcp", "--http", "--port", str(port)], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}/mcp"
    notes: dict[str, list[Any]] = {"one": [], "two": []}
    seen: dict[str, Any] = {}

    def handler(name: str) -> Any:
        async def note(message: Any) -> None:
            notes[name].append(message)

        return note

    async def main() -> None:
        with anyio.fail_after(120):
            async with (
                create_mcp_http_client(headers={"Authorization": f"Bearer {AGENT_TOKEN}"}) as http,
                streamable_http_client(url, http_client=http) as (read1, write1),
                ClientSession(read1, write1, message_handler=handler("one")) as one,
                streamable_http_client(url, http_client=http) as (read2, write2),
                ClientSession(read2, write2, message_handler=handler("two")) as two,
            ):
                seen["capabilities"] = (await one.initialize()).capabilities
                await two.initialize()
                seen["before"] = await tool_names_of(one)
                await anyio.sleep(1)  # the standalone streams are open, a check or two found nothing
                install_pack(site)
                await until(notes["one"])
                await until(notes["two"])
                seen["after"] = await tool_names_of(two)

    try:
        try:
            wait_for_port(port)
        except TimeoutError:
            raise AssertionError("opspack mcp --http did not start:\n" + log.read_text()) from None
        anyio.run(main)
    except BaseException:
        print(log.read_text())
        raise
    finally:
        stop_process(proc)
    tools = seen["capabilities"].tools
    assert tools is not None and tools.list_changed is True
    assert name_of(ident) not in seen["before"]
    assert seen["after"] == seen["before"] | {name_of(ident)}
    # one notification each, for the one change
    assert [type(n) for n in notes["one"]] == [ToolListChangedNotification]
    assert [type(n) for n in notes["two"]] == [ToolListChangedNotification]


def test_reload_interval_mcp_then_serve_then_60() -> None:
    from opspack.errors import ConfigError
    from opspack.frontends.mcp import reload_interval
    from opspack.settings import Config

    assert reload_interval(Config(data={}, environ={})) == 60.0
    assert reload_interval(Config(data={"serve": {"reload_s": 5}}, environ={})) == 5.0
    both = Config(data={"serve": {"reload_s": 5}, "mcp": {"reload_s": 0}}, environ={})
    assert reload_interval(both) == 0.0
    assert reload_interval(Config(data=both.data, environ={"OPSPACK_MCP_RELOAD_S": "2.5"})) == 2.5
    assert reload_interval(Config(data={}, environ={"OPSPACK_SERVE_RELOAD_S": "7"})) == 7.0
    for bad in ("-1", "soon", "nan", "inf"):
        with pytest.raises(ConfigError, match=r"(?i)reload_s"):
            reload_interval(Config(data={}, environ={"OPSPACK_MCP_RELOAD_S": bad}))
