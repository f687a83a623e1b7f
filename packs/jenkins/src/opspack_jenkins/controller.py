"""``jenkins queue`` and ``jenkins nodes``: what waits, and where builds run."""

from __future__ import annotations

import time
from typing import Any

from opspack import Context, Result, Table, Text, command
from opspack.results import Level

from opspack_jenkins import view


@command(group="queue", verb="list", words=["jenkins", "queue"], examples=["jenkins queue"], results=["table", "text"])
def queue(ctx: Context) -> Result:
    """The build queue: each waiting item, its job, why it waits and for how long.

    One request (`/queue/api/json` with a tree query).
    """
    from opspack_jenkins.client import client

    items = client(ctx).queue()
    if not items:
        return Text("The build queue is empty.", title="Jenkins queue")
    now_ms = time.time() * 1000
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for it in sorted(items, key=lambda i: i.get("inQueueSince") or 0):
        task = it.get("task") or {}
        since = it.get("inQueueSince")
        state = (
            "stuck"
            if it.get("stuck")
            else "blocked"
            if it.get("blocked")
            else "buildable"
            if it.get("buildable")
            else "waiting"
        )
        rows.append(
            [
                it.get("id"),
                task.get("fullName") or task.get("name"),
                state,
                it.get("why"),
                view.duration(now_ms - since) if isinstance(since, int | float) else None,
            ]
        )
        levels.append("critical" if state == "stuck" else "warning" if state == "blocked" else "ok")
    return Table(
        columns=["item", "job", "state", "why", "waiting"],
        rows=rows,
        title=f"Jenkins queue ({len(rows)} waiting)",
        row_status=levels,
    )


@command(group="node", verb="list", words=["jenkins", "nodes"], examples=["jenkins nodes"], results=["table"])
def nodes(ctx: Context) -> Table:
    """Agents (nodes): online, offline or idle, executors and labels.

    One request (`/computer/api/json` with a tree query).
    """
    from opspack_jenkins.client import client

    data = client(ctx).nodes()
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for c in data.get("computer") or []:
        if c.get("offline"):
            state = "offline (temporarily)" if c.get("temporarilyOffline") else "offline"
            level: Level = "warning" if c.get("temporarilyOffline") else "critical"
        else:
            state, level = ("idle" if c.get("idle") else "busy"), "ok"
        labels = " ".join(str(lab.get("name")) for lab in c.get("assignedLabels") or [] if isinstance(lab, dict))
        rows.append(
            [c.get("displayName"), state, c.get("numExecutors"), labels or None, c.get("offlineCauseReason") or None]
        )
        levels.append(level)
    busy, total = data.get("busyExecutors"), data.get("totalExecutors")
    title = "Jenkins nodes" + (f" ({busy} of {total} executors busy)" if total is not None else "")
    return Table(
        columns=["node", "state", "executors", "labels", "offline reason"], rows=rows, title=title, row_status=levels
    )
