"""`gitlab pipeline status|run|retry|cancel`: CI/CD pipelines of a project."""

from __future__ import annotations

from typing import Any

from opspack.context import Context
from opspack.declare import command
from opspack.errors import UsageError
from opspack.results import KV, Level, Link, Result, Status, Table

from opspack_gitlab import _client


def _summary(p: dict[str, Any], title: str) -> KV:
    return KV(
        {
            "pipeline": f"#{p.get('id')}",
            "status": p.get("status"),
            "ref": p.get("ref"),
            "commit": str(p.get("sha") or "")[:8],
            "source": p.get("source"),
            "started": _client.age(p.get("started_at") or p.get("created_at")) + " ago",
            "duration": _client.duration(p.get("duration")) or "not finished",
        },
        title=title,
    )


def _level(status: str | None) -> Level:
    return _client.STATUS_LEVELS.get(status or "", "unknown")


@command(
    words=["gitlab", "pipeline", "status"],
    examples=["gitlab pipeline status platform/billing-api main", "gitlab pipeline status platform/billing-api"],
)
def status(ctx: Context, project: str, ref: str | None = None, *, limit: int = 10) -> list[Result]:
    """The latest pipeline of a branch or tag with its jobs, or a project's recent pipelines.

    Args:
        project: the project's path (group/name) or id
        ref: a branch or tag; without it, the project's most recent pipelines
        limit: at most this many pipelines when no ref is given
    """
    proj = _client.project(ctx, project)
    path = _client.normalize_project(project)
    if ref is None:
        pipelines, total = _client.take(proj.pipelines.list, max(1, limit), order_by="id", sort="desc")
        rows = [
            [
                f"#{p.attributes['id']}",
                p.attributes.get("ref"),
                p.attributes.get("status"),
                p.attributes.get("source"),
                _client.age(p.attributes.get("created_at")),
            ]
            for p in pipelines
        ]
        shown = f"{len(rows)} of {total}" if total is not None else f"latest {len(rows)}"
        return [
            Table(
                ["pipeline", "ref", "status", "source", "age"],
                rows,
                title=f"Pipelines of {path} ({shown})",
                row_status=[_level(p.attributes.get("status")) for p in pipelines],
                total=total,
            )
        ]
    try:
        pipeline = proj.pipelines.latest(ref=ref)
    except _client.gitlab_error() as exc:
        if getattr(exc, "response_code", None) != 404:
            raise
        return [Status("unknown", f"{path} has no pipeline on {ref}.", title=f"Pipeline of {path} {ref}")]
    p = pipeline.attributes
    jobs = pipeline.jobs.list(per_page=100, get_all=False)
    table = Table(
        ["stage", "job", "status", "duration", "failure"],
        [
            [
                j.attributes.get("stage"),
                j.attributes.get("name"),
                j.attributes.get("status"),
                _client.duration(j.attributes.get("duration")),
                j.attributes.get("failure_reason") or "",
            ]
            for j in jobs
        ],
        title=f"Jobs of pipeline #{p['id']}",
        row_status=[_level(j.attributes.get("status")) for j in jobs],
    )
    out: list[Result] = [_summary(p, f"{path} {ref}"), table]
    out.append(Status(_level(p.get("status")), f"Pipeline #{p['id']} on {ref}: {p.get('status')}"))
    if p.get("web_url"):
        out.append(Link(p["web_url"], f"Open pipeline #{p['id']}"))
    return out


@command(
    words=["gitlab", "pipeline", "run"],
    mutating=True,
    examples=["gitlab pipeline run platform/billing-api main DEPLOY_ENV=staging"],
)
def run(ctx: Context, project: str, ref: str, variables: dict[str, str] | None = None) -> list[Result]:
    """Start a pipeline on a branch or tag, with CI/CD variables.

    Args:
        project: the project's path (group/name) or id
        ref: the branch or tag to run
        variables: KEY=value pairs passed to the pipeline as CI/CD variables
    """
    proj = _client.project(ctx, project)
    data: dict[str, Any] = {"ref": ref}
    if variables:
        for key in variables:
            if not key.replace("_", "a").isalnum():
                raise UsageError(
                    f"variable name '{key}' is not valid",
                    "CI/CD variable names use letters, digits and _ only.",
                )
        data["variables"] = [{"key": k, "value": v, "variable_type": "env_var"} for k, v in variables.items()]
    pipeline = proj.pipelines.create(data)
    p = pipeline.attributes
    names = ", ".join(sorted(variables or {})) or "none"
    out: list[Result] = [
        _summary(p, f"Started on {_client.normalize_project(project)} {ref}"),
        Status("ok", f"Pipeline #{p['id']} created on {ref} (variables: {names})."),
    ]
    if p.get("web_url"):
        out.append(Link(p["web_url"], f"Open pipeline #{p['id']}"))
    return out


@command(
    words=["gitlab", "pipeline", "retry"],
    mutating=True,
    examples=["gitlab pipeline retry platform/billing-api 4211"],
)
def retry(ctx: Context, project: str, id: int) -> list[Result]:
    """Retry the failed and canceled jobs of a pipeline.

    Args:
        project: the project's path (group/name) or id
        id: the pipeline's id (#4211)
    """
    pipeline = _client.project(ctx, project).pipelines.get(id, lazy=True)
    answer = pipeline.retry()
    p = answer if isinstance(answer, dict) else {}
    return [Status("ok", f"Pipeline #{id} retried: now {p.get('status', 'pending')}.")]


def _check_cancel(ctx: Context, project: str, id: int) -> None:
    """Before the confirmation: the project and the pipeline exist (one GET)."""
    _client.project(ctx, project).pipelines.get(id)


@command(
    words=["gitlab", "pipeline", "cancel"],
    mutating=True,
    destructive=True,
    idempotent=True,
    examples=["gitlab pipeline cancel platform/billing-api 4211"],
    check=_check_cancel,
)
def cancel(ctx: Context, project: str, id: int) -> list[Result]:
    """Cancel a running pipeline (its running jobs stop, which may leave a deploy half done).

    Args:
        project: the project's path (group/name) or id
        id: the pipeline's id (#4211)
    """
    pipeline = _client.project(ctx, project).pipelines.get(id, lazy=True)
    answer = pipeline.cancel()
    p = answer if isinstance(answer, dict) else {}
    state = p.get("status", "canceled")
    level: Level = "ok" if state == "canceled" else "warning"
    note = "" if state == "canceled" else " (it was not running, so nothing changed)"
    return [Status(level, f"Pipeline #{id}: {state}{note}.")]
