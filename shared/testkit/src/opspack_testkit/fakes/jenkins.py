"""A fake Jenkins controller on loopback, for the real python-jenkins client to talk to.

Jenkins cannot run on the test machines, so this serves the remote-API endpoints the
pack uses, with payloads shaped like the documented ones, and the state a sequence of
calls needs (queue item -> running build -> finished build, console text growing).
It enforces HTTP basic auth with API tokens and CSRF crumbs on POST like the real server.

Sources the payloads and behaviour follow:

- Remote access API, ``tree=`` and ``depth=``: https://www.jenkins.io/doc/book/using/remote-access-api/
  and the ``/api`` page every Jenkins object serves (e.g. ``/job/X/api/``): a ``tree`` leaf that
  names an object or a list of objects yields objects holding only ``_class``.
- Job JSON (``/job/X/api/json``): ``hudson.model.Job``/``AbstractProject`` exported properties
  (``name``, ``fullName``, ``url``, ``color``, ``buildable``, ``healthReport``, ``lastBuild``,
  ``property`` with ``hudson.model.ParametersDefinitionProperty.parameterDefinitions``).
- Build trigger: ``jenkins.model.ParameterizedJobMixIn.doBuild``/``doBuildWithParameters``:
  201 with ``Location: <root>/queue/item/N/``; 409 "<job> is not buildable" for a disabled job;
  a parameterized job started through ``/build`` without a form is refused.
- Queue: ``/queue/api/json`` (``items`` with ``id``, ``why``, ``blocked``, ``buildable``, ``stuck``,
  ``inQueueSince``, ``task``) and ``/queue/item/N/api/json`` (``executable`` once it left the
  queue, ``cancelled: true`` for a ``hudson.model.Queue$LeftItem`` that was cancelled).
- Build JSON (``/job/X/N/api/json``, ``hudson.model.Run``): ``number``, ``building``, ``result``,
  ``timestamp``, ``duration``, ``estimatedDuration``, ``builtOn``, ``culprits``, ``actions``
  (``parameters``, ``causes``); permalinks ``lastBuild`` etc. ``timestamp`` is when the build
  started (epoch ms), ``duration`` 0 while it runs. ``estimatedDuration`` is
  ``hudson.model.Job#getEstimatedDuration`` (javadoc: "the estimated duration in milliseconds
  ... -1 if no estimate is available"): the mean duration of
  ``Job#getEstimatedDurationCandidates``, the last successful build and then the latest
  SUCCESS or UNSTABLE builds among the last 6, made up to 3 with failed ones (never aborted).
  Jenkins' own progress bar (``hudson.model.Executor#getProgress``) is elapsed time over that
  estimate, at most 99 %, unknown without an estimate.
- Console: ``/job/X/N/consoleText`` (text/plain). Stop: POST ``/job/X/N/stop``.
- Pipeline stages: pipeline-stage-view plugin ``rest-api/README.md``,
  ``GET /job/:job/:run/wfapi/describe``; stage statuses from its ``StatusExt`` enum.
- Nodes: ``/computer/api/json`` (``hudson.model.ComputerSet``: ``busyExecutors``,
  ``totalExecutors``, ``computer[displayName, idle, offline, temporarilyOffline,
  offlineCauseReason, numExecutors, assignedLabels]``).
- CSRF: ``/crumbIssuer/api/json`` (``hudson.security.csrf.DefaultCrumbIssuer``: ``crumb``,
  ``crumbRequestField: Jenkins-Crumb``); ``hudson.security.csrf.CrumbFilter`` answers a POST
  without a valid crumb with 403 "No valid crumb was included in the request".
- Auth: a wrong API token answers 401; a user without a permission gets 403
  "<user> is missing the Job/Build permission" (``hudson.security.AccessDeniedException3``).

State advances by requests, never by time, so tests need no sleeps: a queue item
starts after ``queue_polls`` reads of it, and each read of a running build (its JSON,
console or stages) runs one more step of its script. A job with ``runs_for`` set runs its
builds in wall time instead: a build takes that many seconds, its script's lines and its
stages spread evenly over them (what ``jenkins build --wait`` watches percent by percent).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from opspack_testkit.fakes.http import FakeHTTPServer, FakeService, Request, Response

T0 = 1_700_000_000_000  # epoch ms the history builds (add_history) are dated from

FREESTYLE = "hudson.model.FreeStyleProject"
PIPELINE = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
RUN_CLASS = {FREESTYLE: "hudson.model.FreeStyleBuild", PIPELINE: "org.jenkinsci.plugins.workflow.job.WorkflowRun"}
COLOR = {"SUCCESS": "blue", "FAILURE": "red", "UNSTABLE": "yellow", "ABORTED": "aborted", None: "notbuilt"}
STAGE_STATUS = {"SUCCESS": "SUCCESS", "FAILURE": "FAILED", "UNSTABLE": "UNSTABLE", "ABORTED": "ABORTED"}


def choice(name: str, choices: list[str], description: str = "") -> dict[str, Any]:
    """A choice parameter's definition (``hudson.model.ChoiceParameterDefinition``); the first choice is its default."""
    return {
        "_class": "hudson.model.ChoiceParameterDefinition",
        "defaultParameterValue": {"_class": "hudson.model.StringParameterValue", "name": name, "value": choices[0]},
        "description": description,
        "name": name,
        "type": "ChoiceParameterDefinition",
        "choices": choices,
    }


def boolean(name: str, default: bool = False) -> dict[str, Any]:
    """A boolean parameter's definition (``hudson.model.BooleanParameterDefinition``)."""
    return {
        "_class": "hudson.model.BooleanParameterDefinition",
        "defaultParameterValue": {"_class": "hudson.model.BooleanParameterValue", "name": name, "value": default},
        "description": "",
        "name": name,
        "type": "BooleanParameterDefinition",
    }


def string(name: str, default: str = "") -> dict[str, Any]:
    """A string parameter's definition (``hudson.model.StringParameterDefinition``)."""
    return {
        "_class": "hudson.model.StringParameterDefinition",
        "defaultParameterValue": {"_class": "hudson.model.StringParameterValue", "name": name, "value": default},
        "description": "",
        "name": name,
        "type": "StringParameterDefinition",
        "trim": False,
    }


def password(name: str) -> dict[str, Any]:
    """A password parameter's definition (``hudson.model.PasswordParameterDefinition``), its default hidden."""
    return {
        "_class": "hudson.model.PasswordParameterDefinition",
        "defaultParameterValue": {"_class": "hudson.model.PasswordParameterValue", "name": name},
        "description": "",
        "name": name,
        "type": "PasswordParameterDefinition",
    }


@dataclass
class Build:
    """One build: its parameters, the console lines its script prints one step per read, and its result."""

    number: int
    params: dict[str, str]
    script: list[str]
    result: str
    stages: list[str]
    user: str
    building: bool = True
    step: int = 0
    aborted: bool = False
    console: list[str] = field(default_factory=list)
    timestamp: int = T0
    duration: int = 0
    #: seconds of wall time the build runs; None: one script step per read
    runs_for: float | None = None


def now_ms() -> int:
    """The wall clock in epoch milliseconds, as Jenkins stamps builds."""
    return int(time.time() * 1000)


@dataclass
class Job:
    """A job or folder, and what its next build does (``script``, ``result``, ``stages``, ``queue_polls``)."""

    full_name: str
    cls: str = FREESTYLE
    params: list[dict[str, Any]] = field(default_factory=list)
    disabled: bool = False
    builds: list[Build] = field(default_factory=list)
    health: int = 100
    # what the next build does
    script: list[str] = field(default_factory=lambda: ["Building...", "Done."])
    result: str = "SUCCESS"
    stages: list[str] = field(default_factory=list)
    queue_polls: int = 1
    cancel_in_queue: bool = False
    #: seconds of wall time each build runs (None: a build moves one step per read)
    runs_for: float | None = None

    @property
    def name(self) -> str:
        """The job's own name (the last part of its full name)."""
        return self.full_name.rsplit("/", 1)[-1]


@dataclass
class QueueItem:
    """A queue item; it starts its build after ``polls_left`` reads, unless ``cancelled``."""

    id: int
    job: Job
    params: dict[str, str]
    user: str
    polls_left: int
    why: str = "Waiting for next available executor"
    cancelled: bool = False
    build: Build | None = None
    since: int = T0


# ---------------------------------------------------------------------------
# the tree= query: jobs[name,lastBuild[number,result]],foo


def parse_tree(text: str) -> dict[str, Any]:
    """``a,b[c,d[e]]`` -> ``{"a": None, "b": {"c": None, "d": {"e": None}}}`` (``{m,n}`` ranges ignored)."""
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(text):
            m = re.match(r"[\w$]+", text[pos:])
            if not m:
                raise ValueError(f"bad tree at {pos}: {text!r}")
            name = m.group(0)
            pos += len(name)
            sub = None
            if pos < len(text) and text[pos] == "[":
                pos += 1
                sub = parse_list()
                if pos >= len(text) or text[pos] != "]":
                    raise ValueError(f"unclosed [ in tree: {text!r}")
                pos += 1
            if pos < len(text) and text[pos] == "{":
                pos = text.index("}", pos) + 1
            out[name] = sub
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        return out

    return parse_list()


Lazy = Callable[[], Any]


def _resolve(value: Any) -> Any:
    return value() if callable(value) else value


def apply_tree(obj: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Keep only the properties ``spec`` names; nested objects are filtered by their sub-spec."""
    out: dict[str, Any] = {"_class": obj.get("_class")}
    for key, sub in spec.items():
        if key not in obj:
            continue
        value = _resolve(obj[key])
        out[key] = _filter(value, sub)
    return out


def _filter(value: Any, sub: dict[str, Any] | None) -> Any:
    if isinstance(value, list):
        return [_filter(v, sub) for v in value]
    if isinstance(value, dict):
        if sub is None:
            return {"_class": value.get("_class")} if "_class" in value else {}
        return apply_tree(value, sub)
    return value


def shallow(obj: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    """``obj`` with only the ``keep`` properties."""
    return {k: _resolve(obj[k]) for k in keep if k in obj}


def depth0(obj: dict[str, Any]) -> dict[str, Any]:
    """Serialize like ``?depth=0``: top-level properties, nested objects reduced to their summary."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        value = _resolve(value)
        if isinstance(value, dict):
            value = _summary(value)
        elif isinstance(value, list):
            value = [_summary(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


def _summary(value: dict[str, Any]) -> dict[str, Any]:
    keep = value.get("__summary__")
    if keep:
        return shallow(value, keep)
    return {k: _resolve(v) for k, v in value.items() if not k.startswith("__")}


class FakeJenkins(FakeService):
    """The fake controller. ``users`` maps user -> (api token, permissions)."""

    def __init__(self) -> None:
        self.server = FakeHTTPServer()
        self.jobs: dict[str, Job] = {}
        self.queue: dict[int, QueueItem] = {}
        self.next_queue_id = 1
        self.users: dict[str, tuple[str, set[str]]] = {
            "alice": ("alice-api-token-0123", {"read", "build", "cancel"}),
            "viewer": ("viewer-api-token-4567", {"read"}),
        }
        self.crumb_salt = "salt-1"
        self.require_crumb = True
        self.nodes: list[dict[str, Any]] = [
            {"displayName": "Built-In Node", "numExecutors": 2, "labels": ["built-in"], "offline": False, "idle": True},
            {
                "displayName": "linux-1",
                "numExecutors": 4,
                "labels": ["linux", "docker"],
                "offline": False,
                "idle": False,
            },
            {
                "displayName": "win-1",
                "numExecutors": 1,
                "labels": ["windows"],
                "offline": True,
                "temporarilyOffline": True,
                "offlineCauseReason": "Disconnected by alice: patching",
            },
        ]
        self.lock = threading.RLock()
        self.server.route("GET", r"/.*")(self._dispatch)
        self.server.route("POST", r"/.*")(self._dispatch)

    # -- set-up ------------------------------------------------------------------
    def add_job(self, full_name: str, **kw: Any) -> Job:
        """A job at ``full_name`` (folders made as needed); ``kw`` sets :class:`Job` fields."""
        parts = full_name.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            self.jobs.setdefault(folder, Job(folder, cls=FOLDER))
        job = Job(full_name, **kw)
        self.jobs[full_name] = job
        return job

    def add_history(self, full_name: str, result: str, *, number: int | None = None, duration_s: float = 60) -> Build:
        """A finished build of ``full_name`` with ``result`` (numbered after the last unless given)."""
        job = self.jobs[full_name]
        n = number or (job.builds[-1].number + 1 if job.builds else 1)
        b = Build(n, {}, ["done"], result, list(job.stages), "timer", building=False)
        b.console = ["Started by timer", *(f"line {i}" for i in range(1, 6)), f"Finished: {result}"]
        b.step = len(b.console)
        b.timestamp = T0 - 3_600_000 + n * 60_000
        b.duration = round(duration_s * 1000)
        job.builds.append(b)
        return b

    @property
    def url(self) -> str:
        """The controller's root URL, with its trailing slash (while started)."""
        return self.server.url + "/"

    def rotate_crumbs(self) -> None:
        """Invalidate issued crumbs (what a controller restart does)."""
        self.crumb_salt += "x"

    # -- auth and crumbs ---------------------------------------------------------
    def _user(self, req: Request) -> tuple[str | None, Response | None]:
        header = req.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None, Response.text("Authentication required", 403, {"X-You-Are-Authenticated-As": "anonymous"})
        user, _, token = base64.b64decode(header[6:]).decode().partition(":")
        known = self.users.get(user)
        if known is None or known[0] != token:
            return None, Response.text(f"Invalid password/token for user: {user}", 401)
        return user, None

    def _crumb(self, user: str) -> str:
        return hashlib.sha256(f"{user}:{self.crumb_salt}".encode()).hexdigest()

    def _may(self, user: str, perm: str) -> Response | None:
        if perm in self.users[user][1]:
            return None
        name = {"build": "Job/Build", "cancel": "Job/Cancel", "read": "Overall/Read"}[perm]
        return Response.text(f"{user} is missing the {name} permission", 403)

    # -- routing -----------------------------------------------------------------
    def _dispatch(self, req: Request) -> Response:
        with self.lock:
            user, refused = self._user(req)
            if refused is not None or user is None:
                return refused or Response.text("Forbidden", 403)
            if (denied := self._may(user, "read")) is not None:
                return denied
            if req.method == "POST" and self.require_crumb and req.headers.get("jenkins-crumb") != self._crumb(user):
                return Response.text("No valid crumb was included in the request", 403)
            path = req.path
            if path == "/crumbIssuer/api/json":
                return Response.json(
                    {
                        "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                        "crumb": self._crumb(user),
                        "crumbRequestField": "Jenkins-Crumb",
                    }
                )
            if path in ("/api/json", "/"):
                return self._api(req, self._root())
            if path == "/queue/api/json":
                return self._api(req, self._queue_obj())
            m = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
            if m:
                return self._queue_item(req, int(m.group(1)))
            if path == "/computer/api/json":
                return self._api(req, self._computers())
            m = re.fullmatch(r"((?:/job/[^/]+)+)(/.*)?", path)
            if m:
                full = "/".join(unquote(p) for p in m.group(1).split("/job/")[1:])
                return self._job_route(req, user, full, m.group(2) or "/")
            return Response.text("Not Found", 404)

    def _api(self, req: Request, obj: dict[str, Any]) -> Response:
        tree = req.arg("tree")
        if tree:
            return Response.json(apply_tree(obj, parse_tree(tree)))
        return Response.json(depth0(obj))

    def _job_route(self, req: Request, user: str, full: str, rest: str) -> Response:
        job = self.jobs.get(full)
        if job is None:
            return Response.text("Not Found", 404)
        if rest == "/api/json":
            return self._api(req, self._job_obj(job))
        if rest in ("/build", "/buildWithParameters"):
            if req.method != "POST":
                return Response.text("Method Not Allowed", 405)
            return self._trigger(req, user, job, rest == "/buildWithParameters")
        m = re.fullmatch(r"/(\d+|lastBuild|lastSuccessfulBuild|lastFailedBuild|lastCompletedBuild)(/.*)", rest)
        if not m or job.cls == FOLDER:
            return Response.text("Not Found", 404)
        build = self._find_build(job, m.group(1))
        if build is None:
            return Response.text("Not Found", 404)
        what = m.group(2)
        if what == "/" and req.method == "GET":  # the build page a redirect after /stop lands on
            return Response(200, b"<html><body>build page</body></html>", {"Content-Type": "text/html"})
        if what == "/stop":
            if req.method != "POST":
                return Response.text("Method Not Allowed", 405)
            if (denied := self._may(user, "cancel")) is not None:
                return denied
            if build.building:
                build.building, build.aborted, build.result = False, True, "ABORTED"
                build.console.append(f"Aborted by {user}")
                build.console.append("Finished: ABORTED")
            return Response(302, b"", {"Location": f"{self._job_url(job)}{build.number}/"})
        if what in ("/api/json", "/consoleText", "/wfapi/describe", "/wfapi/describe/"):
            self._advance(build)
            if what == "/api/json":
                return self._api(req, self._build_obj(job, build))
            if what == "/consoleText":
                return Response.text("".join(line + "\n" for line in build.console))
            if job.cls != PIPELINE:
                return Response.text("Not Found", 404)
            return Response.json(self._describe(job, build))
        return Response.text("Not Found", 404)

    # -- behaviour -----------------------------------------------------------------
    def _trigger(self, req: Request, user: str, job: Job, with_params: bool) -> Response:
        if job.cls == FOLDER:
            return Response.text("Not Found", 404)
        if (denied := self._may(user, "build")) is not None:
            return denied
        if job.disabled:
            return Response.text(f"{job.full_name} is not buildable", 409)
        given = {k: v[0] for k, v in req.query.items()}
        given.update({k: v[0] for k, v in req.form().items()} if req.body else {})
        if with_params and not job.params:
            return Response.text("java.lang.IllegalStateException: This build is not parameterized!", 500)
        if not with_params and job.params:
            return Response.text("This page expects a form submission", 400)
        values = {}
        for d in job.params:  # Jenkins ignores unknown names and fills in defaults
            default = (d.get("defaultParameterValue") or {}).get("value")
            value = given.get(d["name"], default)
            if value is not None:
                values[d["name"]] = str(value).lower() if isinstance(value, bool) else str(value)
        item = QueueItem(self.next_queue_id, job, values, user, job.queue_polls)
        self.next_queue_id += 1
        self.queue[item.id] = item
        return Response(201, b"", {"Location": f"{self.url}queue/item/{item.id}/"})

    def _queue_item(self, req: Request, number: int) -> Response:
        item = self.queue.get(number)
        if item is None:
            return Response.text("Not Found", 404)
        if item.build is None and not item.cancelled:
            if item.job.cancel_in_queue:
                item.cancelled = True
            elif item.polls_left > 0:
                item.polls_left -= 1
            if not item.cancelled and item.polls_left <= 0:
                self._start_build(item)
        return self._api(req, self._queue_item_obj(item))

    def _start_build(self, item: QueueItem) -> None:
        job = item.job
        n = job.builds[-1].number + 1 if job.builds else 1
        b = Build(n, item.params, list(job.script), job.result, list(job.stages), item.user, runs_for=job.runs_for)
        b.console = [f"Started by user {item.user}"]
        b.timestamp = now_ms()
        job.builds.append(b)
        item.build = b

    def _advance(self, build: Build) -> None:
        """A running build moves on: one step per read, or (``runs_for``) as far as the time
        since it started says; at the end of its script, its result."""
        if not build.building:
            return
        if build.runs_for is None:
            if build.step < len(build.script):
                self._step(build)
                return
            self._finish(build, 1000 * (len(build.script) + 1))
            return
        elapsed = max(0, now_ms() - build.timestamp)
        total = round(build.runs_for * 1000)
        # step k's line is printed as it starts: k steps are due k-1 n-ths of the way in
        due = min(len(build.script), len(build.script) * elapsed // max(1, total) + 1)
        while build.step < due:
            self._step(build)
        if elapsed >= total:
            self._finish(build, total)

    def _step(self, build: Build) -> None:
        line = build.script[build.step]
        for k, v in build.params.items():
            line = line.replace("${" + k + "}", v)
        build.console.append(line)
        build.step += 1

    def _finish(self, build: Build, duration_ms: int) -> None:
        build.console.append(f"Finished: {build.result}")
        build.building = False
        build.duration = duration_ms

    def _estimated_duration(self, job: Job) -> int:
        """``Job#getEstimatedDuration``: the mean duration of up to 3 recent builds (the last
        successful one, the latest SUCCESS or UNSTABLE ones among the last 6, then failed
        ones to make up 3; never aborted ones); -1 without any."""
        good = ("SUCCESS", "UNSTABLE")
        last_good = next((b for b in reversed(job.builds) if not b.building and b.result in good), None)
        candidates = [last_good] if last_good is not None else []
        fallback: list[Build] = []
        for i, b in enumerate(reversed(job.builds)):
            if len(candidates) >= 3 or i >= 6:
                break
            if b.building or b is last_good:
                continue
            if b.result in good:
                candidates.append(b)
            elif b.result == "FAILURE":  # Result#isCompleteBuild: not ABORTED or NOT_BUILT
                fallback.append(b)
        candidates += fallback[: 3 - len(candidates)]
        total = sum(self._duration(b) for b in candidates)
        return round(total / len(candidates)) if candidates and total else -1

    def _duration(self, b: Build) -> int:
        if b.building:
            return 0
        return b.duration or 1000 * (len(b.script) + 1)

    def _find_build(self, job: Job, ref: str) -> Build | None:
        if ref.isdigit():
            return next((b for b in job.builds if b.number == int(ref)), None)
        pick: Callable[[Build], bool] = {
            "lastBuild": lambda b: True,
            "lastSuccessfulBuild": lambda b: not b.building and b.result == "SUCCESS",
            "lastFailedBuild": lambda b: not b.building and b.result == "FAILURE",
            "lastCompletedBuild": lambda b: not b.building,
        }[ref]
        return next((b for b in reversed(job.builds) if pick(b)), None)

    # -- JSON objects ----------------------------------------------------------------
    def _job_url(self, job: Job) -> str:
        return self.url + "".join(f"job/{p}/" for p in job.full_name.split("/"))

    def _children(self, prefix: str) -> list[Job]:
        depth = prefix.count("/") + 1 if prefix else 0
        return [
            j
            for name, j in self.jobs.items()
            if name.count("/") == depth and (not prefix or name.startswith(prefix + "/"))
        ]

    def _root(self) -> dict[str, Any]:
        return {
            "_class": "hudson.model.Hudson",
            "mode": "NORMAL",
            "nodeDescription": "the Jenkins controller's built-in node",
            "numExecutors": 2,
            "useCrumbs": True,
            "useSecurity": True,
            "jobs": lambda: [self._job_obj(j) for j in self._children("")],
        }

    def _job_obj(self, job: Job) -> dict[str, Any]:
        url = self._job_url(job)
        base: dict[str, Any] = {
            "_class": job.cls,
            "__summary__": ("_class", "name", "url", "color"),
            "name": job.name,
            "fullName": job.full_name,
            "displayName": job.name,
            "fullDisplayName": job.full_name.replace("/", " » "),
            "url": url,
            "description": None,
            "healthReport": [
                {
                    "description": f"Build stability: {100 - job.health}% of the recent builds failed.",
                    "iconClassName": "icon-health-80plus",
                    "iconUrl": "health-80plus.png",
                    "score": job.health,
                }
            ],
        }
        if job.cls == FOLDER:
            base["__summary__"] = ("_class", "name", "url")
            base["jobs"] = lambda: [self._job_obj(j) for j in self._children(job.full_name)]
            return base
        last = job.builds[-1] if job.builds else None
        color = "disabled" if job.disabled else COLOR.get(self._last_completed_result(job), "notbuilt")
        if last is not None and last.building:
            color += "_anime"
        base.update(
            {
                "buildable": not job.disabled,
                "color": color,
                "inQueue": any(i.job is job and i.build is None and not i.cancelled for i in self.queue.values()),
                "nextBuildNumber": (last.number + 1) if last else 1,
                "builds": [self._build_obj(job, b) for b in reversed(job.builds[-5:])],
                "lastBuild": self._build_obj(job, last) if last else None,
                "property": (
                    [{"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": job.params}]
                    if job.params
                    else []
                ),
            }
        )
        return base

    def _last_completed_result(self, job: Job) -> str | None:
        done = [b for b in job.builds if not b.building]
        return done[-1].result if done else None

    def _build_obj(self, job: Job, b: Build) -> dict[str, Any]:
        actions: list[dict[str, Any]] = [
            {
                "_class": "hudson.model.CauseAction",
                "causes": [
                    {
                        "_class": "hudson.model.Cause$UserIdCause",
                        "shortDescription": f"Started by user {b.user}",
                        "userId": b.user,
                        "userName": b.user,
                    }
                ],
            },
        ]
        if b.params:
            kinds = {d["name"]: d["_class"].replace("Definition", "Value") for d in job.params}
            actions.insert(
                0,
                {
                    "_class": "hudson.model.ParametersAction",
                    "parameters": [
                        {"_class": kinds.get(k, "hudson.model.StringParameterValue"), "name": k}
                        | ({} if "Password" in kinds.get(k, "") else {"value": v})
                        for k, v in b.params.items()
                    ],
                },
            )
        return {
            "_class": RUN_CLASS.get(job.cls, "hudson.model.FreeStyleBuild"),
            "__summary__": ("_class", "number", "url"),
            "actions": actions,
            "building": b.building,
            "description": None,
            "displayName": f"#{b.number}",
            "duration": self._duration(b),
            "estimatedDuration": self._estimated_duration(job),
            "fullDisplayName": f"{job.full_name.replace('/', ' » ')} #{b.number}",
            "id": str(b.number),
            "number": b.number,
            "queueId": 0,
            "result": None if b.building else b.result,
            "timestamp": b.timestamp,
            "url": f"{self._job_url(job)}{b.number}/",
            "builtOn": "linux-1",
            "culprits": [{"absoluteUrl": f"{self.url}user/bob", "fullName": "bob"}] if b.result == "FAILURE" else [],
        }

    def _describe(self, job: Job, b: Build) -> dict[str, Any]:
        """``wfapi/describe``: stages complete one per build step; the last takes the build's result."""
        href = f"/{self._job_url(job)[len(self.url) :]}{b.number}"
        step_ms = round(b.runs_for * 1000 / max(1, len(b.script))) if b.runs_for else 1000
        stages = []
        for i, name in enumerate(b.stages):
            if b.aborted and i >= b.step:
                status = "ABORTED" if i == b.step else "NOT_EXECUTED"
            elif not b.building:
                status = STAGE_STATUS.get(b.result, "SUCCESS") if i == len(b.stages) - 1 else "SUCCESS"
            elif i < b.step - 1:
                status = "SUCCESS"
            elif i == max(0, b.step - 1):
                status = "IN_PROGRESS"
            else:
                status = "NOT_EXECUTED"
            stages.append(
                {
                    "_links": {"self": {"href": f"{href}/execution/node/{5 + 3 * i}/wfapi/describe"}},
                    "id": str(5 + 3 * i),
                    "name": name,
                    "execNode": "",
                    "status": status,
                    "startTimeMillis": b.timestamp + step_ms * i,
                    "durationMillis": step_ms,
                    "pauseDurationMillis": 0,
                }
            )
        run_status = "IN_PROGRESS" if b.building else STAGE_STATUS.get(b.result, "SUCCESS")
        return {
            "_links": {"self": {"href": f"{href}/wfapi/describe"}},
            "id": str(b.number),
            "name": f"#{b.number}",
            "status": run_status,
            "startTimeMillis": b.timestamp,
            "endTimeMillis": b.timestamp + step_ms * len(b.stages),
            "durationMillis": step_ms * len(b.stages),
            "queueDurationMillis": 3,
            "pauseDurationMillis": 0,
            "stages": stages,
        }

    def _queue_item_obj(self, item: QueueItem) -> dict[str, Any]:
        task = {
            "_class": item.job.cls,
            "name": item.job.name,
            "url": self._job_url(item.job),
            "color": "notbuilt",
            "fullName": item.job.full_name,
        }
        params = "".join(f"\n{k}={v}" for k, v in item.params.items())
        if item.build is not None or item.cancelled:
            obj: dict[str, Any] = {
                "_class": "hudson.model.Queue$LeftItem",
                "actions": [],
                "blocked": False,
                "buildable": False,
                "id": item.id,
                "inQueueSince": item.since,
                "params": params,
                "stuck": False,
                "task": task,
                "url": f"queue/item/{item.id}/",
                "why": None,
                "cancelled": item.cancelled,
                "executable": (
                    {
                        "_class": RUN_CLASS.get(item.job.cls),
                        "number": item.build.number,
                        "url": f"{self._job_url(item.job)}{item.build.number}/",
                    }
                    if item.build
                    else None
                ),
            }
            return obj
        return {
            "_class": "hudson.model.Queue$BuildableItem",
            "actions": [],
            "blocked": False,
            "buildable": True,
            "id": item.id,
            "inQueueSince": item.since,
            "params": params,
            "stuck": False,
            "task": task,
            "url": f"queue/item/{item.id}/",
            "why": item.why,
            "buildableStartMilliseconds": item.since,
            "pending": False,
        }

    def _queue_obj(self) -> dict[str, Any]:
        waiting = [i for i in self.queue.values() if i.build is None and not i.cancelled]
        return {
            "_class": "hudson.model.Queue",
            "discoverableItems": [],
            "items": [self._queue_item_obj(i) for i in waiting],
        }

    def _computers(self) -> dict[str, Any]:
        computers = []
        for n in self.nodes:
            master = n["displayName"] == "Built-In Node"
            computers.append(
                {
                    "_class": "hudson.model.Hudson$MasterComputer" if master else "hudson.slaves.SlaveComputer",
                    "actions": [],
                    "assignedLabels": [{"name": lab} for lab in n["labels"]],
                    "description": "",
                    "displayName": n["displayName"],
                    "executors": [{} for _ in range(n["numExecutors"])],
                    "icon": "symbol-computer",
                    "iconClassName": "symbol-computer",
                    "idle": n.get("idle", True),
                    "jnlpAgent": not master,
                    "launchSupported": True,
                    "manualLaunchAllowed": True,
                    "numExecutors": n["numExecutors"],
                    "offline": n.get("offline", False),
                    "offlineCause": None,
                    "offlineCauseReason": n.get("offlineCauseReason", ""),
                    "oneOffExecutors": [],
                    "temporarilyOffline": n.get("temporarilyOffline", False),
                }
            )
        total = sum(n["numExecutors"] for n in self.nodes if not n.get("offline"))
        return {
            "_class": "hudson.model.ComputerSet",
            "busyExecutors": sum(1 for n in self.nodes if not n.get("offline") and not n.get("idle", True)),
            "computer": computers,
            "displayName": "Nodes",
            "totalExecutors": total,
        }


def big_controller(fake: FakeJenkins, *, jobs: int = 2000, levels: int = 3) -> FakeJenkins:
    """``jobs`` jobs spread over folders ``levels`` deep (10 top folders, 5 per level below)."""
    results = ["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE", "UNSTABLE"]
    leaf_folders = [f"team{i:02d}" for i in range(10)]
    for _ in range(levels - 1):
        leaf_folders = [f"{f}/sub{k}" for f in leaf_folders for k in range(5)]
    for n in range(jobs):
        folder = leaf_folders[n % len(leaf_folders)]
        name = f"{folder}/job-{n:04d}"
        fake.add_job(name, health=100 - 20 * (n % 5))
        fake.add_history(name, results[n % len(results)], duration_s=30 + n % 90)
    return fake
