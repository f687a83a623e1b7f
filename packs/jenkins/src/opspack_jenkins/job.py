"""``jenkins menu`` and ``jenkins jobs``: what there is to run, and how it went."""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

from opspack import Context, Menu, MenuOption, Result, Table, Text, command
from opspack.results import Level

from opspack_jenkins import access, view


@command(
    verb="menu",
    words=["jenkins", "menu"],
    examples=["jenkins menu", "jenkins menu deploy"],
    results=["menu", "text"],
)
def menu(ctx: Context, folder: str | None = None) -> list[Result]:
    """A menu of the jobs you may start, one button per job (folders open their own menu).

    Each job's button runs `jenkins build <job>` with the job's default parameters; which
    jobs appear is decided by the allowed_jobs / role_jobs settings. One request per folder.

    Args:
        folder: the folder to show (full path, e.g. `team/app`); default: the top level
    """
    from opspack_jenkins.client import PARAM_FIELDS, client, is_folder

    globs = access.job_globs(ctx.settings, ctx.caller.roles)
    base = (folder or "").strip("/")
    items = client(ctx).folder_items(
        base or None, f"name,_class,color,buildable,property[{PARAM_FIELDS}],actions[{PARAM_FIELDS}],jobs[name]"
    )
    options: list[MenuOption] = []
    for item in sorted(items, key=lambda i: str(i.get("name", "")).lower()):
        name = str(item.get("name") or "")
        if not name:
            continue
        full = f"{base}/{name}" if base else name
        if is_folder(item):
            if access.folder_may_hold(full, globs):
                options.append(MenuOption(label=f"{name}/", command="jenkins.job.menu", args={"folder": full}))
            continue
        if not access.job_allowed(full, globs) or item.get("buildable") is False:
            continue
        defaults = {
            str(d["name"]): value
            for d in view.parameter_definitions(item)
            if d.get("name") and not view.is_secret_parameter(d) and (value := view.default_value(d)) is not None
        }
        label = name + (f" ({', '.join(f'{k}={v}' for k, v in defaults.items())})" if defaults else "")
        args: dict[str, object] = {"job": full}
        if defaults:
            args["params"] = defaults
        options.append(MenuOption(label=label[:75], command="jenkins.build.start", args=args))
    where = f"in {base}" if base else "on this controller"
    if not options:
        return [Text(f"There is no job {where} that you may start.", title="Jenkins")]
    return [Menu(options, title=f"Jenkins jobs you may start {where}")]


@command(
    verb="list",
    words=["jenkins", "jobs"],
    examples=["jenkins jobs", "jenkins jobs --folder team --status failing", "jenkins jobs --name 'deploy-*'"],
    timeout=120,
)
def list_(
    ctx: Context,
    *,
    folder: str | None = None,
    status: Literal["failing", "passing", "running"] | None = None,
    name: str | None = None,
    limit: int = 500,
) -> Table:
    """Jobs with their last result, last build time, duration and health.

    Reads every folder level with the remote API's `tree=` query: one request for
    `tree_depth` levels of folders, not one request per job.

    Args:
        folder: only jobs under this folder (full path)
        status: only failing (failed or unstable), passing or running jobs
        name: only jobs whose name or full name matches this glob (`deploy-*`)
        limit: at most this many rows
    """
    from opspack_jenkins.client import client

    rows = client(ctx).walk_jobs(folder, int(ctx.settings["tree_depth"]))
    if name:
        pattern = name.lower()
        rows = [
            r
            for r in rows
            if fnmatch.fnmatchcase(r.full_name.lower(), pattern)
            or fnmatch.fnmatchcase(r.full_name.rsplit("/", 1)[-1].lower(), pattern)
        ]
    out: list[list[Any]] = []
    levels: list[Level] = []
    for r in sorted(rows, key=lambda r: r.full_name.lower()):
        d = r.data
        last = d.get("lastBuild") or {}
        state = view.color_state(d.get("color"))
        building = bool(last.get("building")) or state == "running"
        result = "RUNNING" if building else (last.get("result") or ("never built" if not last else None))
        if status == "running" and not building:
            continue
        if status == "failing" and result not in ("FAILURE", "UNSTABLE"):
            continue
        if status == "passing" and result != "SUCCESS":
            continue
        health = (d.get("healthReport") or [{}])[0]
        score = health.get("score")
        out.append(
            [
                r.full_name,
                f"#{last['number']} {result}" if last.get("number") else result,
                view.when(last.get("timestamp")),
                None if building else view.duration(last.get("duration")),
                f"{score}%" if isinstance(score, int) else None,
            ]
        )
        level: Level = "unknown" if state == "disabled" else view.RESULT_LEVEL.get(str(result), "unknown")
        levels.append(level)
    total = len(out)
    title = "Jenkins jobs" + (f" in {folder}" if folder else "")
    return Table(
        columns=["job", "last result", "last build", "duration", "health"],
        rows=out[:limit],
        title=title,
        row_status=levels[:limit],
        total=total,
    )
