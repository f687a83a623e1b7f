"""`gitlab mr list` and `gitlab mr <project>!<iid>`: merge requests, their approvals and pipelines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from opspack.context import Context
from opspack.declare import command
from opspack.errors import UsageError
from opspack.results import KV, Level, Link, Menu, MenuOption, Result, Scalar, Table

from opspack_gitlab import _client

#: detailed_merge_status → a level (https://docs.gitlab.com/ee/api/merge_requests.html#merge-status).
MERGE_LEVELS: dict[str, Level] = {
    "mergeable": "ok",
    "conflict": "critical",
    "need_rebase": "warning",
    "ci_must_pass": "warning",
    "ci_still_running": "unknown",
    "not_approved": "warning",
    "requested_changes": "warning",
    "discussions_not_resolved": "warning",
    "draft_status": "unknown",
    "checking": "unknown",
    "unchecked": "unknown",
    "preparing": "unknown",
    "approvals_syncing": "unknown",
    "not_open": "ok",
}


@command(
    words=["gitlab", "mr", "list"],
    examples=["gitlab mr list platform/billing-api", "gitlab mr list platform/billing-api --author alice --label bug"],
)
def list_(
    ctx: Context,
    project: str | None = None,
    *,
    state: Literal["opened", "closed", "merged", "locked", "all"] = "opened",
    author: str | None = None,
    label: str | None = None,
    limit: int = 20,
) -> Table:
    """List merge requests: title, author, merge status, conflicts and age.

    GitLab filters and pages them, so only the rows shown are read, whatever the
    project's size. Without a project it lists every project's merge requests the
    token's user can see.

    Args:
        project: the project's path (group/name) or id; empty for all projects
        state: opened, closed, merged, locked or all
        author: only merge requests by this username
        label: only merge requests with this label (several: comma-separated, all must match)
        limit: at most this many merge requests
    """
    if limit < 1:
        raise UsageError(f"limit must be 1 or more, got {limit}")
    filters: dict[str, Any] = {"state": state, "order_by": "created_at", "sort": "desc"}
    if author:
        filters["author_username"] = author.lstrip("@")
    if label:
        filters["labels"] = label
    lister: Callable[..., Any]
    if project:
        lister = _client.project(ctx, project).mergerequests.list
        where = _client.normalize_project(project)
    else:
        lister = _client.client(ctx).mergerequests.list
        filters["scope"] = "all"
        where = "all projects"
    mrs, total = _client.take(lister, limit, **filters)
    rows: list[list[Scalar]] = []
    levels: list[Level] = []
    for mr in mrs:
        a = mr.attributes
        status = a.get("detailed_merge_status") or a.get("merge_status") or ""
        ref = (a.get("references") or {}).get("full") if not project else f"!{a['iid']}"
        rows.append(
            [
                ref or f"!{a['iid']}",
                a.get("title"),
                (a.get("author") or {}).get("username"),
                status.replace("_", " "),
                "yes" if a.get("has_conflicts") else "no",
                ", ".join(a.get("labels") or []),
                _client.age(a.get("created_at")),
            ]
        )
        levels.append(MERGE_LEVELS.get(status, "unknown") if a.get("state") == "opened" else "ok")
    shown = f"{len(rows)} of {total}" if total is not None else f"first {len(rows)}"
    extra = "".join(f", {k} {v}" for k, v in (("author", author), ("label", label)) if v)
    return Table(
        ["mr", "title", "author", "merge status", "conflicts", "labels", "age"],
        rows,
        title=f"Merge requests in {where} ({state}{extra}: {shown})",
        row_status=levels,
        total=total,
    )


@command(
    verb="show",
    words=["gitlab", "mr"],
    examples=["gitlab mr platform/billing-api!42"],
)
def show(ctx: Context, ref: str) -> list[Result]:
    """One merge request: title, author, approvals, pipeline, conflicts and age.

    Args:
        ref: the merge request as group/project!iid (or its URL)
    """
    path, iid = _client.parse_mr_ref(ref)
    proj = _client.project(ctx, path)
    mr = proj.mergerequests.get(iid)
    a = mr.attributes
    approvals = mr.approvals.get().attributes
    approved_by = [(x.get("user") or {}).get("username", "?") for x in approvals.get("approved_by") or []]
    required = approvals.get("approvals_required")
    approvals_text = f"{len(approved_by)}"
    if required is not None:
        approvals_text += f" of {required} required"
    if approved_by:
        approvals_text += f" ({', '.join(approved_by)})"
    pipeline = a.get("head_pipeline") or a.get("pipeline")
    pipeline_text = f"#{pipeline['id']} {pipeline['status']}" if pipeline else "none"
    status = a.get("detailed_merge_status") or a.get("merge_status") or ""
    items = {
        "title": a.get("title"),
        "author": (a.get("author") or {}).get("username"),
        "state": str(a.get("state")) + (" (draft)" if a.get("draft") else ""),
        "branches": f"{a.get('source_branch')} → {a.get('target_branch')}",
        "merge status": status.replace("_", " "),
        "approvals": approvals_text,
        "approved": "yes" if approvals.get("approved") else "no",
        "pipeline": pipeline_text,
        "conflicts": "yes" if a.get("has_conflicts") else "no",
        "labels": ", ".join(a.get("labels") or []) or "none",
        "age": _client.age(a.get("created_at")),
    }
    out: list[Result] = [KV(items, title=f"{path}!{iid}")]
    if a.get("web_url"):
        out.append(Link(a["web_url"], f"Open {path}!{iid}"))
    options = [
        MenuOption(
            "Pipeline of this branch",
            "gitlab.pipeline.status",
            {"project": path, "ref": a.get("source_branch")},
        )
    ]
    if pipeline and pipeline.get("status") in ("failed", "canceled"):
        options.append(
            MenuOption("Retry the pipeline", "gitlab.pipeline.retry", {"project": path, "id": pipeline["id"]})
        )
    out.append(Menu(options, title="Next"))
    return out
