"""A fake GitLab (REST API v4) on loopback, for the gitlab pack's tests, benchmark and demo.

python-gitlab talks real HTTP to it. It keeps the state a sequence of calls needs
(projects, files, protected branches, approval rules, labels, group shares, merge
requests, pipelines and jobs, issues) and answers with payloads shaped like GitLab's
documented responses. Each route names the page it follows:

- Authentication, errors, pagination (offset: ``X-Page``, ``X-Per-Page``, ``X-Total``,
  ``X-Total-Pages``, ``X-Next-Page``, ``X-Prev-Page`` and ``Link``; keyset: ``Link``
  with ``id_after``, no totals): https://docs.gitlab.com/ee/api/rest/index.html
  (sections "Authentication", "Status codes", "Pagination", "Keyset-based pagination")
- Projects, fork, share: https://docs.gitlab.com/ee/api/projects.html
- Groups and a group's projects: https://docs.gitlab.com/ee/api/groups.html
- Repository files: https://docs.gitlab.com/ee/api/repository_files.html
- Branches: https://docs.gitlab.com/ee/api/branches.html
- Protected branches (409 "Protected branch 'main' already exists", 422 on invalid
  levels): https://docs.gitlab.com/ee/api/protected_branches.html
- Approval rules: https://docs.gitlab.com/ee/api/merge_request_approvals.html
- Labels (409 "Label already exists"): https://docs.gitlab.com/ee/api/labels.html
- Merge requests: https://docs.gitlab.com/ee/api/merge_requests.html
- Pipelines: https://docs.gitlab.com/ee/api/pipelines.html; jobs: https://docs.gitlab.com/ee/api/jobs.html
- Issues: https://docs.gitlab.com/ee/api/issues.html

A project whose name or path exists answers 400 ``{"message": {"name": ["has already
been taken"], "path": ["has already been taken"]}}`` as GitLab does; a second share with
the same group answers 409. ``fake.requests`` records every request, so tests count
round trips::

    with FakeGitLab() as gl:
        gl.add_group("platform")
        os.environ["OPSPACK_GITLAB_URL"] = gl.url
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode

from opspack_testkit.fakes.http import FakeHTTPServer, FakeService, Request, Response

API = "/api/v4"
P = rf"{API}/projects/(?P<pid>[^/]+)"
ACCESS_LEVELS = {0: "No access", 30: "Developers + Maintainers", 40: "Maintainers", 60: "Admins"}
PROJECT_SETTINGS = (
    "only_allow_merge_if_pipeline_succeeds",
    "only_allow_merge_if_all_discussions_are_resolved",
    "remove_source_branch_after_merge",
    "merge_method",
    "squash_option",
    "description",
)
BASE_TIME = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)


def iso(when: dt.datetime) -> str:
    """GitLab's timestamp format: ISO 8601 in UTC with milliseconds (``2024-05-01T09:00:00.000Z``)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _error(status: int, message: Any) -> Response:
    return Response.json({"message": message}, status)


@dataclass
class FakeProject:
    """One project's state; ``attrs`` is what ``GET /projects/:id`` returns."""

    attrs: dict[str, Any]
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # branch -> path -> content
    protected: dict[str, dict[str, Any]] = field(default_factory=dict)
    approval_rules: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    merge_requests: list[dict[str, Any]] = field(default_factory=list)
    approvals: dict[int, list[str]] = field(default_factory=dict)  # mr iid -> usernames
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        """The project's numeric id."""
        return int(self.attrs["id"])

    @property
    def path(self) -> str:
        """``<namespace>/<path>``, as GitLab names a project in URLs."""
        return str(self.attrs["path_with_namespace"])


class FakeGitLab(FakeService):
    """GitLab's REST API v4 for what the gitlab pack uses; start with ``with`` or :meth:`start`."""

    def __init__(
        self,
        token: str = "glpat-fake-token-0123456789",  # noqa: S107 - a test token
        *,
        read_only_tokens: tuple[str, ...] = (),
    ) -> None:
        self.token = token
        self.read_only_tokens = set(read_only_tokens)
        self.server = FakeHTTPServer()
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.projects: dict[int, FakeProject] = {}
        self._ids = itertools.count(100)
        self.reset()
        self._routes()

    def reset(self) -> None:
        """Forget every group, project and recorded request (one server for many tests)."""
        with self.server.lock:
            self.users.clear()
            self.groups.clear()
            self.projects.clear()
            self.server.requests.clear()
            self.server.before[1:] = []
            self._ids = itertools.count(100)
            self.add_user("opsbot", "Ops Bot")

    # -- life ---------------------------------------------------------------------
    def calls(self, method: str | None = None, contains: str = "") -> list[Request]:
        """Recorded requests, optionally of one method and whose path contains ``contains``."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and contains in unquote(r.path) and r.path.startswith(API)
        ]

    # -- state builders ------------------------------------------------------------
    def _web(self, path: str) -> str:
        return f"https://gitlab.example.com/{path}"

    def add_user(self, username: str, name: str | None = None) -> dict[str, Any]:
        """A user, shaped as GitLab lists users; ``name`` defaults to the username in title case."""
        user = {
            "id": next(self._ids),
            "username": username,
            "name": name or username.title(),
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": self._web(username),
        }
        self.users[username] = user
        return user

    def user(self, username: str) -> dict[str, Any]:
        """The user named ``username``, made if missing."""
        return self.users.get(username) or self.add_user(username)

    def add_group(self, full_path: str) -> dict[str, Any]:
        """A group (and its parent groups) at ``full_path``."""
        parent = None
        if "/" in full_path:
            parent_path = full_path.rsplit("/", 1)[0]
            parent = self.find_group(parent_path) or self.add_group(parent_path)
        path = full_path.rsplit("/", 1)[-1]
        gid = next(self._ids)
        group: dict[str, Any] = {
            "id": gid,
            "name": path.replace("-", " ").title(),
            "path": path,
            "full_name": full_path.replace("/", " / "),
            "full_path": full_path,
            "description": "",
            "visibility": "private",
            "web_url": self._web(f"groups/{full_path}"),
            "parent_id": parent["id"] if parent else None,
            "created_at": iso(BASE_TIME),
        }
        self.groups[gid] = group
        return group

    def find_group(self, ref: str) -> dict[str, Any] | None:
        """The group with this id or full path, or None."""
        ref = unquote(ref)
        if ref.isdigit():
            return self.groups.get(int(ref))
        return next((g for g in self.groups.values() if g["full_path"] == ref), None)

    def add_project(
        self,
        path_with_namespace: str,
        *,
        files: dict[str, str] | None = None,
        default_branch: str = "main",
        visibility: str = "private",
        **attrs: Any,
    ) -> FakeProject:
        """A project at ``path_with_namespace`` (its group made if missing) with ``files`` on its default branch;
        ``attrs`` override the project's attributes."""
        namespace, _, path = path_with_namespace.rpartition("/")
        group = self.find_group(namespace) or self.add_group(namespace)
        pid = next(self._ids)
        created = BASE_TIME - dt.timedelta(days=30)
        data: dict[str, Any] = {
            "id": pid,
            "description": None,
            "name": path.replace("-", " ").title() if "name" not in attrs else attrs.pop("name"),
            "name_with_namespace": f"{group['full_name']} / {path}",
            "path": path,
            "path_with_namespace": path_with_namespace,
            "created_at": iso(created),
            "default_branch": default_branch if files else None,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@gitlab.example.com:{path_with_namespace}.git",
            "http_url_to_repo": f"https://gitlab.example.com/{path_with_namespace}.git",
            "web_url": self._web(path_with_namespace),
            "readme_url": None,
            "forks_count": 0,
            "star_count": 0,
            "last_activity_at": iso(created),
            "namespace": {
                "id": group["id"],
                "name": group["name"],
                "path": group["path"],
                "kind": "group",
                "full_path": group["full_path"],
                "parent_id": group["parent_id"],
                "web_url": group["web_url"],
            },
            "empty_repo": not files,
            "archived": False,
            "visibility": visibility,
            "issues_enabled": True,
            "merge_requests_enabled": True,
            "jobs_enabled": True,
            "open_issues_count": 0,
            "import_status": "none",
            "shared_with_groups": [],
            "only_allow_merge_if_pipeline_succeeds": False,
            "only_allow_merge_if_all_discussions_are_resolved": False,
            "remove_source_branch_after_merge": True,
            "merge_method": "merge",
            "squash_option": "default_off",
            "permissions": {"project_access": {"access_level": 40, "notification_level": 3}, "group_access": None},
        }
        data.update(attrs)
        project = FakeProject(data)
        if files:
            project.files[default_branch] = dict(files)
        self.projects[pid] = project
        return project

    def find_project(self, ref: str) -> FakeProject | None:
        """The project with this id or ``namespace/path``, or None."""
        ref = unquote(ref)
        if ref.isdigit():
            return self.projects.get(int(ref))
        return next((p for p in self.projects.values() if p.path == ref), None)

    def add_merge_requests(self, project: FakeProject, count: int, *, start: int = 1) -> None:
        """``count`` merge requests with varied authors, labels, states and merge statuses."""
        authors = [self.user(u) for u in ("alice", "bob", "carol", "dave")]
        statuses = ["mergeable", "ci_must_pass", "not_approved", "conflict", "draft_status"]
        for n in range(start, start + count):
            created = BASE_TIME - dt.timedelta(hours=count - n + start)
            status = statuses[n % len(statuses)]
            state = "merged" if n % 7 == 0 else "closed" if n % 11 == 0 else "opened"
            self.add_merge_request(
                project,
                iid=n,
                title=f"Change {n}: {'fix' if n % 2 else 'feature'} for component {n % 13}",
                author=authors[n % len(authors)]["username"],
                labels=["backend"] if n % 3 == 0 else ["bug", "backend"] if n % 3 == 1 else [],
                state=state,
                detailed_merge_status=status if state == "opened" else "not_open",
                created=created,
            )

    def add_merge_request(
        self,
        project: FakeProject,
        *,
        iid: int | None = None,
        title: str,
        author: str,
        source_branch: str | None = None,
        target_branch: str = "main",
        labels: list[str] | None = None,
        state: str = "opened",
        detailed_merge_status: str = "mergeable",
        created: dt.datetime | None = None,
        approvals_required: int = 1,
        approved_by: list[str] | None = None,
        pipeline_status: str | None = "success",
    ) -> dict[str, Any]:
        """A merge request in ``project`` (the next iid unless given), approved by ``approved_by``."""
        iid = iid if iid is not None else len(project.merge_requests) + 1
        created = created or BASE_TIME
        user = self.user(author)
        source = source_branch or f"feature/change-{iid}"
        pipeline = None
        if pipeline_status:
            pipeline = self.add_pipeline(project, ref=source, status=pipeline_status, jobs=False, created=created)
        mr = {
            "id": next(self._ids),
            "iid": iid,
            "project_id": project.id,
            "title": title,
            "description": "",
            "state": state,
            "created_at": iso(created),
            "updated_at": iso(created),
            "merged_at": iso(created) if state == "merged" else None,
            "closed_at": iso(created) if state == "closed" else None,
            "merged_by": None,
            "merge_user": None,
            "closed_by": None,
            "target_branch": target_branch,
            "source_branch": source,
            "upvotes": 0,
            "downvotes": 0,
            "author": _user_ref(user),
            "assignee": None,
            "assignees": [],
            "reviewers": [],
            "source_project_id": project.id,
            "target_project_id": project.id,
            "labels": list(labels or []),
            "draft": detailed_merge_status == "draft_status",
            "work_in_progress": detailed_merge_status == "draft_status",
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged" if detailed_merge_status == "mergeable" else "cannot_be_merged",
            "detailed_merge_status": detailed_merge_status,
            "sha": hashlib.sha1(f"mr{iid}".encode(), usedforsecurity=False).hexdigest(),
            "merge_commit_sha": None,
            "squash_commit_sha": None,
            "user_notes_count": 0,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": True,
            "has_conflicts": detailed_merge_status == "conflict",
            "blocking_discussions_resolved": True,
            "references": {"short": f"!{iid}", "relative": f"!{iid}", "full": f"{project.path}!{iid}"},
            "web_url": self._web(f"{project.path}/-/merge_requests/{iid}"),
            "squash": False,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "_pipeline": pipeline,
            "_approvals_required": approvals_required,
        }
        project.merge_requests.append(mr)
        project.approvals[iid] = list(approved_by or [])
        return mr

    def add_pipeline(
        self,
        project: FakeProject,
        *,
        ref: str = "main",
        status: str = "success",
        source: str = "push",
        jobs: bool = True,
        created: dt.datetime | None = None,
        variables: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A pipeline on ``ref`` with the given status and, with ``jobs``, its build, test and deploy jobs."""
        created = created or BASE_TIME
        pid = next(self._ids)
        pipeline = {
            "id": pid,
            "iid": len(project.pipelines) + 1,
            "project_id": project.id,
            "sha": hashlib.sha1(str(pid).encode(), usedforsecurity=False).hexdigest(),
            "ref": ref,
            "status": status,
            "source": source,
            "created_at": iso(created),
            "updated_at": iso(created + dt.timedelta(minutes=6)),
            "web_url": self._web(f"{project.path}/-/pipelines/{pid}"),
            "before_sha": "0" * 40,
            "tag": False,
            "yaml_errors": None,
            "user": _user_ref(self.users["opsbot"]),
            "started_at": iso(created + dt.timedelta(seconds=5)) if status != "created" else None,
            "finished_at": iso(created + dt.timedelta(minutes=6)) if status in ("success", "failed") else None,
            "committed_at": None,
            "duration": 355 if status in ("success", "failed") else None,
            "queued_duration": 5,
            "coverage": None,
            "detailed_status": {"icon": f"status_{status}", "text": status, "label": status, "group": status},
            "_variables": variables or [],
        }
        project.pipelines.append(pipeline)
        if jobs:
            job_status = {"success": ["success"] * 3, "failed": ["success", "failed", "skipped"]}.get(
                status, ["success", status, "created"]
            )
            project.jobs[pid] = [
                self._job(project, pipeline, name, stage, st, created)
                for (name, stage), st in zip(
                    [("build", "build"), ("test", "test"), ("deploy", "deploy")], job_status, strict=True
                )
            ]
        return pipeline

    def _job(
        self, project: FakeProject, pipeline: dict[str, Any], name: str, stage: str, status: str, created: dt.datetime
    ) -> dict[str, Any]:
        jid = next(self._ids)
        done = status in ("success", "failed")
        return {
            "id": jid,
            "status": status,
            "stage": stage,
            "name": name,
            "ref": pipeline["ref"],
            "tag": False,
            "coverage": None,
            "allow_failure": False,
            "created_at": iso(created),
            "started_at": iso(created) if done or status == "running" else None,
            "finished_at": iso(created + dt.timedelta(seconds=100)) if done else None,
            "duration": 100.25 if done else None,
            "queued_duration": 1.5,
            "user": _user_ref(self.users["opsbot"]),
            "commit": {"id": pipeline["sha"], "short_id": pipeline["sha"][:8], "title": "Update"},
            "pipeline": {k: pipeline[k] for k in ("id", "project_id", "ref", "sha", "status")},
            "web_url": self._web(f"{project.path}/-/jobs/{jid}"),
            "failure_reason": "script_failure" if status == "failed" else None,
            "artifacts": [],
            "runner": None,
        }

    def add_issue(self, project: FakeProject, title: str, *, labels: list[str] | None = None) -> dict[str, Any]:
        """An open issue in ``project``."""
        iid = len(project.issues) + 1
        issue = {
            "id": next(self._ids),
            "iid": iid,
            "project_id": project.id,
            "title": title,
            "description": None,
            "state": "opened",
            "created_at": iso(BASE_TIME),
            "updated_at": iso(BASE_TIME),
            "closed_at": None,
            "closed_by": None,
            "labels": list(labels or []),
            "milestone": None,
            "assignees": [],
            "assignee": None,
            "author": _user_ref(self.users["opsbot"]),
            "type": "ISSUE",
            "issue_type": "issue",
            "user_notes_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "due_date": None,
            "confidential": False,
            "web_url": self._web(f"{project.path}/-/issues/{iid}"),
            "references": {"short": f"#{iid}", "relative": f"#{iid}", "full": f"{project.path}#{iid}"},
        }
        project.issues.append(issue)
        project.attrs["open_issues_count"] = sum(1 for i in project.issues if i["state"] == "opened")
        return issue

    # -- HTTP plumbing ---------------------------------------------------------------
    def _routes(self) -> None:
        s = self.server
        s.before.insert(0, self._auth)
        table: list[tuple[str, str, Any]] = [
            ("GET", rf"{API}/groups/(?P<gid>[^/]+)", self.get_group),
            ("GET", rf"{API}/groups/(?P<gid>[^/]+)/projects", self.group_projects),
            ("GET", rf"{API}/projects", self.list_projects),
            ("POST", rf"{API}/projects", self.create_project),
            ("GET", P, self.get_project),
            ("PUT", P, self.edit_project),
            ("POST", rf"{P}/fork", self.fork_project),
            ("POST", rf"{P}/share", self.share_project),
            ("DELETE", rf"{P}/share/(?P<gid>\d+)", self.unshare_project),
            ("GET", rf"{P}/repository/files/(?P<file>[^/]+)", self.get_file),
            ("HEAD", rf"{P}/repository/files/(?P<file>[^/]+)", self.get_file),
            ("POST", rf"{P}/repository/files/(?P<file>[^/]+)", self.create_file),
            ("GET", rf"{P}/repository/branches/(?P<branch>[^/]+)", self.get_branch),
            ("POST", rf"{P}/repository/branches", self.create_branch),
            ("GET", rf"{P}/protected_branches/(?P<name>[^/]+)", self.get_protected),
            ("GET", rf"{P}/protected_branches", self.list_protected),
            ("POST", rf"{P}/protected_branches", self.protect),
            ("DELETE", rf"{P}/protected_branches/(?P<name>[^/]+)", self.unprotect),
            ("GET", rf"{P}/approval_rules", self.list_rules),
            ("POST", rf"{P}/approval_rules", self.create_rule),
            ("PUT", rf"{P}/approval_rules/(?P<rid>\d+)", self.update_rule),
            ("GET", rf"{P}/labels", self.list_labels),
            ("POST", rf"{P}/labels", self.create_label),
            ("PUT", rf"{P}/labels", self.update_label),
            ("PUT", rf"{P}/labels/(?P<lid>[^/]+)", self.update_label),
            ("GET", rf"{API}/merge_requests", self.all_merge_requests),
            ("GET", rf"{P}/merge_requests", self.list_merge_requests),
            ("GET", rf"{P}/merge_requests/(?P<iid>\d+)", self.get_merge_request),
            ("GET", rf"{P}/merge_requests/(?P<iid>\d+)/approvals", self.mr_approvals),
            ("GET", rf"{P}/pipelines", self.list_pipelines),
            ("GET", rf"{P}/pipelines/latest", self.latest_pipeline),
            ("GET", rf"{P}/pipelines/(?P<plid>\d+)", self.get_pipeline),
            ("GET", rf"{P}/pipelines/(?P<plid>\d+)/jobs", self.pipeline_jobs),
            ("POST", rf"{P}/pipeline", self.create_pipeline),
            ("POST", rf"{P}/pipelines/(?P<plid>\d+)/retry", self.retry_pipeline),
            ("POST", rf"{P}/pipelines/(?P<plid>\d+)/cancel", self.cancel_pipeline),
            ("GET", rf"{P}/issues", self.list_issues),
            ("POST", rf"{P}/issues", self.create_issue),
        ]
        # /pipelines/latest must win over /pipelines/:id: the server tries routes in order.
        for method, pattern, handler in table:
            s.route(method, pattern)(self._locked(handler))

    def _locked(self, handler: Any) -> Any:
        def run(req: Request) -> Response:
            with self.server.lock:
                try:
                    return handler(req)  # type: ignore[no-any-return]
                except _NotFound as exc:
                    return _error(404, str(exc))

        return run

    def _auth(self, req: Request) -> Response | None:
        """https://docs.gitlab.com/ee/api/rest/index.html#status-codes: 401 without a valid token,
        403 when the token's user may not do this."""
        if not req.path.startswith(API):
            return None
        token = req.headers.get("private-token") or req.headers.get("authorization", "").removeprefix("Bearer ")
        if token == self.token:
            return None
        if token in self.read_only_tokens:
            return None if req.method in ("GET", "HEAD") else _error(403, "403 Forbidden")
        return _error(401, "401 Unauthorized")

    def _project(self, req: Request) -> FakeProject:
        assert req.match is not None
        project = self.find_project(req.match["pid"])
        if project is None:
            raise _NotFound("404 Project Not Found")
        return project

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        if req.headers.get("content-type", "").startswith("application/json"):
            data = req.json()
            return data if isinstance(data, dict) else {}
        return {k: v[-1] for k, v in req.form().items()} if req.body else {}

    def _page(self, req: Request, items: list[dict[str, Any]], *, keyset: bool = False) -> Response:
        """Offset pagination with GitLab's headers; keyset pagination when asked and supported."""
        per_page = max(1, min(int(req.arg("per_page", "20") or 20), 100))
        base = f"http://{req.headers.get('host', '127.0.0.1')}{req.path}"
        if req.arg("pagination") == "keyset":
            if not keyset or req.arg("order_by", "id") != "id":
                return _error(405, "405 Method Not Allowed")
            descending = req.arg("sort", "desc") == "desc"
            items = sorted(items, key=lambda i: i["id"], reverse=descending)
            after, before = req.arg("id_after"), req.arg("id_before")
            if after:
                items = [i for i in items if i["id"] > int(after)]
            if before:
                items = [i for i in items if i["id"] < int(before)]
            page = [_public(i) for i in items[:per_page]]
            headers: dict[str, str] = {}
            if len(items) > per_page:
                query = {k: v[-1] for k, v in req.query.items() if k not in ("id_after", "id_before")}
                query["id_before" if descending else "id_after"] = str(page[-1]["id"])
                headers["Link"] = f'<{base}?{urlencode(query)}>; rel="next"'
            return Response.json(page, headers=headers)
        number = max(1, int(req.arg("page", "1") or 1))
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        page = [_public(i) for i in items[(number - 1) * per_page : number * per_page]]

        def link(n: int) -> str:
            query = {k: v[-1] for k, v in req.query.items()}
            query.update(page=str(n), per_page=str(per_page))
            return f"<{base}?{urlencode(query)}>"

        links = []
        if number > 1:
            links.append(f'{link(number - 1)}; rel="prev"')
        if number < pages:
            links.append(f'{link(number + 1)}; rel="next"')
        links += [f'{link(1)}; rel="first"', f'{link(pages)}; rel="last"']
        headers = {
            "X-Page": str(number),
            "X-Per-Page": str(per_page),
            "X-Prev-Page": str(number - 1) if number > 1 else "",
            "X-Next-Page": str(number + 1) if number < pages else "",
            "X-Total": str(total),
            "X-Total-Pages": str(pages),
            "Link": ", ".join(links),
        }
        return Response.json(page, headers=headers)

    # -- groups and projects ---------------------------------------------------------
    def get_group(self, req: Request) -> Response:
        """``GET /groups/:gid`` (API v4)."""
        assert req.match is not None
        group = self.find_group(req.match["gid"])
        return Response.json(group) if group else _error(404, "404 Group Not Found")

    def group_projects(self, req: Request) -> Response:
        """``GET /groups/:gid/projects`` (API v4)."""
        assert req.match is not None
        group = self.find_group(req.match["gid"])
        if group is None:
            return _error(404, "404 Group Not Found")
        search = (req.arg("search") or "").lower()
        items = [
            p.attrs
            for p in sorted(self.projects.values(), key=lambda p: p.id)
            if p.attrs["namespace"]["id"] == group["id"] and search in p.attrs["path"].lower()
        ]
        if req.arg("order_by", "created_at") != "id" or req.arg("sort", "desc") == "desc":
            items.reverse()
        return self._page(req, items, keyset=True)

    def list_projects(self, req: Request) -> Response:
        """``GET /projects`` (API v4)."""
        items = [p.attrs for p in sorted(self.projects.values(), key=lambda p: p.id, reverse=True)]
        return self._page(req, items, keyset=True)

    def get_project(self, req: Request) -> Response:
        """``GET /projects/:id`` (API v4)."""
        return Response.json(_public(self._project(req).attrs))

    def create_project(self, req: Request) -> Response:
        """``POST /projects`` (API v4)."""
        body = self._body(req)
        name, path = body.get("name"), body.get("path")
        if not name and not path:
            return _error(400, "name is missing, path is missing, at least one parameter must be provided")
        path = str(path or str(name).lower().replace(" ", "-"))
        name = str(name or path)
        group = self.find_group(str(body.get("namespace_id") or ""))
        if group is None:
            return _error(404, "404 Namespace Not Found")
        full = f"{group['full_path']}/{path}"
        if self.find_project(full):
            taken = ["has already been taken"]
            return _error(400, {"project_namespace.name": taken, "name": taken, "path": taken})
        if body.get("visibility", "private") not in ("private", "internal", "public"):
            return _error(400, "visibility does not have a valid value")
        settings = {k: body[k] for k in PROJECT_SETTINGS if k in body}
        project = self.add_project(full, visibility=str(body.get("visibility", "private")), name=name, **settings)
        project.attrs["created_at"] = iso(BASE_TIME)
        return Response.json(_public(project.attrs), 201)

    def edit_project(self, req: Request) -> Response:
        """``PUT /projects/:id`` (API v4)."""
        project = self._project(req)
        body = self._body(req)
        if "default_branch" in body and body["default_branch"] not in project.files:
            return _error(400, {"default_branch": ["does not exist"]})
        if "visibility" in body and body["visibility"] not in ("private", "internal", "public"):
            return _error(400, "visibility does not have a valid value")
        for key in (*PROJECT_SETTINGS, "default_branch", "visibility", "name"):
            if key in body:
                project.attrs[key] = body[key]
        return Response.json(_public(project.attrs))

    def fork_project(self, req: Request) -> Response:
        """Forking is asynchronous in GitLab; here the copy is finished at once."""
        source = self._project(req)
        body = self._body(req)
        group = self.find_group(str(body.get("namespace_id") or body.get("namespace_path") or ""))
        if group is None:
            return _error(404, "404 Target Namespace Not Found")
        path = str(body.get("path") or source.attrs["path"])
        full = f"{group['full_path']}/{path}"
        if self.find_project(full):
            return _error(409, ["Name has already been taken", "Path has already been taken"])
        branch = source.attrs["default_branch"] or "main"
        fork = self.add_project(
            full,
            files=dict(source.files.get(branch, {})) or None,
            default_branch=branch,
            visibility=str(body.get("visibility", source.attrs["visibility"])),
            name=str(body.get("name") or source.attrs["name"]),
        )
        for b, files in source.files.items():
            fork.files[b] = dict(files)
        fork.attrs["forked_from_project"] = {
            k: source.attrs[k] for k in ("id", "name", "path", "path_with_namespace", "web_url")
        }
        fork.attrs["import_status"] = "finished"
        return Response.json(_public(fork.attrs), 201)

    def share_project(self, req: Request) -> Response:
        """``POST /projects/:id/share`` (API v4)."""
        project = self._project(req)
        body = self._body(req)
        group = self.find_group(str(body.get("group_id", "")))
        if group is None:
            return _error(404, "404 Group Not Found")
        level = int(body.get("group_access", 0))
        if level not in (10, 20, 30, 40, 50):
            return _error(400, "group_access does not have a valid value")
        shares = project.attrs["shared_with_groups"]
        if any(s["group_id"] == group["id"] for s in shares):
            return _error(409, "Group already shared with this group")
        shares.append(
            {
                "group_id": group["id"],
                "group_name": group["name"],
                "group_full_path": group["full_path"],
                "group_access_level": level,
                "expires_at": body.get("expires_at"),
            }
        )
        return Response.json({"id": next(self._ids), "project_id": project.id, "group_id": group["id"]}, 201)

    def unshare_project(self, req: Request) -> Response:
        """``DELETE /projects/:id/share/:gid`` (API v4)."""
        project = self._project(req)
        assert req.match is not None
        gid = int(req.match["gid"])
        shares = project.attrs["shared_with_groups"]
        if not any(s["group_id"] == gid for s in shares):
            return _error(404, "404 Not found")
        project.attrs["shared_with_groups"] = [s for s in shares if s["group_id"] != gid]
        return Response(204)

    # -- repository ------------------------------------------------------------------
    def get_file(self, req: Request) -> Response:
        """``GET /projects/:id/repository/files/:file`` and ``HEAD /projects/:id/repository/files/:file`` (API v4)."""
        project = self._project(req)
        assert req.match is not None
        path = unquote(req.match["file"])
        ref = req.arg("ref") or project.attrs["default_branch"] or "main"
        content = project.files.get(ref, {}).get(path)
        if content is None:
            return _error(404, "404 File Not Found")
        sha = hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()
        headers = {
            "X-Gitlab-File-Name": path.rsplit("/", 1)[-1],
            "X-Gitlab-File-Path": path,
            "X-Gitlab-Ref": ref,
            "X-Gitlab-Size": str(len(content.encode())),
            "X-Gitlab-Encoding": "base64",
            "X-Gitlab-Blob-Id": sha,
            "X-Gitlab-Commit-Id": sha,
            "X-Gitlab-Last-Commit-Id": sha,
        }
        data = {
            "file_name": path.rsplit("/", 1)[-1],
            "file_path": path,
            "size": len(content.encode()),
            "encoding": "base64",
            "content": base64.b64encode(content.encode()).decode(),
            "content_sha256": "",
            "ref": ref,
            "blob_id": sha,
            "commit_id": sha,
            "last_commit_id": sha,
        }
        return Response.json(data, headers=headers)

    def create_file(self, req: Request) -> Response:
        """``POST /projects/:id/repository/files/:file`` (API v4)."""
        project = self._project(req)
        assert req.match is not None
        path = unquote(req.match["file"])
        body = self._body(req)
        branch = str(body.get("branch") or "")
        if not branch or "content" not in body or not body.get("commit_message"):
            return _error(400, "branch is missing, content is missing, commit_message is missing")
        if branch not in project.files:
            if project.files:
                start = body.get("start_branch")
                if start not in project.files:
                    return _error(400, "You can only create or edit files when you are on a branch")
                project.files[branch] = dict(project.files[str(start)])
            else:
                project.files[branch] = {}
        if path in project.files[branch]:
            return _error(400, "A file with this name already exists")
        content = str(body["content"])
        if body.get("encoding") == "base64":
            content = base64.b64decode(content).decode()
        project.files[branch][path] = content
        if project.attrs["empty_repo"]:
            project.attrs["empty_repo"] = False
            project.attrs["default_branch"] = branch
        return Response.json({"file_path": path, "branch": branch}, 201)

    def _branch(self, project: FakeProject, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "merged": False,
            "protected": name in project.protected,
            "default": name == project.attrs["default_branch"],
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": True,
            "web_url": self._web(f"{project.path}/-/tree/{name}"),
            "commit": {"id": "f" * 40, "short_id": "ffffffff", "title": "Initial commit"},
        }

    def get_branch(self, req: Request) -> Response:
        """``GET /projects/:id/repository/branches/:branch`` (API v4)."""
        project = self._project(req)
        assert req.match is not None
        name = unquote(req.match["branch"])
        if name not in project.files:
            return _error(404, "404 Branch Not Found")
        return Response.json(self._branch(project, name))

    def create_branch(self, req: Request) -> Response:
        """``POST /projects/:id/repository/branches`` (API v4)."""
        project = self._project(req)
        body = {**{k: v[-1] for k, v in req.query.items()}, **self._body(req)}
        name, ref = str(body.get("branch", "")), str(body.get("ref", ""))
        if ref not in project.files:
            return _error(400, "Invalid reference name: " + ref)
        if name in project.files:
            return _error(400, "Branch already exists")
        project.files[name] = dict(project.files[ref])
        return Response.json(self._branch(project, name), 201)

    def _protected_json(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        def levels(level: int) -> list[dict[str, Any]]:
            return [
                {
                    "id": 1,
                    "access_level": level,
                    "access_level_description": ACCESS_LEVELS.get(level, str(level)),
                    "user_id": None,
                    "group_id": None,
                }
            ]

        return {
            "id": spec["id"],
            "name": name,
            "push_access_levels": levels(spec["push"]),
            "merge_access_levels": levels(spec["merge"]),
            "unprotect_access_levels": levels(40),
            "allow_force_push": spec["allow_force_push"],
            "code_owner_approval_required": False,
        }

    def get_protected(self, req: Request) -> Response:
        """``GET /projects/:id/protected_branches/:name`` (API v4)."""
        project = self._project(req)
        assert req.match is not None
        name = unquote(req.match["name"])
        spec = project.protected.get(name)
        return Response.json(self._protected_json(name, spec)) if spec else _error(404, "404 Not found")

    def list_protected(self, req: Request) -> Response:
        """``GET /projects/:id/protected_branches`` (API v4)."""
        project = self._project(req)
        return self._page(req, [self._protected_json(n, s) for n, s in project.protected.items()])

    def protect(self, req: Request) -> Response:
        """``POST /projects/:id/protected_branches`` (API v4)."""
        project = self._project(req)
        body = {**{k: v[-1] for k, v in req.query.items()}, **self._body(req)}
        name = str(body.get("name", ""))
        if not name:
            return _error(400, "name is missing")
        if name in project.protected:
            return _error(409, f"Protected branch '{name}' already exists")
        push, merge = int(body.get("push_access_level", 40)), int(body.get("merge_access_level", 40))
        bad = [f"{k} access levels access level has acceptable levels" for k, v in (("Push", push), ("Merge", merge))]
        bad = [b for b, v in zip(bad, (push, merge), strict=True) if v not in ACCESS_LEVELS]
        if bad:
            return _error(422, bad)
        spec = {
            "id": next(self._ids),
            "push": push,
            "merge": merge,
            "allow_force_push": bool(body.get("allow_force_push")),
        }
        project.protected[name] = spec
        return Response.json(self._protected_json(name, spec), 201)

    def unprotect(self, req: Request) -> Response:
        """``DELETE /projects/:id/protected_branches/:name`` (API v4)."""
        project = self._project(req)
        assert req.match is not None
        name = unquote(req.match["name"])
        if project.protected.pop(name, None) is None:
            return _error(404, "404 Not found")
        return Response(204)

    # -- approval rules and labels ------------------------------------------------------
    def list_rules(self, req: Request) -> Response:
        """``GET /projects/:id/approval_rules`` (API v4)."""
        return self._page(req, self._project(req).approval_rules)

    def create_rule(self, req: Request) -> Response:
        """``POST /projects/:id/approval_rules`` (API v4)."""
        project = self._project(req)
        body = self._body(req)
        if not body.get("name") or "approvals_required" not in body:
            return _error(400, "name is missing, approvals_required is missing")
        if any(r["name"] == body["name"] for r in project.approval_rules):
            return _error(400, {"name": ["has already been taken"]})
        rule = {
            "id": next(self._ids),
            "name": body["name"],
            "rule_type": "regular",
            "eligible_approvers": [],
            "approvals_required": int(body["approvals_required"]),
            "users": [],
            "groups": [],
            "contains_hidden_groups": False,
            "protected_branches": [],
            "applies_to_all_protected_branches": bool(body.get("applies_to_all_protected_branches")),
        }
        project.approval_rules.append(rule)
        return Response.json(rule, 201)

    def update_rule(self, req: Request) -> Response:
        """``PUT /projects/:id/approval_rules/:rid`` (API v4)."""
        project = self._project(req)
        assert req.match is not None
        rule = next((r for r in project.approval_rules if r["id"] == int(req.match["rid"])), None)
        if rule is None:
            return _error(404, "404 Not found")
        body = self._body(req)
        for key in ("name", "approvals_required"):
            if key in body:
                rule[key] = int(body[key]) if key == "approvals_required" else body[key]
        return Response.json(rule)

    def list_labels(self, req: Request) -> Response:
        """``GET /projects/:id/labels`` (API v4)."""
        return self._page(req, self._project(req).labels)

    def create_label(self, req: Request) -> Response:
        """``POST /projects/:id/labels`` (API v4)."""
        project = self._project(req)
        body = self._body(req)
        name, color = body.get("name"), str(body.get("color", ""))
        if not name or not color:
            return _error(400, "name is missing, color is missing")
        if not (color.startswith("#") and len(color) in (4, 7)):
            return _error(400, {"color": ["must be a valid color code"]})
        if any(lb["name"] == name for lb in project.labels):
            return _error(409, "Label already exists")
        label = {
            "id": next(self._ids),
            "name": name,
            "color": color,
            "text_color": "#FFFFFF",
            "description": body.get("description"),
            "description_html": "",
            "open_issues_count": 0,
            "closed_issues_count": 0,
            "open_merge_requests_count": 0,
            "subscribed": False,
            "priority": body.get("priority"),
            "is_project_label": True,
        }
        project.labels.append(label)
        return Response.json(label, 201)

    def update_label(self, req: Request) -> Response:
        """``PUT /projects/:id/labels/:label_id``, or the older form python-gitlab uses,
        ``PUT /projects/:id/labels`` with the label's ``name`` in the body."""
        project = self._project(req)
        assert req.match is not None
        body = self._body(req)
        ref = unquote(req.match["lid"]) if req.match.groupdict().get("lid") else str(body.get("name", ""))
        label = next((lb for lb in project.labels if str(lb["id"]) == ref or lb["name"] == ref), None)
        if label is None:
            return _error(404, "404 Label Not Found")
        if "new_name" in body:
            label["name"] = body["new_name"]
        for key in ("color", "description", "priority"):
            if key in body:
                label[key] = body[key]
        return Response.json(label)

    # -- merge requests ------------------------------------------------------------------
    def _filter_mrs(self, req: Request, mrs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        state = req.arg("state", "all")
        author = req.arg("author_username")
        labels = [x for x in (req.arg("labels") or "").split(",") if x]
        out = [
            m
            for m in mrs
            if (state == "all" or m["state"] == state)
            and (author is None or m["author"]["username"] == author)
            and all(lb in m["labels"] for lb in labels)
        ]
        out.sort(key=lambda m: (m["created_at"], m["id"]), reverse=req.arg("sort", "desc") == "desc")
        return out

    def all_merge_requests(self, req: Request) -> Response:
        """``GET /merge_requests``: ``scope`` defaults to ``created_by_me``."""
        scope = req.arg("scope", "created_by_me")
        mrs = [m for p in self.projects.values() for m in p.merge_requests]
        if scope == "created_by_me":
            mrs = [m for m in mrs if m["author"]["username"] == "opsbot"]
        return self._page(req, self._filter_mrs(req, mrs))

    def list_merge_requests(self, req: Request) -> Response:
        """``GET /projects/:id/merge_requests`` (API v4)."""
        return self._page(req, self._filter_mrs(req, self._project(req).merge_requests))

    def _mr(self, req: Request) -> tuple[FakeProject, dict[str, Any]]:
        project = self._project(req)
        assert req.match is not None
        iid = int(req.match["iid"])
        mr = next((m for m in project.merge_requests if m["iid"] == iid), None)
        if mr is None:
            raise _NotFound("404 Not found")
        return project, mr

    def get_merge_request(self, req: Request) -> Response:
        """``GET /projects/:id/merge_requests/:iid`` (API v4)."""
        _, mr = self._mr(req)
        data = _public(mr)
        pipeline = mr["_pipeline"]
        brief = (
            {k: pipeline[k] for k in ("id", "iid", "project_id", "sha", "ref", "status", "source", "web_url")}
            if pipeline
            else None
        )
        data.update(pipeline=brief, head_pipeline=_public(pipeline) if pipeline else None)
        data.update(changes_count="3", diff_refs={"base_sha": "a" * 40, "head_sha": mr["sha"], "start_sha": "a" * 40})
        data.update(merge_error=None, first_contribution=False, user={"can_merge": True})
        return Response.json(data)

    def mr_approvals(self, req: Request) -> Response:
        """``GET /projects/:id/merge_requests/:iid/approvals`` (API v4)."""
        project, mr = self._mr(req)
        approvers = project.approvals.get(mr["iid"], [])
        required = mr["_approvals_required"]
        data = {
            "id": mr["id"],
            "iid": mr["iid"],
            "project_id": project.id,
            "title": mr["title"],
            "description": "",
            "state": mr["state"],
            "created_at": mr["created_at"],
            "updated_at": mr["updated_at"],
            "merge_status": mr["merge_status"],
            "approved": len(approvers) >= required,
            "approvals_required": required,
            "approvals_left": max(0, required - len(approvers)),
            "require_password_to_approve": False,
            "approved_by": [{"user": _user_ref(self.user(u))} for u in approvers],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": False,
            "user_can_approve": True,
            "approval_rules_left": [],
            "has_approval_rules": True,
            "merge_request_approvers_available": True,
            "multiple_approval_rules_available": True,
        }
        return Response.json(data)

    # -- pipelines -------------------------------------------------------------------------
    def list_pipelines(self, req: Request) -> Response:
        """``GET /projects/:id/pipelines`` (API v4)."""
        project = self._project(req)
        ref, status = req.arg("ref"), req.arg("status")
        items = [
            {k: v for k, v in p.items() if k in _PIPELINE_LIST_FIELDS}
            for p in sorted(project.pipelines, key=lambda p: p["id"], reverse=True)
            if (ref is None or p["ref"] == ref) and (status is None or p["status"] == status)
        ]
        return self._page(req, items)

    def _pipeline(self, req: Request) -> tuple[FakeProject, dict[str, Any]]:
        project = self._project(req)
        assert req.match is not None
        plid = int(req.match["plid"])
        pipeline = next((p for p in project.pipelines if p["id"] == plid), None)
        if pipeline is None:
            raise _NotFound("404 Not found")
        return project, pipeline

    def latest_pipeline(self, req: Request) -> Response:
        """``GET /projects/:id/pipelines/latest`` (API v4)."""
        project = self._project(req)
        ref = req.arg("ref") or project.attrs["default_branch"]
        found = [p for p in project.pipelines if p["ref"] == ref]
        if not found:
            return _error(404, "404 Not found")
        return Response.json(_public(max(found, key=lambda p: p["id"])))

    def get_pipeline(self, req: Request) -> Response:
        """``GET /projects/:id/pipelines/:plid`` (API v4)."""
        return Response.json(_public(self._pipeline(req)[1]))

    def pipeline_jobs(self, req: Request) -> Response:
        """``GET /projects/:id/pipelines/:plid/jobs`` (API v4)."""
        project, pipeline = self._pipeline(req)
        return self._page(req, project.jobs.get(pipeline["id"], []))

    def create_pipeline(self, req: Request) -> Response:
        """``POST /projects/:id/pipeline`` (API v4)."""
        project = self._project(req)
        body = self._body(req)
        ref = str(body.get("ref") or "")
        if not ref:
            return _error(400, "ref is missing")
        if ref not in project.files:
            return _error(400, {"base": ["Reference not found"]})
        if ".gitlab-ci.yml" not in project.files[ref]:
            return _error(400, {"base": ["Missing CI config file"]})
        variables = body.get("variables") or []
        if not isinstance(variables, list) or any(not isinstance(v, dict) or "key" not in v for v in variables):
            return _error(400, "variables is invalid")
        pipeline = self.add_pipeline(project, ref=ref, status="created", source="api", variables=variables)
        pipeline["created_at"] = iso(dt.datetime.now(dt.UTC))
        return Response.json(_public(pipeline), 201)

    def retry_pipeline(self, req: Request) -> Response:
        """``POST /projects/:id/pipelines/:plid/retry`` (API v4)."""
        project, pipeline = self._pipeline(req)
        if pipeline["status"] not in ("failed", "canceled"):
            return _error(403, "403 Forbidden")
        pipeline["status"] = "running"
        for job in project.jobs.get(pipeline["id"], []):
            if job["status"] in ("failed", "canceled", "skipped"):
                job["status"] = "pending"
        return Response.json(_public(pipeline), 201)

    def cancel_pipeline(self, req: Request) -> Response:
        """``POST /projects/:id/pipelines/:plid/cancel`` (API v4)."""
        project, pipeline = self._pipeline(req)
        if pipeline["status"] in ("running", "pending", "created", "waiting_for_resource", "preparing"):
            pipeline["status"] = "canceled"
            for job in project.jobs.get(pipeline["id"], []):
                if job["status"] in ("running", "pending", "created"):
                    job["status"] = "canceled"
        return Response.json(_public(pipeline))

    # -- issues ------------------------------------------------------------------------------
    def list_issues(self, req: Request) -> Response:
        """``GET /projects/:id/issues`` (API v4)."""
        project = self._project(req)
        state = req.arg("state", "all")
        labels = [x for x in (req.arg("labels") or "").split(",") if x]
        items = [
            i
            for i in reversed(project.issues)
            if (state == "all" or i["state"] == state) and all(lb in i["labels"] for lb in labels)
        ]
        return self._page(req, items)

    def create_issue(self, req: Request) -> Response:
        """``POST /projects/:id/issues`` (API v4)."""
        project = self._project(req)
        body = self._body(req)
        title = str(body.get("title") or "")
        if not title:
            return _error(400, "title is missing")
        if len(title) > 255:
            return _error(400, {"title": ["is too long (maximum is 255 characters)"]})
        labels = body.get("labels") or []
        if isinstance(labels, str):
            labels = [x for x in labels.split(",") if x]
        issue = self.add_issue(project, title, labels=list(labels))
        issue["description"] = body.get("description")
        return Response.json(issue, 201)


class _NotFound(Exception):
    pass


_PIPELINE_LIST_FIELDS = (
    "id",
    "iid",
    "project_id",
    "sha",
    "ref",
    "status",
    "source",
    "created_at",
    "updated_at",
    "web_url",
)


def _public(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the fake's private bookkeeping keys (``_pipeline`` ...)."""
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _user_ref(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in ("id", "username", "name", "state", "locked", "avatar_url", "web_url")}


def encoded(path: str) -> str:
    """A project or group path as GitLab expects it in a URL (``group%2Fproject``)."""
    return quote(path, safe="")
