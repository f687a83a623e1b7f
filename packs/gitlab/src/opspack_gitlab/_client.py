"""The python-gitlab client, kept between commands, and small helpers the commands share.

This is the only module that imports python-gitlab; command modules import it inside
their functions, so listing commands never loads the client library.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opspack.context import Context
from opspack.errors import UsageError
from opspack.results import Level

if TYPE_CHECKING:
    import gitlab
    from gitlab.v4.objects import Project

CONNECTION_SETTINGS = ["url", "token", "verify_tls", "ca_file", "timeout"]
#: GitLab's largest page (``per_page`` above 100 is cut to 100).
MAX_PAGE = 100


def client(ctx: Context) -> gitlab.Gitlab:
    """A python-gitlab client for this profile's settings, reused between commands."""

    def make() -> gitlab.Gitlab:
        from importlib.metadata import PackageNotFoundError, version

        import gitlab

        try:
            agent = f"opspack-gitlab/{version('opspack-gitlab')}"
        except PackageNotFoundError:
            agent = "opspack-gitlab"
        s = ctx.settings
        verify: bool | str = (s["ca_file"] or True) if s["verify_tls"] else False
        gl = gitlab.Gitlab(
            url=str(s["url"]).rstrip("/"),
            private_token=s["token"],
            ssl_verify=verify,
            timeout=float(s["timeout"]),
            user_agent=agent,
            retry_transient_errors=False,
            keep_base_url=True,
        )
        return gl

    return ctx.connection(make, close=lambda gl: gl.session.close(), settings=CONNECTION_SETTINGS)


def gitlab_error() -> type[Exception]:
    """python-gitlab's base exception (imported when a command runs), for ``except`` clauses."""
    from gitlab.exceptions import GitlabError

    return GitlabError


def project(ctx: Context, path: str, *, lazy: bool = True) -> Project:
    """A project by ``group/name`` path or numeric id; ``lazy`` makes no request."""
    path = normalize_project(path)
    gl = client(ctx)
    return gl.projects.get(int(path) if path.isdigit() else path, lazy=lazy)


def normalize_project(path: str) -> str:
    """``group/app``, ``https://gitlab/group/app(.git)``, or an id → ``group/app`` / id."""
    text = path.strip()
    text = re.sub(r"^(https?://[^/]+/|git@[^:]+:)", "", text)
    text = text.removesuffix(".git").split("/-/")[0].strip("/")
    if not text or (not text.isdigit() and "/" not in text):
        raise UsageError(
            f"project '{path}' is not a project path",
            "Give it as group/name (subgroups allowed: group/sub/name) or its numeric id.",
        )
    return text


_MR_REF = re.compile(r"^(?P<project>.+?)(?:!|/-/merge_requests/)(?P<iid>\d+)/?$")


def parse_mr_ref(ref: str) -> tuple[str, int]:
    """``group/app!12`` or a merge request URL → (project, iid)."""
    m = _MR_REF.match(ref.strip())
    if not m:
        raise UsageError(
            f"'{ref}' does not name a merge request",
            "Write it as group/project!12 (or paste the merge request's URL).",
        )
    return normalize_project(m["project"]), int(m["iid"])


def take(lister: Callable[..., Any], limit: int, **filters: Any) -> tuple[list[Any], int | None]:
    """The first ``limit`` items of a list endpoint, reading only the pages they need.

    Returns the items and GitLab's ``X-Total`` (None when GitLab omits it, above 10,000)."""
    per_page = max(1, min(limit, MAX_PAGE))
    pages = lister(iterator=True, per_page=per_page, **filters)
    items = list(itertools.islice(pages, limit))
    return items, pages.total


def age(timestamp: str | None, now: dt.datetime | None = None) -> str:
    """``2024-05-01T09:00:00.000Z`` → ``3d`` / ``5h`` / ``12m`` ago, compactly."""
    if not timestamp:
        return ""
    when = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = max(0, int(((now or dt.datetime.now(dt.UTC)) - when).total_seconds()))
    for unit, size in (("y", 365 * 86400), ("mo", 30 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


#: GitLab's pipeline and job statuses → the core's levels.
STATUS_LEVELS: dict[str, Level] = {
    "success": "ok",
    "passed": "ok",
    "manual": "ok",
    "skipped": "ok",
    "failed": "critical",
    "canceled": "warning",
    "canceling": "warning",
    "running": "unknown",
    "pending": "unknown",
    "created": "unknown",
    "preparing": "unknown",
    "scheduled": "unknown",
    "waiting_for_resource": "unknown",
    "waiting_for_callback": "unknown",
}
