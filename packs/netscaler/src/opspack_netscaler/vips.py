"""``ns vips`` and ``ns vip``: load-balancing virtual servers and what is bound to them."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Literal

from opspack import KV, Context, NotFound, Result, Status, Table, Text, command, worst
from opspack.results import Level

from opspack_netscaler import states
from opspack_netscaler.connection import nitro

if TYPE_CHECKING:
    from opspack_netscaler.client import NitroClient

VIP_ATTRS = [
    "name",
    "ipv46",
    "port",
    "servicetype",
    "curstate",
    "effectivestate",
    "health",
    "activeservices",
    "totalservices",
    "lbmethod",
    "persistencetype",
]


@command(
    group="vip",
    verb="list",
    words=["ns", "vips"],
    examples=["ns vips", "ns vips --name 'web*'", "ns vips --state down"],
    results=["table", "status", "text"],
)
def vips(
    ctx: Context,
    *,
    name: str | None = None,
    state: Literal["up", "down"] | None = None,
) -> list[Result]:
    """List load-balancing virtual servers with IP, port, protocol, state, health and active services.

    Each row has a status: ok when UP with every service up, warning when UP on part of
    its services or taken out of service, critical when DOWN.

    Args:
        name: only virtual servers whose name matches this glob (case-insensitive, e.g. 'web*')
        state: only virtual servers that are up, or that are not up
    """
    records = nitro(ctx, lambda c: c.get("lbvserver", attrs=VIP_ATTRS))
    total = len(records)
    if name:
        pattern = name.lower()
        records = [r for r in records if fnmatch.fnmatchcase(str(r.get("name", "")).lower(), pattern)]
    if state is not None:
        records = [r for r in records if (str(r.get("curstate", "")).upper() == "UP") == (state == "up")]
    records.sort(key=lambda r: str(r.get("name", "")).lower())
    if not records:
        what = " ".join(p for p in (f"named {name}" if name else "", state or "") if p)
        return [Text(f"No load-balancing virtual servers {what} (of {total}).".replace("  ", " "))]
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for r in records:
        active, total_svc = states.to_int(r.get("activeservices")), states.to_int(r.get("totalservices"))
        health = states.to_int(r.get("health"))
        rows.append(
            [
                r.get("name"),
                r.get("ipv46"),
                states.to_int(r.get("port")),
                r.get("servicetype"),
                r.get("curstate"),
                health,
                f"{active}/{total_svc}",
            ]
        )
        levels.append(states.vip_level(r))
    table = Table(
        columns=["name", "ip", "port", "protocol", "state", "health_pct", "active_services"],
        rows=rows,
        row_status=levels,
        title="Load-balancing virtual servers",
        total=total if len(records) != total else None,
    )
    up = sum(1 for r in records if str(r.get("curstate", "")).upper() == "UP")
    message = f"{up} of {len(records)} virtual servers up"
    if any(lv == "warning" for lv in levels) and up:
        message += f"; {sum(1 for lv in levels if lv == 'warning')} need attention"
    return [table, Status(worst(levels), message)]


@command(
    group="vip",
    verb="show",
    words=["ns", "vip"],
    examples=["ns vip vs_web_https"],
    results=["kv", "table", "text"],
)
def vip(ctx: Context, name: str) -> list[Result]:
    """Show one virtual server: method, persistence, hits, and its services and service group members.

    Args:
        name: the load-balancing virtual server's name
    """

    def read(c: NitroClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[dict[str, Any]]], int | None]:
        found = c.get("lbvserver", filter={"name": name})
        if not found:
            names = [str(r.get("name")) for r in c.get("lbvserver", attrs=["name"])]
            raise NotFound.with_matches("virtual server", name, names)
        bindings = c.get("lbvserver_binding", name)
        binding = bindings[0] if bindings else {}
        members: dict[str, list[dict[str, Any]]] = {}
        for sg in binding.get("lbvserver_servicegroup_binding", []) or []:
            group = str(sg.get("servicegroupname"))
            members[group] = c.get("servicegroup_servicegroupmember_binding", group)
        stats = c.get("lbvserver", name, stat=True)
        hits = states.to_int(stats[0].get("tothits")) if stats else None
        return found[0], binding, members, hits

    vs, binding, members, hits = nitro(ctx, read)
    info = KV(
        {
            "name": vs.get("name"),
            "address": f"{vs.get('ipv46')}:{states.to_int(vs.get('port'))}",
            "protocol": vs.get("servicetype"),
            "state": vs.get("curstate"),
            "effective state": vs.get("effectivestate") or vs.get("curstate"),
            "health": f"{states.to_int(vs.get('health'))}%",
            "active services": f"{states.to_int(vs.get('activeservices'))}/{states.to_int(vs.get('totalservices'))}",
            "method": vs.get("lbmethod"),
            "persistence": vs.get("persistencetype"),
            "hits": hits,
        },
        title=f"Virtual server {vs.get('name')}",
    )
    rows: list[list[Any]] = []
    levels: list[Level] = []
    for svc in binding.get("lbvserver_service_binding", []) or []:
        rows.append(
            [
                "service",
                svc.get("servicename"),
                svc.get("servicename"),
                f"{svc.get('ipv46')}:{states.to_int(svc.get('port'))}",
                svc.get("curstate"),
                states.to_int(svc.get("weight")),
            ]
        )
        levels.append(states.member_level(svc.get("curstate")))
    for group, group_members in members.items():
        if not group_members:
            rows.append(["servicegroup", group, "(no members)", "", "", None])
            levels.append("warning")
        for m in group_members:
            rows.append(
                [
                    "servicegroup",
                    group,
                    m.get("servername"),
                    f"{m.get('ip')}:{states.to_int(m.get('port'))}",
                    m.get("svrstate"),
                    states.to_int(m.get("weight")),
                ]
            )
            levels.append(states.member_level(m.get("svrstate")))
    out: list[Result] = [info]
    if rows:
        out.append(
            Table(
                columns=["type", "name", "server", "address", "state", "weight"],
                rows=rows,
                row_status=levels,
                title=f"Bound to {vs.get('name')}",
            )
        )
    else:
        out.append(Text(f"Nothing is bound to {vs.get('name')}: it has no services or service groups."))
    return out
