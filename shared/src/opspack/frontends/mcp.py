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

Progress: when a ``tools/call`` request carries a progress token (``_meta.progressToken``),
each progress report of the command is sent to the client while the call runs, as a
``notifications/progress`` with ``progress`` = the percentage and ``total`` = 100 when the
command gives one (else a counter of the reports and no total) and ``message``; the
call then answers its result as usual.

Confirmation: when the client supports elicitation, a destructive tool asks the user
itself (``elicitation/create``: the command's chat text and summary, and a ``confirm``
boolean) and runs only when the user accepts with ``confirm`` true; when the user
declines or cancels, the call answers a ``denied`` error and the confirmation is thrown
away, so the model never holds a token it could redeem. Without elicitation the tool
first answers a confirmation request (``isError``, ``structuredContent.error.confirm.token``,
and the text says so); calling the tool ``opspack.confirm`` with ``{"token": ...}`` runs
it, and that tool is marked destructive, so an MCP client asks its user before calling
it, as it does for any destructive tool. Tokens are one-time and expire after 5 minutes.
An approval that a second person must give (the policy's ``approvers``) always takes the
token path: the asking user cannot approve it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opspack.context import Caller
from opspack.frontends.gateway import Gateway
from opspack.registry import Entry, Registry
from opspack.results import Confirmation, Image, Progress, Reply

if TYPE_CHECKING:
    import mcp_types

log = logging.getLogger("opspack.frontends.mcp")

CONFIRM_TOOL = "opspack.confirm"
SERVER_NAME = "opspack"

#: what a call's progress reports go to
ProgressListener = Callable[[Progress], None]


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

    def caller(self, on_progress: ProgressListener | None = None) -> Caller:
        """Who runs the tools; ``on_progress`` gets each progress report of the command."""
        return Caller(user=self.user, frontend="mcp", format="json", profile=self.profile, on_progress=on_progress)

    def tools(self) -> list[ToolSpec]:
        entries = self.gateway.visible(self.caller())
        specs = group_tools(entries) if self.grouped else command_tools(entries)
        return [*specs, confirm_tool()]

    def call(self, name: str, arguments: dict[str, Any] | None, on_progress: ProgressListener | None = None) -> Reply:
        """Run tool ``name`` (blocking: call it from a worker thread); ``on_progress`` gets each
        progress report while it runs."""
        from opspack.results import Error

        args = dict(arguments or {})
        caller = self.caller(on_progress)
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

    def confirm(self, token: str, on_progress: ProgressListener | None = None) -> Reply:
        """Run what ``token`` confirms (the user accepted the elicitation)."""
        return self.gateway.confirm(token, self.caller(on_progress))

    def decline(self, confirm: Confirmation, action: str) -> Reply:
        """The user did not accept: throw the token away and say what did not run."""
        from opspack.results import Error

        if confirm.token:
            self.gateway.decline(confirm.token, self.caller())
        what = confirm.text or confirm.command
        said = "declined" if action == "decline" else "dismissed the question"
        return Reply.failure(Error("denied", f"Not run: the user {said} `{what}`."), confirm.command)

    @staticmethod
    def _confirming(reply: Reply) -> Reply:
        error = reply.error
        if error is not None and error.confirm is not None and error.confirm.token:
            error.hint = (
                f"Ask the user; if they agree, call the tool `{CONFIRM_TOOL}` with "
                f'{{"token": "{error.confirm.token}"}} (valid once, for 5 minutes).'
            )
        return reply


def progress_values(item: Progress, count: int) -> tuple[float, float | None]:
    """``progress`` and ``total`` of the ``count``-th progress notification of a call for ``item``:
    the percentage out of 100 when the command gave one, else the count with no total."""
    if item.percent is not None:
        return float(item.percent), 100.0
    return float(count), None


@contextlib.asynccontextmanager
async def progress_sender(ctx: Any) -> AsyncIterator[ProgressListener | None]:
    """A listener that sends each progress report of a call as ``notifications/progress`` for
    the request of ``ctx``, from whichever thread runs the command; None when the request
    carries no progress token (then nothing is sent)."""
    meta = getattr(ctx, "meta", None) or {}
    if meta.get("progress_token") is None:
        yield None
        return
    import anyio.from_thread

    async with anyio.from_thread.BlockingPortal() as portal:
        count = 0
        lock = threading.Lock()

        def send(item: Progress) -> None:
            nonlocal count
            with lock:  # in order, one at a time
                count += 1
                progress, total = progress_values(item, count)
                try:
                    portal.call(ctx.session.report_progress, progress, total, item.message)
                except Exception:  # the client went away: the command goes on
                    log.debug("a progress notification could not be sent", exc_info=True)

        yield send


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


#: what a destructive tool asks the user through elicitation (one boolean, default no)
ELICIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Run it",
            "description": "Run this destructive command now",
            "default": False,
        }
    },
    "required": ["confirm"],
}


def _can_elicit(ctx: Any) -> bool:
    """The client declared elicitation (form mode) in its capabilities."""
    import mcp_types as types

    try:
        return bool(
            ctx.session.check_client_capability(
                types.ClientCapabilities(
                    elicitation=types.ElicitationCapability(form=types.FormElicitationCapability())
                )
            )
        )
    except Exception:  # noqa: BLE001 - an SDK without the check: the token path
        return False


def build_server(frontend: McpFrontend) -> Any:
    """The SDK's low-level Server wired to ``frontend``."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel.server import Server

    from opspack.version import __version__

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[to_sdk_tool(t) for t in frontend.tools()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        async with progress_sender(ctx) as on_progress:
            reply = await anyio.to_thread.run_sync(frontend.call, params.name, params.arguments, on_progress)
            confirm = reply.error.confirm if reply.error is not None else None
            if confirm is not None and confirm.token and not confirm.approvers and _can_elicit(ctx):
                answer = await ctx.session.elicit_form(
                    confirm.prompt,
                    ELICIT_SCHEMA,
                    related_request_id=getattr(ctx, "request_id", None),
                )
                if answer.action == "accept" and (answer.content or {}).get("confirm") is True:
                    reply = await anyio.to_thread.run_sync(frontend.confirm, confirm.token, on_progress)
                else:
                    reply = frontend.decline(confirm, answer.action)
        return tool_result(reply)

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=(
            "opspack chat-ops commands. Destructive tools ask the user through elicitation when the "
            "client supports it; otherwise they answer a confirmation request first: ask the user, "
            f"then call {CONFIRM_TOOL} with the token."
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

    from opspack.executor import for_runner
    from opspack.runtime import Runtime

    # the tools run in worker processes: a hung backend is stopped at its timeout, and the
    # client's progress token follows the command there
    runtime = Runtime(registry, executor=for_runner)
    try:
        runtime.require_policy()  # a policy that does not load: the server does not start
    except BaseException:
        runtime.close()
        raise
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


__all__ = [
    "CONFIRM_TOOL",
    "McpFrontend",
    "ToolSpec",
    "build_server",
    "command_tools",
    "group_tools",
    "progress_sender",
    "progress_values",
    "run_stdio",
]
