"""Typed results: what a command returns and what every renderer understands.

A command returns one result or a list of them. Each result is a small dataclass
with a ``kind``; :meth:`to_dict` gives the JSON shape documented in
``schemas/result.schema.json``. Failures are :class:`Error` results, carried by the
:class:`Reply` envelope that one invocation produces.
"""

from __future__ import annotations

import base64
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Scalar = str | int | float | bool | None
Level = Literal["ok", "warning", "critical", "unknown"]
ErrorKind = Literal["usage", "not_found", "denied", "config", "backend", "timeout", "internal"]

LEVELS: tuple[Level, ...] = ("ok", "warning", "critical", "unknown")
ERROR_KINDS: tuple[ErrorKind, ...] = (
    "usage",
    "not_found",
    "denied",
    "config",
    "backend",
    "timeout",
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


class Result:
    """Base of every result kind."""

    kind: ClassVar[str]
    title: str | None

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def strings(self) -> Iterable[str]:
        """Every human-readable string in the result (used for secret scrubbing)."""
        raise NotImplementedError

    def map_strings(self, fn: Any) -> None:
        """Apply ``fn`` to every string field in place (used for secret scrubbing)."""
        raise NotImplementedError


@dataclass(slots=True)
class Text(Result):
    """Free text. ``mono`` asks renderers for a fixed-width block (logs, config)."""

    text: str
    title: str | None = None
    mono: bool = False
    kind: ClassVar[str] = "text"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "text", "title": self.title, "text": self.text, "mono": self.mono}

    def strings(self) -> Iterable[str]:
        return [s for s in (self.title, self.text) if s]

    def map_strings(self, fn: Any) -> None:
        self.text = fn(self.text)
        self.title = fn(self.title) if self.title else self.title


@dataclass(slots=True)
class Table(Result):
    """Columns and rows. ``row_status`` gives each row a level; ``total`` is the
    number of rows that existed before the command limited them."""

    columns: list[str]
    rows: list[list[Scalar]]
    title: str | None = None
    row_status: list[Level] | None = None
    total: int | None = None
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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "table",
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
        }
        if self.row_status is not None:
            out["row_status"] = self.row_status
        if self.total is not None:
            out["total"] = self.total
        return out

    def strings(self) -> Iterable[str]:
        yield from (s for s in (self.title,) if s)
        yield from self.columns
        for row in self.rows:
            yield from (v for v in row if isinstance(v, str))

    def map_strings(self, fn: Any) -> None:
        self.title = fn(self.title) if self.title else self.title
        self.columns = [fn(c) for c in self.columns]
        self.rows = [[fn(v) if isinstance(v, str) else v for v in row] for row in self.rows]

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

    items: dict[str, Any]
    title: str | None = None
    kind: ClassVar[str] = "kv"

    def __post_init__(self) -> None:
        self.items = {
            str(k): ([_scalar(x) for x in v] if isinstance(v, list | tuple) else _scalar(v))
            for k, v in self.items.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "kv", "title": self.title, "items": self.items}

    def strings(self) -> Iterable[str]:
        yield from (s for s in (self.title,) if s)
        for k, v in self.items.items():
            yield k
            values = v if isinstance(v, list) else [v]
            yield from (x for x in values if isinstance(x, str))

    def map_strings(self, fn: Any) -> None:
        self.title = fn(self.title) if self.title else self.title

        def one(v: Any) -> Any:
            return fn(v) if isinstance(v, str) else v

        self.items = {fn(k): ([one(x) for x in v] if isinstance(v, list) else one(v)) for k, v in self.items.items()}


@dataclass(slots=True)
class Status(Result):
    """A health verdict: ok, warning, critical or unknown, with a message."""

    level: Level
    message: str
    title: str | None = None
    kind: ClassVar[str] = "status"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"status level must be one of {', '.join(LEVELS)}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "status", "title": self.title, "level": self.level, "message": self.message}

    def strings(self) -> Iterable[str]:
        return [s for s in (self.title, self.message) if s]

    def map_strings(self, fn: Any) -> None:
        self.message = fn(self.message)
        self.title = fn(self.title) if self.title else self.title


@dataclass(slots=True)
class Image(Result):
    """Picture bytes with their MIME type and an alt text."""

    data: bytes
    mime: str
    alt: str
    filename: str | None = None
    title: str | None = None
    width: int | None = None
    height: int | None = None
    kind: ClassVar[str] = "image"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "image",
            "title": self.title,
            "mime": self.mime,
            "alt": self.alt,
            "filename": self.name,
            "width": self.width,
            "height": self.height,
            "data_base64": base64.b64encode(self.data).decode("ascii"),
        }

    @property
    def name(self) -> str:
        """A file name for uploads (given, or derived from the MIME type)."""
        if self.filename:
            return self.filename
        ext = self.mime.split("/")[-1].split("+")[0] or "bin"
        return f"image.{ext}"

    def strings(self) -> Iterable[str]:
        return [s for s in (self.title, self.alt) if s]

    def map_strings(self, fn: Any) -> None:
        self.alt = fn(self.alt)
        self.title = fn(self.title) if self.title else self.title


@dataclass(slots=True)
class Link(Result):
    """A URL with a label."""

    url: str
    text: str | None = None
    title: str | None = None
    kind: ClassVar[str] = "link"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "link", "title": self.title, "url": self.url, "text": self.text or self.url}

    def strings(self) -> Iterable[str]:
        return [s for s in (self.title, self.url, self.text) if s]

    def map_strings(self, fn: Any) -> None:
        self.url = fn(self.url)
        self.text = fn(self.text) if self.text else self.text
        self.title = fn(self.title) if self.title else self.title


@dataclass(slots=True)
class MenuOption:
    """One follow-up command: a label, a command id and its arguments.

    ``text`` is the chat text that runs it; the runtime fills it in from the registry."""

    label: str
    command: str
    args: dict[str, Any] = field(default_factory=dict)
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "command": self.command, "args": self.args, "text": self.text}


@dataclass(slots=True)
class Menu(Result):
    """Follow-up commands offered to the user (buttons where the platform has them)."""

    options: list[MenuOption]
    title: str | None = None
    kind: ClassVar[str] = "menu"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "menu", "title": self.title, "options": [o.to_dict() for o in self.options]}

    def strings(self) -> Iterable[str]:
        yield from (s for s in (self.title,) if s)
        for o in self.options:
            yield o.label
            if o.text:
                yield o.text

    def map_strings(self, fn: Any) -> None:
        self.title = fn(self.title) if self.title else self.title
        for o in self.options:
            o.label = fn(o.label)
            o.text = fn(o.text) if o.text else o.text


@dataclass(slots=True)
class Diff(Result):
    """Before and after text (config compare); ``unified`` is the unified diff."""

    before: str
    after: str
    title: str | None = None
    before_label: str = "before"
    after_label: str = "after"
    kind: ClassVar[str] = "diff"

    @property
    def unified(self) -> str:
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
        return self.before != self.after

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "diff",
            "title": self.title,
            "before_label": self.before_label,
            "after_label": self.after_label,
            "before": self.before,
            "after": self.after,
            "unified": self.unified,
        }

    def strings(self) -> Iterable[str]:
        return [s for s in (self.title, self.before, self.after) if s]

    def map_strings(self, fn: Any) -> None:
        self.title = fn(self.title) if self.title else self.title
        self.before = fn(self.before)
        self.after = fn(self.after)


@dataclass(slots=True)
class Progress(Result):
    """Where long work stands: a message, an optional percentage, done or not."""

    message: str
    percent: float | None = None
    done: bool = False
    title: str | None = None
    kind: ClassVar[str] = "progress"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "progress",
            "title": self.title,
            "message": self.message,
            "percent": self.percent,
            "done": self.done,
        }

    def strings(self) -> Iterable[str]:
        return [s for s in (self.title, self.message) if s]

    def map_strings(self, fn: Any) -> None:
        self.message = fn(self.message)
        self.title = fn(self.title) if self.title else self.title


@dataclass(slots=True)
class Confirmation:
    """What a front-end needs to ask the user before a destructive command runs."""

    command: str
    args: dict[str, Any]
    prompt: str
    text: str | None = None
    token: str | None = None
    #: set when a second person must approve: the roles whose members may
    approvers: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": self.command,
            "args": self.args,
            "prompt": self.prompt,
            "text": self.text,
            "token": self.token,
        }
        if self.approvers:
            out["approvers"] = list(self.approvers)
        return out


@dataclass(slots=True)
class Error:
    """A failure: its kind, a message for a person and a hint of what to do next.

    ``confirm`` is set when the command is destructive and waits for the user's
    confirmation (kind ``denied`` until it is given)."""

    kind: ErrorKind
    message: str
    hint: str | None = None
    confirm: Confirmation | None = None

    def __post_init__(self) -> None:
        if self.kind not in ERROR_KINDS:
            raise ValueError(f"error kind must be one of {', '.join(ERROR_KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "message": self.message, "hint": self.hint}
        if self.confirm is not None:
            out["confirm"] = self.confirm.to_dict()
        return out

    def strings(self) -> Iterable[str]:
        return [s for s in (self.message, self.hint) if s]

    def map_strings(self, fn: Any) -> None:
        self.message = fn(self.message)
        self.hint = fn(self.hint) if self.hint else self.hint
        if self.confirm is not None:
            self.confirm.prompt = fn(self.confirm.prompt)


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
class Reply:
    """What one invocation produces: results on success, an error on failure."""

    ok: bool
    command: str | None
    results: list[Result] = field(default_factory=list)
    error: Error | None = None

    @classmethod
    def failure(cls, error: Error, command: str | None = None) -> Reply:
        return cls(ok=False, command=command, results=[], error=error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "command": self.command,
            "results": [r.to_dict() for r in self.results],
            "error": self.error.to_dict() if self.error else None,
        }

    def all_results(self) -> list[Result | Error]:
        """Results followed by the error, if any (the order renderers show them in)."""
        out: list[Result | Error] = list(self.results)
        if self.error is not None:
            out.append(self.error)
        return out
