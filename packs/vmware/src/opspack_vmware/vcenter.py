"""``vcenter status``: version, build, this bot's session and triggered alarms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opspack import KV, Context, Result, Status, Table, command, worst
from opspack.results import Level

if TYPE_CHECKING:
    from opspack_vmware._vsphere import Session

_ALARM_LEVELS: dict[str, Level] = {"red": "critical", "yellow": "warning", "green": "ok", "gray": "unknown"}


@command(group="vcenter", verb="status", examples=["vcenter status", "vcenter status --profile lab"])
def status(ctx: Context) -> list[Result]:
    """Show vCenter's version and build, the bot's session and the alarms that are triggered."""
    from opspack_vmware import _vsphere

    return _vsphere.run(ctx, _status)


def _status(s: Session) -> list[Result]:
    from pyVmomi import vmodl

    content = s.content
    about = content.about
    pc: Any = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=content.rootFolder), pc.ObjectSpec(obj=content.sessionManager)],
        propSet=[
            pc.PropertySpec(type=type(content.rootFolder), pathSet=["triggeredAlarmState"]),
            pc.PropertySpec(type=type(content.sessionManager), pathSet=["currentSession"]),
        ],
    )
    props: dict[str, Any] = {}
    for obj in content.propertyCollector.RetrieveContents([spec]) or []:
        props.update({p.name: p.val for p in obj.propSet or []})
    session = props.get("currentSession")
    alarms = list(props.get("triggeredAlarmState") or [])

    kv = KV(
        {
            "product": str(about.fullName),
            "version": str(about.version),
            "build": str(about.build),
            "api_version": str(about.apiVersion),
            "api_type": str(about.apiType),
            "instance_uuid": str(getattr(about, "instanceUuid", "") or ""),
            "url": s.endpoint.url,
            "session_user": str(getattr(session, "userName", "") or s.user),
            "session_since": session.loginTime.isoformat(timespec="seconds") if session is not None else "",
            "triggered_alarms": len(alarms),
        },
        title="vCenter",
    )
    if not alarms:
        return [kv, Status("ok", "no triggered alarms", title="alarms")]

    names = _names(s, alarms)
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for a in sorted(alarms, key=lambda a: a.time, reverse=True):
        level = _ALARM_LEVELS.get(str(a.overallStatus), "unknown")
        rows.append(
            [
                names.get(str(a.alarm._moId), str(a.alarm._moId)),
                names.get(str(a.entity._moId), str(a.entity._moId)),
                str(a.overallStatus),
                a.time.isoformat(timespec="seconds") if a.time else "",
                "yes" if a.acknowledged else "no",
            ]
        )
        levels.append(level)
    table = Table(
        columns=["alarm", "entity", "status", "since", "acknowledged"],
        rows=rows,
        row_status=levels,
        title=f"Triggered alarms ({len(rows)})",
    )
    return [kv, table, Status(worst(levels), f"{len(rows)} triggered alarms", title="alarms")]


def _names(s: Session, alarms: list[Any]) -> dict[str, str]:
    """Alarm and entity names for the triggered alarms, in one read."""
    from pyVmomi import vim, vmodl

    pc: Any = vmodl.query.PropertyCollector
    refs = {str(r._moId): r for a in alarms for r in (a.alarm, a.entity)}
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=r) for r in refs.values()],
        propSet=[
            pc.PropertySpec(type=vim.alarm.Alarm, pathSet=["info.name"]),
            pc.PropertySpec(type=vim.ManagedEntity, pathSet=["name"]),
        ],
    )
    out: dict[str, str] = {}
    for obj in s.content.propertyCollector.RetrieveContents([spec]) or []:
        for p in obj.propSet or []:
            out[str(obj.obj._moId)] = str(p.val)
    return out
