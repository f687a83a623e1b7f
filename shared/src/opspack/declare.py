"""Declaring a command: a typed function, a docstring and the :func:`command` decorator.

::

    @command(examples=["vm list --cluster prod"])
    def list_(ctx: Context, *, cluster: str | None = None, limit: int = 100) -> Table:
        '''List virtual machines.

        Args:
            cluster: only VMs in this cluster
            limit: at most this many rows
        '''

Parameters before ``*`` are typed positionally in chat; keyword-only parameters
are options (``--cluster prod``); a trailing ``_`` is dropped from an argument's
name, so a Python keyword can be an option (``from_`` is ``--from``). One
``dict[str, str]`` parameter may collect every ``KEY=value`` pair that names no
other argument. A parameter annotated
:class:`~opspack.context.Context` receives the invocation context and is not an
argument. The id is ``<pack>.<group>.<verb>``: the pack from the module's package
(``opspack_vmware``), the group from the module name (``vm``), the verb from the
function name (a trailing ``_`` is dropped), each overridable.

A list argument that makes work per value declares how many values it takes with
:class:`MaxItems` (``maxItems`` in its schema; more is a usage error in every front-end)::

    ports: Annotated[list[int] | None, MaxItems(32)] = None

An argument whose value is a secret is declared with ``secret=``::

    @command(mutating=True, secret=["passphrase"])
    def unlock(ctx: Context, disk: str, passphrase: str) -> Status: ...

Its schema property says ``"writeOnly": true`` (JSON Schema's mark for a value that is
sent and never shown back), and the core masks its value wherever it would be shown or
stored: the audit trail, history, confirmation requests, logs. Arguments named like
secrets (``password``, ``api_key``, ``SSH_KEY``...) are masked without being declared.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from opspack.registry import Effects

F = TypeVar("F", bound=Callable[..., Any])

SPEC_ATTR = "__opspack_command__"
#: the least timeout of a command declared ``long=True`` (seconds)
LONG_TIMEOUT_S = 3600.0
_ID_PART = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class MaxItems:
    """``typing.Annotated`` metadata of a list argument: it takes at most ``limit`` values.

    The limit is the argument's ``maxItems`` in ``args_schema``; a call with more values
    (from chat, ``/invoke``, MCP...) is a usage error before the command runs."""

    limit: int

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or isinstance(self.limit, bool) or self.limit < 1:
            raise ValueError(f"MaxItems takes a whole number of at least 1, not {self.limit!r}")


@dataclass(slots=True)
class ArgInfo:
    """One argument as the chat grammar and the schema see it."""

    name: str
    annotation: Any
    default: Any
    required: bool
    positional: bool
    description: str
    is_list: bool = False
    is_mapping: bool = False
    is_bool: bool = False
    #: the Python parameter's own name; ``name`` drops a trailing ``_`` (``from_`` -> ``--from``)
    param: str = ""
    #: a list argument's most values (:class:`MaxItems`), or None
    max_items: int | None = None
    #: its value is a secret (``@command(secret=[...])``): masked wherever it is shown or stored
    secret: bool = False

    def __post_init__(self) -> None:
        self.param = self.param or self.name

    def expected(self) -> str:
        """What a value of this argument looks like, for a person (in usage errors)."""
        choices = _choices(self.annotation)
        if choices:
            return "one of " + ", ".join(choices)
        inner, _ = _strip_optional(self.annotation)
        if self.is_list:
            item = typing.get_args(inner)[0] if typing.get_args(inner) else str
            most = f" (at most {self.max_items})" if self.max_items is not None else ""
            return "a comma-separated list of " + {int: "whole numbers", float: "numbers"}.get(item, "values") + most
        if self.is_mapping:
            return "KEY=value pairs"
        names = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
        return names.get(inner, str(inner))


@dataclass(slots=True)
class CommandSpec:
    """Everything the decorator knows about one command."""

    func: Callable[..., Any]
    group: str | None
    verb: str | None
    words: list[str] | None
    aliases: list[str]
    examples: list[str]
    mutating: bool
    destructive: bool
    idempotent: bool | None
    confirm: bool | None
    permission: str | None
    timeout_s: float
    settings: list[str] | None
    result_kinds: list[str] | None
    #: run before a confirmation is asked for (see :func:`command`)
    check: Callable[..., Any] | None = None
    #: the arguments whose values are secrets (see :func:`command`)
    secret: list[str] = field(default_factory=list)
    _args: list[ArgInfo] | None = field(default=None, repr=False)
    _model: Any = field(default=None, repr=False)
    _context_param: str | bool | None = field(default=False, repr=False)

    # -- identity ---------------------------------------------------------------
    @property
    def module(self) -> str:
        return str(self.func.__module__)

    @property
    def pack(self) -> str:
        top = self.module.split(".")[0]
        if not top.startswith("opspack_"):
            raise ValueError(
                f"command {self.func.__qualname__} lives in {self.module}; "
                "commands must live in a pack package named opspack_<pack>"
            )
        return top[len("opspack_") :]

    @property
    def group_name(self) -> str:
        return self.group or self.module.split(".")[-1].lstrip("_")

    @property
    def verb_name(self) -> str:
        return self.verb or self.func.__name__.rstrip("_")

    @property
    def id(self) -> str:
        return f"{self.pack}.{self.group_name}.{self.verb_name}"

    @property
    def entry_point(self) -> str:
        return f"{self.module}:{self.func.__name__}"

    @property
    def chat_words(self) -> list[str]:
        if self.words:
            return list(self.words)
        return [self.group_name.replace("_", "-"), self.verb_name.replace("_", "-")]

    # -- docs ---------------------------------------------------------------------
    @property
    def summary(self) -> str:
        return _parse_docstring(self.func.__doc__)[0]

    @property
    def description(self) -> str:
        return _parse_docstring(self.func.__doc__)[1]

    # -- arguments ---------------------------------------------------------------
    @property
    def args(self) -> list[ArgInfo]:
        if self._args is None:
            args = _analyse_signature(self.func)
            names = {a.name for a in args} | {a.param for a in args}
            unknown = [n for n in self.secret if n not in names]
            if unknown:
                raise TypeError(f"{self.func.__qualname__}: secret names no argument: {', '.join(unknown)}")
            for a in args:
                a.secret = a.name in self.secret or a.param in self.secret
            self._args = args
        return self._args

    @property
    def context_param(self) -> str | None:
        """The parameter that receives the :class:`~opspack.context.Context`, if any (cached)."""
        if self._context_param is False:
            hints = _hints(self.func)
            names = [n for n in inspect.signature(self.func).parameters if _is_context(hints.get(n))]
            self._context_param = names[0] if names else None
        return self._context_param if isinstance(self._context_param, str) else None

    @property
    def positional(self) -> list[str]:
        return [a.name for a in self.args if a.positional]

    @property
    def mapping_arg(self) -> str | None:
        return next((a.name for a in self.args if a.is_mapping), None)

    def args_model(self) -> Any:
        """The pydantic model that validates this command's arguments (cached)."""
        if self._model is None:
            self._model = _build_model(self)
        return self._model

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Raw arguments (chat strings or typed values) checked and converted with the
        function's own types, keyed by parameter; a :class:`~opspack.errors.UsageError`
        naming each bad argument, what was given and what was expected otherwise."""
        from pydantic import ValidationError

        try:
            validated = self.args_model().model_validate(args)
        except ValidationError as exc:
            raise self._usage_error(args, exc) from None
        return {a.param: getattr(validated, a.name) for a in self.args}

    def _usage_error(self, args: dict[str, Any], exc: Any) -> Any:
        from opspack.errors import UsageError

        messages: list[str] = []
        for err in exc.errors()[:5]:
            loc = [str(p) for p in err.get("loc", ())]
            name = loc[0] if loc else "?"
            if err.get("type") == "extra_forbidden":
                known = ", ".join(a.name for a in self.args) or "none"
                messages.append(f"unknown argument {name} (arguments: {known})")
                continue
            if err.get("type") == "missing":
                messages.append(f"{name} is missing")
                continue
            given = args.get(name, err.get("input"))
            arg = next((a for a in self.args if a.name == name), None)
            if (arg is not None and arg.secret) or _secret_named(loc):
                from opspack.masking import MASK

                given = MASK
            messages.append(f"{name}: got {given!r}, expected {arg.expected() if arg else 'no such argument'}")
        return UsageError(
            "Bad arguments for " + self.id + ": " + "; ".join(messages) + ".",
            "Usage: " + self.usage(),
        )

    def args_schema(self) -> dict[str, Any]:
        return _clean_schema(self.args_model().model_json_schema(), self)

    def usage(self) -> str:
        parts = list(self.chat_words)
        for a in self.args:
            if a.positional:
                token = f"<{a.name}{'...' if a.is_list else ''}>"
                parts.append(token if a.required else f"[{token}]")
        for a in self.args:
            if a.positional:
                continue
            flag = "--" + a.name.replace("_", "-")
            if a.is_mapping:
                parts.append("[KEY=value ...]")
            elif a.is_bool:
                parts.append(f"[{flag}]" if not a.required else flag)
            else:
                choices = _choices(a.annotation)
                value = "|".join(choices) if choices else a.name.upper()
                token = f"{flag} {value}"
                parts.append(token if a.required else f"[{token}]")
        return " ".join(parts)

    # -- effects ---------------------------------------------------------------
    def effects(self) -> Effects:
        destructive = self.destructive
        read_only = not (self.mutating or destructive)
        idempotent = self.idempotent if self.idempotent is not None else read_only
        confirm = self.confirm if self.confirm is not None else destructive
        return {
            "read_only": read_only,
            "destructive": destructive,
            "idempotent": idempotent,
            "confirm": confirm,
        }

    def kinds(self) -> list[str]:
        if self.result_kinds is not None:
            return list(self.result_kinds)
        return _kinds_from_annotation(_hints(self.func).get("return"))


def command(
    *,
    group: str | None = None,
    verb: str | None = None,
    words: Sequence[str] | None = None,
    aliases: Sequence[str] = (),
    examples: Sequence[str] = (),
    mutating: bool = False,
    destructive: bool = False,
    idempotent: bool | None = None,
    confirm: bool | None = None,
    permission: str | None = None,
    timeout: float = 30.0,
    settings: Sequence[str] | None = None,
    results: Sequence[str] | None = None,
    check: Callable[..., Any] | None = None,
    long: bool = False,
    secret: Sequence[str] = (),
) -> Callable[[F], F]:
    """Declare a function as a chat command.

    Args:
        group: the command's group (default: the module's name).
        verb: the command's verb (default: the function's name, trailing ``_`` dropped).
        words: the chat words that name it (default: ``[group, verb]`` with dashes).
        aliases: other chat texts that name it (``["vm stop"]``).
        examples: complete chat texts shown in help.
        mutating: the command changes something.
        destructive: the command's change is hard to undo; implies ``mutating`` and,
            unless ``confirm=False``, confirmation before it runs.
        idempotent: running it twice is the same as once (default: true for reads).
        confirm: override whether the user must confirm first.
        permission: the permission needed (default: the command id).
        timeout: seconds before the runtime answers with a ``timeout`` error.
        settings: which pack settings it needs (default: all the pack's settings).
        results: the result kinds it returns (default: from the return annotation).
        long: long work (a migration, a build it waits for): its timeout is at least an hour,
            so chat front-ends run it in the background and show its progress.
        check: for a command that asks for confirmation, a function called with the same
            arguments before the user is asked; it raises an ``OpsError`` when the call
            cannot succeed (a device that does not exist), so nobody confirms what would
            fail at once. It must change nothing; it runs under the command's timeout.
        secret: the arguments whose values are secrets: masked in the audit trail, history,
            confirmation requests and logs, and marked ``writeOnly`` in the registry's
            ``args_schema``. Arguments named like secrets (``password``, ``api_key``) and
            values that look like one (a private key, a token) are masked without it.
    """
    for part in (group, verb):
        if part is not None and not _ID_PART.match(part):
            raise ValueError(f"group/verb {part!r} must be lower_snake_case")

    def decorate(func: F) -> F:
        if not (func.__doc__ or "").strip():
            raise ValueError(f"command {func.__qualname__} needs a docstring (its summary)")
        spec = CommandSpec(
            func=func,
            group=group,
            verb=verb,
            words=list(words) if words else None,
            aliases=list(aliases),
            examples=list(examples),
            mutating=mutating or destructive,
            destructive=destructive,
            idempotent=idempotent,
            confirm=confirm,
            permission=permission,
            timeout_s=max(float(timeout), LONG_TIMEOUT_S) if long else float(timeout),
            settings=list(settings) if settings is not None else None,
            result_kinds=list(results) if results is not None else None,
            check=check,
            secret=list(secret),
        )
        setattr(func, SPEC_ATTR, spec)
        return func

    return decorate


def spec_of(func: Callable[..., Any]) -> CommandSpec:
    """The :class:`CommandSpec` of a decorated function."""
    spec = getattr(func, SPEC_ATTR, None)
    if not isinstance(spec, CommandSpec):
        raise TypeError(f"{func!r} is not an opspack command")
    return spec


# ---------------------------------------------------------------------------
# signature analysis


def _secret_named(loc: Sequence[str]) -> bool:
    """Whether a place in the arguments (an argument, a mapping key) is named like a secret."""
    from opspack.masking import is_secret_name

    return any(is_secret_name(part) for part in loc)


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    return typing.get_type_hints(func, include_extras=True)


def _is_context(annotation: Any) -> bool:
    if annotation is None:
        return False
    from opspack.context import Context

    return annotation is Context


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _limits(name: str, annotation: Any) -> tuple[Any, int | None]:
    """An argument's type without ``Annotated`` (also inside an optional), and its
    :class:`MaxItems` limit; other metadata is refused."""
    if typing.get_origin(annotation) is typing.Annotated:
        plain, *metadata = typing.get_args(annotation)
        limits = [m for m in metadata if isinstance(m, MaxItems)]
        others = [m for m in metadata if not isinstance(m, MaxItems)]
        if others or len(limits) > 1:
            raise TypeError(f"argument {name!r}: Annotated takes one MaxItems(...) only, not {others or limits!r}")
        inner, limit = _limits(name, plain)
        return inner, limits[0].limit if limits else limit
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        stripped = [_limits(name, m) for m in members]
        found = [limit for _, limit in stripped if limit is not None]
        if found:
            plain_members = tuple(m for m, _ in stripped)
            return typing.Union[plain_members], found[0]  # noqa: UP007 - built from a tuple
    return annotation, None


def _choices(annotation: Any) -> list[str]:
    inner, _ = _strip_optional(annotation)
    if typing.get_origin(inner) is list:
        inner = typing.get_args(inner)[0]
    if typing.get_origin(inner) is Literal:
        return [str(v) for v in typing.get_args(inner)]
    if isinstance(inner, type) and issubclass(inner, Enum):
        return [str(m.value) for m in inner]
    return []


_ALLOWED_SCALARS = (str, int, float, bool)


def _check_type(name: str, annotation: Any) -> tuple[bool, bool, bool]:
    """Validate an argument type; return (is_list, is_mapping, is_bool)."""
    inner, _ = _strip_optional(annotation)
    origin = typing.get_origin(inner)
    if origin is list:
        (item,) = typing.get_args(inner)
        if (
            item in (str, int, float)
            or typing.get_origin(item) is Literal
            or (isinstance(item, type) and issubclass(item, Enum))
        ):
            return True, False, False
    elif origin is dict:
        if typing.get_args(inner) == (str, str):
            return False, True, False
    elif origin is Literal:
        return False, False, False
    elif inner in _ALLOWED_SCALARS:
        return False, False, inner is bool
    elif isinstance(inner, type) and issubclass(inner, Enum):
        return False, False, False
    raise TypeError(
        f"argument {name!r} has type {annotation!r}; commands take str, int, float, bool, "
        "Literal/Enum, list[str|int|float], dict[str, str] and optional values of these"
    )


def _analyse_signature(func: Callable[..., Any]) -> list[ArgInfo]:
    hints = _hints(func)
    docs = _parse_docstring(func.__doc__)[2]
    out: list[ArgInfo] = []
    for name, param in inspect.signature(func).parameters.items():
        annotation = hints.get(name, inspect.Parameter.empty)
        if _is_context(annotation):
            continue
        if annotation is inspect.Parameter.empty:
            raise TypeError(f"argument {name!r} of {func.__qualname__} needs a type annotation")
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"argument {name!r} of {func.__qualname__}: use plain or keyword-only")
        annotation, max_items = _limits(name, annotation)
        is_list, is_mapping, is_bool = _check_type(name, annotation)
        if max_items is not None and not is_list:
            raise TypeError(f"argument {name!r} of {func.__qualname__}: MaxItems is for list arguments")
        required = param.default is inspect.Parameter.empty
        out.append(
            ArgInfo(
                name=name.rstrip("_") or name,
                param=name,
                annotation=annotation,
                default=None if required else param.default,
                required=required and not is_mapping,
                positional=param.kind is param.POSITIONAL_OR_KEYWORD and not is_mapping,
                description=docs.get(name) or docs.get(name.rstrip("_"), ""),
                is_list=is_list,
                is_mapping=is_mapping,
                is_bool=is_bool,
                max_items=max_items,
            )
        )
    mappings = [a for a in out if a.is_mapping]
    if len(mappings) > 1:
        raise TypeError(f"{func.__qualname__}: at most one dict[str, str] argument")
    positional = [a for a in out if a.positional]
    for a in positional[:-1]:
        if a.is_list:
            raise TypeError(f"{func.__qualname__}: only the last positional argument may be a list")
    return out


def _build_model(spec: CommandSpec) -> Any:
    from pydantic import ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    for a in spec.args:
        default: Any = ... if a.required else a.default
        if a.is_mapping and a.default is None:
            fields[a.name] = (a.annotation, Field(default_factory=dict, description=a.description))
            continue
        fields[a.name] = (a.annotation, Field(default, description=a.description or None, max_length=a.max_items))
    model_name = "Args_" + spec.id.replace(".", "_")
    return create_model(
        model_name,
        __config__=ConfigDict(extra="forbid", use_enum_values=False),
        **fields,
    )


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node and isinstance(node["$ref"], str):
            target = defs.get(node["$ref"].split("/")[-1], {})
            merged = {**_inline_refs(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
            return merged
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _simplify(prop: dict[str, Any]) -> dict[str, Any]:
    prop = {k: v for k, v in prop.items() if k != "title"}
    any_of = prop.get("anyOf")
    if isinstance(any_of, list):
        non_null = [s for s in any_of if s.get("type") != "null"]
        if len(non_null) == 1 and len(any_of) == 2:
            rest = {k: v for k, v in prop.items() if k != "anyOf"}
            prop = {**_simplify(non_null[0]), **rest}
            if prop.get("default", 0) is None:
                del prop["default"]
    if "items" in prop and isinstance(prop["items"], dict):
        prop["items"] = _simplify(prop["items"])
    if prop.get("enum") and "type" not in prop:
        values = prop["enum"]
        if all(isinstance(v, str) for v in values):
            prop["type"] = "string"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            prop["type"] = "integer"
    return prop


def _clean_schema(schema: dict[str, Any], spec: CommandSpec) -> dict[str, Any]:
    defs = schema.get("$defs", {})
    props = _inline_refs(schema.get("properties", {}), defs)
    properties: dict[str, Any] = {}
    for a in spec.args:
        prop = _simplify(props[a.name])
        if a.description:
            prop["description"] = a.description
        if a.secret:
            prop["writeOnly"] = True
        order = ["type", "description", "enum", "items", "additionalProperties", "default"]
        properties[a.name] = {k: prop[k] for k in order if k in prop} | {
            k: v for k, v in prop.items() if k not in order
        }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [a.name for a in spec.args if a.required],
        "properties": properties,
    }


def _kinds_from_annotation(annotation: Any) -> list[str]:
    from opspack import results as r

    if annotation is None:
        return []
    found: list[str] = []

    def walk(t: Any) -> None:
        origin = typing.get_origin(t)
        if origin in (typing.Union, types.UnionType, list, Sequence) or origin is not None:
            for arg in typing.get_args(t):
                walk(arg)
            return
        if isinstance(t, type) and issubclass(t, r.Result) and t is not r.Result and t.kind not in found:
            found.append(t.kind)

    walk(annotation)
    return found


# ---------------------------------------------------------------------------
# docstrings (Google style: a summary line, a body, an ``Args:`` section)

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Examples?):\s*$")


def _parse_docstring(doc: str | None) -> tuple[str, str, dict[str, str]]:
    text = inspect.cleandoc(doc or "")
    if not text:
        return "", "", {}
    lines = text.splitlines()
    summary = lines[0].strip().rstrip(".")
    body: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in lines[1:]:
        m = _SECTION.match(line.strip())
        if m and not line.startswith(" "):
            section = m.group(1)
            current = None
            continue
        if section in ("Args", "Arguments", "Parameters"):
            stripped = line.strip()
            am = re.match(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", stripped)
            if am and (line.startswith("    ") and not line.startswith("        ")):
                current = am.group(1)
                args[current] = am.group(2).strip()
            elif current and stripped:
                args[current] = (args[current] + " " + stripped).strip()
            continue
        if section is None:
            body.append(line)
    return summary, "\n".join(body).strip(), args
