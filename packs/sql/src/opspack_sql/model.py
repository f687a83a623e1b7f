"""What every dialect reports, in one shape, and the logic shared by all of them.

The dialect modules turn their server's rows into :class:`Activity` records;
this module groups waits, builds the blocking tree and masks statements, so the
commands read the same whatever the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Activity:
    """One server session as a diagnostic sees it.

    ``seconds`` is how long it has been in its current state (running, or waiting);
    ``xact_seconds`` how long its open transaction has lasted (None: no transaction).
    ``blocked_by`` lists the sessions it waits for."""

    session: int
    user: str | None = None
    database: str | None = None
    application: str | None = None
    client: str | None = None
    state: str | None = None
    wait_type: str | None = None
    wait_event: str | None = None
    seconds: float | None = None
    xact_seconds: float | None = None
    query: str | None = None
    blocked_by: list[int] = field(default_factory=list)


@dataclass(slots=True)
class WaitGroup:
    """Sessions sharing one wait type and event."""

    wait_type: str
    wait_event: str
    sessions: list[Activity] = field(default_factory=list)

    @property
    def longest(self) -> Activity:
        return max(self.sessions, key=lambda a: a.seconds or 0.0)


def group_waits(activities: list[Activity]) -> list[WaitGroup]:
    """Group sessions by (wait type, wait event): most sessions first, then longest wait."""
    groups: dict[tuple[str, str], WaitGroup] = {}
    for a in activities:
        key = (a.wait_type or "CPU", a.wait_event or "running")
        groups.setdefault(key, WaitGroup(*key)).sessions.append(a)
    return sorted(groups.values(), key=lambda g: (-len(g.sessions), -(g.longest.seconds or 0.0), g.wait_type))


@dataclass(slots=True)
class TreeNode:
    """A session in the blocking tree, with its depth (0: a root blocker)."""

    activity: Activity
    depth: int
    root: int


def blocking_tree(activities: list[Activity]) -> list[TreeNode]:
    """Order sessions as a tree: each root blocker followed by the sessions it blocks.

    A session blocked by several others is shown under the deepest of them, so a
    chain A <- B <- C reads as three levels whichever way the server reports it.
    Sessions in a cycle (a deadlock being resolved) become roots themselves."""
    by_id = {a.session: a for a in activities}
    blockers = {
        a.session: [b for b in dict.fromkeys(a.blocked_by) if b in by_id and b != a.session] for a in activities
    }

    depth: dict[int, int] = {}

    def depth_of(sid: int, seen: frozenset[int]) -> int:
        if sid in depth:
            return depth[sid]
        parents = [p for p in blockers[sid] if p not in seen]
        d = 0 if not parents else 1 + max(depth_of(p, seen | {sid}) for p in parents)
        depth[sid] = d
        return d

    for sid in by_id:
        depth_of(sid, frozenset())
    children: dict[int, list[int]] = {sid: [] for sid in by_id}
    roots: list[int] = []
    for sid in by_id:
        parents = [p for p in blockers[sid] if depth[p] < depth[sid]]
        if parents:
            parent = max(parents, key=lambda p: (depth[p], -p))
            children[parent].append(sid)
        else:
            roots.append(sid)

    def age(sid: int) -> float:
        a = by_id[sid]
        return a.xact_seconds or a.seconds or 0.0

    out: list[TreeNode] = []
    placed: set[int] = set()

    def walk(sid: int, d: int, root: int) -> None:
        if sid in placed:
            return
        placed.add(sid)
        out.append(TreeNode(by_id[sid], d, root))
        for child in sorted(children[sid], key=lambda c: -(by_id[c].seconds or 0.0)):
            walk(child, d + 1, root)

    for r in sorted(roots, key=lambda s: -age(s)):
        walk(r, 0, r)
    for sid in by_id:  # anything left is in a cycle
        walk(sid, 0, sid)
    return out


_LITERAL = re.compile(
    r"""
    (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$.*?(?:\$(?P=tag)\$|\Z))
  | (?P<string>(?:[EeNnBbXx]|_utf8mb4|_binary)?'(?:[^'\\]|''|\\.)*(?:'|\Z))
  | (?P<dquote>"(?:[^"\\]|""|\\.)*(?:"|\Z))
  | (?P<ident>`[^`]*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
  | (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<number>(?<![\w$.@])(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?![\w]))
    """,
    re.S | re.X,
)


def mask_literals(sql: str | None, *, limit: int = 200, double_quoted_strings: bool = False) -> str:
    """``sql`` with string and number literals replaced by ``?``, comments dropped,
    whitespace collapsed and cut to ``limit`` characters.

    ``double_quoted_strings``: "..." is a string (MySQL) rather than an identifier
    (PostgreSQL, SQL Server). Something unterminated is masked to the end."""
    if not sql:
        return ""

    def replace(m: re.Match[str]) -> str:
        if m.group("dollar") or m.group("string") or m.group("number"):
            return "?"
        if m.group("dquote"):
            return "?" if double_quoted_strings else m.group(0)
        if m.group("comment"):
            return " "
        return m.group(0)

    text = " ".join(_LITERAL.sub(replace, sql).split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def as_float(value: Any) -> float | None:
    """A number from a driver's value (Decimal, int, float, str), or None."""
    if value is None:
        return None
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return None


def as_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return str(value)


def id_list(value: Any) -> list[int]:
    """Session ids from an array, a comma-separated string or a single number."""
    if value is None:
        return []
    if isinstance(value, bytes | bytearray):
        value = value.decode()
    if isinstance(value, str):
        return [int(v) for v in value.replace("{", "").replace("}", "").split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [int(v) for v in value if v is not None]
    n = int(value)
    return [n] if n else []


def activity_from_row(
    row: dict[str, Any],
    *,
    state: str | None,
    wait_type: str | None,
    wait_event: str | None,
    seconds: float | None,
) -> Activity:
    """An :class:`Activity` from a session row in the columns every dialect's query names
    (``session_id``, ``user_name``, ``db_name``, ``app_name``, ``client``, ``xact_seconds``,
    ``query_text``, ``blocked_by``); the dialect reads state and waits its own way."""
    return Activity(
        session=int(row["session_id"]),
        user=as_text(row.get("user_name")),
        database=as_text(row.get("db_name")),
        application=as_text(row.get("app_name")),
        client=as_text(row.get("client")),
        state=state,
        wait_type=wait_type,
        wait_event=wait_event,
        seconds=seconds,
        xact_seconds=as_float(row.get("xact_seconds")),
        query=as_text(row.get("query_text")),
        blocked_by=id_list(row.get("blocked_by")),
    )


def human_bytes(n: float | None) -> str:
    """1536 -> '1.5 KiB'."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"
