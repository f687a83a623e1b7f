"""`gitlab repo new|check|list`: repositories made to the team's standard, and compared with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from opspack.context import Context
from opspack.declare import command
from opspack.errors import NotFound, UsageError
from opspack.results import KV, Diff, Level, Link, Result, Scalar, Status, Table

from opspack_gitlab import _client, _standard
from opspack_gitlab._converge import Converger, Item
from opspack_gitlab._standard import Standard, Template

if TYPE_CHECKING:
    from gitlab.v4.objects import Project

COLUMNS = ["aspect", "standard", "found", "result"]


@command(
    words=["gitlab", "repo", "new"],
    mutating=True,
    idempotent=True,
    timeout=120,
    examples=["gitlab repo new platform/billing-api", "gitlab repo new platform/infra-tools --visibility internal"],
)
def new(
    ctx: Context,
    project: str,
    *,
    template: str | None = None,
    visibility: Literal["private", "internal"] | None = None,
) -> list[Result]:
    """Create a project the standard way, or bring an existing one back to the standard.

    The standard (the `standard` setting: a TOML file) names the template (a project
    to fork, or files such as README.md, .gitlab-ci.yml and CODEOWNERS), the default
    branch and its protection, the approval rule, the merge settings ("pipelines must
    succeed"), the labels and the group whose members get access. Running it again
    reports what already matched and fixes what drifted.

    Args:
        project: the new project's path, group/name (subgroups allowed)
        template: a template named in the standard (default: the standard's own)
        visibility: private or internal (default: the standard's)
    """
    std = _standard.load(ctx.settings["standard"])
    tpl = std.pick_template(template)
    if visibility is not None and visibility not in std.allowed_visibility:
        raise UsageError(
            f"visibility {visibility} is not allowed by the standard",
            f"Use one of: {', '.join(std.allowed_visibility)}.",
        )
    path = _client.normalize_project(project)
    if path.isdigit():
        raise UsageError("a new project needs a path, not an id", "Write it as group/name.")
    gl = _client.client(ctx)
    created: Item | None = None
    try:
        proj = gl.projects.get(path)
    except _client.gitlab_error() as exc:
        if getattr(exc, "response_code", None) != 404:
            raise
        proj = _create(ctx, path, std, tpl, visibility or std.visibility)
        how = f"forked from {tpl.project}" if tpl.project else f"from template {tpl.name}"
        created = Item("project", "exists", "missing", False, result=f"created ({how})", level="ok")
    items = Converger(gl, proj, std, tpl, apply=True, visibility=visibility).run()
    if created is not None:
        items.insert(0, created)
    else:
        items.insert(0, Item("project", "exists", "exists", True, result="ok"))
    fixed = [i for i in items if i.changed]
    failed = [i for i in items if i.level == "critical"]
    manual = [i for i in items if i.result.startswith(("manual", "differs"))]
    matched = [i for i in items if i.result == "ok"]
    parts = [f"{len(matched)} already matched"]
    if fixed:
        parts.append(f"{len(fixed)} {'set up' if created else 'fixed'}")
    if manual:
        parts.append(f"{len(manual)} need a person ({', '.join(i.aspect for i in manual)})")
    if failed:
        parts.append(f"{len(failed)} failed ({', '.join(i.aspect for i in failed)})")
    level: Level = "critical" if failed else "warning" if manual else "ok"
    verb = "created" if created else "checked"
    url = proj.attributes.get("web_url")
    out: list[Result] = [
        _table(items, f"{path}: {verb} against {std.source}"),
        Status(level, f"{path} {verb}: {', '.join(parts)}."),
    ]
    if url:
        out.append(Link(url, f"Open {path}"))
    return out


def _create(ctx: Context, path: str, std: Standard, tpl: Template, visibility: str) -> Project:
    """Fork the template project, or create an empty project with the standard's settings."""
    gl = _client.client(ctx)
    namespace, _, name = path.rpartition("/")
    try:
        group = gl.groups.get(namespace)
    except _client.gitlab_error() as exc:
        if getattr(exc, "response_code", None) == 404:
            raise NotFound(
                f"group '{namespace}' not found",
                "New projects go into an existing group the token's user can create projects in.",
            ) from None
        raise
    if tpl.project:
        source = gl.projects.get(tpl.project, lazy=True)
        fork = source.forks.create(
            {"namespace_id": group.get_id(), "path": name, "name": name, "visibility": visibility}
        )
        return gl.projects.get(fork.attributes["id"])
    data = {"name": name, "path": name, "namespace_id": group.get_id(), "visibility": visibility, **std.settings}
    return gl.projects.create(data)


def _table(items: list[Item], title: str) -> Table:
    rows: list[list[Scalar]] = [[i.aspect, i.expected, i.found, i.result] for i in items]
    levels = [i.level for i in items]
    return Table(COLUMNS, rows, title=title, row_status=levels)


@command(words=["gitlab", "repo", "check"], examples=["gitlab repo check platform/billing-api"])
def check(ctx: Context, project: str, *, template: str | None = None) -> list[Result]:
    """Compare an existing project with the standard, changing nothing.

    Args:
        project: the project's path (group/name) or id
        template: the template it was made from (default: the standard's)
    """
    std = _standard.load(ctx.settings["standard"])
    tpl = std.pick_template(template)
    gl = _client.client(ctx)
    path = _client.normalize_project(project)
    proj = gl.projects.get(int(path) if path.isdigit() else path)
    items = Converger(gl, proj, std, tpl, apply=False).run()
    name = proj.attributes["path_with_namespace"]
    differ = [i for i in items if i.result != "ok"]
    before = "\n".join(f"{i.aspect}: {i.found}" for i in items)
    after = "\n".join(f"{i.aspect}: {i.expected}" for i in items)
    if any(i.level == "critical" for i in items):
        status = Status("critical", f"{name}: some aspects could not be read ({len(differ)} of {len(items)} not ok).")
    elif differ:
        status = Status(
            "warning",
            f"{name}: {len(differ)} of {len(items)} aspects differ from the standard "
            f"({', '.join(i.aspect for i in differ)}). `gitlab repo new {name}` fixes what it can.",
        )
    else:
        status = Status("ok", f"{name} matches the standard ({len(items)} aspects).")
    out: list[Result] = [_table(items, f"{name} vs {std.source}")]
    if differ:
        out.append(Diff(before, after, title=f"{name} vs the standard", before_label=name, after_label="standard"))
    out.append(status)
    return out


@command(
    words=["gitlab", "repo", "list"],
    examples=["gitlab repo list platform", "gitlab repo list platform --search api --limit 50"],
)
def list_(ctx: Context, group: str, *, search: str | None = None, limit: int = 20) -> list[Result]:
    """List a group's projects, newest activity first, reading only the pages shown.

    Args:
        group: the group's path (group or group/subgroup) or id
        search: only projects whose name or path contains this
        limit: at most this many projects (GitLab is asked for just these)
    """
    if limit < 1:
        raise UsageError(f"limit must be 1 or more, got {limit}")
    gl = _client.client(ctx)
    grp = gl.groups.get(group.strip("/"), lazy=True)
    filters: dict[str, object] = {"order_by": "last_activity_at", "sort": "desc", "archived": False}
    if search:
        filters["search"] = search
    projects, total = _client.take(grp.projects.list, limit, **filters)
    rows = [
        [
            p.attributes["path_with_namespace"],
            p.attributes.get("visibility"),
            p.attributes.get("default_branch"),
            _client.age(p.attributes.get("last_activity_at")),
            p.attributes.get("web_url"),
        ]
        for p in projects
    ]
    shown = f"{len(rows)} of {total}" if total is not None else f"first {len(rows)}"
    table = Table(
        ["project", "visibility", "default branch", "active", "url"],
        rows,
        title=f"Projects in {group} ({shown})",
        total=total,
    )
    if not rows:
        return [table, KV({"group": group, "search": search or ""}, title="No projects match")]
    return [table]
