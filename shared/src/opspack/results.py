"""Typed results: what a command returns and what every renderer understands.

A command returns one result or a list of them. Each result is a small dataclass
with a ``kind``; :meth:`to_dict` gives the JSON shape documented in
``schemas/result.schema.json``. Failures are :class:`Error` results, carried by the
:class:`Reply` envelope that one invocation produces.
"""

from __future__ import annotations

import base64
import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

Scalar = str | int | float | bool | None
Level = Literal["ok", "warning", "critical", "unknown"]
ErrorKind = Literal[
    "usage", "not_found", "denied", "config", "backend", "timeout", "busy", "interrupted", "cancelled", "internal"
]

LEVELS: tuple[Level, ...] = ("ok", "warning", "critical", "unknown")
ERROR_KINDS: tuple[ErrorKind, ...] = (
    "usage",
    "not_found",
    "denied",
    "config",
    "backend",
    "timeout",
    "busy",
    "interrupted",
    "cancelled",
    "internal",
)
_LEVEL_RANK = {"ok": 0, "unknown": 1, "warning": 2, "critical": 3}


def worst(levels: Iterable[Level]) -> Level:
    """The most severe of ``levels`` (critical > warning > unknown > ok); ``ok`` when empty."""
    result: Level = "ok"
    for level in levels:
        if _LEVEL_RANK[level] > _LEVEL_RANK[result]:
            result = level
    return result


def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# Field metadata that the shared methods of :class:`Fields` read:
#: text a person reads: listed by ``strings()`` and scrubbed by ``map_strings()``
SHOWN: Mapping[str, Any] = {"shown": True}
#: left out of the JSON when it is None
OPTIONAL: Mapping[str, Any] = {"optional": True}
#: not in the JSON as it is (a computed entry stands for it)
NOT_JSON: Mapping[str, Any] = {"json": False}
#: kept in this process only: never in the JSON, never stored or sent
PRIVATE: Mapping[str, Any] = {"json": False, "private": True}


def _json(value: Any) -> Any:
    """``value`` as JSON data: nested records (alone or in a list) become dicts."""
    if isinstance(value, Fields):
        return value.to_dict()
    if isinstance(value, list):
        return [v.to_dict() if isinstance(v, Fields) else v for v in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    """Every non-empty string in ``value``: lists, dict keys and values, nested records."""
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, Fields):
        yield from value.strings()


def _mapped(value: Any, fn: Callable[[str], str]) -> Any:
    """``value`` with ``fn`` applied to every non-empty string in it (nested records in place)."""
    if isinstance(value, str):
        return fn(value) if value else value
    if isinstance(value, list):
        return [_mapped(v, fn) for v in value]
    if isinstance(value, dict):
        return {_mapped(k, fn): _mapped(v, fn) for k, v in value.items()}
    if isinstance(value, Fields):
        value.map_strings(fn)
    return value


class Fields:
    """JSON shape and secret scrubbing derived from a dataclass's fields.

    ``to_dict`` gives the fields in declaration order (those marked :data:`OPTIONAL`
    only when set), then the properties named in ``computed``; a field's ``json``
    metadata, when callable, gives its JSON value from the whole record. Fields marked
    :data:`SHOWN` are the text a person reads."""

    #: properties added to the JSON after the fields
    computed: ClassVar[tuple[str, ...]] = ()

    def _json_fields(self, skip: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name == skip or f.metadata.get("json") is False:
                continue
            value = getattr(self, f.name)
            if value is None and f.metadata.get("optional"):
                continue
            getter = f.metadata.get("json")
            out[f.name] = getter(self) if callable(getter) else _json(value)
        for name in self.computed:
            out[name] = getattr(self, name)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape given in ``schemas/reply.schema.json``."""
        return self._json_fields()

    def strings(self) -> Iterable[str]:
        """Every non-empty human-readable string (what secret scrubbing looks at)."""
        for f in fields(self):  # type: ignore[arg-type]
            if f.metadata.get("shown"):
                yield from _strings(getattr(self, f.name))

    def map_strings(self, fn: Callable[[str], str]) -> None:
        """Apply ``fn`` to every non-empty human-readable string in place (secret scrubbing)."""
        for f in fields(self):  # type: ignore[arg-type]
            if f.metadata.get("shown"):
                setattr(self, f.name, _mapped(getattr(self, f.name), fn))


class Result(Fields):
    """Base of every result kind: its JSON starts with ``kind`` and ``title``."""

    kind: ClassVar[str]
    title: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape given in ``schemas/reply.schema.json``."""
        return {"kind": self.kind, "title": self.title, **self._json_fields(skip="title")}


@dataclass(slots=True)
class Text(Result):
    """Free text. ``mono`` asks renderers for a fixed-width block (logs, config)."""

    text: str = field(metadata=SHOWN)
    title: str | None = field(default=None, metadata=SHOWN)
    mono: bool = False
    kind: ClassVar[str] = "text"


@dataclass(slots=True)
class Table(Result):
    """Columns and rows. ``row_status`` gives each row a level; ``total`` is the
    number of rows that existed before the command limited them."""

    columns: list[str] = field(metadata=SHOWN)
    rows: list[list[Scalar]] = field(metadata=SHOWN)
    title: str | None = field(default=None, metadata=SHOWN)
    row_status: list[Level] | None = field(default=None, metadata=OPTIONAL)
    total: int | None = field(default=None, metadata=OPTIONAL)
    kind: ClassVar[str] = "table"

    def __post_init__(self) -> None:
        self.columns = [str(c) for c in self.columns]
        self.rows = [[_scalar(v) for v in row] for row in self.rows]
        width = len(self.columns)
        for i, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"table row {i} has {len(row)} cells, expected {width}")
        if self.row_status is not None and len(self.row_status) != len(self.rows):
            raise ValueError("row_status must have one level per row")

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        title: str | None = None,
    ) -> Table:
        """Build a table from dicts, taking ``columns`` in order."""
        return cls(
            columns=list(columns),
            rows=[[_scalar(r.get(c)) for c in columns] for r in records],
            title=title,
        )

    def to_csv(self) -> str:
        """The whole table as CSV text (what renderers attach when they must cut)."""
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(["" if v is None else v for v in row] for row in self.rows)
        return buf.getvalue()


@dataclass(slots=True)
class KV(Result):
    """Key-values, in order."""

    items: dict[str, Any] = field(metadata=SHOWN)
    title: str | None = field(default=None, metadata=SHOWN)
    kind: ClassVar[str] = "kv"

    def __post_init__(self) -> None:
        self.items = {
            str(k): ([_scalar(x) for x in v] if isinstance(v, list | tuple) else _scalar(v))
            for k, v in self.items.items()
        }


@dataclass(slots=True)
class Status(Result):
    """A health verdict: ok, warning, critical or unknown, with a message."""

    level: Level
    message: str = field(metadata=SHOWN)
    title: str | None = field(default=None, metadata=SHOWN)
    kind: ClassVar[str] = "status"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"status level must be one of {', '.join(LEVELS)}")


@dataclass(slots=True)
class Image(Result):
    """Picture bytes with their MIME type and an alt text."""

    data: bytes = field(metadata=NOT_JSON)
    mime: str
    alt: str = field(metadata=SHOWN)
    filename: str | None = field(default=None, metadata={"json": lambda image: image.name})
    title: str | None = field(default=None, metadata=SHOWN)
    width: int | None = None
    height: int | None = None
    kind: ClassVar[str] = "image"
    computed: ClassVar[tuple[str, ...]] = ("data_base64",)

    @property
    def name(self) -> str:
        """A file name for uploads (given, or derived from the MIME type)."""
        if self.filename:
            return self.filename
        ext = self.mime.split("/")[-1].split("+")[0] or "bin"
        return f"image.{ext}"

    @property
    def data_base64(self) -> str:
        """The picture bytes in base64 (how the JSON carries them)."""
        return base64.b64encode(self.data).decode("ascii")


@dataclass(slots=True)
class Link(Result):
    """A URL with a label (the URL itself when no text is given)."""

    url: str = field(metadata=SHOWN)
    text: str | None = field(default=None, metadata={**SHOWN, "json": lambda link: link.text or link.url})
    title: str | None = field(default=None, metadata=SHOWN)
    kind: ClassVar[str] = "link"


@dataclass(slots=True)
class MenuOption(Fields):
    """One follow-up command: a label, a command id and its arguments.

    ``text`` is the chat text that runs it; the runtime fills it in from the registry."""

    label: str = field(metadata=SHOWN)
    command: str
    args: dict[str, Any] = field(default_factory=dict)
    text: str | None = field(default=None, metadata=SHOWN)


@dataclass(slots=True)
class Menu(Result):
    """Follow-up commands offered to the user (buttons where the platform has them)."""

    options: list[MenuOption] = field(metadata=SHOWN)
    title: str | None = field(default=None, metadata=SHOWN)
    kind: ClassVar[str] = "menu"


@dataclass(slots=True)
class Diff(Result):
    """Before and after text (config compare); ``unified`` is the unified diff.

    The keyword-only fields come first so that the JSON gives the labels before the texts."""

    title: str | None = field(default=None, kw_only=True, metadata=SHOWN)
    before_label: str = field(default="before", kw_only=True)
    after_label: str = field(default="after", kw_only=True)
    before: str = field(metadata=SHOWN)
    after: str = field(metadata=SHOWN)
    kind: ClassVar[str] = "diff"
    computed: ClassVar[tuple[str, ...]] = ("unified",)

    @property
    def unified(self) -> str:
        """The unified diff from ``before`` to ``after``."""
        lines = difflib.unified_diff(
            self.before.splitlines(),
            self.after.splitlines(),
            fromfile=self.before_label,
            tofile=self.after_label,
            lineterm="",
        )
        return "\n".join(lines)

    @property
    def changed(self) -> bool:
        """Whether the two texts differ."""
        return self.before != self.after


@dataclass(slots=True)
class Progress(Result):
    """Where long work stands: a message, an optional percentage, done or not."""

    message: str = field(metadata=SHOWN)
    percent: float | None = None
    done: bool = False
    title: str | None = field(default=None, metadata=SHOWN)
    kind: ClassVar[str] = "progress"


@dataclass(slots=True)
class Confirmation(Fields):
    """What a front-end needs to ask the user before a destructive command runs.

    ``args`` are the arguments as shown, secrets masked (:func:`opspack.masking.masked`);
    ``run_args``, the ones that run once it is confirmed, stay in the process that made the
    request: they are in no JSON, so no reply, job or message carries them."""

    command: str
    args: dict[str, Any]
    prompt: str = field(metadata=SHOWN)
    text: str | None = None
    token: str | None = None
    #: set when a second person must approve: the roles whose members may
    approvers: list[str] | None = field(default=None, metadata=OPTIONAL)
    run_args: dict[str, Any] | None = field(default=None, repr=False, compare=False, metadata=PRIVATE)

    def __post_init__(self) -> None:
        self.approvers = list(self.approvers) if self.approvers else None


@dataclass(slots=True)
class Error(Fields):
    """A failure: its kind, a message for a person and a hint of what to do next.

    ``confirm`` is set when the command is destructive and waits for the user's
    confirmation (kind ``denied`` until it is given)."""

    kind: ErrorKind
    message: str = field(metadata=SHOWN)
    hint: str | None = field(default=None, metadata=SHOWN)
    confirm: Confirmation | None = field(default=None, metadata={**SHOWN, **OPTIONAL})

    def __post_init__(self) -> None:
        if self.kind not in ERROR_KINDS:
            raise ValueError(f"error kind must be one of {', '.join(ERROR_KINDS)}")


AnyResult = Text | Table | KV | Status | Image | Link | Menu | Diff | Progress
RESULT_KINDS: tuple[str, ...] = (
    "text",
    "table",
    "kv",
    "status",
    "image",
    "link",
    "menu",
    "diff",
    "progress",
)


@dataclass(slots=True)
class Reply(Fields):
    """What one invocation produces: results on success, an error on failure."""

    ok: bool
    command: str | None
    results: list[Result] = field(default_factory=list, metadata=SHOWN)
    error: Error | None = field(default=None, metadata=SHOWN)

    @classmethod
    def failure(cls, error: Error, command: str | None = None) -> Reply:
        return cls(ok=False, command=command, results=[], error=error)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reply:
        """A reply from its JSON shape (:meth:`to_dict`), e.g. a job's stored reply."""
        error = data.get("error")
        return cls(
            ok=bool(data.get("ok")),
            command=data.get("command"),
            results=[result_from_dict(r) for r in data.get("results") or ()],
            error=_error_from_dict(error) if error else None,
        )

    def all_results(self) -> list[Result | Error]:
        """Results followed by the error, if any (the order renderers show them in)."""
        out: list[Result | Error] = list(self.results)
        if self.error is not None:
            out.append(self.error)
        return out


def _init_fields(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments of dataclass ``cls`` found in ``data``."""
    return {f.name: data[f.name] for f in fields(cls) if f.init and f.name in data}


def result_from_dict(data: Mapping[str, Any]) -> Result:
    """One result from its JSON shape (the inverse of ``to_dict``)."""
    kinds: dict[str, type[Any]] = {c.kind: c for c in (Text, Table, KV, Status, Image, Link, Menu, Diff, Progress)}
    cls = kinds.get(str(data.get("kind")))
    if cls is None:
        raise ValueError(f"unknown result kind {data.get('kind')!r}")
    values = _init_fields(cls, data)
    if cls is Image:
        values["data"] = base64.b64decode(data.get("data_base64") or "")
    elif cls is Menu:
        values["options"] = [MenuOption(**_init_fields(MenuOption, o)) for o in data.get("options") or ()]
    result: Result = cls(**values)
    return result


def _error_from_dict(data: Mapping[str, Any]) -> Error:
    values = _init_fields(Error, data)
    confirm = data.get("confirm")
    values["confirm"] = Confirmation(**_init_fields(Confirmation, confirm)) if confirm else None
    return Error(**values)
