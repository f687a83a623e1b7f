"""``jobs``, ``job <id>`` and ``job cancel <id>`` in chat: the caller's jobs, answered by the gateway.

A person sees and cancels their own jobs; members of a role named in ``[jobs] admin_roles``
see and cancel everyone's (``jobs --all``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from opspack.context import Caller
from opspack.jobs import STATES, Job, JobsSettings
from opspack.results import KV, Error, Progress, Reply, Result, Status, Table, Text
from opspack.runtime import Runtime

USAGE = "jobs [--all] [--state S] | job <id> | job cancel <id>"


def _usage(message: str) -> Reply:
    return Reply.failure(Error("usage", message, f"Usage: {USAGE}"))


def _when(at: float | None) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if at else ""


def _took(job: Job) -> str:
    if job.started is None:
        return ""
    end = job.finished if job.finished is not None else dt.datetime.now(dt.UTC).timestamp()
    return f"{end - job.started:.1f} s"


def is_admin(runtime: Runtime, caller: Caller) -> bool:
    """Whether ``caller`` holds a role of ``[jobs] admin_roles`` (through the policy)."""
    settings = JobsSettings.load(runtime.config.data, runtime.config.environ)
    policy = runtime.policy
    if not settings.admin_roles or policy is None:
        return False
    return bool(set(policy.roles_of(caller)) & set(settings.admin_roles))


def answer(runtime: Runtime, tokens: Sequence[str], caller: Caller) -> Reply:
    """Answer the job words in ``tokens`` for ``caller``."""
    word = tokens[0].lower()
    rest = list(tokens[1:])
    if word == "jobs":
        return _list(runtime, rest, caller)
    if len(rest) == 2 and rest[0].lower() == "cancel":
        return _cancel(runtime, rest[1], caller)
    if len(rest) == 1:
        return _show(runtime, rest[0], caller)
    return _usage("Say which job: `job <id>` or `job cancel <id>`.")


def _list(runtime: Runtime, args: list[str], caller: Caller) -> Reply:
    everyone, states = False, []
    while args:
        arg = args.pop(0)
        if arg == "--all":
            everyone = True
        elif arg == "--state" and args:
            state = args.pop(0).lower()
            if state not in STATES:
                return _usage(f"state: got {state!r}, expected one of {', '.join(STATES)}.")
            states.append(state)
        else:
            return _usage(f"Unexpected argument `{arg}`.")
    if everyone and not is_admin(runtime, caller):
        return Reply.failure(Error("denied", "Only a jobs admin sees everyone's jobs.", "`jobs` lists yours."), None)
    jobs = runtime.jobs.find(user=None if everyone else caller.user, states=states, limit=50)
    if not jobs:
        return Reply(ok=True, command=None, results=[Text("No jobs.")])
    table = Table(
        columns=["job", "state", "command", "user", "started (UTC)", "took"],
        rows=[
            [j.id, j.state, j.text or j.command or "", j.user, _when(j.started or j.created), _took(j)] for j in jobs
        ],
        title="Jobs" if everyone else f"Jobs of {caller.user}",
        row_status=["critical" if j.state in ("failed", "interrupted") else "ok" for j in jobs],
    )
    return Reply(ok=True, command=None, results=[table])


def _find(runtime: Runtime, raw: str, caller: Caller) -> Job | Reply:
    try:
        job_id = int(raw.lstrip("#"))
    except ValueError:
        return _usage(f"job: got {raw!r}, expected a job number.")
    job = runtime.jobs.get(job_id)
    if job is None or (job.user != caller.user and not is_admin(runtime, caller)):
        # another user's job is not found either: its existence is none of the caller's business
        return Reply.failure(Error("not_found", f"There is no job {job_id} of yours.", "`jobs` lists yours."))
    return job


def _show(runtime: Runtime, raw: str, caller: Caller) -> Reply:
    found = _find(runtime, raw, caller)
    if isinstance(found, Reply):
        return found
    job = found
    items = {
        "state": job.state,
        "command": job.text or job.command or "",
        "user": job.user,
        "created": _when(job.created),
        "started": _when(job.started),
        "finished": _when(job.finished),
        "took": _took(job),
    }
    results: list[Result] = [KV({k: v for k, v in items.items() if v}, title=f"Job {job.id}")]
    for line in job.progress[-5:]:
        results.append(Progress(line.message, percent=line.percent))
    if job.reply is not None:
        stored = Reply.from_dict(job.reply)
        results.extend(stored.results)
        if stored.error is not None:
            results.append(Status("critical", f"{stored.error.kind}: {stored.error.message}"))
    return Reply(ok=True, command=None, results=results)


def _cancel(runtime: Runtime, raw: str, caller: Caller) -> Reply:
    found = _find(runtime, raw, caller)
    if isinstance(found, Reply):
        if found.error is not None and found.error.kind == "not_found" and runtime.jobs.get(_int(raw)) is not None:
            return Reply.failure(
                Error("denied", f"Job {_int(raw)} is not yours to cancel.", "Ask its owner or a jobs admin.")
            )
        return found
    job = found
    if job.final:
        return Reply(ok=True, command=None, results=[Status("ok", f"Job {job.id} had already ended: {job.state}.")])
    if runtime.cancel(job.id):
        return Reply(ok=True, command=None, results=[Status("ok", f"Job {job.id} ({job.command}) is cancelled.")])
    runtime.jobs.request_cancel(job.id)  # it runs elsewhere: its worker stops it
    return Reply(
        ok=True,
        command=None,
        results=[Status("ok", f"Job {job.id} ({job.command}) will be stopped by the worker running it.")],
    )


def _int(raw: str) -> int:
    try:
        return int(raw.lstrip("#"))
    except ValueError:
        return -1


__all__ = ["USAGE", "answer", "is_admin"]
