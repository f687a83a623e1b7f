"""``jenkins build``, ``jenkins status``, ``jenkins log`` and ``jenkins stop``."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from opspack import KV, Context, Denied, Link, Result, Status, Table, Text, UsageError, command
from opspack.errors import BackendError

from opspack_jenkins import access, view

if TYPE_CHECKING:
    from opspack_jenkins.client import JenkinsClient

#: with --wait, a progress line each time the build's percent (Jenkins' estimate) rises this much
PERCENT_STEP = 5.0
_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}
PERMALINKS = {
    "last": "lastBuild",
    "lastbuild": "lastBuild",
    "latest": "lastBuild",
    "lastsuccessful": "lastSuccessfulBuild",
    "lastsuccessfulbuild": "lastSuccessfulBuild",
    "lastfailed": "lastFailedBuild",
    "lastfailedbuild": "lastFailedBuild",
    "lastcompleted": "lastCompletedBuild",
    "lastcompletedbuild": "lastCompletedBuild",
}


def _check_allowed(ctx: Context, job: str, verb: str) -> None:
    globs = access.job_globs(ctx.settings, ctx.caller.roles)
    if not access.job_allowed(job, globs):
        raise Denied(
            f"You may not {verb} '{job}' from chat.",
            "`jenkins menu` lists the jobs you may start; an admin sets them with the "
            "jenkins allowed_jobs / role_jobs settings.",
        )


def _build_ref(build: str | None) -> int | str:
    if build is None:
        return "lastBuild"
    text = build.strip().lstrip("#")
    if text.isdigit():
        return int(text)
    permalink = PERMALINKS.get(text.lower())
    if permalink is None:
        raise UsageError(
            f"build: got {build!r}, expected a build number or one of last, lastSuccessful, lastFailed, lastCompleted"
        )
    return permalink


def validate_parameters(job: str, definitions: list[dict[str, Any]], given: dict[str, str]) -> dict[str, str]:
    """Check ``given`` against the job's parameter definitions; return every value to send.

    Unknown names, choice values not offered and booleans that are not true/false are
    usage errors; parameters not given take their defaults."""
    by_name = {str(d.get("name")): d for d in definitions if d.get("name")}
    if given and not by_name:
        raise UsageError(
            f"Job '{job}' takes no parameters, but {', '.join(sorted(given))} were given.",
            f"Run it without KEY=value pairs: `jenkins build {job}`.",
        )
    unknown = [k for k in given if k not in by_name]
    if unknown:
        raise UsageError(
            f"Job '{job}' has no parameter {', '.join(unknown)}.",
            f"Its parameters: {', '.join(by_name)}.",
        )
    values: dict[str, str] = {}
    for name, d in by_name.items():
        kind = str(d.get("type") or d.get("_class") or "")
        value = given.get(name)
        if value is None:
            default = view.default_value(d)
            if default is not None:
                values[name] = default
            continue
        if "Choice" in kind:
            choices = [str(c) for c in d.get("choices") or []]
            if choices and value not in choices:
                raise UsageError(
                    f"Parameter {name} of '{job}': got {value!r}, expected one of {', '.join(choices)}.",
                    f"Example: `jenkins build {job} {name}={choices[0]}`.",
                )
        elif "Boolean" in kind:
            low = value.strip().lower()
            if low not in _TRUE | _FALSE:
                raise UsageError(f"Parameter {name} of '{job}': got {value!r}, expected true or false.")
            value = "true" if low in _TRUE else "false"
        values[name] = value
    return values


@command(
    verb="start",
    words=["jenkins", "build"],
    examples=["jenkins build deploy ENV=staging", "jenkins build team/app/release VERSION=1.4.2 --wait"],
    mutating=True,
    idempotent=False,
    timeout=1800,
    results=["kv", "link", "status", "progress", "table"],
)
def start(ctx: Context, job: str, *, params: dict[str, str] | None = None, wait: bool = False) -> list[Result]:
    """Start a build with its parameters; answer with the build number and link.

    Parameters are checked against the job's parameter definitions (choices,
    booleans, unknown names) before anything is queued. The command waits until the
    queue item becomes a build (queue_wait seconds); with `--wait` it follows the
    build to its end, reporting its progress as it goes (queued, started, each stage,
    the percent done as Jenkins' own progress bar estimates it, finished), and answers
    with its stages and result.

    Args:
        job: the job's full name (`deploy`, `team/app/release`)
        params: the build parameters, KEY=value pairs (`ENV=prod DRY_RUN=false`)
        wait: follow the build until it finishes
    """
    from opspack_jenkins.client import BUILD_JOB_FIELDS, client, is_folder

    job = job.strip("/")
    _check_allowed(ctx, job, "build")
    c = client(ctx)
    info = c.job(job, BUILD_JOB_FIELDS)
    if is_folder(info):
        raise UsageError(f"'{job}' is a folder, not a job.", f"`jenkins menu {job}` lists its jobs.")
    if info.get("buildable") is False or info.get("color") == "disabled":
        raise UsageError(f"Job '{job}' is disabled; Jenkins will not build it.", "Ask the job's owner to enable it.")
    definitions = view.parameter_definitions(info)
    values = validate_parameters(job, definitions, dict(params or {}))
    for d in definitions:
        if view.is_secret_parameter(d) and d.get("name") in values:
            ctx.secret(values[str(d["name"])])
    queue_id = c.start(job, values if definitions else None)
    poll = max(0.0, float(ctx.settings["poll_interval"]))
    results: list[Result] = []
    if wait:
        results.append(ctx.progress(f"{job}: queued as item {queue_id}", percent=0.0))
    watch = ctx if wait else None
    number = _await_start(c, job, queue_id, float(ctx.settings["queue_wait"]), poll, results, watch)
    if number is None:
        return results
    url = f"{str(info.get('url') or c.base + 'job/' + job).rstrip('/')}/{number}/"
    if not wait:
        items: dict[str, Any] = {"job": job, "build": f"#{number}", "queue item": queue_id}
        items.update({f"param {k}": v for k, v in values.items()})
        return [KV(items, title=f"Started {job} #{number}"), Link(url, text=f"{job} #{number}")]
    results.append(ctx.progress(f"{job} #{number} started", percent=0.0))
    results.extend(_follow(ctx, c, job, number, float(ctx.settings["wait_timeout"]), poll))
    results.append(Link(url, text=f"{job} #{number}"))
    return results


def _await_start(
    c: JenkinsClient,
    job: str,
    queue_id: int,
    limit: float,
    poll: float,
    results: list[Result],
    watch: Context | None = None,
) -> int | None:
    """Poll the queue item until it is a build; None (with a status in ``results``) if it is not yet.

    With ``watch``, a progress line each time Jenkins gives another reason for the wait."""
    deadline = time.monotonic() + limit
    said: str | None = None
    while True:
        item = c.queue_item(queue_id)
        if item.get("cancelled"):
            raise BackendError(
                f"The build of '{job}' was cancelled in the queue (item {queue_id}) before it started.",
                "Someone cancelled it, or the job was disabled meanwhile; start it again if it is still needed.",
            )
        executable = item.get("executable") or {}
        if executable.get("number"):
            return int(executable["number"])
        why = str(item.get("why") or "")
        if watch is not None and why and why != said:
            said = why
            watch.progress(f"{job}: still queued: {why}", percent=0.0)
        if time.monotonic() >= deadline:
            why = item.get("why") or "waiting in the queue"
            results.append(
                Status(
                    "warning",
                    f"{job} is queued (item {queue_id}) and has not started yet: {why}",
                    title="Queued",
                )
            )
            results.append(Link(f"{c.base}queue/item/{queue_id}/", text=f"queue item {queue_id}"))
            return None
        time.sleep(poll)


def build_percent(info: dict[str, Any], now_ms: float) -> float | None:
    """How far a running build is, as Jenkins' own progress bar has it
    (``hudson.model.Executor#getProgress``): the time since ``timestamp`` over
    ``estimatedDuration``, at most 99 while it runs; None without an estimate (a first build)."""
    estimate, started = info.get("estimatedDuration"), info.get("timestamp")
    if not isinstance(estimate, int | float) or estimate <= 0 or not isinstance(started, int | float):
        return None
    return float(min(99, int(max(0.0, now_ms - started) * 100 // estimate)))


def _follow(ctx: Context, c: JenkinsClient, job: str, number: int, limit: float, poll: float) -> list[Result]:
    """Follow a running build: a progress line per stage change and each time its percent
    rises by PERCENT_STEP, a last one when it ends; the stage lines and its verdict are returned."""
    out: list[Result] = []
    deadline = time.monotonic() + limit
    seen: dict[str, str] = {}
    shown = 0.0  # the percent of the last line: never goes back
    ticked = 0.0
    while True:
        info = c.build(job, number)
        pipeline = "WorkflowRun" in str(info.get("_class", ""))
        stages = (c.stages(job, number) or {}).get("stages") or [] if pipeline else []
        percent = build_percent(info, time.time() * 1000)
        estimated = percent is not None
        if percent is None and stages:  # no estimate yet: the share of stages done
            done = sum(1 for s in stages if s.get("status") not in ("IN_PROGRESS", "NOT_EXECUTED"))
            percent = min(99.0, round(100.0 * done / len(stages), 1))
        shown = max(shown, percent or 0.0)
        for st in stages:
            name, status = str(st.get("name")), str(st.get("status"))
            if seen.get(name) != status:
                seen[name] = status
                out.append(ctx.progress(f"stage {name}: {status}", percent=shown))
        building = bool(info.get("building"))
        if building and shown >= ticked + PERCENT_STEP:
            ticked = shown
            if estimated:
                elapsed = view.duration(max(0.0, time.time() * 1000 - float(info.get("timestamp") or 0)))
                how = f"{elapsed} of about {view.duration(info.get('estimatedDuration'))}"
            else:
                how = "of its stages done"
            ctx.progress(f"{job} #{number}: {shown:.0f}% ({how})", percent=shown)
        if not building:
            ctx.progress(f"{job} #{number} finished: {info.get('result') or 'UNKNOWN'}", percent=100.0, done=True)
            out.extend(_verdict(job, info, stages))
            return out
        if time.monotonic() >= deadline:
            out.append(
                Status("unknown", f"{job} #{number} is still running; `jenkins status {job} {number}` follows it.")
            )
            return out
        time.sleep(poll)


def _verdict(job: str, info: dict[str, Any], stages: list[dict[str, Any]]) -> list[Result]:
    number = info.get("number")
    result = str(info.get("result") or "UNKNOWN")
    level = view.RESULT_LEVEL.get(result, "unknown")
    took = view.duration(info.get("duration"))
    out: list[Result] = [Status(level, f"{job} #{number}: {result}" + (f" in {took}" if took else ""))]
    if stages:
        out.append(_stage_table(stages))
    return out


def _stage_table(stages: list[dict[str, Any]]) -> Table:
    return Table(
        columns=["stage", "result", "duration"],
        rows=[[s.get("name"), s.get("status"), view.duration(s.get("durationMillis"))] for s in stages],
        title="Stages",
        row_status=[view.STAGE_LEVEL.get(str(s.get("status")), "unknown") for s in stages],
    )


def _parameters(info: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for action in info.get("actions") or []:
        if isinstance(action, dict):
            for p in action.get("parameters") or []:
                if isinstance(p, dict) and p.get("name"):
                    value = p.get("value")
                    out[str(p["name"])] = "(secret)" if "Password" in str(p.get("_class", "")) else value
    return out


def _causes(info: dict[str, Any]) -> list[str]:
    return [
        str(c["shortDescription"])
        for a in info.get("actions") or []
        if isinstance(a, dict)
        for c in a.get("causes") or []
        if isinstance(c, dict) and c.get("shortDescription")
    ]


@command(
    verb="status",
    words=["jenkins", "status"],
    examples=["jenkins status deploy", "jenkins status team/app/release 42"],
    results=["status", "kv", "table", "link"],
)
def status(ctx: Context, job: str, build: str | None = None) -> list[Result]:
    """A build's result, duration, causes and culprits, and its stages when the job is a Pipeline.

    Args:
        job: the job's full name
        build: the build number, or last / lastSuccessful / lastFailed (default: the last build)
    """
    from opspack_jenkins.client import client

    job = job.strip("/")
    c = client(ctx)
    info = c.build(job, _build_ref(build))
    number = int(info.get("number") or 0)
    building = bool(info.get("building"))
    result = "RUNNING" if building else str(info.get("result") or "UNKNOWN")
    items: dict[str, Any] = {
        "job": job,
        "build": f"#{number}",
        "result": result,
        "started": view.when(info.get("timestamp")),
        "duration": view.duration(info.get("duration")) if not building else None,
        "estimated": view.duration(info.get("estimatedDuration")) if building else None,
        "node": info.get("builtOn") or ("built-in" if "builtOn" in info else None),
        "causes": _causes(info),
        "culprits": [str(u.get("fullName")) for u in info.get("culprits") or [] if isinstance(u, dict)],
    }
    items.update({f"param {k}": v for k, v in _parameters(info).items()})
    items = {k: v for k, v in items.items() if v not in (None, [], "")}
    level = "unknown" if building else view.RESULT_LEVEL.get(result, "unknown")
    took = items.get("duration")
    out: list[Result] = [
        Status(level, f"{job} #{number}: {result}" + (f" in {took}" if took else ""), title="Jenkins build"),
        KV(items, title=str(info.get("fullDisplayName") or f"{job} #{number}")),
    ]
    if "WorkflowRun" in str(info.get("_class", "")):
        stages = (c.stages(job, number) or {}).get("stages") or []
        if stages:
            out.append(_stage_table(stages))
    if info.get("url"):
        out.append(Link(str(info["url"]), text=f"{job} #{number}"))
    return out


@command(
    verb="log",
    words=["jenkins", "log"],
    examples=["jenkins log deploy", "jenkins log deploy 42 --tail 200", "jenkins log deploy --grep ERROR"],
    results=["text"],
)
def log(ctx: Context, job: str, build: str | None = None, *, tail: int = 50, grep: str | None = None) -> Text:
    """The end of a build's console log, optionally only the lines matching a pattern.

    Args:
        job: the job's full name
        build: the build number, or last / lastSuccessful / lastFailed (default: the last build)
        tail: how many lines from the end to show
        grep: only lines matching this regular expression (case-insensitive)
    """
    from opspack_jenkins.client import client

    if tail < 1:
        raise UsageError(f"tail: got {tail}, expected a positive number of lines")
    pattern = None
    if grep:
        try:
            pattern = re.compile(grep, re.IGNORECASE)
        except re.error as exc:
            raise UsageError(f"grep: {grep!r} is not a valid regular expression ({exc})") from None
    job = job.strip("/")
    ref = _build_ref(build)
    text = client(ctx).console(job, ref)
    lines = text.splitlines()
    total = len(lines)
    if pattern is not None:
        lines = [line for line in lines if pattern.search(line)]
    shown = lines[-tail:]
    label = f"#{ref}" if isinstance(ref, int) else ref
    what = f"{len(shown)} of {len(lines)} matching lines" if pattern else f"last {len(shown)} of {total} lines"
    body = "\n".join(shown) if shown else ("(no line matches)" if pattern else "(the log is empty)")
    return Text(body, title=f"{job} {label} console ({what})", mono=True)


def _check_stop(ctx: Context, job: str, build: int) -> None:
    """Before the confirmation: the caller may stop this job, and the build exists."""
    from opspack_jenkins.client import client

    job = job.strip("/")
    _check_allowed(ctx, job, "stop")
    client(ctx).build(job, build)


@command(
    verb="stop",
    words=["jenkins", "stop"],
    examples=["jenkins stop deploy 42"],
    destructive=True,
    idempotent=True,
    results=["status"],
    check=_check_stop,
)
def stop(ctx: Context, job: str, build: int) -> Status:
    """Abort a running build (asks for confirmation first).

    Args:
        job: the job's full name
        build: the number of the build to abort
    """
    from opspack_jenkins.client import client

    job = job.strip("/")
    _check_allowed(ctx, job, "stop")
    c = client(ctx)
    info = c.build(job, build)
    if not info.get("building"):
        return Status(
            "ok", f"{job} #{build} is not running (it ended {info.get('result') or 'already'}); nothing to stop."
        )
    c.stop(job, build)
    return Status("warning", f"Asked Jenkins to abort {job} #{build}.", title="Build aborted")
