"""``opspack mcp``: every command as an MCP tool, over stdio or streamable HTTP (the ``mcp``
SDK's low-level Server).

Tools (one per command by default):

- name = the command id with ``.`` turned into ``_`` (``server.host.test`` ->
  ``server_host_test``): every name matches ``^[a-zA-Z0-9_-]{1,64}$``, the pattern several
  MCP hosts and model APIs hold tool names to (:func:`tool_names`). A name over 64
  characters, or one that two ids would share (``a.b_c.d`` and ``a.b.c_d`` both give
  ``a_b_c_d``), becomes its first 55 characters, ``_`` and 8 hex digits of the SHA-256 of
  the id: each of the ids concerned gets such a name (none is favoured by the order packs
  were installed in), the collision is logged once, and the names depend only on the ids.
  The server keeps the map from name to id, so a call maps back to exactly one command;
  a name it did not list answers ``Unknown tool``;
- description = summary, usage and examples, ``inputSchema`` = the command's
  ``args_schema`` unchanged (a list argument is a JSON array);
- ``outputSchema`` for a command whose results are tables (``table`` in its
  ``result_kinds``): the result object of the contract (reply.schema.json), which is what
  ``structuredContent`` holds;
- annotations from the effects: ``readOnlyHint``, ``destructiveHint``,
  ``idempotentHint``, and ``openWorldHint`` (true: commands talk to outside systems);
- a call answers with the text rendering of the reply, one image content per image
  result (base64 + MIME type) and ``structuredContent`` = the result object of the
  contract; ``isError`` is true when the reply is not ok.

``--group-tools`` (large registries): one tool per pack group instead, named after
the group the same way (``server_host``), with arguments ``{"command": <verb, an enum>,
"args": {...}}``; the description lists each verb's usage.

Filters: ``--read-only`` serves only read-only commands (and no ``opspack_confirm``);
``--packs a,b`` only those packs' commands, and ``opspack_confirm`` refuses a token that
would run another pack's command. A tool that is filtered out is neither listed nor run.

Transports: stdio (``opspack mcp``), or streamable HTTP at ``/mcp`` (``opspack mcp --http
--host H --port P``), which takes the runner's bearer tokens (``[serve.tokens.<name>]``,
``OPSPACK_SERVE_TOKENS``) in the ``Authorization: Bearer`` header: 401 without a valid one,
403 for a token whose ``users`` leave out the user the tools run as (``--user``), 429 past
its rate limit, 413 for a body over ``max_body``. An MCP session belongs to the token that
opened it, and the audit trail names the token of each call.

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
and the text says so); calling the tool ``opspack_confirm`` with ``{"token": ...}`` runs
it, and that tool is marked destructive, so an MCP client asks its user before calling
it, as it does for any destructive tool. Tokens are one-time and expire after 5 minutes.
An approval that a second person must give (the policy's ``approvers``) always takes the
token path: the asking user cannot approve it.

Tool list changes: the server declares ``tools.listChanged``. When the runtime reads the
installed packs again and they changed (the tool ``packs_reload``, ``packs_install``,
``packs_upgrade``, SIGHUP, or the periodic check every ``[mcp] reload_s`` seconds, which
defaults to the runner's ``[serve] reload_s``, 60; 0: never), every connected session gets a
``notifications/tools/list_changed`` (:class:`ToolListNotifier`): over stdio the one
session, over streamable HTTP each client's session on its standalone stream, and a client
on the 2026-07-28 protocol through the ``subscriptions/listen`` stream it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opspack.context import Caller
from opspack.frontends.gateway import Gateway
from opspack.frontends.guard import TOKEN_SCOPE_KEY, BearerToken
from opspack.registry import Entry, Registry
from opspack.results import Confirmation, Error, Image, Progress, Reply

if TYPE_CHECKING:
    import mcp_types

    from opspack.frontends.guard import ASGIApp, Receive, Scope, Send
    from opspack.frontends.serve import ServeSettings
    from opspack.registry import RegistryChange
    from opspack.settings import Config

log = logging.getLogger("opspack.frontends.mcp")

CONFIRM_TOOL = "opspack_confirm"
SERVER_NAME = "opspack"
#: where the streamable HTTP transport answers
MCP_PATH = "/mcp"
#: what every tool name matches: several MCP hosts and model APIs refuse any other name
TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TOOL_NAME = 64
#: hex digits of the id's SHA-256 that set apart a name that is too long or shared
DIGEST_LENGTH = 8
_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_-]")

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
    #: the schema of ``structuredContent`` (tools whose commands answer tables), or None
    output_schema: dict[str, Any] | None = None


# -- tool names ------------------------------------------------------------------------
def plain_tool_name(ident: str) -> str:
    """``ident`` (a command or group id) with ``.``, and anything else a tool name may not
    hold, turned into ``_``: ``server.host.test`` -> ``server_host_test``."""
    return _NOT_IN_NAME.sub("_", ident) or "_"


def _digested(ident: str, attempt: int) -> str:
    """The first 55 characters of the plain name, ``_`` and 8 hex digits of the id's SHA-256
    (of ``id#attempt`` after a first attempt whose name was taken): 64 characters at most."""
    seed = ident if attempt == 0 else f"{ident}#{attempt}"
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]
    return f"{plain_tool_name(ident)[: MAX_TOOL_NAME - DIGEST_LENGTH - 1]}_{digest}"


def tool_names(idents: Iterable[str], reserved: Collection[str] = ()) -> dict[str, str]:
    """A tool name for each id: unique, different from every ``reserved`` name, and matching
    :data:`TOOL_NAME_PATTERN`.

    An id's name is its plain name (:func:`plain_tool_name`) when that is at most 64
    characters and no other id (nor a reserved name) has it; otherwise (too long, or shared)
    it is the plain name cut to 55 characters, ``_`` and 8 hex digits of the id's SHA-256.
    Every id sharing a plain name gets such a name, so which pack came first changes nothing,
    and the names depend on the ids alone (a further digest only if that name is taken too)."""
    ids = sorted(set(idents))
    plain = {i: plain_tool_name(i) for i in ids}
    counts = Counter(plain.values())
    blocked = set(reserved)

    def clean(ident: str) -> bool:
        name = plain[ident]
        return len(name) <= MAX_TOOL_NAME and counts[name] == 1 and name not in blocked

    taken = blocked | {plain[i] for i in ids if clean(i)}
    names: dict[str, str] = {}
    for ident in ids:
        if clean(ident):
            names[ident] = plain[ident]
            continue
        attempt = 0
        name = _digested(ident, attempt)
        while name in taken:
            attempt += 1
            name = _digested(ident, attempt)
        taken.add(name)
        names[ident] = name
        if counts[plain[ident]] > 1 or plain[ident] in blocked:
            others = sorted(i for i in ids if plain[i] == plain[ident] and i != ident)
            log.warning(
                "MCP tool name %s is shared by %s: its tool is named %s",
                plain[ident],
                ", ".join([ident, *others, *sorted(blocked & {plain[ident]})]),
                name,
            )
    return names


@functools.cache
def reply_schema() -> dict[str, Any]:
    """The result object's JSON Schema (reply.schema.json, without its ``$id``), the
    ``outputSchema`` of a tool whose commands answer tables."""
    import json
    from importlib.resources import files

    schema: dict[str, Any] = json.loads(
        files("opspack").joinpath("schemas/reply.schema.json").read_text(encoding="utf-8")
    )
    schema.pop("$id", None)
    return schema


def output_schema(entries: Iterable[Entry]) -> dict[str, Any] | None:
    """The ``outputSchema`` of a tool for ``entries``: the result object's schema when one of
    them answers tables, else None."""
    return reply_schema() if any("table" in e.get("result_kinds", ()) for e in entries) else None


def _describe(entry: Entry) -> str:
    chat = entry["chat"]
    lines = [entry["summary"]]
    if entry.get("description"):
        lines += ["", entry["description"].strip()]
    lines += ["", f"Chat usage: {chat['usage']}"]
    if chat.get("examples"):
        lines.append("Examples: " + "; ".join(chat["examples"]))
    return "\n".join(lines)


def command_tools(entries: Iterable[Entry], names: Mapping[str, str] | None = None) -> list[ToolSpec]:
    """One tool per command; ``names``: each command id's tool name (default
    :func:`tool_names` of these commands)."""
    entries = list(entries)
    if names is None:
        names = tool_names((e["id"] for e in entries), reserved=(CONFIRM_TOOL,))
    return [
        ToolSpec(
            name=names[e["id"]],
            title=e["summary"],
            description=_describe(e),
            input_schema=e["args_schema"],
            read_only=bool(e["effects"]["read_only"]),
            destructive=bool(e["effects"]["destructive"]),
            idempotent=bool(e["effects"]["idempotent"]),
            output_schema=output_schema([e]),
        )
        for e in entries
    ]


def groups_of(entries: Iterable[Entry]) -> dict[str, dict[str, Entry]]:
    """Commands by group, each by verb (the id's last part)."""
    groups: dict[str, dict[str, Entry]] = {}
    for e in entries:
        groups.setdefault(e["group"], {})[e["id"].rsplit(".", 1)[-1]] = e
    return groups


def group_tools(entries: Iterable[Entry], names: Mapping[str, str] | None = None) -> list[ToolSpec]:
    """One tool per pack group: ``{"command": verb, "args": {...}}``; ``names``: each group
    id's tool name (default :func:`tool_names` of these groups)."""
    groups = groups_of(entries)
    if names is None:
        names = tool_names(groups, reserved=(CONFIRM_TOOL,))
    tools = []
    for group, verbs in sorted(groups.items()):
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
                name=names[group],
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
                output_schema=output_schema(verbs.values()),
            )
        )
    return tools


def confirm_tool() -> ToolSpec:
    """``opspack_confirm``: run what a confirmation token confirms."""
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


@dataclass(frozen=True)
class Naming:
    """The tool names of one registry: id (of a command, or of a group with
    ``--group-tools``) to name, and back, and the registry's groups."""

    names: dict[str, str]
    targets: dict[str, str]
    groups: dict[str, dict[str, Entry]] = field(default_factory=dict)

    @classmethod
    def of(cls, registry: Registry, grouped: bool) -> Naming:
        """The names of every command (or group) of ``registry``, whatever a caller may see or a
        filter keeps, so that a tool's name never depends on who asks."""
        groups = groups_of(registry)
        idents = list(groups) if grouped else [e["id"] for e in registry]
        names = tool_names(idents, reserved=(CONFIRM_TOOL,))
        return cls(names=names, targets={name: ident for ident, name in names.items()}, groups=groups)


class McpFrontend:
    """Tool listing and tool calls on top of a :class:`Gateway` (SDK-independent core).

    ``read_only``: only read-only commands, and no ``opspack_confirm``; ``packs``: only these
    packs' commands (None: all)."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        grouped: bool = False,
        user: str = "mcp",
        profile: str | None = None,
        read_only: bool = False,
        packs: Iterable[str] | None = None,
    ):
        self.gateway = gateway
        self.grouped = grouped
        self.user = user
        self.profile = profile
        self.read_only = read_only
        self.packs = frozenset(packs) if packs is not None else None
        self._naming: tuple[Registry, Naming] | None = None
        self._lock = threading.Lock()

    def caller(self, on_progress: ProgressListener | None = None, bearer: str | None = None) -> Caller:
        """Who runs the tools; ``on_progress`` gets each progress report of the command;
        ``bearer``: the name of the bearer token the call came with (HTTP)."""
        return Caller(
            user=self.user, frontend="mcp", format="json", profile=self.profile, on_progress=on_progress, token=bearer
        )

    def naming(self) -> Naming:
        """The tool names of the gateway's registry (worked out again when it is replaced)."""
        registry = self.gateway.registry
        with self._lock:
            if self._naming is None or self._naming[0] is not registry:
                self._naming = (registry, Naming.of(registry, self.grouped))
            return self._naming[1]

    def serves(self, entry: Entry) -> bool:
        """Whether the filters keep ``entry`` (``--read-only``, ``--packs``)."""
        if self.read_only and not entry["effects"]["read_only"]:
            return False
        return self.packs is None or entry["pack"]["name"] in self.packs

    def tools(self) -> list[ToolSpec]:
        """The tools the caller may see, the filters applied."""
        entries = [e for e in self.gateway.visible(self.caller()) if self.serves(e)]
        names = self.naming().names
        specs = group_tools(entries, names) if self.grouped else command_tools(entries, names)
        return specs if self.read_only else [*specs, confirm_tool()]

    def tool_name(self, ident: str) -> str | None:
        """The tool name of a command id (a group id with ``--group-tools``), or None."""
        return self.naming().names.get(ident)

    def call(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        on_progress: ProgressListener | None = None,
        bearer: str | None = None,
    ) -> Reply:
        """Run tool ``name`` (blocking: call it from a worker thread); ``on_progress`` gets each
        progress report while it runs; ``bearer``: the HTTP bearer token's name."""
        args = dict(arguments or {})
        caller = self.caller(on_progress, bearer)
        if name == CONFIRM_TOOL and not self.read_only:
            token = str(args.get("token") or "")
            return self._foreign(token, caller) or self.gateway.chat(None, caller, confirm_token=token)
        naming = self.naming()
        target = naming.targets.get(name)
        unknown = Reply.failure(Error("usage", f"Unknown tool {name}.", "List the tools (tools/list) for their names."))
        if target is None:
            return unknown
        if self.grouped:
            verbs = {v: e for v, e in naming.groups.get(target, {}).items() if self.serves(e)}
            if not verbs:
                return unknown
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
        found = self.gateway.registry.get(target)
        if found is None or not self.serves(found):
            return unknown
        return self._confirming(self.gateway.invoke(target, args, caller))

    def confirm(self, token: str, on_progress: ProgressListener | None = None, bearer: str | None = None) -> Reply:
        """Run what ``token`` confirms (the user accepted the elicitation)."""
        return self.gateway.confirm(token, self.caller(on_progress, bearer))

    def decline(self, confirm: Confirmation, action: str, bearer: str | None = None) -> Reply:
        """The user did not accept: throw the token away and say what did not run."""
        if confirm.token:
            self.gateway.decline(confirm.token, self.caller(bearer=bearer))
        what = confirm.text or confirm.command
        said = "declined" if action == "decline" else "dismissed the question"
        return Reply.failure(Error("denied", f"Not run: the user {said} `{what}`."), confirm.command)

    def _foreign(self, token: str, caller: Caller) -> Reply | None:
        """The refusal of a token that would run a command the filters leave out (issued by
        another front-end that shares the confirmations), recorded; None when it may run.
        The token stays unused, for where it was asked."""
        if self.packs is None or not token:
            return None
        pending = self.gateway.confirmations.peek(token)
        if pending is None:
            return None  # unknown or expired: the gateway says so
        entry = self.gateway.registry.get(pending.command)
        if entry is not None and self.serves(entry):
            return None
        packs = ", ".join(sorted(self.packs))
        error = Error(
            "denied",
            f"This MCP server runs only the commands of {packs}: {pending.command} is not one of them.",
            "Confirm it where it was asked.",
        )
        return self.gateway.runtime.refuse(
            pending.text, error, caller, command=pending.command, reason=f"outside the MCP server's packs ({packs})"
        )

    def _confirming(self, reply: Reply) -> Reply:
        error = reply.error
        if error is not None and error.confirm is not None and error.confirm.token and not self.read_only:
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
    """The SDK's Tool for ``spec``."""
    import mcp_types as types

    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema,
        output_schema=spec.output_schema,
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


def bearer_name(ctx: Any) -> str | None:
    """The name of the bearer token the HTTP request of ``ctx`` came with (None over stdio)."""
    scope = getattr(getattr(ctx, "request", None), "scope", None)
    token = scope.get(TOKEN_SCOPE_KEY) if isinstance(scope, Mapping) else None
    return token.name if isinstance(token, BearerToken) else None


#: seconds between two looks at the installed packs when neither ``[mcp]`` nor ``[serve]`` says
DEFAULT_RELOAD_S = 60.0


def reload_interval(config: Config, frontend: str = "mcp") -> float:
    """Seconds between two looks at the installed packs (0: only on SIGHUP and the ``packs``
    commands): ``[<frontend>] reload_s`` (``OPSPACK_<FRONTEND>_RELOAD_S``; ``[mcp]`` by
    default, ``[slack]`` for ``opspack slack``), else the runner's ``[serve] reload_s``
    (``OPSPACK_SERVE_RELOAD_S``), else 60. A :class:`ConfigError` when it is not a number of
    at least 0."""
    from opspack.errors import ConfigError

    env = config.environ
    own = f"OPSPACK_{frontend.upper()}_RELOAD_S"
    sources = (
        (own, env.get(own)),
        (f"[{frontend}] reload_s", config.table(frontend).get("reload_s")),
        ("OPSPACK_SERVE_RELOAD_S", env.get("OPSPACK_SERVE_RELOAD_S")),
        ("[serve] reload_s", config.table("serve").get("reload_s")),
    )
    for where, raw in sources:
        if raw is None or raw == "":
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not (value >= 0 and math.isfinite(value)):  # (NaN too)
            raise ConfigError(f"{where} is {raw!r}, expected a number of seconds of at least 0")
        return value
    return DEFAULT_RELOAD_S


class ToolListNotifier:
    """Tells every connected MCP session that the tool list changed
    (``notifications/tools/list_changed``), from whichever thread the registry changed on.

    A session of the handshake protocol versions runs :meth:`serve_session` for as long as it
    is open (the handler of its ``notifications/initialized``), which sends the notification on
    the session's standalone channel (stdio: the pipe; streamable HTTP: the client's GET
    stream); a client of the 2026-07-28 protocol hears it on the ``subscriptions/listen``
    stream it opened (:attr:`bus`). :meth:`changed` is the runtime's reload listener: it hands
    the news to the server's event loop (:meth:`attach`) and returns at once."""

    def __init__(self) -> None:
        from mcp.server.subscriptions import InMemorySubscriptionBus

        #: where the ``subscriptions/listen`` streams (2026-07-28) hear of changes
        self.bus = InMemorySubscriptionBus()
        self._loop: asyncio.AbstractEventLoop | None = None
        # one per open session: a change puts a mark in it (at most one waits)
        self._sessions: set[Any] = set()
        self._tasks: set[asyncio.Future[Any]] = set()

    @property
    def sessions(self) -> int:
        """How many sessions of the handshake protocol versions are open."""
        return len(self._sessions)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send from now on through ``loop``, the event loop the server's sessions run on."""
        self._loop = loop

    def changed(self, change: RegistryChange | None = None) -> None:
        """The registry changed (any thread, the event loop's included): tell every session."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody to tell
            loop.call_soon_threadsafe(self._fan_out)

    def _fan_out(self) -> None:
        """On the event loop: a mark for each session, an event for the listen streams."""
        import anyio
        from mcp.server.subscriptions import ToolsListChanged

        for mark in list(self._sessions):
            with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                mark.send_nowait(None)  # one waiting already says it all
        task = asyncio.ensure_future(self.bus.publish(ToolsListChanged()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def serve_session(self, session: Any) -> None:
        """While ``session`` (the SDK's ServerSession of a handshake-era connection) is open:
        send it ``notifications/tools/list_changed`` after each change. Ends when the client
        goes away (the connection's tasks are cancelled, or a send finds the stream closed)."""
        import anyio

        self._loop = self._loop or asyncio.get_running_loop()
        marks, inbox = anyio.create_memory_object_stream[None](1)
        self._sessions.add(marks)
        try:
            async with inbox:
                async for _ in inbox:
                    try:
                        await session.send_tool_list_changed()
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        return
        finally:
            self._sessions.discard(marks)
            marks.close()

    def close(self) -> None:
        """Stop: no session is told anything any more."""
        for marks in list(self._sessions):
            marks.close()
        self._sessions.clear()
        self._loop = None


def build_server(frontend: McpFrontend, *, reload_s: float = 0.0, notifier: ToolListNotifier | None = None) -> Any:
    """The SDK's low-level Server wired to ``frontend``; it declares ``tools.listChanged`` and,
    while it runs (its lifespan), ``notifier`` (default a new one) tells its sessions of each
    change of the runtime's registry, which it reads again on SIGHUP and every ``reload_s``
    seconds (0: never by itself; a registry file is never read again)."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel.server import NotificationOptions, Server
    from mcp.server.subscriptions import ListenHandler

    from opspack.frontends.serve import reloading
    from opspack.version import __version__

    tools_changed = notifier or ToolListNotifier()
    runtime = frontend.gateway.runtime

    class ListChangedServer(Server):
        """The low-level Server, its handshake declaring ``tools.listChanged``."""

        def create_initialization_options(
            self,
            notification_options: Any = None,
            experimental_capabilities: Any = None,
            extensions: Any = None,
        ) -> Any:
            options = notification_options or NotificationOptions(tools_changed=True)
            return super().create_initialization_options(options, experimental_capabilities, extensions)

    @contextlib.asynccontextmanager
    async def lifespan(server: Any) -> AsyncIterator[dict[str, Any]]:
        tools_changed.attach(asyncio.get_running_loop())
        runtime.reload_listeners.append(tools_changed.changed)
        try:
            async with reloading(runtime, reload_s):
                yield {}
        finally:
            with contextlib.suppress(ValueError):
                runtime.reload_listeners.remove(tools_changed.changed)
            tools_changed.close()

    async def initialized(ctx: Any, params: Any) -> None:
        await tools_changed.serve_session(ctx.session)

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[to_sdk_tool(t) for t in frontend.tools()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        bearer = bearer_name(ctx)
        async with progress_sender(ctx) as on_progress:
            reply = await anyio.to_thread.run_sync(frontend.call, params.name, params.arguments, on_progress, bearer)
            confirm = reply.error.confirm if reply.error is not None else None
            if confirm is not None and confirm.token and not confirm.approvers and _can_elicit(ctx):
                answer = await ctx.session.elicit_form(
                    confirm.prompt,
                    ELICIT_SCHEMA,
                    related_request_id=getattr(ctx, "request_id", None),
                )
                if answer.action == "accept" and (answer.content or {}).get("confirm") is True:
                    reply = await anyio.to_thread.run_sync(frontend.confirm, confirm.token, on_progress, bearer)
                else:
                    reply = frontend.decline(confirm, answer.action, bearer)
        return tool_result(reply)

    server = ListChangedServer(
        SERVER_NAME,
        version=__version__,
        instructions=(
            "opspack chat-ops commands. Destructive tools ask the user through elicitation when the "
            "client supports it; otherwise they answer a confirmation request first: ask the user, "
            f"then call {CONFIRM_TOOL} with the token."
        ),
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(tools_changed.bus),
    )
    server.add_notification_handler("notifications/initialized", types.NotificationParams, initialized)
    return server


def check_packs(registry: Registry, packs: Iterable[str] | None) -> frozenset[str] | None:
    """The ``--packs`` filter, every name an installed pack (else a :class:`ConfigError`)."""
    from opspack.errors import ConfigError

    if packs is None:
        return None
    wanted = frozenset(packs)
    known = sorted(p["name"] for p in registry.packs)
    if not wanted:
        raise ConfigError("--packs names no pack", f"Name one or more of the installed packs: {', '.join(known)}.")
    unknown = sorted(n for n in wanted if registry.pack(n) is None)
    if unknown:
        raise ConfigError(
            f"--packs names packs that are not installed: {', '.join(unknown)}",
            f"Installed packs: {', '.join(known) or 'none'}.",
        )
    return wanted


def _frontend(
    runtime: Any,
    *,
    group_tools: bool,
    user: str,
    profile: str | None,
    read_only: bool,
    packs: Iterable[str] | None,
    confirm_ttl: float | None = None,
) -> McpFrontend:
    """The front-end over ``runtime``, its policy loaded and ``packs`` checked."""
    runtime.require_policy()  # a policy that does not load: the server does not start
    wanted = check_packs(runtime.registry, packs)
    gateway = Gateway(runtime) if confirm_ttl is None else Gateway(runtime, confirm_ttl=confirm_ttl)
    return McpFrontend(gateway, grouped=group_tools, user=user, profile=profile, read_only=read_only, packs=wanted)


def _reload_s(runtime: Any) -> float:
    """The periodic check's interval for ``runtime`` (0 when it serves a registry file)."""
    import os

    from opspack.settings import Config

    return reload_interval(Config.load(environ=dict(os.environ))) if runtime.reloadable else 0.0


def run_stdio(
    registry: Registry | None = None,
    *,
    group_tools: bool = False,
    user: str = "mcp",
    profile: str | None = None,
    read_only: bool = False,
    packs: Iterable[str] | None = None,
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
        frontend = _frontend(
            runtime, group_tools=group_tools, user=user, profile=profile, read_only=read_only, packs=packs
        )
        server = build_server(frontend, reload_s=_reload_s(runtime))
    except BaseException:
        runtime.close()
        raise

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        runtime.close()
    return 0


class TokenBinding:
    """ASGI middleware behind the :class:`~opspack.frontends.guard.Guard`: a token whose
    ``users`` leave out the user the tools run as is refused (403); any other token becomes
    the owner of the MCP sessions it opens (the SDK answers a session's requests only for the
    credential that opened it)."""

    def __init__(self, app: ASGIApp, user: str) -> None:
        self.app = app
        self.user = user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = scope.get(TOKEN_SCOPE_KEY) if scope["type"] == "http" else None
        if isinstance(token, BearerToken):
            from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
            from mcp.server.auth.provider import AccessToken

            from opspack.frontends.guard import send_error

            refusal = token.refusal(self.user)
            if refusal is not None:
                hint = f"Add {self.user} to the token's users in [serve.tokens.{token.name}], or use another token."
                await send_error(send, 403, refusal, hint)
                return
            scope["user"] = AuthenticatedUser(AccessToken(token=token.name, client_id=token.name, scopes=[]))
        await self.app(scope, receive, send)


def http_app(
    frontend: McpFrontend, settings: ServeSettings, *, host: str = "127.0.0.1", reload_s: float = 0.0
) -> ASGIApp:
    """The streamable HTTP app (at :data:`MCP_PATH`) behind the runner's guard: bearer tokens
    (401), what each token may speak for (403), its rate limit (429) and the body limit (413).
    ``host``: where it listens (on a loopback address the SDK refuses other Host headers);
    ``reload_s``: seconds between two looks at the installed packs (:func:`build_server`)."""
    from opspack.frontends.guard import Guard

    app = build_server(frontend, reload_s=reload_s).streamable_http_app(
        streamable_http_path=MCP_PATH, host=host, max_request_body_size=settings.max_body
    )
    return Guard(
        TokenBinding(app, frontend.user),
        settings.bearer,
        settings.max_body,
        public=frozenset(),
        rate=settings.rate,
        burst=settings.burst,
    )


def run_http(
    registry: Registry | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    group_tools: bool = False,
    user: str = "mcp",
    profile: str | None = None,
    read_only: bool = False,
    packs: Iterable[str] | None = None,
) -> int:
    """Serve MCP over streamable HTTP at ``http://host:port/mcp`` until interrupted
    (``opspack mcp --http``); the bearer tokens and limits are the runner's (``[serve]``)."""
    import os

    import uvicorn

    from opspack.errors import ConfigError
    from opspack.executor import for_runner
    from opspack.frontends.serve import ServeSettings
    from opspack.runtime import Runtime
    from opspack.settings import Config

    config = Config.load(environ=dict(os.environ))
    settings = ServeSettings.load(config)
    if not settings.tokens:
        raise ConfigError(
            "--http has no bearer tokens, so nobody could use it",
            "Add [serve.tokens.<name>] tables (token, users, groups) to opspack.toml, or set "
            "OPSPACK_SERVE_TOKENS (comma-separated; env:, file: or vault: references allowed).",
        )
    runtime = Runtime(registry, config=config, executor=for_runner)
    try:
        frontend = _frontend(
            runtime,
            group_tools=group_tools,
            user=user,
            profile=profile,
            read_only=read_only,
            packs=packs,
            confirm_ttl=settings.confirm_ttl,
        )
        app = http_app(frontend, settings, host=host, reload_s=reload_interval(config) if runtime.reloadable else 0.0)
    except BaseException:
        runtime.close()
        raise
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, ws="none", lifespan="on", log_level="warning"))
    try:
        server.run()
    finally:
        runtime.close()
    return 0


__all__ = [
    "CONFIRM_TOOL",
    "MCP_PATH",
    "TOOL_NAME_PATTERN",
    "McpFrontend",
    "Naming",
    "TokenBinding",
    "ToolListNotifier",
    "ToolSpec",
    "bearer_name",
    "build_server",
    "check_packs",
    "command_tools",
    "group_tools",
    "http_app",
    "output_schema",
    "plain_tool_name",
    "progress_sender",
    "progress_values",
    "reload_interval",
    "reply_schema",
    "run_http",
    "run_stdio",
    "tool_names",
]
