"""``opspack serve``: the HTTP runner any bot, in any language, calls (Starlette + uvicorn).

Endpoints (every one but ``GET /healthz`` needs ``Authorization: Bearer <token>``):

- ``GET /healthz``: liveness, no token.
- ``GET /registry``: registry.json's shape, holding what the caller may run
  (``?user=...&groups=a,b``; the runtime's gates decide).
- ``POST /invoke``: ``{"command": id, "args": {...}, "user", "groups", "channel", "format",
  "profile", "confirm_token"}``.
- ``POST /chat``: ``{"text": "vm list --cluster c1", "user", "groups", "channel", "format",
  "profile", "confirm_token"}``.
- ``GET /openapi.json``: the OpenAPI 3.1 document of all this.
- ``POST /teams/messages``: Microsoft Teams outgoing webhook (HMAC-signed, see
  :mod:`opspack.frontends.teams`), when a Teams secret is configured.
- ``GET /artifacts/<id>?exp=&sig=``: a file a reply linked (a cut table's CSV, an image
  over a platform's size), no token: the signature is the authentication (see
  :mod:`opspack.frontends.artifacts`; 403 for a wrong signature, 404 once expired).

``/invoke`` and ``/chat`` answer 200 whenever a command was looked up and answered,
whatever its outcome. With ``"format": "json"`` (the default) the body is the result
object (``{"ok", "command", "results", "error"}``); with any other format it is
``{"reply": <result object>, "rendered": <render(reply, format)>}`` (a string for text
and markdown, a list of platform messages for slack, teams and mattermost). What a
platform cannot carry is stored and linked in ``rendered`` (:mod:`opspack.frontends.artifacts`):
Teams cards link a cut table's CSV and an image over their size, upload entries carry a
``url`` beside their bytes, text and Markdown link images.
Errors of the request itself use the result object's shape too: 400 (malformed:
not JSON, JSON nested over ``max_json_depth``, wrong fields), 401 (no or unknown token),
408 (headers or body too slow), 413 (body over ``max_body``), 429 (the token's rate limit,
with ``Retry-After``; kind ``busy``), 431 (headers over ``max_header``).

A destructive command answers ``ok: false``, error kind ``denied`` with
``error.confirm = {command, args, prompt, text, token}``. Sending the token back
(``{"confirm_token": token, "user": <same user>}`` to /invoke or /chat, optionally
with the same command or text) runs it. A token is valid once, for that user, for
``confirm_ttl`` seconds (300). Tokens are kept in the audit trail's database, so
several runners sharing it (a PostgreSQL ``OPSPACK_AUDIT_URL``) behind one address
accept each other's tokens; with the trail off, in the runner's process.

Commands run in the runtime's executor (worker processes by default, see
:mod:`opspack.executor`). A plain call is awaited on the event loop itself (the
worker's pipe is read when it is readable: no thread is woken); confirmations, approvals
and anything that may wait for a database go through worker threads (``anyio.to_thread``
with a capacity limiter, ``threads``), so a slow backend never blocks the event loop.

Who is calling: each bearer token has a name. ``[serve.tokens.<name>]`` tables give
``token`` (a value or an ``env:``, ``file:`` or ``vault:`` reference), ``users`` (``"*"`` or
the list of chat users the bot may speak for) and ``groups`` (true: it may pass group
names; default false). ``OPSPACK_SERVE_TOKENS`` (comma-separated references or values) or a
list ``tokens = [...]`` in ``[serve]`` still work: those are named ``default``, ``default2``
..., speak for any user and may pass groups (they could name any user anyway). A request's
``groups`` (or ``roles``, its older name) are group names, mapped to roles only by the
policy's ``[groups]``. A call for a user outside its token's ``users``, or with groups from
a token that may not pass them, answers 403 with a result object (kind ``denied``) and is
recorded. The token's name is in every audit record of its calls.

A bearer token counts only in the ``Authorization`` header (one in the query string
authenticates nothing), and every access-log line goes through the masker.

Settings, in the ``[serve]`` table or as ``OPSPACK_SERVE_<NAME>``: ``max_body`` (bytes,
default 1 MiB), ``max_json_depth`` (32), ``confirm_ttl`` (seconds), ``threads``, ``rate``
(requests a second per token, 50; 0: no limit) and ``burst`` (200), and for the connections
(see :mod:`opspack.frontends.listener`) ``keep_alive`` (5 s), ``header_timeout`` (10 s),
``body_timeout`` (30 s), ``max_header`` (bytes, 16 KiB), ``max_connections`` (10,000, and
always below the open-files limit) and ``fd_reserve`` (256); for the linked files
``public_url`` (the runner's address as chat users reach it; default: the address the
bot called), ``artifact_ttl_s`` (86400), ``artifact_dir`` and ``artifact_key``
(:mod:`opspack.frontends.artifacts`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opspack.context import Caller
from opspack.errors import ConfigError
from opspack.frontends.artifacts import INLINE_TYPES, ROUTE_PREFIX, ArtifactStore
from opspack.frontends.gateway import Gateway
from opspack.frontends.guard import (
    DEFAULT_JSON_DEPTH,
    KINDS,
    PUBLIC_PATHS,
    TEAMS_TOKEN_NAME,
    TOKEN_SCOPE_KEY,
    BadJson,
    BearerToken,
    BodyTooLarge,
    Guard,
    bearer_tokens,
    failure_body,
    read_json,
    too_large,
)
from opspack.jobs import STATES, Job
from opspack.renderers import FORMATS, render
from opspack.renderers.common import Linker
from opspack.results import Error, Reply
from opspack.settings import Config, resolve_reference
from opspack.version import __version__

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from opspack.frontends.listener import Limits

log = logging.getLogger("opspack.frontends.serve")

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_THREADS = 64
#: requests a second per token on average, and at once
DEFAULT_RATE = 50.0
DEFAULT_BURST = 200.0
#: open files kept free of connections: the databases, worker pipes, log files
DEFAULT_FD_RESERVE = 256
#: how often a Server-Sent Events stream looks at its job
EVENTS_POLL_S = 0.2

FormatName = Literal["text", "markdown", "slack", "teams", "mattermost", "json"]


# -- requests ------------------------------------------------------------------
class _CallerFields(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user: str = Field("anonymous", max_length=256, description="who asks (the bot's user id or name)")
    groups: list[str] = Field(
        default_factory=list,
        description="the user's groups on the platform; the policy's [groups] maps them to roles "
        "(the bearer token must be allowed to pass groups)",
    )
    roles: list[str] = Field(default_factory=list, description="the older name of `groups`: group names, not roles")
    channel: str | None = Field(None, max_length=256, description="where the user asks")
    format: FormatName = Field("json", description="json: the result object; other: rendered too")
    profile: str | None = Field(None, max_length=128, description="settings profile to use")
    confirm_token: str | None = Field(
        None, max_length=256, description="the token of a confirmation request: runs what it confirms"
    )
    run_async: bool = Field(
        False,
        alias="async",
        description="answer 202 with the job at once; follow it at /jobs/<id> or /jobs/<id>/events",
    )

    def caller(self, frontend: str, token: str | None = None) -> Caller:
        """Who asks: the user, their groups (``groups`` and ``roles`` together), where, and
        the name of the bearer token the request came with."""
        return Caller(
            user=self.user,
            groups=tuple(dict.fromkeys([*self.groups, *self.roles])),
            channel=self.channel,
            frontend=frontend,
            format=self.format,
            profile=self.profile,
            token=token,
        )


class InvokeRequest(_CallerFields):
    """Run one command by id with its arguments (typed values or chat strings)."""

    command: str | None = Field(None, max_length=256, description="the command id, e.g. server.host.test")
    args: dict[str, Any] = Field(default_factory=dict, description="the command's arguments (its args_schema)")


class ChatRequest(_CallerFields):
    """Run chat text exactly as a user would type it to a bot."""

    text: str | None = Field(None, max_length=16_000, description="the chat text, e.g. `vm list --cluster c1`")


# -- settings -------------------------------------------------------------------
@dataclass
class ServeSettings:
    """The runner's own settings (tokens, limits). ``tokens``: :class:`BearerToken`, or plain
    values (named by position, ``default``, ``default2`` ...)."""

    tokens: Sequence[BearerToken | str] = field(default_factory=list)
    max_body: int = DEFAULT_MAX_BODY
    confirm_ttl: float = 300.0
    threads: int = DEFAULT_THREADS
    #: how deep a request's JSON may nest
    max_json_depth: int = DEFAULT_JSON_DEPTH
    #: requests a second per token on average (0: no limit), and at once
    rate: float = DEFAULT_RATE
    burst: float = DEFAULT_BURST
    #: connections held at once (None: 10,000), always below the open-files limit
    max_connections: int | None = None
    #: open files kept for everything but connections (databases, worker pipes, logs)
    fd_reserve: int = DEFAULT_FD_RESERVE
    #: seconds a connection may wait idle for a request
    keep_alive: float = 5.0
    #: seconds a request's headers may take to arrive, and its body after them
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    #: bytes of a request's line and headers
    max_header: int = 16 * 1024
    #: seconds between two looks at the installed packs (0: only on SIGHUP and POST /admin/reload)
    reload_s: float = 60.0
    #: where new and changed commands are announced after a reload (None: nowhere); the
    #: runner posts through the Teams incoming webhook, which belongs to one channel
    announce_channel: str | None = None

    def limits(self, fd_limit: int | None) -> Limits:
        """The connections' limits, the cap kept below ``fd_limit`` open files."""
        from opspack.frontends.listener import Limits, connection_cap

        return Limits(
            max_connections=connection_cap(self.max_connections, fd_limit, self.fd_reserve),
            keep_alive=self.keep_alive,
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            max_header=self.max_header,
        )

    @property
    def bearer(self) -> list[BearerToken]:
        """The tokens, each with its name."""
        return bearer_tokens(self.tokens)

    @classmethod
    def load(cls, config: Config) -> ServeSettings:
        table = config.table("serve")
        env = config.environ
        raw_tokens: Any = env.get("OPSPACK_SERVE_TOKENS")
        configured = table.get("tokens", [])
        named: dict[str, Any] = configured if isinstance(configured, dict) else {}
        if raw_tokens:
            items = [t for t in str(raw_tokens).split(",") if t.strip()]
        elif isinstance(configured, str):
            items = [configured]
        elif isinstance(configured, list):
            items = configured
        else:
            items = []
        tokens: list[BearerToken | str] = []
        for item in items:
            value, _ = resolve_reference(str(item).strip(), env)
            if value:
                tokens.append(value)
        tokens += [_named_token(name, spec, env) for name, spec in named.items()]
        _distinct(bearer_tokens(tokens))

        def number(name: str, default: float, least: float = 1e-9) -> float:
            raw = env.get(f"OPSPACK_SERVE_{name.upper()}", table.get(name, default))
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"serve setting {name} is {raw!r}, expected a number") from None
            if not (value >= least and math.isfinite(value)):  # (NaN too)
                raise ConfigError(f"serve setting {name} is {raw!r}, expected a number of at least {least:g}")
            return value

        max_connections = int(number("max_connections", 0, least=0))
        return cls(
            tokens=tokens,
            max_body=int(number("max_body", DEFAULT_MAX_BODY, least=1)),
            confirm_ttl=number("confirm_ttl", 300.0),
            threads=int(number("threads", DEFAULT_THREADS, least=1)),
            max_json_depth=int(number("max_json_depth", DEFAULT_JSON_DEPTH, least=2)),
            rate=number("rate", DEFAULT_RATE, least=0),
            burst=number("burst", DEFAULT_BURST, least=1),
            max_connections=max_connections or None,
            fd_reserve=int(number("fd_reserve", DEFAULT_FD_RESERVE, least=0)),
            keep_alive=number("keep_alive", 5.0),
            header_timeout=number("header_timeout", 10.0),
            body_timeout=number("body_timeout", 30.0),
            max_header=int(number("max_header", 16 * 1024, least=1024)),
            reload_s=number("reload_s", 60.0, least=0),
            announce_channel=str(env.get("OPSPACK_SERVE_ANNOUNCE_CHANNEL", table.get("announce_channel", ""))) or None,
        )


#: the keys of a ``[serve.tokens.<name>]`` table
_TOKEN_KEYS = ("token", "users", "groups")


def _named_token(name: str, spec: Any, env: Mapping[str, str]) -> BearerToken:
    """A ``[serve.tokens.<name>]`` table as a token."""
    where = f"[serve.tokens.{name}]"
    hint = 'Write token = "env:NAME" (or a value), users = ["alice", "bob"] or "*", groups = true or false.'
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a table", hint)
    unknown = sorted(set(spec) - set(_TOKEN_KEYS))
    if unknown:
        raise ConfigError(f"{where} has unknown keys {', '.join(unknown)}", hint)
    if name == TEAMS_TOKEN_NAME:
        raise ConfigError(f"{where}: the name {name} is the Teams webhook's in the audit trail", "Name it otherwise.")
    raw = spec.get("token")
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{where} has no token", hint)
    value, _ = resolve_reference(raw.strip(), env)
    if not value:
        raise ConfigError(f"{where}: its token {raw.strip()!r} resolves to nothing", hint)
    users = spec.get("users")
    if users == "*":
        allowed: frozenset[str] | None = None
    elif isinstance(users, list) and users and all(isinstance(u, str) and u for u in users):
        allowed = frozenset(users)
    else:
        raise ConfigError(f'{where}: users must be "*" or a list of chat users (got {users!r})', hint)
    groups = spec.get("groups", False)
    if not isinstance(groups, bool):
        raise ConfigError(f"{where}: groups must be true or false (got {groups!r})", hint)
    return BearerToken(name, value, allowed, groups)


def _distinct(tokens: list[BearerToken]) -> None:
    """Each name and each value once (one value under two names would make the name a guess)."""
    names = [t.name for t in tokens]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"serve: two tokens are named {', '.join(twice)}", "Give each token its own name.")
    values = [t.value for t in tokens]
    if len(set(values)) != len(values):
        same = [t.name for t in tokens if values.count(t.value) > 1]
        raise ConfigError(f"serve: tokens {', '.join(same)} have the same value", "Give each bot its own token.")


def _event(name: str, data: Any) -> bytes:
    """One Server-Sent Event."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


# -- the application ---------------------------------------------------------------
def reply_body(reply: Reply, fmt: str, artifacts: Linker | None = None) -> dict[str, Any]:
    """What /invoke and /chat answer for ``reply`` in format ``fmt``; ``artifacts`` links
    what the platform cannot carry."""
    data = reply.to_dict()
    if fmt == "json":
        return data
    return {"reply": data, "rendered": render(reply, fmt, artifacts=artifacts)}


#: what a link to an artifact answers when it is not (or no longer) good: the same words
#: whatever the reason, so a guessed link learns nothing
_BAD_LINK = "This link is not valid."
_GONE_LINK = "This link has expired, or its file is gone."


def create_app(
    gateway: Gateway,
    settings: ServeSettings,
    *,
    extra_routes: list[Any] | None = None,
    public_paths: frozenset[str] = PUBLIC_PATHS,
    artifacts: ArtifactStore | None = None,
) -> Starlette:
    """The ASGI application: routes, the guard and the thread limiter; ``artifacts``: where
    what a platform cannot carry is stored and served from (None: it is not linked)."""
    import anyio
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import FileResponse, JSONResponse, StreamingResponse
    from starlette.routing import Route

    if artifacts is not None:
        public_paths = public_paths | {ROUTE_PREFIX}

    limiter: anyio.CapacityLimiter | None = None

    def get_limiter() -> anyio.CapacityLimiter:
        nonlocal limiter
        if limiter is None:
            limiter = anyio.CapacityLimiter(settings.threads)
        return limiter

    async def offload(func: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(func, *args, limiter=get_limiter())

    for bearer in settings.bearer:
        gateway.runtime.masker.add(bearer.value)

    async def parse(request: Request, model: type[BaseModel]) -> Any:
        try:
            raw = await request.body()
        except BodyTooLarge:
            raise HTTPException(413, too_large(settings.max_body)[0]) from None
        except ClientDisconnect:  # gone, or too slow (the listener answered 408): nobody reads this
            raise HTTPException(408, "The request's body did not arrive.") from None
        try:
            data = read_json(raw, settings.max_json_depth) if raw else None
        except BadJson as exc:
            raise HTTPException(400, str(exc)) from None
        if not isinstance(data, dict):
            raise HTTPException(400, "The body must be a JSON object.")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise HTTPException(400, f"Malformed request: {problems}.") from None

    def linker(request: Request) -> Linker | None:
        """Links at ``public_url``, else at the address this request came to."""
        return artifacts.linker(str(request.base_url)) if artifacts is not None else None

    def respond(reply: Reply, fmt: str, request: Request) -> Response:
        return JSONResponse(reply_body(reply, fmt, linker(request) if fmt != "json" else None))

    async def artifact(request: Request) -> Response:
        assert artifacts is not None
        artifact_id = request.path_params["artifact"]
        query = request.query_params
        if not artifacts.verify(artifact_id, query.get("exp"), query.get("sig")):
            return JSONResponse(failure_body(_BAD_LINK, None, "denied"), 403)
        found = None
        if int(query["exp"]) > time.time():
            found = await anyio.to_thread.run_sync(artifacts.find, artifact_id)
        if found is None:
            return JSONResponse(failure_body(_GONE_LINK, "Run the command again for a new link.", "not_found"), 404)
        meta, path = found
        inline = meta.mime in INLINE_TYPES
        left = max(0, min(meta.expires, int(query["exp"])) - int(time.time()))
        return FileResponse(
            path,
            media_type=meta.mime if inline or meta.mime.startswith("text/") else "application/octet-stream",
            filename=meta.filename,
            content_disposition_type="inline" if inline else "attachment",
            headers={
                "cache-control": f"private, max-age={left}",
                "x-content-type-options": "nosniff",
                "content-security-policy": "default-src 'none'; sandbox",
                "referrer-policy": "no-referrer",
            },
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "version": __version__, "commands": len(gateway.registry)})

    def token_of(request: Request) -> BearerToken | None:
        token: BearerToken | None = request.scope.get(TOKEN_SCOPE_KEY)
        return token

    def forbidden(why: str, command: str | None = None) -> Response:
        hint = (
            "Use a bearer token made for this user (its `users` in [serve.tokens.<name>]), or ask the runner's admin."
        )
        return JSONResponse(Reply.failure(Error("denied", why, hint), command).to_dict(), status_code=403)

    async def speaking(
        request: Request, body: _CallerFields, command: str | None, text: str | None
    ) -> Caller | Response:
        """The caller of a call, or the 403 that refuses it (recorded in the audit trail)
        when its token may not speak for that user or pass groups."""
        token = token_of(request)
        caller = body.caller("http", token.name if token is not None else None)
        why = token.refusal(caller.user, caller.groups) if token is not None else None
        if why is None:
            return caller
        response = forbidden(why, command)
        error = Error("denied", why)
        await offload(lambda: gateway.runtime.refuse(text, error, caller, command=command, reason=why))
        return response

    def may_see(request: Request, user: str) -> bool:
        token = token_of(request)
        return token is None or token.refusal(user) is None

    async def registry(request: Request) -> Response:
        query = request.query_params
        groups = tuple(g for name in ("groups", "roles") for g in query.get(name, "").split(",") if g)
        token = token_of(request)
        caller = Caller(user=query.get("user", "anonymous"), groups=groups, frontend="http")
        why = token.refusal(caller.user, caller.groups) if token is not None else None
        if why is not None:
            return forbidden(why)
        return JSONResponse(gateway.registry_data(caller))

    def accepted(started: Job | Reply, fmt: str, request: Request) -> Response:
        if isinstance(started, Reply):
            return respond(started, fmt, request)
        return JSONResponse({"job": started.summary()}, status_code=202)

    async def invoke(request: Request) -> Response:
        body: InvokeRequest = await parse(request, InvokeRequest)
        if not body.command and not body.confirm_token:
            raise HTTPException(400, "Malformed request: command is required (or a confirm_token).")
        caller = await speaking(request, body, body.command, body.command)
        if not isinstance(caller, Caller):
            return caller
        if body.run_async:
            started = await anyio.to_thread.run_sync(
                gateway.start_invoke, body.command, body.args, caller, body.confirm_token
            )
            return accepted(started, body.format, request)
        reply = await gateway.invoke_async(body.command, body.args, caller, body.confirm_token, offload)
        return respond(reply, body.format, request)

    async def chat(request: Request) -> Response:
        body: ChatRequest = await parse(request, ChatRequest)
        if not (body.text and body.text.strip()) and not body.confirm_token:
            raise HTTPException(400, "Malformed request: text is required (or a confirm_token).")
        caller = await speaking(request, body, None, body.text)
        if not isinstance(caller, Caller):
            return caller
        if body.run_async:
            started = await anyio.to_thread.run_sync(gateway.start_chat, body.text, caller, body.confirm_token)
            return accepted(started, body.format, request)
        reply = await gateway.chat_async(body.text, caller, body.confirm_token, offload)
        return respond(reply, body.format, request)

    async def admin_reload(request: Request) -> Response:
        """Read the installed packs again: the command ``packs reload`` (permission
        ``core.admin.reload``), for the user the body names."""
        body: InvokeRequest = await parse(request, InvokeRequest)
        caller = await speaking(request, body, RELOAD_COMMAND, "packs reload")
        if not isinstance(caller, Caller):
            return caller
        reply = await gateway.invoke_async(RELOAD_COMMAND, {}, caller, None, offload)
        denied = reply.error is not None and reply.error.kind == "denied"
        return JSONResponse(reply_body(reply, body.format), status_code=403 if denied else 200)

    def job_of(request: Request) -> int:
        try:
            return int(request.path_params["job"])
        except ValueError:
            raise HTTPException(404, f"There is no job {request.path_params['job']}.") from None

    async def job(request: Request) -> Response:
        job_id = job_of(request)
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise HTTPException(400, f"Malformed request: format {fmt!r} is not one of {', '.join(FORMATS)}.")
        found = await anyio.to_thread.run_sync(gateway.runtime.jobs.get, job_id)
        if found is None:
            return JSONResponse(failure_body(f"There is no job {job_id}.", "GET /jobs lists them.", "not_found"), 404)
        if not may_see(request, found.user):
            return forbidden(f"Job {job_id} is {found.user}'s, whom this token may not speak for.")
        body = found.to_dict()
        if fmt != "json" and found.reply is not None:  # its result as /chat renders it (a bot posts it as is)
            body["rendered"] = render(Reply.from_dict(found.reply), fmt, artifacts=linker(request))
        return JSONResponse(body)

    async def jobs(request: Request) -> Response:
        query = request.query_params
        states = [s for s in query.get("state", "").split(",") if s]
        unknown = [s for s in states if s not in STATES]
        if unknown:
            raise HTTPException(400, f"Malformed request: state {unknown[0]!r} is not one of {', '.join(STATES)}.")
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            raise HTTPException(400, "Malformed request: limit must be a number.") from None
        user = query.get("user") or None
        token = token_of(request)
        if user is not None and not may_see(request, user):
            return forbidden(f"The token {token.name if token else '?'} may not speak for {user}.")
        found = await anyio.to_thread.run_sync(lambda: gateway.runtime.jobs.find(user=user, states=states, limit=limit))
        # a token bound to users sees their jobs only
        return JSONResponse({"jobs": [j.to_dict() for j in found if may_see(request, j.user)]})

    async def job_events(request: Request) -> Response:
        job_id = job_of(request)
        first = await anyio.to_thread.run_sync(gateway.runtime.jobs.get, job_id)
        if first is None:
            return JSONResponse(failure_body(f"There is no job {job_id}.", "GET /jobs lists them.", "not_found"), 404)
        if not may_see(request, first.user):
            return forbidden(f"Job {job_id} is {first.user}'s, whom this token may not speak for.")

        async def stream() -> AsyncIterator[bytes]:
            state, lines = None, 0
            current: Job | None = first
            while True:
                if current is None:
                    return
                if current.state != state:
                    state = current.state
                    yield _event("state", {"id": current.id, "state": state})
                for line in current.progress[lines:]:
                    yield _event("progress", line.to_dict())
                lines = len(current.progress)
                if current.final:
                    yield _event("result", current.reply)
                    return
                if await request.is_disconnected():
                    return
                await anyio.sleep(EVENTS_POLL_S)
                current = await anyio.to_thread.run_sync(gateway.runtime.jobs.get, job_id)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
        )

    document: dict[str, Any] | None = None

    async def openapi(request: Request) -> Response:
        nonlocal document
        if document is None:
            document = openapi_document()
        return JSONResponse(document)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        hint = "See /openapi.json for the request shapes." if exc.status_code == 400 else None
        kind = KINDS.get(exc.status_code, "usage")
        return JSONResponse(failure_body(str(exc.detail), hint, kind), status_code=exc.status_code)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/registry", registry, methods=["GET"]),
        Route("/invoke", invoke, methods=["POST"]),
        Route("/chat", chat, methods=["POST"]),
        Route("/jobs", jobs, methods=["GET"]),
        Route("/jobs/{job}", job, methods=["GET"]),
        Route("/jobs/{job}/events", job_events, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *([Route(ROUTE_PREFIX + "{artifact}", artifact, methods=["GET"])] if artifacts is not None else []),
        Route("/admin/reload", admin_reload, methods=["POST"]),
        *(extra_routes or []),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error},
        lifespan=lambda app: reloading(gateway.runtime, settings.reload_s),
    )
    app.add_middleware(
        Guard,
        tokens=settings.bearer,
        max_body=settings.max_body,
        public=public_paths,
        rate=settings.rate,
        burst=settings.burst,
    )
    app.state.gateway = gateway
    return app


#: the command ``POST /admin/reload`` runs
RELOAD_COMMAND = "core.packs.reload"


@contextlib.asynccontextmanager
async def reloading(runtime: Any, every_s: float) -> AsyncIterator[None]:
    """While the app runs: read the installed packs again on SIGHUP and every ``every_s``
    seconds (0: never by itself); each look is cheap when nothing was installed."""
    import asyncio
    import signal

    if not getattr(runtime, "reloadable", False):
        yield
        return
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Future[Any]] = set()

    def failed(task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("reading the installed packs failed: %s", task.exception())

    def look(reason: str) -> None:
        task = asyncio.ensure_future(asyncio.to_thread(runtime.reload, reason))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(failed)

    async def periodic() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.to_thread(runtime.reload, "periodic check")
            except Exception:
                log.exception("reading the installed packs failed")

    hup = False
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
        loop.add_signal_handler(signal.SIGHUP, look, "SIGHUP")
        hup = True
    ticker = asyncio.ensure_future(periodic()) if every_s > 0 else None
    try:
        yield
    finally:
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in [ticker, *tasks]:
            if task is not None:
                task.cancel()


def announcement(registry: Any, change: Any) -> Reply | None:
    """The message that announces a reload's new and changed commands (None: none to announce)."""
    from opspack.results import Table, Text

    rows = []
    for kind, ids in (("new", change.added), ("changed", change.changed)):
        for cid in ids:
            entry = registry.get(cid)
            if entry is not None:
                rows.append([kind, entry.get("chat", {}).get("usage") or cid, entry.get("summary", "")])
    if not rows:
        return None
    head = Text(f"New commands ({change.summary()}). Type `help <command>` for its arguments and examples.")
    table = Table(columns=["", "command", "what it does"], rows=rows, title="What's new")
    return Reply(ok=True, command="core.whats_new.show", results=[head, table])


def announcer(runtime: Any, post: Any) -> Any:
    """A reload listener that posts :func:`announcement` with ``post(activity)`` (Teams), from
    a thread of its own: a slow channel never holds a reload."""
    from opspack.frontends.teams import webhook_activities
    from opspack.threads import start_thread

    def announce(change: Any) -> None:
        message = announcement(runtime.registry, change)
        if message is None:
            return

        def send() -> None:
            for activity in webhook_activities(message):
                if not post(activity):
                    log.error("the announcement of new commands was not taken")
                    return

        start_thread(send, name="opspack-announce")

    return announce


def keep_snapshots(runtime: Any) -> None:
    """Keep a snapshot of the runner's commands in its database now (when they differ from the
    newest kept) and after each reload that changed them, with who or what changed them:
    ``whats-new`` compares them."""
    audit = runtime.audit
    if audit is None:
        return

    def keep(reason: str) -> None:
        try:
            audit.snapshot(runtime.registry, reason)
        except Exception:
            log.exception("keeping a snapshot of the commands failed")

    keep("runner start")
    runtime.reload_listeners.append(lambda change: keep(change.reason))


def build_app(
    runtime: Any = None,
    *,
    config: Config | None = None,
    settings: ServeSettings | None = None,
) -> Starlette:
    """The runner's app from settings (tokens from the environment or opspack.toml)."""
    from opspack.runtime import Runtime

    config = config or Config.load()
    settings = settings or ServeSettings.load(config)
    if runtime is None:
        from opspack.executor import for_runner

        runtime = Runtime(config=config, max_workers=settings.threads, executor=for_runner)
    gateway = Gateway(runtime, confirm_ttl=settings.confirm_ttl)
    artifacts = ArtifactStore.from_config(config, mask=runtime.masker.add)
    artifacts.sweep()
    extra: list[Any] = []
    public = PUBLIC_PATHS
    from opspack.frontends.teams import TeamsSettings, teams_routes

    teams = TeamsSettings.load(config)
    if settings.announce_channel:
        if teams.incoming_webhook:
            from opspack.frontends.teams import IncomingWebhook

            runtime.reload_listeners.append(announcer(runtime, IncomingWebhook(teams.incoming_webhook).post))
        else:
            log.warning(
                "[serve] announce_channel is %s, but no front-end of this runner can post there "
                "(set the Teams incoming_webhook of that channel)",
                settings.announce_channel,
            )
    if teams.secret:
        extra += teams_routes(gateway, teams, max_json_depth=settings.max_json_depth, artifacts=artifacts)
        public = public | {"/teams/messages"}
    return create_app(gateway, settings, extra_routes=extra, public_paths=public, artifacts=artifacts)


# -- OpenAPI ---------------------------------------------------------------------------
def _reply_schemas() -> dict[str, Any]:
    """reply.schema.json, its $defs moved to components and refs rewritten."""
    from importlib.resources import files

    schema = json.loads(files("opspack").joinpath("schemas/reply.schema.json").read_text(encoding="utf-8"))
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: ("#/components/schemas/Reply_" + v.rsplit("/", 1)[-1] if k == "$ref" else fix(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    out = {"Reply": fix(schema)}
    out.update({f"Reply_{name}": fix(value) for name, value in defs.items()})
    return out


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the runner."""
    schemas: dict[str, Any] = _reply_schemas()
    for model in (InvokeRequest, ChatRequest):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Rendered"] = {
        "type": "object",
        "required": ["reply", "rendered"],
        "properties": {
            "reply": {"$ref": "#/components/schemas/Reply"},
            "rendered": {"description": "render(reply, format): a string, or a list of platform messages"},
        },
    }
    ref = {"$ref": "#/components/schemas/Reply"}
    answer = {
        "description": "The command was looked up and answered (ok or not).",
        "content": {
            "application/json": {
                "schema": {"oneOf": [ref, {"$ref": "#/components/schemas/Rendered"}]},
            }
        },
    }

    def failure(text: str) -> dict[str, Any]:
        return {"description": text, "content": {"application/json": {"schema": ref}}}

    errors = {
        "400": failure("Malformed request (not JSON, nested too deep, wrong fields)"),
        "401": failure("Missing or unknown bearer token (read from the Authorization header only)"),
        "403": failure("The bearer token may not speak for this user, or may not pass groups"),
        "408": failure("The headers or the body came too slowly"),
        "413": failure("Body over the size limit"),
        "429": {
            **failure("The token's rate limit: kind busy; try again after Retry-After seconds"),
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
        },
        "431": failure("Headers over the size limit"),
    }

    def post(summary: str, model: str) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
                },
                "responses": {"200": answer, **errors},
            }
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "opspack runner",
            "version": __version__,
            "description": "Run opspack commands from any bot. Formats: " + ", ".join(FORMATS) + ".",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Liveness (no token needed)",
                    "security": [],
                    "responses": {"200": {"description": "The runner is up"}},
                }
            },
            "/registry": {
                "get": {
                    "summary": "The registry, holding what the caller may run",
                    "parameters": [
                        {"name": "user", "in": "query", "schema": {"type": "string"}},
                        {"name": "groups", "in": "query", "schema": {"type": "string"}, "description": "a,b"},
                        {
                            "name": "roles",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "the older name of groups",
                        },
                    ],
                    "responses": {
                        "200": {"description": "registry.json's shape"},
                        "401": errors["401"],
                        "403": errors["403"],
                        "429": errors["429"],
                    },
                }
            },
            "/artifacts/{id}": {
                "get": {
                    "summary": "A file a reply linked (a cut table's CSV, a large image)",
                    "description": "No bearer token: the signature is the authentication. Links are made by the "
                    "runner only and expire after artifact_ttl_s.",
                    "security": [],
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "exp", "in": "query", "required": True, "schema": {"type": "integer"}},
                        {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {"description": "The file"},
                        "403": failure("The signature is wrong or missing"),
                        "404": failure("The link expired, or its file is gone"),
                    },
                }
            },
            "/invoke": post("Run a command by id", "InvokeRequest"),
            "/chat": post("Run chat text", "ChatRequest"),
            "/admin/reload": post(
                "Read the installed packs again (the command packs reload; permission core.admin.reload)",
                "InvokeRequest",
            ),
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    registry: Any = None,
    access_log: bool = True,
    log_level: str = "info",
) -> int:
    """Run the runner until interrupted (``opspack serve``)."""
    import uvicorn

    from opspack.executor import for_runner
    from opspack.runtime import Runtime

    # A snapshot of the environment: settings are read on every call, and a plain dict
    # is several times faster to scan than os.environ (the runner's env is fixed anyway).
    config = Config.load(environ=dict(os.environ))
    settings = ServeSettings.load(config)
    if not settings.tokens:
        raise ConfigError(
            "opspack serve has no bearer tokens, so nobody could use it",
            "Add [serve.tokens.<name>] tables (token, users, groups) to opspack.toml, or set "
            "OPSPACK_SERVE_TOKENS (comma-separated; env:, file: or vault: references allowed).",
        )
    from opspack.frontends.listener import AccessLogMasking, protocol_class, raise_fd_limit
    from opspack.masking import MaskingFilter

    fd_limit = raise_fd_limit()
    limits = settings.limits(fd_limit)
    runtime = Runtime(registry, config=config, max_workers=settings.threads, executor=for_runner)
    try:
        runtime.require_policy()
        keep_snapshots(runtime)
        app = build_app(runtime, config=config, settings=settings)
    except BaseException:
        runtime.close()
        raise
    server_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(limits),
        ws="none",
        timeout_keep_alive=max(1, round(limits.keep_alive)),
        access_log=access_log,
        log_level=log_level,
    )
    # (uvicorn's logging is configured by now: every line it writes goes through the masker)
    logging.getLogger("uvicorn.access").addFilter(AccessLogMasking(runtime.masker))
    logging.getLogger("uvicorn.error").addFilter(MaskingFilter(runtime.masker))
    log.info(
        "opspack serve: %d commands on http://%s:%d; tokens %s (at most %d connections; %s open files)",
        len(runtime.registry),
        host,
        port,
        ", ".join(t.name for t in settings.bearer),
        limits.max_connections,
        fd_limit or "unlimited",
    )
    # What is loaded now lives as long as the runner: out of the collector's way, so that its
    # full collections scan only what calls leave behind (tens of ms less at the tail).
    gc.collect()
    gc.freeze()
    # A call leaves a few hundred short-lived objects: collect the young generation every
    # 20,000 allocations instead of 700, so the pauses that hold every call in flight are
    # rarer (about 1/s instead of 100/s under load) and still short.
    gc.set_threshold(20_000, 10, 10)
    uvicorn.Server(server_config).run()
    runtime.close()
    return 0


__all__ = [
    "ChatRequest",
    "Guard",
    "InvokeRequest",
    "ServeSettings",
    "build_app",
    "create_app",
    "openapi_document",
    "reply_body",
    "serve",
]
