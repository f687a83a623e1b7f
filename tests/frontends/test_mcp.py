"""`opspack mcp` driven by the MCP SDK's own client over stdio (a real subprocess)."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from frontend_helpers import child_env, opspack_exe
from opspack.registry import Registry
from opspack_testkit.validate import validate_reply_json

mcp = pytest.importorskip("mcp")

from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

Session = Callable[[ClientSession], Awaitable[None]]


def with_session(registry_file: Path, body: Session, *extra: str, elicitation: Any = None) -> None:
    params = StdioServerParameters(
        command=opspack_exe(),
        args=["--registry", str(registry_file), "mcp", *extra],
        env=child_env(),
    )

    async def main() -> None:
        with anyio.fail_after(120):
            async with (
                stdio_client(params) as (read, write),
                ClientSession(read, write, elicitation_callback=elicitation) as session,
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
    assert set(tools) == {c["id"] for c in registry} | {"opspack.confirm"}
    test = tools["server.host.test"]
    entry = registry.get("server.host.test")
    assert entry is not None and test.input_schema == entry["args_schema"]
    assert test.input_schema["properties"]["ports"]["type"] == "array"
    assert test.annotations is not None and test.annotations.read_only_hint is True
    wipe = tools["echo.disk.wipe"].annotations
    assert wipe is not None
    assert (wipe.read_only_hint, wipe.destructive_hint, wipe.idempotent_hint, wipe.open_world_hint) == (
        False,
        True,
        True,
        True,
    )
    confirm = tools["opspack.confirm"].annotations
    assert confirm is not None and confirm.destructive_hint is True


def test_call_server_test_with_a_list_argument(registry_file: Path, open_port: int) -> None:
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["r"] = await session.call_tool("server.host.test", {"host": "127.0.0.1", "ports": [open_port]})

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
        seen["pixel"] = await session.call_tool("echo.msg.pixel", {})
        seen["bad"] = await session.call_tool("echo.msg.say", {"text": "x", "times": "lots"})
        seen["ask"] = await session.call_tool("echo.disk.wipe", {"disk": "sdq"})
        token = seen["ask"].structured_content["error"]["confirm"]["token"]
        seen["done"] = await session.call_tool("opspack.confirm", {"token": token})
        seen["again"] = await session.call_tool("opspack.confirm", {"token": token})

    with_session(registry_file, body)
    image = seen["pixel"].content[1]
    assert image.type == "image" and image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG")
    assert seen["bad"].is_error is True and seen["bad"].structured_content["error"]["kind"] == "usage"
    ask = seen["ask"]
    assert ask.is_error is True and ask.structured_content["error"]["kind"] == "denied"
    assert "opspack.confirm" in ask.content[0].text
    assert seen["done"].is_error is False
    assert seen["done"].structured_content["results"][0]["message"] == "sdq wiped"
    assert seen["again"].is_error is True


def test_group_tools(registry_file: Path, open_port: int) -> None:
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        seen["tools"] = (await session.list_tools()).tools
        seen["r"] = await session.call_tool(
            "server.host", {"command": "test", "args": {"host": "127.0.0.1", "ports": [open_port]}}
        )
        seen["ask"] = await session.call_tool("echo.disk", {"command": "wipe", "args": {"disk": "sdr"}})
        token = seen["ask"].structured_content["error"]["confirm"]["token"]
        seen["done"] = await session.call_tool("opspack.confirm", {"token": token})
        seen["bad"] = await session.call_tool("echo.disk", {"command": "format"})

    with_session(registry_file, body, "--group-tools")
    tools = {t.name: t for t in seen["tools"]}
    assert {"server.host", "server.tls", "echo.msg", "echo.disk", "opspack.confirm"} <= set(tools)
    assert tools["echo.msg"].input_schema["properties"]["command"]["enum"] == [
        "hang",
        "join",
        "menu",
        "pixel",
        "say",
        "slow",
        "steps",
    ]
    assert tools["echo.disk"].annotations is not None and tools["echo.disk"].annotations.destructive_hint is True
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
        seen["yes"] = await session.call_tool("echo.disk.wipe", {"disk": "sde"})
        seen["no"] = await session.call_tool("echo.disk.wipe", {"disk": "sdf"})
        seen["unticked"] = await session.call_tool("echo.disk.wipe", {"disk": "sdg"})

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
            "echo.msg.steps", {"count": 3, "pause": 0.05}, progress_callback=progress
        )
        seen["reports"] = list(reports)
        seen["plain"] = await session.call_tool("echo.msg.steps", {"count": 2, "pause": 0})  # no token
        seen["quiet"] = await session.call_tool("echo.msg.say", {"text": "hi"}, progress_callback=progress)

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
            "echo.msg", {"command": "steps", "args": {"count": 2, "pause": 0}}, progress_callback=progress
        )
        assert result.is_error is False

    with_session(registry_file, body, "--group-tools")
    assert reports == [(50.0, 100.0, "step 1 of 2"), (100.0, 100.0, "step 2 of 2")]
