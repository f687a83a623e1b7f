"""Alertmanager label matchers as people type them: ``severity=critical``, ``team!=dev``,
``instance=~"web.*"``, ``{job="api", env="prod"}``; and how a matcher is shown."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from opspack.errors import UsageError

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
_OPERATOR = re.compile(r"^\s*\{?\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)")


def looks_like_matcher(text: str) -> bool:
    """Whether ``text`` is one or more matchers (``a=b``, ``{a="b",c!~"d"}``) rather than a name."""
    return bool(_OPERATOR.match(text))


def parse_matchers(text: str) -> list[dict[str, Any]]:
    """``a=b,c=~d.*`` or ``{a="b"}`` -> Alertmanager matchers (``name``, ``value``, ``isRegex``, ``isEqual``)."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    out: list[dict[str, Any]] = []
    for part in _split(body):
        m = _MATCHER.match(part)
        if not m:
            raise UsageError(
                f"matcher: got {part.strip()!r}, expected name=value, name!=value, name=~regex or name!~regex"
            )
        name, op, value = m.groups()
        if "~" in op:
            try:
                re.compile(value)
            except re.error as exc:
                raise UsageError(f"matcher {part.strip()!r}: the regex is not valid ({exc})") from None
        out.append({"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")})
    return out


def _split(body: str) -> list[str]:
    """Split on the commas that start a new ``name<op>`` (a regex may contain commas)."""
    parts: list[str] = []
    for piece in body.split(","):
        if parts and not _OPERATOR.match(piece):
            parts[-1] += "," + piece
        elif piece.strip():
            parts.append(piece)
    return parts


def operator(m: Mapping[str, Any]) -> str:
    """``=``, ``!=``, ``=~`` or ``!~`` for an Alertmanager matcher."""
    regex, equal = bool(m.get("isRegex")), m.get("isEqual", True) is not False
    return {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[(regex, equal)]


def matcher_text(m: Mapping[str, Any]) -> str:
    """``name="value"`` (or ``!=``, ``=~``, ``!~``), as Alertmanager's filter parameter takes it."""
    value = str(m.get("value", "")).replace("\\", "\\\\").replace('"', '\\"')
    return f'{m.get("name")}{operator(m)}"{value}"'


def matches(labels: Mapping[str, str], matchers: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a label set satisfies every matcher (Alertmanager's semantics: regexes are anchored)."""
    for m in matchers:
        value = labels.get(str(m.get("name")), "")
        if m.get("isRegex"):
            hit = re.fullmatch(str(m.get("value", "")), value) is not None
        else:
            hit = value == str(m.get("value", ""))
        if hit != (m.get("isEqual", True) is not False):
            return False
    return True
