"""The vCenter session and the reads every command shares. This module imports pyvmomi.

* One :class:`Session` per profile and settings is kept in the runtime's connection
  pool and reused by every command; when vCenter says ``NotAuthenticated`` (the
  session expired or was terminated) :func:`run` logs in once more and retries.
* Inventory reads are one ``PropertyCollector.RetrieveContents`` over a
  ``ContainerView`` (kept for the session's life), asking only for the properties
  a reply shows: one round trip per command, whatever the number of objects.
* Names resolve to objects with :func:`resolve` (exact name or inventory path;
  ambiguous names list the candidates' paths; unknown names the closest ones).
* Tasks are awaited with :func:`wait_task`, under the ``task_timeout`` setting.
"""

from __future__ import annotations

import contextlib
import fnmatch
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from opspack.context import Context
from opspack.errors import Ambiguous, BackendError, CommandTimeout, ConfigError, NotFound
from pyVim import connect as _pyvim_connect
from pyVmomi import vim, vmodl

from opspack_vmware import SESSION_SETTINGS
from opspack_vmware.errors import task_error, translate

T = TypeVar("T")

# pyvmomi's own type information is partial: its calls go through Any.
pyvim_connect: Any = _pyvim_connect
PC: Any = vmodl.query.PropertyCollector

#: Seconds to wait for vCenter's TCP port when logging in.
CONNECT_TIMEOUT = 15.0

_login_lock = threading.Lock()
_logins = 0


def login_count() -> int:
    """How many times this process logged in to a vCenter (tests and the benchmark read it)."""
    return _logins


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the SDK answers, parsed from the ``url`` setting."""

    protocol: str
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.protocol}://{host}:{self.port}{self.path}"


def parse_url(url: str) -> Endpoint:
    """``https://vc.example.com/sdk``, ``http://127.0.0.1:8989/sdk`` or a bare host name."""
    text = str(url).strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ConfigError(
            f"setting url is {url!r}, expected the vCenter SDK endpoint",
            "Set OPSPACK_VMWARE_URL to e.g. https://vc.example.com/sdk",
        )
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, parts.hostname, port or default_port, parts.path.rstrip("/") or "/sdk")


@dataclass(slots=True)
class Obj:
    """One managed object as a read returned it: its reference and the properties asked for."""

    ref: Any
    props: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.ref._moId)

    def get(self, path: str, default: Any = None) -> Any:
        value = self.props.get(path)
        return default if value is None else value

    @property
    def name(self) -> str:
        return str(self.props.get("name") or self.props.get("summary.name") or self.id)


@dataclass
class Session:
    """A logged-in vCenter session: service instance, its content and the views it keeps."""

    si: Any
    content: Any
    endpoint: Endpoint
    user: str
    task_timeout: float = 120.0
    _views: dict[tuple[str, ...], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- reads ------------------------------------------------------------------
    def view(self, kinds: Sequence[str]) -> Any:
        """A ContainerView of the whole inventory for these types, made once per session."""
        key = tuple(sorted(kinds))
        with self._lock:
            found = self._views.get(key)
            if found is None:
                types = [getattr(vim, k) for k in key]
                found = self.content.viewManager.CreateContainerView(self.content.rootFolder, types, True)
                self._views[key] = found
            return found

    def retrieve(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, list[Obj]]:
        """One RetrieveContents: every object of each type in ``wanted``, with those properties."""
        pc = PC
        view = self.view(list(wanted))
        spec = pc.FilterSpec(
            objectSet=[
                pc.ObjectSpec(
                    obj=view,
                    skip=True,
                    selectSet=[pc.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)],
                )
            ],
            propSet=[
                pc.PropertySpec(type=getattr(vim, k), pathSet=list(paths), all=False) for k, paths in wanted.items()
            ],
        )
        return self._collect(spec, wanted)

    def retrieve_objects(self, refs: Iterable[Any], wanted: Mapping[str, Sequence[str]]) -> dict[str, list[Obj]]:
        """One RetrieveContents for the given objects only."""
        pc = PC
        objects = [pc.ObjectSpec(obj=ref, skip=False) for ref in refs]
        if not objects:
            return {k: [] for k in wanted}
        spec = pc.FilterSpec(
            objectSet=objects,
            propSet=[
                pc.PropertySpec(type=getattr(vim, k), pathSet=list(paths), all=False) for k, paths in wanted.items()
            ],
        )
        return self._collect(spec, wanted)

    def _collect(self, spec: Any, wanted: Mapping[str, Sequence[str]]) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {k: [] for k in wanted}
        classes = [(k, getattr(vim, k)) for k in wanted]
        # Most specific type first: a ClusterComputeResource is also a ComputeResource.
        classes.sort(key=lambda kc: -len(kc[1].__mro__))
        for content in self.content.propertyCollector.RetrieveContents([spec]) or []:
            obj = content.obj
            props = {p.name: p.val for p in content.propSet or []}
            for kind, cls in classes:
                if isinstance(obj, cls):
                    out[kind].append(Obj(obj, props))
                    break
        return out

    # -- lifecycle ----------------------------------------------------------------
    def close(self) -> None:
        """Log out; a session vCenter already ended needs nothing more."""
        with contextlib.suppress(Exception):  # an expired session cannot log out
            pyvim_connect.Disconnect(self.si)


def open_session(ctx: Context) -> Session:
    """Log in to the vCenter of the invocation's settings (and profile)."""
    global _logins
    endpoint = parse_url(ctx.settings["url"])
    user = str(ctx.settings["user"])
    password = str(ctx.settings["password"])
    kwargs: dict[str, Any] = {
        "protocol": endpoint.protocol,
        "host": endpoint.host,
        "port": endpoint.port,
        "path": endpoint.path,
        "user": user,
        "pwd": password,
    }
    if endpoint.protocol == "https":
        if bool(ctx.settings["verify_tls"]):
            # Always an explicit context: pyvmomi silently skips verification for
            # localhost when it is given none.
            ca_file = str(ctx.settings["ca_file"] or "")
            try:
                kwargs["sslContext"] = ssl.create_default_context(cafile=ca_file or None)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"setting ca_file: {ca_file} cannot be loaded as PEM certificates ({exc})",
                    "Point OPSPACK_VMWARE_CA_FILE at the PEM file of vCenter's CA.",
                ) from None
        else:
            kwargs["disableSslCertValidation"] = True
    try:
        socket.create_connection((endpoint.host, endpoint.port), timeout=CONNECT_TIMEOUT).close()
        si = pyvim_connect.SmartConnect(**kwargs)
    except Exception as exc:
        error = translate(exc, url=endpoint.url, user=user)
        if error is None and "is not a VIM server" in str(exc):
            error = BackendError(
                f"{endpoint.url} does not answer as a vSphere SDK endpoint",
                "Check the url setting: it is the vCenter address followed by /sdk.",
            )
        if error is None:
            raise
        raise error from None
    with _login_lock:
        _logins += 1
    content = si.RetrieveContent()
    return Session(si, content, endpoint, user, task_timeout=float(ctx.settings["task_timeout"]))


def _expired(exc: BaseException) -> bool:
    """vCenter ended the session: NotAuthenticated, or (vcsim) a kept view that vanished with it."""
    if isinstance(exc, vim.fault.NotAuthenticated):
        return True
    return isinstance(exc, vmodl.fault.ManagedObjectNotFound) and isinstance(
        getattr(exc, "obj", None), vim.view.ContainerView
    )


def run(ctx: Context, use: Callable[[Session], T]) -> T:
    """Run ``use`` with the kept session, logging in again once if vCenter ended it."""
    result: T = ctx.with_connection(
        lambda: open_session(ctx),
        use,
        expired=_expired,
        close=Session.close,
        settings=SESSION_SETTINGS,
    )
    return result


# ---------------------------------------------------------------------------
# names and paths


class Inventory:
    """Names, parents and inventory paths of the objects one read returned."""

    def __init__(self, data: Mapping[str, list[Obj]]) -> None:
        self.by_id: dict[str, Obj] = {}
        for objs in data.values():
            for o in objs:
                self.by_id[o.id] = o
        self._paths: dict[str, str] = {}

    def name_of(self, ref: Any) -> str:
        if ref is None:
            return ""
        found = self.by_id.get(str(ref._moId))
        return found.name if found is not None else str(ref._moId)

    def path(self, obj: Obj) -> str:
        """``DC0/vm/F0/web01``: the inventory path (as SearchIndex.FindByInventoryPath takes it)."""
        cached = self._paths.get(obj.id)
        if cached is not None:
            return cached
        parts = [obj.name]
        parent = obj.get("parent")
        seen = {obj.id}
        while parent is not None and str(parent._moId) not in seen:
            seen.add(str(parent._moId))
            node = self.by_id.get(str(parent._moId))
            if node is None or node.get("parent") is None:  # the root folder ("Datacenters")
                break
            parts.append(node.name)
            parent = node.get("parent")
        path = "/".join(reversed(parts))
        self._paths[obj.id] = path
        return path

    def ancestors(self, obj: Obj) -> list[Obj]:
        out: list[Obj] = []
        seen = {obj.id}
        parent = obj.get("parent")
        while parent is not None and str(parent._moId) not in seen:
            node = self.by_id.get(str(parent._moId))
            if node is None:
                break
            seen.add(node.id)
            out.append(node)
            parent = node.get("parent")
        return out


#: Folders and datacenters: enough to build inventory paths.
PATH_TYPES: dict[str, list[str]] = {"Folder": ["name", "parent"], "Datacenter": ["name", "parent"]}


def pick(what: str, query: str, candidates: list[Obj], inventory: Inventory) -> Obj:
    """The one object ``query`` names: an exact name or inventory path (either case)."""
    wanted = query.strip().strip("/")
    if "/" in wanted:
        for exact in (True, False):
            found = [
                o
                for o in candidates
                if (inventory.path(o) == wanted if exact else inventory.path(o).lower() == wanted.lower())
            ]
            if found:
                break
    else:
        found = [o for o in candidates if o.name == wanted] or [
            o for o in candidates if o.name.lower() == wanted.lower()
        ]
    if len(found) == 1:
        return found[0]
    if found:
        raise Ambiguous(what, query, sorted(inventory.path(o) for o in found))
    names = [o.name for o in candidates] if "/" not in wanted else [inventory.path(o) for o in candidates]
    raise NotFound.with_matches(what, query, names)


def resolve(
    session: Session,
    kind: str,
    query: str,
    what: str,
    extra: Mapping[str, Sequence[str]] | None = None,
) -> tuple[Obj, Inventory]:
    """Find one object of type ``kind`` by name or path, in one read (plus ``extra`` types)."""
    wanted: dict[str, list[str]] = {kind: ["name", "parent"], **PATH_TYPES}
    for k, paths in (extra or {}).items():
        wanted[k] = sorted(set(wanted.get(k, [])) | set(paths))
    data = session.retrieve(wanted)
    inventory = Inventory(data)
    return pick(what, query, data[kind], inventory), inventory


def name_matches(name: str, pattern: str) -> bool:
    """A glob (``web*``), or a substring when the pattern has no wildcard; case-insensitive."""
    low, pat = name.lower(), pattern.lower()
    if any(c in pat for c in "*?["):
        return fnmatch.fnmatchcase(low, pat)
    return pat in low


# ---------------------------------------------------------------------------
# tasks


@dataclass(slots=True)
class TaskResult:
    """A finished task: its id, what it returned and how long it took."""

    task_id: str
    result: Any
    seconds: float


#: What a task update reports: its state (queued, running, success, error) and percent done.
TaskUpdate = Callable[[str, int | None], None]


def wait_task(
    session: Session,
    task: Any,
    what: str,
    *,
    on_update: TaskUpdate | None = None,
    timeout: float | None = None,
) -> TaskResult:
    """Wait for a vSphere task to finish (up to ``timeout``, default the session's ``task_timeout``).

    ``on_update(state, progress)`` is called whenever the task's state or percent done
    changes, the final state included (vCenter reports progress only while running)."""
    limit = session.task_timeout if timeout is None else timeout
    began = time.monotonic()
    deadline = began + limit
    delay = 0.02
    task_id = str(task._moId)
    seen: tuple[str, int | None] | None = None
    while True:
        # Only the fields needed: reading all of task.info also decodes info.entity,
        # which some servers fill with a non-entity (a snapshot) that pyvmomi rejects.
        info = session.retrieve_objects([task], {"Task": ["info.state", "info.progress", "info.error", "info.result"]})[
            "Task"
        ][0]
        state = str(info.get("info.state"))
        progress = info.get("info.progress")
        now = (state, int(progress) if progress is not None else None)
        if on_update is not None and now != seen:
            on_update(*now)
        seen = now
        if state == "success":
            return TaskResult(task_id, info.get("info.result"), time.monotonic() - began)
        if state == "error":
            raise task_error(what, task_id, info.get("info.error"))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CommandTimeout(
                f"{what}: vCenter task {task_id} is still {state} after {limit:g} s",
                "It may still finish: check vCenter's Recent Tasks"
                + (", or raise the task_timeout setting." if timeout is None else "."),
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 1.0)


def start_task(start: Callable[[], Any], what: str) -> Any:
    """Call a ``*_Task`` method; a fault raised at once becomes the same error as a failed task."""
    try:
        return start()
    except vmodl.MethodFault as exc:
        if _expired(exc):
            raise
        raise task_error(what, None, exc) from None


def run_task(session: Session, start: Callable[[], Any], what: str) -> TaskResult:
    """Start a task and wait for it (:func:`start_task`, then :func:`wait_task`)."""
    return wait_task(session, start_task(start, what), what)


# ---------------------------------------------------------------------------
# formatting helpers shared by the command modules


def gb(value_bytes: Any) -> float | None:
    return round(float(value_bytes) / 1024**3, 1) if value_bytes is not None else None


def pct(used: Any, total: Any) -> float | None:
    if used is None or not total:
        return None
    return round(100.0 * float(used) / float(total), 1)


def duration(seconds: Any) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {s}s"


POWER_WORDS = {"poweredOn": "on", "poweredOff": "off", "suspended": "suspended"}
