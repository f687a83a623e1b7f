"""The Jenkins connection: python-jenkins, kept between commands, with tree queries.

Only command functions import this module, so listing commands never imports
python-jenkins. Every call goes through :meth:`JenkinsClient.call`, which turns
python-jenkins' exceptions into opspack errors (:func:`opspack_jenkins.errors.translate`)
and fetches a fresh CSRF crumb once when Jenkins refuses a stale one.

Reads use the remote API's ``tree=`` query so that one request returns exactly what a
command shows: ``jenkins jobs`` reads ``tree_depth`` folder levels per request
(:meth:`JenkinsClient.walk_jobs`) instead of one request per job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import jenkins
from opspack import Context
from opspack.errors import BackendError, NotFound, OpsError

from opspack_jenkins.errors import is_crumb_refusal, translate

T = TypeVar("T")

FOLDER_HINTS = ("Folder", "MultiBranchProject", "OrganizationFolder")
JOB_FIELDS = (
    "name,fullName,url,color,_class,buildable,"
    "healthReport[score,description],"
    "lastBuild[number,result,timestamp,duration,building,url]"
)
PARAM_FIELDS = "parameterDefinitions[name,type,description,choices,defaultParameterValue[value]]"
BUILD_JOB_FIELDS = f"name,fullName,url,color,_class,buildable,inQueue,property[{PARAM_FIELDS}],actions[{PARAM_FIELDS}]"


def job_path(full_name: str) -> str:
    """``team/app/deploy`` -> ``job/team/job/app/job/deploy`` (the item path of the remote API)."""
    parts = [p for p in full_name.strip("/").split("/") if p]
    return "/".join(f"job/{p}" for p in parts)


def is_folder(item: dict[str, Any]) -> bool:
    return "jobs" in item or any(h in str(item.get("_class", "")) for h in FOLDER_HINTS)


@dataclass
class JobRow:
    """One job as ``jenkins jobs`` and ``jenkins menu`` see it."""

    full_name: str
    data: dict[str, Any] = field(default_factory=dict)


class JenkinsClient:
    """python-jenkins' :class:`jenkins.Jenkins` with the pack's error handling."""

    def __init__(self, url: str, user: str, token: str, *, verify_tls: bool, timeout: float) -> None:
        self.server = jenkins.Jenkins(url, username=user, password=token, timeout=timeout)
        # python-jenkins has no option for TLS verification; its session is a requests.Session.
        self.server._session.verify = verify_tls
        self.base = self.server.server

    def close(self) -> None:
        self.server._session.close()

    # -- the one way calls are made ---------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, what: str | None = None, **kwargs: Any) -> T:
        """Run a python-jenkins method; on a refused (stale) crumb fetch a new one and retry once."""
        try:
            try:
                return fn(*args, **kwargs)
            except jenkins.JenkinsException as exc:
                if not is_crumb_refusal(exc):
                    raise
                self.server.crumb = None
                return fn(*args, **kwargs)
        except OpsError:
            raise
        except Exception as exc:
            translated = translate(exc, what)
            if translated is None:
                raise
            raise translated from exc

    def tree(self, item: str, tree: str, *, what: str | None = None) -> dict[str, Any]:
        """GET ``<item>/api/json?tree=<tree>``: one request, only the fields asked for."""
        data = self.call(self.server.get_info, item, query="?tree=" + quote(tree, safe="[],_"), what=what)
        if not isinstance(data, dict):
            raise BackendError("Jenkins answered with something that is not a JSON object.")
        return data

    # -- jobs ------------------------------------------------------------------------
    def walk_jobs(self, folder: str | None, depth: int) -> list[JobRow]:
        """Every job under ``folder`` (all levels), ``depth`` folder levels per request.

        The tree query nests ``jobs[...]`` ``depth`` times; a folder deeper than that
        comes back with children that carry only ``_class`` and is read with one more
        request from there (as python-jenkins' ``get_all_jobs`` detects it)."""
        depth = max(1, depth)
        query = "jobs"
        for _ in range(depth):
            query = f"jobs[{JOB_FIELDS},{query}]"
        rows: list[JobRow] = []
        pending = [folder.strip("/") if folder else ""]
        while pending:
            base = pending.pop(0)
            what = f"folder '{base}'" if base else None
            data = self.tree(job_path(base), query, what=what)
            if base and "jobs" not in data:
                raise NotFound(f"'{base}' is a job, not a folder", f"Try `jenkins status {base}`.")
            self._collect(data.get("jobs") or [], base, rows, pending)
        return rows

    def _collect(self, items: list[dict[str, Any]], prefix: str, rows: list[JobRow], pending: list[str]) -> None:
        for item in items:
            name = item.get("name")
            if not name:
                continue
            full = f"{prefix}/{name}" if prefix else str(name)
            if is_folder(item):
                children = item.get("jobs") or []
                if any("name" not in c for c in children):
                    pending.append(full)
                else:
                    self._collect(children, full, rows, pending)
            else:
                rows.append(JobRow(full, item))

    def folder_items(self, folder: str | None, fields: str) -> list[dict[str, Any]]:
        """The direct children of ``folder`` (root when None) with ``fields``, in one request."""
        base = folder.strip("/") if folder else ""
        data = self.tree(job_path(base), f"jobs[{fields}]", what=f"folder '{base}'" if base else None)
        if base and "jobs" not in data:
            raise NotFound(f"'{base}' is a job, not a folder", f"Try `jenkins build {base}`.")
        return list(data.get("jobs") or [])

    def job(self, full_name: str, fields: str) -> dict[str, Any]:
        """One job with ``fields``; a missing job answers not_found with the closest names."""
        try:
            return self.tree(job_path(full_name), fields, what=f"job '{full_name}'")
        except NotFound:
            raise self._not_found(full_name) from None

    def _not_found(self, full_name: str) -> NotFound:
        try:
            names = [r.full_name for r in self.walk_jobs(None, 5)]
        except OpsError:
            names = []
        short = full_name.rsplit("/", 1)[-1]
        exact = [n for n in names if n.rsplit("/", 1)[-1] == short]
        if exact:
            return NotFound(
                f"job '{full_name}' not found", f"Did you mean: {', '.join(exact[:5])}? (give the folder path)"
            )
        return NotFound.with_matches("job", full_name, names)

    # -- builds ------------------------------------------------------------------------
    def start(self, full_name: str, params: dict[str, str] | None) -> int:
        """POST build / buildWithParameters; the queue item's id from the Location header."""
        return int(self.call(self.server.build_job, full_name, params or None, what=f"job '{full_name}'"))

    def queue_item(self, number: int) -> dict[str, Any]:
        return dict(self.call(self.server.get_queue_item, number, what=f"queue item {number}"))

    def _of_build(self, fn: Callable[[str, int | str], T], full_name: str, number: int | str) -> T:
        """``fn(full_name, number)``; a build that does not exist (a 404, or python-jenkins
        saying so) is :class:`NotFound` with a hint where to find the latest one."""
        what = f"build {full_name} #{number}"
        try:
            return self.call(fn, full_name, number, what=what)
        except (NotFound, BackendError) as exc:
            if isinstance(exc, NotFound) or "does not exist" in exc.message:
                raise NotFound(f"{what} not found", f"`jenkins status {full_name}` shows the latest build.") from None
            raise

    def build(self, full_name: str, number: int | str) -> dict[str, Any]:
        return dict(self._of_build(self.server.get_build_info, full_name, number))

    def stages(self, full_name: str, number: int) -> dict[str, Any] | None:
        data = self.call(self.server.get_build_stages, full_name, number, what=f"build {full_name} #{number}")
        return dict(data) if isinstance(data, dict) else None

    def console(self, full_name: str, number: int | str) -> str:
        return str(self._of_build(self.server.get_build_console_output, full_name, number))

    def stop(self, full_name: str, number: int) -> None:
        self.call(self.server.stop_build, full_name, number, what=f"build {full_name} #{number}")

    # -- controller ------------------------------------------------------------------------
    def queue(self) -> list[dict[str, Any]]:
        data = self.tree(
            "queue",
            "items[id,why,blocked,buildable,stuck,inQueueSince,params,task[name,url,fullName]]",
        )
        return list(data.get("items") or [])

    def nodes(self) -> dict[str, Any]:
        return self.tree(
            "computer",
            "busyExecutors,totalExecutors,computer[displayName,description,idle,offline,temporarilyOffline,"
            "offlineCauseReason,numExecutors,assignedLabels[name]]",
        )


def client(ctx: Context) -> JenkinsClient:
    """The kept client for this profile (made anew when a setting changes)."""
    s = ctx.settings

    def make() -> JenkinsClient:
        return JenkinsClient(
            str(s["url"]),
            str(s["user"]),
            str(s["token"]),
            verify_tls=bool(s["verify_tls"]),
            timeout=float(s["timeout"]),
        )

    return ctx.connection(make, close=JenkinsClient.close, settings=["url", "user", "token", "verify_tls", "timeout"])
