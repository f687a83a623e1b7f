"""``ns member disable|enable``: take a service group member out of (or back into) rotation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opspack import KV, Context, NotFound, Result, Status, UsageError, command

from opspack_netscaler import states
from opspack_netscaler.connection import nitro

if TYPE_CHECKING:
    from opspack_netscaler.client import NitroClient


def _members(c: NitroClient, group: str) -> list[dict[str, Any]]:
    groups = c.get("servicegroup", filter={"servicegroupname": group}, attrs=["servicegroupname"])
    if not groups:
        names = [str(g.get("servicegroupname")) for g in c.get("servicegroup", attrs=["servicegroupname"])]
        raise NotFound.with_matches("service group", group, names)
    return c.get("servicegroup_servicegroupmember_binding", group)


def _find(members: list[dict[str, Any]], group: str, server: str, port: int) -> dict[str, Any]:
    for m in members:
        if str(m.get("servername")) == server and states.to_int(m.get("port")) == port:
            return m
    labels = [f"{m.get('servername')} {states.to_int(m.get('port'))}" for m in members]
    raise NotFound.with_matches(f"member of service group {group}", f"{server} {port}", labels)


def _answer(group: str, member: dict[str, Any], verb: str) -> list[Result]:
    state = str(member.get("svrstate") or "UNKNOWN")
    level = states.member_level(state)
    server, port = member.get("servername"), states.to_int(member.get("port"))
    details = KV(
        {
            "service group": group,
            "server": server,
            "address": f"{member.get('ip')}:{port}",
            "admin state": member.get("state"),
            "state": state,
            "graceful": member.get("graceful"),
            "delay_s": states.to_int(member.get("delay")),
        },
        title=f"{group} / {server} {port}",
    )
    return [details, Status(level, f"{server} {port} in {group} {verb}: now {state}")]


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise UsageError(f"port: got {port}, expected a port number from 1 to 65535")


def _check_disable(
    ctx: Context, servicegroup: str, server: str, port: int, graceful: bool = False, delay: int | None = None
) -> None:
    """Before the confirmation: valid numbers, and the member is bound to the service group."""
    _check_port(port)
    if delay is not None and delay < 0:
        raise UsageError(f"delay: got {delay}, expected seconds (0 or more)")
    nitro(ctx, lambda c: _find(_members(c, servicegroup), servicegroup, server, port))


@command(
    group="member",
    verb="disable",
    words=["ns", "member", "disable"],
    destructive=True,
    idempotent=True,
    examples=["ns member disable sg_web web02 443", "ns member disable sg_web web02 443 --graceful --delay 60"],
    results=["kv", "status"],
    check=_check_disable,
)
def disable(
    ctx: Context,
    servicegroup: str,
    server: str,
    port: int,
    *,
    graceful: bool = False,
    delay: int | None = None,
) -> list[Result]:
    """Take a service group member out of service (it stops getting new connections).

    With --delay the member drains for that many seconds (GOING OUT OF SERVICE) before
    it is OUT OF SERVICE; with --graceful it waits for existing connections to end.

    Args:
        servicegroup: the service group's name
        server: the member's server name (as bound to the service group)
        port: the member's port
        graceful: wait for the member's existing connections to end before shutting it down
        delay: seconds to drain before the member goes out of service
    """
    _check_port(port)
    if delay is not None and delay < 0:
        raise UsageError(f"delay: got {delay}, expected seconds (0 or more)")
    payload: dict[str, Any] = {"servicegroupname": servicegroup, "servername": server, "port": port}
    if delay:
        payload["delay"] = delay
    if graceful:
        payload["graceful"] = "YES"

    def run(c: NitroClient) -> dict[str, Any]:
        _find(_members(c, servicegroup), servicegroup, server, port)
        c.action("servicegroup", "disable", payload)
        return _find(_members(c, servicegroup), servicegroup, server, port)

    return _answer(servicegroup, nitro(ctx, run), "disabled")


@command(
    group="member",
    verb="enable",
    words=["ns", "member", "enable"],
    mutating=True,
    idempotent=True,
    examples=["ns member enable sg_web web02 443"],
    results=["kv", "status"],
)
def enable(ctx: Context, servicegroup: str, server: str, port: int) -> list[Result]:
    """Put a service group member back into service.

    Args:
        servicegroup: the service group's name
        server: the member's server name (as bound to the service group)
        port: the member's port
    """
    _check_port(port)
    payload = {"servicegroupname": servicegroup, "servername": server, "port": port}

    def run(c: NitroClient) -> dict[str, Any]:
        _find(_members(c, servicegroup), servicegroup, server, port)
        c.action("servicegroup", "enable", payload)
        return _find(_members(c, servicegroup), servicegroup, server, port)

    return _answer(servicegroup, nitro(ctx, run), "enabled")
