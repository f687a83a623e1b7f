"""Keeping secret values out of replies, errors and logs.

Every secret the runtime resolves is added to a :class:`Masker`; the runtime scrubs
each reply with it before rendering, and :class:`MaskingFilter` does the same for
log records. Passwords in URLs (``scheme://user:pass@host``) and ``Authorization``
header values are masked whether or not they were registered.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "••••••"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)?\s*)([^\s'\",}]+)")
_MIN_SECRET = 4
#: argument names whose values are secrets whatever they hold
SECRET_ARG = re.compile(r"(?i)(pass(word)?|secret|token|api[_-]?key|credential)")


class Masker:
    """A set of secret strings and a function that replaces them with a mask."""

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
        if "://" in text:
            text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        if "uthorization" in text or "UTHORIZATION" in text:
            text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
        return text

    def scrub(self, obj: Any) -> None:
        """Mask every string of a result, error or reply in place."""
        from opspack.results import Reply

        if isinstance(obj, Reply):
            for item in obj.all_results():
                item.map_strings(self)
            return
        obj.map_strings(self)


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


def mask_args(args: Mapping[str, Any], masker: Masker) -> str:
    """Arguments as JSON with secret-looking names and registered secrets masked."""

    def clean(key: str, value: Any) -> Any:
        if SECRET_ARG.search(key):
            return MASK
        if isinstance(value, dict):
            return {k: clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(key, v) for v in value]
        if isinstance(value, str):
            return masker(value)
        return value if isinstance(value, int | float | bool) or value is None else masker(str(value))

    return json.dumps({k: clean(k, v) for k, v in args.items()}, ensure_ascii=False, sort_keys=True)
