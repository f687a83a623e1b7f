"""``net hostkeys`` and ``net hostkey forget``: the devices' SSH host keys on record.

The record is the pack's known_hosts file (:mod:`opspack_network.hostkeys`). Listing
reads it without contacting any device; ``--check`` also asks each device for the key it
shows now (an SSH key exchange that stops before authentication: no password is sent)
and compares. ``forget`` removes a device's record after a legitimate replacement, so
that its next connection learns the new key (in accept-new mode).

paramiko is imported inside the functions: listing commands never imports it.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

from opspack import Context, Result, Status, Table, UsageError, command

from opspack_network.inventory import SETTINGS as INVENTORY_SETTINGS
from opspack_network.inventory import SSH_SETTINGS, Device, load


@command(
    group="hostkey",
    verb="list",
    words=["net", "hostkeys"],
    examples=["net hostkeys", "net hostkeys core --check"],
    timeout=300,
    settings=[*INVENTORY_SETTINGS, *SSH_SETTINGS, "workers", "device_timeout"],
)
def hostkeys(ctx: Context, target: str = "all", *, check: bool = False) -> list[Result]:
    """List the SSH host keys on record for devices: key type and SHA256 fingerprint.

    Reads the pack's known_hosts file without contacting any device. With --check, each
    device is also asked for the key it shows now (no login, no password sent) and the
    row says whether it matches the record, is new, or has changed.

    Args:
        target: a device, a group, or all
        check: also fetch each device's current key and compare it with the record
    """
    from opspack_network import hostkeys as hk

    keys = hk.for_settings(ctx.settings)
    devices = load(ctx).select(target)
    recorded = {d.name: keys.records(hk.entry_name(d.host, d.port)) for d in devices}
    current: dict[str, Any] = {}
    if check:
        workers = max(1, min(int(ctx.settings["workers"]), len(devices)))
        timeout = float(ctx.settings["device_timeout"])
        current = _fetch_all(devices, workers, timeout)

    rows: list[list[Any]] = []
    levels: list[Any] = []
    for d in devices:
        known = recorded[d.name]
        on_record = ", ".join(f"{kind} {hk.fingerprint(key)}" for kind, key in sorted(known.items()))
        if not check:
            rows.append([d.name, hk.entry_name(d.host, d.port), on_record or "(not yet seen)"])
            levels.append("ok" if known else "warning")
            continue
        seen = current[d.name]
        if isinstance(seen, Exception):
            from opspack_network.errors import as_error

            state, level, now = "unreachable", "critical", as_error(seen).message
        else:
            now = f"{seen.get_name()} {hk.fingerprint(seen)}"
            if not known:
                state, level = "new", "warning"
            elif known.get(seen.get_name()) == seen:
                state, level = "matches", "ok"
            else:
                state, level = "changed", "critical"
        rows.append([d.name, hk.entry_name(d.host, d.port), on_record or "(not yet seen)", now, state])
        levels.append(level)

    columns = ["device", "known_hosts name", "on record"] + (["shown now", "state"] if check else [])
    table = Table(
        columns=columns,
        rows=rows,
        row_status=levels,
        title=f"host keys of {target} ({keys.path}, host_keys={keys.mode})",
        total=len(rows),
    )
    if not check:
        return [table]
    changed = [r[0] for r in rows if r[4] == "changed"]
    if changed:
        summary = Status(
            "critical",
            f"{len(changed)} devices show a key that differs from the record: {', '.join(changed)}",
            title="host keys",
        )
    else:
        summary = Status("ok", f"no device of {target} shows a key that differs from the record", title="host keys")
    return [summary, table]


def _fetch_all(devices: list[Device], workers: int, timeout: float) -> dict[str, Any]:
    """Each device's current key (or the exception that prevented fetching it)."""
    from opspack_network import hostkeys as hk

    def one(d: Device) -> Any:
        try:
            return hk.fetch_key(d.host, d.port, timeout)
        except Exception as exc:  # noqa: BLE001 - a device that fails is a row with its error
            return exc

    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="opspack-net-keys") as pool:
        return dict(zip([d.name for d in devices], pool.map(one, devices), strict=True))


def _record_of(ctx: Context, device: str) -> tuple[Any, str]:
    """The host key store and the known_hosts name of one device; a usage error without a record."""
    from opspack_network import hostkeys as hk

    keys = hk.for_settings(ctx.settings)
    dev = load(ctx).device(device)
    name = hk.entry_name(dev.host, dev.port)
    if not keys.records(name):
        raise UsageError(f"{device} has no host key on record ({name} in {keys.path})", "Nothing to forget.")
    return keys, name


def _check_forget(ctx: Context, device: str) -> None:
    """Before the confirmation: the device exists and has a record to forget."""
    _record_of(ctx, device)


@command(
    group="hostkey",
    verb="forget",
    words=["net", "hostkey", "forget"],
    examples=["net hostkey forget sw1"],
    destructive=True,
    idempotent=True,
    permission="network.hostkey.forget",
    settings=[*INVENTORY_SETTINGS, *SSH_SETTINGS],
    check=_check_forget,
)
def forget(ctx: Context, device: str) -> Status:
    """Remove a device's SSH host key from the record, after the device was replaced or re-keyed.

    Its next connection learns the key it shows then (when host_keys is accept-new), so
    check `net hostkeys <device> --check` with the device's owner first. Asks for
    confirmation, and needs its own permission.

    Args:
        device: the device's name in the inventory
    """
    keys, name = _record_of(ctx, device)
    removed = keys.forget(name)
    if not removed:  # forgotten meanwhile
        raise UsageError(f"{device} has no host key on record ({name} in {keys.path})", "Nothing to forget.")
    after = (
        "its next connection learns the key it shows"
        if keys.mode == "accept-new"
        else (f"add its new key before the next connection (host_keys is {keys.mode})")
    )
    return Status("ok", f"{device}: {removed} host key line(s) removed from {keys.path}; {after}", title="host key")
