"""Artifacts: what a platform cannot carry in a message, stored by the runner and linked.

A table cut to fit a chat message keeps its full CSV one link away; an image over a
platform's size is shown from a link instead of inline. The runner (``opspack serve``)
stores such files in an :class:`ArtifactStore` and links each with a signed, expiring
URL::

    <public_url>/artifacts/<id>?exp=<unix time>&sig=<HMAC-SHA256 of "<id>\\n<exp>">

``GET /artifacts/<id>`` answers without a bearer token while the signature and the
expiry hold (a chat user's browser has no token): a wrong or missing signature answers
403, an expired link or a file that is gone 404, both with the same words whatever the
reason, so a guessed URL learns nothing.

Settings, in the ``[serve]`` table or as ``OPSPACK_SERVE_<NAME>``:

- ``public_url``: the runner's address as chat users reach it (``https://ops.example.com``);
  without it, links use the address the bot called the runner at.
- ``artifact_ttl_s``: how long a link and its file live (default 86400 s); expired files are
  removed (at start, then at most once a minute as new ones are stored).
- ``artifact_dir``: the folder (default ``$XDG_DATA_HOME/opspack/artifacts``, that is
  ``~/.local/share/opspack/artifacts``), created mode 0700, files 0600.
- ``artifact_key``: the signing key, a secret (an ``env:``, ``file:`` or ``vault:``
  reference allowed). Without it the runner makes one at random and keeps it in the
  folder (``.key``, mode 0600), so links survive a restart and runners sharing the folder
  accept each other's links. The key never leaves the runner.

Ids are 32 random URL-safe characters, checked against a strict pattern before any file is
touched: a request names no path.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opspack.errors import ConfigError
from opspack.renderers.common import Linker

log = logging.getLogger("opspack.frontends.artifacts")

#: how long a link and its file live, by default (a day)
DEFAULT_TTL_S = 86_400.0
#: the least time between two sweeps of expired files
SWEEP_EVERY_S = 60.0
#: what an artifact's id looks like (anything else is refused before a file is touched)
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
#: the path links point at
ROUTE_PREFIX = "/artifacts/"
_KEY_FILE = ".key"
#: MIME types a browser may show inline (never SVG or HTML: they can carry scripts)
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True)
class Artifact:
    """A stored file: its id, name, MIME type, size in bytes and when it expires (unix time)."""

    id: str
    filename: str
    mime: str
    size: int
    expires: int

    def to_dict(self) -> dict[str, Any]:
        """The metadata kept beside the file."""
        return {"filename": self.filename, "mime": self.mime, "size": self.size, "expires": self.expires}


def default_folder(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/opspack/artifacts`` (``~/.local/share/opspack/artifacts``)."""
    env = os.environ if environ is None else environ
    base = Path(env.get("XDG_DATA_HOME") or os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "opspack" / "artifacts"


def _safe_filename(name: str) -> str:
    """A file name for Content-Disposition: no folders, quotes or control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")
    return cleaned[:120] or "download"


class ArtifactStore:
    """Files on the filesystem, each linked with a signed URL that expires.

    ``folder`` holds ``<id>`` (the bytes) and ``<id>.json`` (name, type, size, expiry);
    ``key`` signs links; ``public_url`` is where chat users reach the runner (None: the
    caller gives a base URL per link); ``ttl_s`` how long a link and its file live.
    """

    def __init__(
        self,
        folder: Path,
        key: bytes | None = None,
        *,
        public_url: str | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``key`` None: the one kept in ``folder`` (made when the first link is signed;
        nothing is written before a file is stored)."""
        if key is not None and len(key) < 16:
            raise ConfigError("the artifact signing key is shorter than 16 bytes", "Use a longer artifact_key.")
        self.folder = folder
        self.public_url = public_url.rstrip("/") if public_url else None
        self.ttl_s = ttl_s
        self._key = key
        self._clock = clock
        self._last_sweep = 0.0
        self._lock = threading.Lock()

    def _signing_key(self, create: bool) -> bytes | None:
        """The key; the folder's is read (or, with ``create``, made) on first use."""
        if self._key is None:
            with self._lock:
                if self._key is None and (create or (self.folder / _KEY_FILE).is_file()):
                    self._key = _folder_key(self.folder)
        return self._key

    # -- configuration ------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Any, *, mask: Callable[[str], None] | None = None) -> ArtifactStore:
        """The store the ``[serve]`` settings describe (see the module's help); ``mask`` is
        given the signing key when it comes from the settings, so it never reaches a log."""
        from opspack.settings import resolve_reference

        table = config.table("serve")
        env = config.environ

        def setting(name: str) -> Any:
            return env.get(f"OPSPACK_SERVE_{name.upper()}", table.get(name))

        public_url = setting("public_url") or None
        if public_url is not None:
            public_url = str(public_url)
            parts = urllib.parse.urlsplit(public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ConfigError(
                    f"serve setting public_url is {public_url!r}, expected an http(s) address",
                    "Write the runner's address as chat users reach it, e.g. https://ops.example.com",
                )
        raw_ttl = setting("artifact_ttl_s")
        try:
            ttl = DEFAULT_TTL_S if raw_ttl is None else float(raw_ttl)
        except (TypeError, ValueError):
            ttl = -1.0
        if not (60.0 <= ttl <= 366 * 86_400.0):
            raise ConfigError(
                f"serve setting artifact_ttl_s is {raw_ttl!r}, expected seconds from 60 to a year",
                "Links to cut tables and large images live this long (default 86400, a day).",
            )
        raw_dir = setting("artifact_dir")
        folder = Path(str(raw_dir)).expanduser() if raw_dir else default_folder(env)
        raw_key = setting("artifact_key")
        key: bytes | None = None
        if raw_key:
            value, _ = resolve_reference(str(raw_key), env)
            if mask is not None:
                mask(value)
            key = value.encode("utf-8")
        return cls(folder, key, public_url=public_url, ttl_s=ttl)

    # -- signing ------------------------------------------------------------------------
    def signature(self, artifact_id: str, expires: int) -> str:
        """The ``sig`` of a link to ``artifact_id`` valid until ``expires``."""
        key = self._signing_key(create=True)
        assert key is not None
        return _sign(key, artifact_id, expires)

    def url(self, artifact: Artifact, base_url: str | None = None) -> str:
        """The signed link to ``artifact``, at ``public_url`` (else ``base_url``)."""
        base = self.public_url or (base_url or "").rstrip("/")
        if not base:
            raise ConfigError("no address to link artifacts at", "Set public_url in [serve].")
        query = urllib.parse.urlencode({"exp": artifact.expires, "sig": self.signature(artifact.id, artifact.expires)})
        return f"{base}{ROUTE_PREFIX}{artifact.id}?{query}"

    def verify(self, artifact_id: str, exp: str | None, sig: str | None) -> bool:
        """Whether ``exp`` and ``sig`` are a link's own for ``artifact_id`` (expired or not)."""
        if not (ID_PATTERN.fullmatch(artifact_id) and exp and sig and exp.isascii() and exp.isdigit()):
            return False
        if len(exp) > 12:  # beyond any expiry this store writes
            return False
        key = self._signing_key(create=False)
        if key is None:  # no link was ever signed here
            return False
        return hmac.compare_digest(_sign(key, artifact_id, int(exp)).encode(), sig.encode("utf-8", "replace"))

    # -- files --------------------------------------------------------------------------
    def put(self, filename: str, data: bytes, mime: str) -> Artifact:
        """Store ``data``; the file lives ``ttl_s`` seconds."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sweep_now_and_then()
        artifact = Artifact(
            id=secrets.token_urlsafe(24),  # 32 characters, 192 random bits
            filename=_safe_filename(filename),
            mime=mime if re.fullmatch(r"[a-z]+/[a-z0-9.+-]+", mime) else "application/octet-stream",
            size=len(data),
            expires=int(self._clock() + self.ttl_s),
        )
        self._write(self.folder / artifact.id, data)
        self._write(self.folder / f"{artifact.id}.json", json.dumps(artifact.to_dict()).encode("utf-8"))
        return artifact

    def _write(self, path: Path, data: bytes) -> None:
        fd, name = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(name, path)  # readers never see part of a file
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise

    def find(self, artifact_id: str) -> tuple[Artifact, Path] | None:
        """The artifact and its file, if it exists and has not expired (an expired one is removed)."""
        if not ID_PATTERN.fullmatch(artifact_id):
            return None
        path = self.folder / artifact_id
        try:
            meta = json.loads((self.folder / f"{artifact_id}.json").read_bytes())
            artifact = Artifact(
                id=artifact_id,
                filename=str(meta["filename"]),
                mime=str(meta["mime"]),
                size=int(meta["size"]),
                expires=int(meta["expires"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if artifact.expires <= self._clock():
            self._remove(artifact_id)
            return None
        if not path.is_file():
            return None
        return artifact, path

    def link(self, filename: str, data: bytes, mime: str, base_url: str | None = None) -> str:
        """Store ``data`` and return its signed URL."""
        return self.url(self.put(filename, data, mime), base_url)

    def linker(self, base_url: str | None = None) -> Linker:
        """A :class:`Linker` for the renderers, its links at ``public_url`` (else ``base_url``)."""
        return _BoundLinker(self, base_url)

    # -- cleaning -----------------------------------------------------------------------
    def _remove(self, artifact_id: str) -> None:
        for name in (f"{artifact_id}.json", artifact_id):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()

    def sweep(self) -> int:
        """Remove expired files (and leftovers of interrupted writes); how many artifacts went."""
        now = self._clock()
        removed = 0
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:  # nothing stored yet
            return 0
        except OSError as exc:
            log.warning("cannot read the artifact folder %s: %s", self.folder, exc.strerror)
            return 0
        names = {e.name for e in entries}
        for entry in entries:
            name = entry.name
            try:
                if name.startswith(".tmp-"):
                    if entry.stat().st_mtime < now - 3600:
                        os.unlink(entry.path)
                elif name.endswith(".json") and ID_PATTERN.fullmatch(name[:-5]):
                    expires = json.loads(Path(entry.path).read_bytes()).get("expires", 0)
                    if float(expires) <= now:
                        self._remove(name[:-5])
                        removed += 1
                elif (
                    ID_PATTERN.fullmatch(name)
                    and f"{name}.json" not in names
                    and entry.stat().st_mtime < now - self.ttl_s  # its metadata never came
                ):
                    os.unlink(entry.path)
            except (OSError, ValueError, TypeError, AttributeError):
                continue
        return removed

    def sweep_now_and_then(self) -> None:
        """:meth:`sweep`, unless one ran less than a minute ago."""
        now = time.monotonic()
        with self._lock:
            if self._last_sweep and now - self._last_sweep < SWEEP_EVERY_S:
                return
            self._last_sweep = now
        removed = self.sweep()
        if removed:
            log.info("removed %d expired artifacts from %s", removed, self.folder)


class _BoundLinker:
    """A store's links at one base URL (the renderers' view of it)."""

    def __init__(self, store: ArtifactStore, base_url: str | None) -> None:
        self.store = store
        self.base_url = base_url

    def link(self, filename: str, data: bytes, mime: str) -> str:
        return self.store.link(filename, data, mime, self.base_url)


def _sign(key: bytes, artifact_id: str, expires: int) -> str:
    mac = hmac.new(key, f"{artifact_id}\n{expires}".encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _folder_key(folder: Path) -> bytes:
    """The signing key kept in ``folder`` (made at random, mode 0600, on first use)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / _KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32).hex().encode("ascii"))
    for _ in range(50):  # another runner may be writing it this instant
        key = path.read_bytes().strip()
        if len(key) >= 32:
            return key
        time.sleep(0.01)
    raise ConfigError(f"the artifact key {path} is too short", "Delete it; the runner makes a new one.")


__all__ = [
    "DEFAULT_TTL_S",
    "INLINE_TYPES",
    "ROUTE_PREFIX",
    "Artifact",
    "ArtifactStore",
    "default_folder",
]
