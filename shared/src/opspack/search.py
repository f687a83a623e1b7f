"""Finding a command by what it does: ``help search <text>`` (and ``help <words>`` when no
command has those words), ranked over registry data alone.

Each word of the query (lower case, a crude stem: ``builds`` → ``build``, ``restarting`` →
``restart``) scores by where it appears in a command, the best place counting:
its chat words, aliases or pack (3), its summary (2), its arguments' names and group (1.5),
its help and arguments' descriptions (1). Examples are not searched: their words are
mostly other commands' (``history vm power-off`` is not about power). A word that only starts another (``cert``
in ``certificate``) counts 0.6 of that. Commands matching every query word rank above those
matching some; a tie goes to the shorter usage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from opspack.registry import Entry, Registry

STOPWORDS = frozenset(
    {"a", "an", "and", "are", "can", "do", "does", "for", "from", "how", "i", "in", "is", "it", "me", "my"}
    | {"of", "on", "or", "please", "show", "that", "the", "to", "what", "which", "with"}
)
_WORD = re.compile(r"[a-z0-9]+")
WEIGHTS = (("words", 3.0), ("summary", 2.0), ("names", 1.5), ("text", 1.0))


def stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            return base + "y" if suffix == "ies" else base
    return word


def _words(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text.lower())}


def query_words(text: str) -> list[str]:
    out: list[str] = []
    for w in _WORD.findall(text.lower()):
        s = stem(w)
        if w not in STOPWORDS and s not in out:
            out.append(s)
    return out


def _fields(entry: Entry) -> dict[str, set[str]]:
    chat = entry.get("chat", {})
    props: dict[str, Any] = entry.get("args_schema", {}).get("properties", {})
    words = " ".join([*chat.get("words", []), *chat.get("aliases", []), entry["pack"]["name"]])
    text: list[str] = [entry.get("description") or ""]
    text.extend(str(p.get("description", "")) for p in props.values())
    return {
        "words": _words(words),
        "summary": _words(entry.get("summary", "")),
        "names": _words(" ".join([*props, entry.get("group", "")]).replace("_", " ")),
        "text": _words(" ".join(text)),
    }


def score(entry: Entry, words: Sequence[str]) -> tuple[float, int]:
    """(score, how many query words matched) of one command."""
    fields = _fields(entry)
    total = 0.0
    matched = 0
    for q in words:
        best = 0.0
        for name, weight in WEIGHTS:
            have = fields[name]
            if q in have:
                best = max(best, weight)
            elif len(q) >= 3 and any(w.startswith(q) or (len(w) >= 4 and q.startswith(w)) for w in have):
                best = max(best, 0.6 * weight)
        if best:
            matched += 1
            total += best
    return total, matched


def search(entries: Iterable[Entry], text: str, limit: int = 10) -> list[Entry]:
    """The commands that best match ``text``, best first (none when nothing matches)."""
    words = query_words(text)
    if not words:
        return []
    ranked: list[tuple[int, float, int, str, Entry]] = []
    for entry in entries:
        total, matched = score(entry, words)
        if total > 0:
            ranked.append((-matched, -total, len(entry["chat"]["usage"]), entry["id"], entry))
    ranked.sort(key=lambda r: r[:4])
    return [r[-1] for r in ranked[:limit]]


def search_registry(registry: Registry, text: str, limit: int = 10) -> list[Entry]:
    return search(list(registry), text, limit)
