"""`gitlab issues` and `gitlab issue new`: a project's issues."""

from __future__ import annotations

from typing import Literal

from opspack.context import Context
from opspack.declare import command
from opspack.errors import UsageError
from opspack.results import KV, Link, Result, Table

from opspack_gitlab import _client


@command(
    verb="list",
    words=["gitlab", "issues"],
    examples=["gitlab issues platform/billing-api", "gitlab issues platform/billing-api --label bug"],
)
def list_(
    ctx: Context,
    project: str,
    *,
    label: str | None = None,
    state: Literal["opened", "closed", "all"] = "opened",
    limit: int = 20,
) -> Table:
    """List a project's issues, newest first.

    Args:
        project: the project's path (group/name) or id
        label: only issues with this label (several: comma-separated, all must match)
        state: opened, closed or all
        limit: at most this many issues
    """
    if limit < 1:
        raise UsageError(f"limit must be 1 or more, got {limit}")
    filters: dict[str, str] = {"state": state, "order_by": "created_at", "sort": "desc"}
    if label:
        filters["labels"] = label
    issues, total = _client.take(_client.project(ctx, project).issues.list, limit, **filters)
    rows = [
        [
            f"#{i.attributes['iid']}",
            i.attributes.get("title"),
            i.attributes.get("state"),
            ", ".join(i.attributes.get("labels") or []),
            ", ".join(a.get("username", "") for a in i.attributes.get("assignees") or []),
            _client.age(i.attributes.get("created_at")),
        ]
        for i in issues
    ]
    shown = f"{len(rows)} of {total}" if total is not None else f"first {len(rows)}"
    where = _client.normalize_project(project)
    return Table(
        ["issue", "title", "state", "labels", "assignees", "age"],
        rows,
        title=f"Issues in {where} ({state}{f', label {label}' if label else ''}: {shown})",
        total=total,
    )


@command(
    verb="new",
    words=["gitlab", "issue", "new"],
    mutating=True,
    examples=['gitlab issue new platform/billing-api "Login fails on Safari" --label bug'],
)
def new(ctx: Context, project: str, title: list[str], *, label: str | None = None) -> list[Result]:
    """Open an issue in a project.

    Args:
        project: the project's path (group/name) or id
        title: the issue's title (the rest of the message; quoting is optional)
        label: labels to put on it (several: comma-separated)
    """
    text = " ".join(title).strip()
    if not text:
        raise UsageError("the issue needs a title", 'Write it after the project: gitlab issue new group/app "Title".')
    data: dict[str, str] = {"title": text}
    if label:
        data["labels"] = label
    issue = _client.project(ctx, project).issues.create(data)
    a = issue.attributes
    where = _client.normalize_project(project)
    out: list[Result] = [
        KV(
            {"issue": f"{where}#{a['iid']}", "title": a.get("title"), "labels": ", ".join(a.get("labels") or [])},
            title="Issue opened",
        )
    ]
    if a.get("web_url"):
        out.append(Link(a["web_url"], f"Open {where}#{a['iid']}"))
    return out
