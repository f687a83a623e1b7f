"""``opspack mcp``: every command as an MCP tool, over stdio (the ``mcp`` SDK's low-level Server).

Tools (one per command by default):

- name = the command id (``server.host.test``), description = summary, usage and
  examples, ``inputSchema`` = the command's ``args_schema`` unchanged (a list argument
  is a JSON array);
- annotations from the effects: ``readOnlyHint``, ``destructiveHint``,
  ``idempotentHint``, and ``openWorldHint`` (true: commands talk to outside systems);
- a call answers with the text rendering of the reply, one image content per image
  result (base64 + MIME type) and ``structuredContent`` = the result object of the
  contract; ``isError`` is true when the reply is not ok.

``--group-tools`` (large registries): one tool per pack group instead, named after
the group (``server.host``), with arguments ``{"command": <verb, an enum>, "args":
{...}}``; the description lists each verb's usage.

Confirmation: a destructive tool first answers a confirmation request (``isError``,
``structuredContent.error.confirm.token``, and the text says so). Calling the tool
``opspack.confirm`` with ``{"token": ...}`` runs it; that tool is marked destructive,
so an MCP client asks its user before calling it, as it does for any destructive
tool. Tokens are one-time and expire after 5 minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opspack.context import Caller
from opspack.gateway import Gateway
from opspack.registry import Entry, Registry
from opspack.results import Image, Reply

if TYPE_CHECKING:
    import mcp_types

log = logging.getLogger("opspack.mcp")

CONFIRM_TOOL = "opspack.confirm"
SERVER_NAME = "opspack"


@dataclass(frozen=True)
class ToolSpec:
    """An MCP tool as data (name, description, schema, hints), independent of the SDK."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool
    destructive: bool
    idempotent: bool
    title: str | None = None


def _describe(entry: Entry) -> str:
    chat = entry["chat"]
    lines = [entry["summary"]]
    if entry.get("description"):
        lines += ["", entry["description"].strip()]
    lines += ["", f"Chat usage: {chat['usage']}"]
    if chat.get("examples"):
        lines.append("Examples: " + "; ".join(chat["examples"]))
    return "\n".join(lines)


def command_tools(entries: Iterable[Entry]) -> list[ToolSpec]:
    """One tool per command."""
    return [
        ToolSpec(
            name=e["id"],
            title=e["summary"],
            description=_describe(e),
            input_schema=e["args_schema"],
            read_only=bool(e["effects"]["read_only"]),
            destructive=bool(e["effects"]["destructive"]),
            idempotent=bool(e["effects"]["idempotent"]),
        )
        for e in entries
    ]


def groups_of(entries: Iterable[Entry]) -> dict[str, dict[str, Entry]]:
    """Commands by group, each by verb (the id's last part)."""
    groups: dict[str, dict[str, Entry]] = {}
    for e in entries:
        groups.setdefault(e["group"], {})[e["id"].rsplit(".", 1)[-1]] = e
    return groups


def group_tools(entries: Iterable[Entry]) -> list[ToolSpec]:
    """One tool per pack group: ``{"command": verb, "args": {...}}``."""
    tools = []
    for group, verbs in sorted(groups_of(entries).items()):
        lines = [f"Commands of {group}. Choose one with `command` and pass its arguments in `args`:"]
        for verb, e in sorted(verbs.items()):
            required = e["args_schema"].get("required", [])
            props = ", ".join(
                f"{name}{'' if name in required else '?'}: {p.get('type', 'any')}"
                for name, p in e["args_schema"].get("properties", {}).items()
            )
            lines.append(f"- {verb}: {e['summary']}. args {{{props}}}. Chat: {e['chat']['usage']}")
        effects = [e["effects"] for e in verbs.values()]
        tools.append(
            ToolSpec(
                name=group,
                title=f"{group} commands",
                description="\n".join(lines),
                input_schema={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["command"],
                    "properties": {
                        "command": {"type": "string", "enum": sorted(verbs), "description": "which command"},
                        "args": {"type": "object", "description": "the command's arguments", "default": {}},
                    },
                },
                read_only=all(f["read_only"] for f in effects),
                destructive=any(f["destructive"] for f in effects),
                idempotent=all(f["idempotent"] for f in effects),
            )
        )
    return tools


def confirm_tool() -> ToolSpec:
    return ToolSpec(
        name=CONFIRM_TOOL,
        title="Confirm a destructive command",
        description=(
            "Run a destructive command that answered with a confirmation request. Pass the "
            "token from that answer (error.confirm.token). Only after the user agreed."
        ),
        input_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["token"],
            "properties": {"token": {"type": "string", "description": "the confirmation token"}},
        },
        read_only=False,
        destructive=True,
        idempotent=False,
    )


class McpFrontend:
    """Tool listing and tool calls on top of a :class:`Gateway` (SDK-independent core)."""

    def __init__(self, gateway: Gateway, *, grouped: bool = False, user: str = "mcp", profile: str | None = None):
        self.gateway = gateway
        self.grouped = grouped
        self.user = user
        self.profile = profile
        self._groups = groups_of(gateway.registry)

    def caller(self) -> Caller:
        return Caller(user=self.user, frontend="mcp", format="json", profile=self.profile)

    def tools(self) -> list[ToolSpec]:
        entries = self.gateway.visible(self.caller())
        specs = group_tools(entries) if self.grouped else command_tools(entries)
        return [*specs, confirm_tool()]

    def call(self, name: str, arguments: dict[str, Any] | None) -> Reply:
        """Run tool ``name`` (blocking: call it from a worker thread)."""
        from opspack.results import Error

        args = dict(arguments or {})
        caller = self.caller()
        if name == CONFIRM_TOOL:
            return self.gateway.chat(None, caller, confirm_token=str(args.get("token") or ""))
        if self.grouped:
            verbs = self._groups.get(name)
            if verbs is None:
                return Reply.failure(Error("usage", f"Unknown tool {name}."))
            verb = args.get("command")
            entry = verbs.get(str(verb))
            if entry is None:
                return Reply.failure(
                    Error("usage", f"{name} has no command {verb!r}.", "Choose one of: " + ", ".join(sorted(verbs)))
                )
            inner = args.get("args") or {}
            if not isinstance(inner, dict):
                return Reply.failure(Error("usage", "`args` must be an object."))
            return self._confirming(self.gateway.invoke(entry["id"], inner, caller))
        return self._confirming(self.gateway.invoke(name, args, caller))

    @staticmethod
    def _confirming(reply: Reply) -> Reply:
        error = reply.error
        if error is not None and error.confirm is not None and error.confirm.token:
            error.hint = (
                f"Ask the user; if they agree, call the tool `{CONFIRM_TOOL}` with "
                f'{{"token": "{error.confirm.token}"}} (valid once, for 5 minutes).'
            )
        return reply


def tool_result(reply: Reply) -> mcp_types.CallToolResult:
    """An MCP tool result: text, images and the result object as structured content."""
    import mcp_types as types

    from opspack.renderers import render

    content: list[Any] = [types.TextContent(text=render(reply, "text").rstrip() or "Done.")]
    for r in reply.results:
        if isinstance(r, Image):
            import base64

            content.append(types.ImageContent(data=base64.b64encode(r.data).decode("ascii"), mime_type=r.mime))
    return types.CallToolResult(content=content, structured_content=reply.to_dict(), is_error=not reply.ok)


def to_sdk_tool(spec: ToolSpec) -> mcp_types.Tool:
    import mcp_types as types

    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema,
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=True,
        ),
    )


def build_server(frontend: McpFrontend) -> Any:
    """The SDK's low-level Server wired to ``frontend``."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel.server import Server

    from opspack.version import __version__

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[to_sdk_tool(t) for t in frontend.tools()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        reply = await anyio.to_thread.run_sync(frontend.call, params.name, params.arguments)
        return tool_result(reply)

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=(
            "opspack chat-ops commands. Destructive tools answer a confirmation request first; "
            f"ask the user, then call {CONFIRM_TOOL} with the token."
        ),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def run_stdio(
    registry: Registry | None = None,
    *,
    group_tools: bool = False,
    user: str = "mcp",
    profile: str | None = None,
) -> int:
    """Serve MCP over stdin/stdout until the client closes it (``opspack mcp``)."""
    import anyio
    from mcp.server.stdio import stdio_server

    from opspack.runtime import Runtime

    runtime = Runtime(registry)
    frontend = McpFrontend(Gateway(runtime), grouped=group_tools, user=user, profile=profile)
    server = build_server(frontend)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        runtime.close()
    return 0


__all__ = ["CONFIRM_TOOL", "McpFrontend", "ToolSpec", "build_server", "command_tools", "group_tools", "run_stdio"]
