"""Read-only commands: ``net show``, ``net status``, ``net interfaces``, ``net vlans``, ``net arp``.

netmiko is imported inside the functions (through :mod:`opspack_network.session`), so
listing and help never import it.
"""

from __future__ import annotations

from typing import Any

from opspack import KV, Context, Result, Status, Table, Text, UsageError, command

from opspack_network.inventory import SETTINGS as INVENTORY_SETTINGS
from opspack_network.inventory import SSH_SETTINGS, load

_READ_SETTINGS = [*INVENTORY_SETTINGS, *SSH_SETTINGS, "workers", "device_timeout", "allowed_commands"]


def _limits(ctx: Context, workers: int | None, timeout: float | None) -> tuple[int, float]:
    w = int(workers if workers is not None else ctx.settings["workers"])
    t = float(timeout if timeout is not None else ctx.settings["device_timeout"])
    if w < 1 or w > 200:
        raise UsageError(f"workers: {w} is out of range", "Give 1 to 200.")
    if t <= 0:
        raise UsageError(f"timeout: {t:g} must be positive")
    return w, t


def table_of(rows: list[dict[str, Any]], title: str, *, device: str | None = None) -> Table:
    columns = list(rows[0])
    if device is not None:
        return Table(
            columns=["device", *columns],
            rows=[[device, *[r.get(c) for c in columns]] for r in rows],
            title=title,
            total=len(rows),
        )
    return Table.from_records(rows, columns, title=title)


@command(
    group="device",
    verb="show",
    words=["net", "show"],
    examples=['net show sw1 "show version"', "net show core show ip interface brief", "net show all show version"],
    timeout=900,
    settings=_READ_SETTINGS,
)
def show(
    ctx: Context, target: str, command: list[str], *, workers: int | None = None, timeout: float | None = None
) -> list[Result]:
    """Run a show command on a device or a group; parsed into a table when a TextFSM template exists.

    Only read-only commands run: those starting with show or display, and the prefixes
    of the pack's allowed_commands setting. On a group every device is asked at once
    (at most `workers` at a time); a device that fails is a row with its error. Parsed
    rows of all devices share one table; raw output that several devices answered alike
    is shown once, naming them.

    Args:
        target: a device, a group, or all
        command: the command, e.g. show version (quotes optional)
        workers: at most this many devices at once (default: the pack's workers setting)
        timeout: seconds each device may take (default: the pack's device_timeout setting)
    """
    from opspack_network.platforms import check_read_only
    from opspack_network.session import Session, fan_out, parse

    text = " ".join(" ".join(command).split())
    why = check_read_only(text, str(ctx.settings["allowed_commands"]))
    if why:
        raise UsageError(f"command: {why}", "Use net config for changes; ask an admin to extend allowed_commands.")
    inventory = load(ctx)
    devices = inventory.select(target)
    w, t = _limits(ctx, workers, timeout)

    def use(session: Session) -> tuple[str, list[dict[str, Any]] | None]:
        output = session.run(text)
        return output, parse(session.device.platform, text, output)

    if target in inventory.devices:
        from opspack_network.session import run_one

        output, rows = run_one(ctx, devices[0], t, use)
        if rows:
            return [table_of(rows, f"{target}: {text}")]
        return [Text(output.strip("\n") or "(no output)", title=f"{target}: {text}", mono=True)]

    outcomes = fan_out(ctx, devices, use, workers=w, timeout=t)
    summary_rows: list[list[Any]] = []
    levels: list[Any] = []
    tables: dict[tuple[str, ...], Table] = {}
    #: raw output -> the devices that answered exactly that (shown once)
    texts: dict[str, list[str]] = {}
    for o in outcomes:
        if o.error is not None:
            summary_rows.append([o.device.name, o.device.platform, "error", o.error.message, round(o.seconds, 2)])
            levels.append("critical")
            continue
        output, rows = o.value
        if rows:
            key = tuple(rows[0])
            part = table_of(rows, "", device=o.device.name)
            if key in tables:
                tables[key].rows.extend(part.rows)
            else:
                tables[key] = part
            detail = f"{len(rows)} rows"
        else:
            texts.setdefault(output.strip("\n") or "(no output)", []).append(o.device.name)
            detail = f"{len(output.splitlines())} lines"
        summary_rows.append([o.device.name, o.device.platform, "ok", detail, round(o.seconds, 2)])
        levels.append("ok")
    failed = sum(1 for o in outcomes if o.error is not None)
    summary = Table(
        columns=["device", "platform", "outcome", "detail", "seconds"],
        rows=summary_rows,
        row_status=levels,
        title=f"{text} on {target}: {len(outcomes) - failed} answered, {failed} failed",
        total=len(outcomes),
    )
    results: list[Result] = [summary]
    for table in tables.values():
        table.title = f"{text} on {target}"
        table.total = len(table.rows)
        results.append(table)
    for output, names in texts.items():
        results.append(Text(output, title=f"{_names(names)}: {text}", mono=True))
    return results


def _names(names: list[str], shown: int = 5) -> str:
    """``sw1`` / ``sw1, sw2 (same output)`` / ``sw1, ... sw5 and 12 more (same output)``."""
    if len(names) == 1:
        return names[0]
    listed = ", ".join(names[:shown])
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{listed}{more} (same output on {len(names)} devices)"


def _interface_up(row: dict[str, Any]) -> bool | None:
    for key in ("proto", "protocol_status", "protocol", "link_status", "link", "status", "admin"):
        if row.get(key):
            value = str(row[key]).lower()
            return value in ("up", "connected", "up (connected)")
    return None


@command(
    group="device",
    verb="status",
    words=["net", "status"],
    examples=["net status sw1", "net status all"],
    timeout=900,
    settings=_READ_SETTINGS,
)
def status(ctx: Context, target: str, *, workers: int | None = None, timeout: float | None = None) -> list[Result]:
    """Reachability, version, uptime and interfaces up/down of a device or a group, as statuses.

    Args:
        target: a device, a group, or all
        workers: at most this many devices at once (default: the pack's workers setting)
        timeout: seconds each device may take (default: the pack's device_timeout setting)
    """
    from opspack_network.session import fan_out

    inventory = load(ctx)
    devices = inventory.select(target)
    w, t = _limits(ctx, workers, timeout)

    outcomes = fan_out(ctx, devices, _status_of_session, workers=w, timeout=t)
    rows: list[list[Any]] = []
    levels: list[Any] = []
    for o in outcomes:
        if o.error is not None:
            state = {"denied": "login refused", "timeout": "timed out"}.get(o.error.kind, "unreachable")
            rows.append([o.device.name, o.device.platform, state, "", "", None, None, o.error.message])
            levels.append("critical")
            continue
        info = o.value
        rows.append(
            [
                o.device.name,
                o.device.platform,
                "reachable",
                info["version"] or "unknown",
                info["uptime"] or "unknown",
                info["up"],
                info["down"],
                "" if info["up"] is not None else "interfaces not parsed on this platform",
            ]
        )
        levels.append("ok")
    down = [o.device.name for o in outcomes if o.error is not None]
    if len(devices) == 1:
        o = outcomes[0]
        if o.error is not None:
            return [Status("critical", f"{o.device.name} is unreachable: {o.error.message}", title=o.device.name)]
        info = o.value
        ports = f"interfaces {info['up']} up, {info['down']} down" if info["up"] is not None else "interfaces unknown"
        message = (
            f"{o.device.name} reachable; version {info['version'] or 'unknown'}; "
            f"up {info['uptime'] or 'unknown'}; {ports}"
        )
        details = {
            "host": f"{o.device.host}:{o.device.port}",
            "platform": o.device.platform,
            "version": info["version"] or "unknown",
            "hardware": info["hardware"] or "unknown",
            "uptime": info["uptime"] or "unknown",
            "interfaces up": info["up"],
            "interfaces down": info["down"],
        }
        return [Status("ok", message, title=o.device.name), KV(details, title=f"{o.device.name} status")]
    level: Any = "ok" if not down else ("critical" if len(down) == len(devices) else "warning")
    message = (
        f"all {len(devices)} devices reachable"
        if not down
        else f"{len(down)} of {len(devices)} not answering: {', '.join(down[:10])}" + (" ..." if len(down) > 10 else "")
    )
    table = Table(
        columns=["device", "platform", "reachability", "version", "uptime", "up", "down", "note"],
        rows=rows,
        row_status=levels,
        title=f"status of {target}",
        total=len(rows),
    )
    return [Status(level, message, title=f"net status {target}"), table]


def _status_of_session(session: Any) -> dict[str, Any]:
    from opspack_network.platforms import commands
    from opspack_network.session import parse

    platform = session.device.platform
    cmds = commands(platform)
    raw = session.run(cmds.version)
    version = (parse(platform, cmds.version, raw) or [{}])[0]
    info: dict[str, Any] = {
        "version": str(version.get("version") or version.get("software_version") or version.get("os") or ""),
        "uptime": str(version.get("uptime") or ""),
        "hardware": str(version.get("hardware") or version.get("model") or ""),
        "up": None,
        "down": None,
    }
    rows = parse(platform, cmds.interfaces, session.run(cmds.interfaces)) or []
    states = [_interface_up(r) for r in rows]
    if rows and all(s is not None for s in states):
        info["up"] = sum(1 for s in states if s)
        info["down"] = sum(1 for s in states if not s)
    return info


def _one_table(ctx: Context, device: str, what: str) -> list[Result]:
    from opspack_network.platforms import commands
    from opspack_network.session import Session, parse, run_one

    dev = load(ctx).device(device)
    cmd: str | None = getattr(commands(dev.platform), what)
    if cmd is None:
        raise UsageError(f"net {what}: platform {dev.platform} has no such command", "Use net show with its command.")
    _, t = _limits(ctx, None, None)

    def use(session: Session) -> tuple[str, list[dict[str, Any]] | None]:
        output = session.run(cmd)
        return output, parse(dev.platform, cmd, output)

    output, rows = run_one(ctx, dev, t, use)
    if rows:
        return [table_of(rows, f"{device}: {cmd}")]
    note = f"{device}: {cmd} (no TextFSM template for {dev.platform}; raw output)"
    return [Text(output.strip("\n") or "(no output)", title=note, mono=True)]


@command(
    group="device",
    verb="interfaces",
    words=["net", "interfaces"],
    examples=["net interfaces sw1"],
    settings=_READ_SETTINGS,
    timeout=120,
)
def interfaces(ctx: Context, device: str) -> list[Result]:
    """A device's interfaces with their state, as a table.

    Args:
        device: the device's name in the inventory
    """
    return _one_table(ctx, device, "interfaces")


@command(
    group="device",
    verb="vlans",
    words=["net", "vlans"],
    examples=["net vlans sw1"],
    settings=_READ_SETTINGS,
    timeout=120,
)
def vlans(ctx: Context, device: str) -> list[Result]:
    """A device's VLANs and their ports, as a table.

    Args:
        device: the device's name in the inventory
    """
    return _one_table(ctx, device, "vlans")


@command(
    group="device", verb="arp", words=["net", "arp"], examples=["net arp sw1"], settings=_READ_SETTINGS, timeout=120
)
def arp(ctx: Context, device: str) -> list[Result]:
    """A device's ARP table (IP address, MAC address, interface).

    Args:
        device: the device's name in the inventory
    """
    return _one_table(ctx, device, "arp")
