"""Keeping secret values out of replies, errors, logs and everything stored.

Every secret the runtime resolves is added to a :class:`Masker`; the runtime scrubs
each reply with it before rendering, and :class:`MaskingFilter` does the same for
log records. Whether or not it was registered, a masker also hides:

- the value of anything **named** like a secret (:func:`is_secret_name`): an argument, a
  mapping key at any depth, a ``KEY=value``, ``--key value``, ``key: value`` or
  ``"key": "value"`` pair inside text, a key-value result's item;
- a value that **looks** like a secret whatever its name (:data:`SECRET_VALUES`): PEM
  private keys, JWTs, the well-known token prefixes, ``Bearer`` credentials, passwords in
  URLs (``scheme://user:pass@host``) and ``Authorization`` header values;
- every argument a command declares secret (``@command(secret=[...])``, ``writeOnly`` in
  its registry entry's ``args_schema``: :func:`declared_secrets`).

The audit trail's arguments (:func:`mask_args`) and chat text, history, log records,
confirmation requests and the friction log all go through it.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opspack.registry import Entry

MASK = "••••••"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)?\s*)([^\s'\",}]+)")
_MIN_SECRET = 4

#: a word of a name that makes what it names a secret (``SSH_KEY``, ``apiKey``, ``SESSION_COOKIE``)
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "key",
        "apikey",
        "credential",
        "credentials",
        "private",
        "signing",
        "cookie",
        "cookies",
    }
)
#: stems that make a run-together word a secret's name when it ends with one (``DBPASSWORD``,
#: ``clientsecret``, ``apikeys``) or starts with one followed by a secret word (``SECRETKEY``);
#: ``secretary`` and ``passwordless`` are not. The other words count only whole, so
#: ``keyword``, ``monkey``, ``keys`` and ``tokens`` (``keys_total``, ``max_tokens``) are not.
SECRET_STEMS = ("password", "passwd", "passphrase", "secret", "apikey", "credential")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def name_words(name: str) -> list[str]:
    """A name split into lower-case words at ``_``, ``-``, ``.``, spaces, digits and case
    changes: ``AWS_SECRET_ACCESS_KEY`` -> aws secret access key, ``APIKey`` -> api key,
    ``sessionCookie`` -> session cookie."""
    return [w.lower() for w in _WORDS.findall(name)]


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a value named ``name`` is a secret: one of its words (:func:`name_words`) is
    in :data:`SECRET_WORDS`, or is a run-together word made with :data:`SECRET_STEMS`."""
    return any(_secret_word(word) for word in name_words(name))


def _secret_word(word: str) -> bool:
    if word in SECRET_WORDS:
        return True
    for stem in SECRET_STEMS:
        if word.endswith((stem, stem + "s")) or (word.startswith(stem) and word[len(stem) :] in SECRET_WORDS):
            return True
    return False


def declared_secrets(entry: Entry | Mapping[str, Any]) -> frozenset[str]:
    """The arguments a command declares secret (``writeOnly`` in its ``args_schema``)."""
    props = entry.get("args_schema", {}).get("properties", {})
    return frozenset(name for name, prop in props.items() if isinstance(prop, dict) and prop.get("writeOnly"))


# -- values that look like secrets whatever their name ---------------------------------
#: (what, pattern) for each kind of value masked on sight; each pattern is documented by
#: its issuer (GitHub's, GitLab's, Slack's, Grafana's, AWS's and Vault's token formats)
SECRET_VALUES: tuple[tuple[str, str], ...] = (
    (
        "PEM private key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*)",
    ),
    ("JSON Web Token", r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    ("GitHub token", r"(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    (
        "GitLab token",
        r"(?:glpat|gldt|glrt|glrtr|glptt|glcbt|glft|glimt|gloas|glagent|glsoat|glffct)-[A-Za-z0-9_.-]{16,}",
    ),
    ("Slack token", r"(?:xox[abposre]|xoxe\.xox[bp]|xapp)-[A-Za-z0-9-]{8,}"),
    ("Grafana token", r"(?:glsa|glc)_[A-Za-z0-9_+/=-]{16,}"),
    ("AWS access key id", r"(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    ("Vault token", r"hv[sbr]\.[A-Za-z0-9_-]{16,}"),
    ("npm token", r"npm_[A-Za-z0-9]{30,}"),
    ("PyPI token", r"pypi-[A-Za-z0-9_-]{40,}"),
    ("Docker Hub token", r"dckr_pat_[A-Za-z0-9_-]{16,}"),
    ("Stripe secret key", r"(?:sk|rk)_live_[A-Za-z0-9]{16,}"),
    ("Google API key", r"AIza[0-9A-Za-z_-]{35}"),
)
#: (a leading character class lets the regex engine skip ahead; a match that continues a
#: longer word is left alone by :func:`_value`)
_VALUE = re.compile(r"(?=[-eghxAnpdsr])(?:" + "|".join(f"(?:{p})" for _, p in SECRET_VALUES) + ")", re.DOTALL)


def _value(m: re.Match[str]) -> str:
    start = m.start()
    if start and (m.string[start - 1].isalnum() or m.string[start - 1] == "_") and m[0][0] != "-":
        return m[0]
    return MASK


_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/-]{8,}=*)")
#: the value a name introduces: quoted (plain or escaped), or up to a space or separator
_NAMED_VALUE = re.compile(r"""\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\])]+""")
_SEPARATOR = re.compile(r"\s*[=:]\s*")
_FLAG_SEPARATOR = re.compile(r"\s+(?!-)")
#: where a name that may be a secret's is: each name in text holding one is checked
_HINT = re.compile(r"(?i)(?=[pstkc])(?:pass|pwd|secret|token|key|credential|private|signing|cookie)")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _mask_named(text: str) -> str:
    """The values named like secrets masked: ``NAME=value``, ``NAME: value``, ``"NAME": "value"``
    (JSON, escaped JSON, Python's repr), ``--name=value`` and ``--name value``."""
    out: list[str] = []
    pos = seen = 0
    size = len(text)
    for hint in _HINT.finditer(text):
        start, end = hint.start(), hint.end()
        if start < seen:
            continue
        while start > pos and text[start - 1] in _NAME_CHARS:
            start -= 1
        while end < size and text[end] in _NAME_CHARS:
            end += 1
        seen = end
        name = text[start:end]
        if not is_secret_name(name):
            continue
        quote = ""
        if start and text[start - 1] in "\"'":
            quote = text[start - 2 : start] if start > 1 and text[start - 2] == "\\" else text[start - 1]
        closed = bool(quote) and text.startswith(quote, end)
        if closed:
            end += len(quote)
        sep = _SEPARATOR.match(text, end)
        if sep is None and name.startswith("--"):
            sep = _FLAG_SEPARATOR.match(text, end)
        if sep is None or not sep.group():
            continue
        if quote and not closed:  # 'NAME=value with spaces': the value ends with the quote
            stop = text.find(quote, sep.end())
            stop = size if stop < 0 else stop
            raw, wrap, after = text[sep.end() : stop], "", stop
        else:
            value = _NAMED_VALUE.match(text, sep.end())
            if value is None:
                continue
            raw, after = value[0], value.end()
            wrap = raw[:2] if raw.startswith("\\") else raw[0] if raw[0] in "\"'" else ""
        if not raw or raw.strip("\\\"'") == MASK:
            continue
        out += [text[pos : sep.end()], wrap, MASK, wrap]
        pos = seen = after
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def mask_text(text: str) -> str:
    """``text`` with what looks like a secret masked in place, no registered secret needed:
    passwords in URLs, ``Authorization`` values, :data:`SECRET_VALUES`, ``Bearer``
    credentials and the values of pairs whose name is a secret's (``DB_PASSWORD=x``,
    ``--api-key x``, ``"token": "x"``)."""
    if not text:
        return text
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
    text = _VALUE.sub(_value, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    if "=" in text or ":" in text or "--" in text:
        text = _mask_named(text)
    return text


class Masker:
    """A set of secret strings and a function that replaces them, and whatever looks like
    a secret (:func:`mask_text`), with a mask."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < _MIN_SECRET:
            return
        with self._lock:
            if value not in self._secrets:
                self._secrets.add(value)
                self._pattern = None

    def __len__(self) -> int:
        return len(self._secrets)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            return self._pattern

    def __call__(self, text: str) -> str:
        if not text:
            return text
        pattern = self._pattern if self._pattern is not None or not self._secrets else self._compiled()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return mask_text(text)

    def scrub(self, obj: Any) -> None:
        """Mask every string of a result, error or reply in place, and the value of every
        key-value item named like a secret (``param SIGNING_KEY``)."""
        from opspack.results import KV, Reply

        items = obj.all_results() if isinstance(obj, Reply) else [obj]
        for item in items:
            item.map_strings(self)
            if isinstance(item, KV):
                item.items = {k: hidden(v) if is_secret_name(k) else v for k, v in item.items.items()}


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in a record's message and arguments."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record must still be logged
            message = str(record.msg)
        record.msg = self.masker(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.masker(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def hidden(value: Any) -> Any:
    """A secret's value as shown: :data:`MASK` in place of each text or number, the shape of
    lists and mappings kept; true/false and nothing are shown (they hold no secret)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): hidden(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [hidden(v) for v in value]
    return MASK


def masked(args: Mapping[str, Any], masker: Masker, secret: Collection[str] = ()) -> dict[str, Any]:
    """Arguments as JSON data with secrets masked: the arguments named in ``secret`` (those
    the command declares) and every argument or mapping key at any depth named like a
    secret (:func:`is_secret_name`) shown by :func:`hidden`; every other text (mapping keys
    included) through ``masker``."""

    def clean(key: str, value: Any) -> Any:
        if is_secret_name(key):
            return hidden(value)
        if isinstance(value, Mapping):
            return {masker(str(k)): clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(key, v) for v in value]
        if isinstance(value, str):
            return masker(value)
        return value if isinstance(value, int | float | bool) or value is None else masker(str(value))

    return {k: hidden(v) if k in secret else clean(k, v) for k, v in args.items()}


def mask_args(args: Mapping[str, Any], masker: Masker, secret: Collection[str] = ()) -> str:
    """:func:`masked` arguments as JSON (the audit record's ``args``)."""
    return json.dumps(masked(args, masker, secret), ensure_ascii=False, sort_keys=True)
