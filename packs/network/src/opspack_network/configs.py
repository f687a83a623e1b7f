"""Configs: ``net backup`` (keep running configs), ``net diff`` (compare), ``net config`` (change).

A change is meant to go: ``net backup sw1`` → ``net config sw1 ...`` → ``net diff sw1``
(running now against the last backup), the way network teams check a change.
"""

from __future__ import annotations

from typing import Any

from opspack import Context, Diff, Result, Status, Table, UsageError, command

from opspack_network.inventory import SETTINGS as INVENTORY_SETTINGS
from opspack_network.inventory import SSH_SETTINGS, load

_BACKUP_SETTINGS = [*INVENTORY_SETTINGS, *SSH_SETTINGS, "workers", "device_timeout", "backup_dir", "backup_git"]
#: a backup reply shows at most this many diffs (the table lists every device)
_MAX_DIFFS = 10


def _timeout(ctx: Context) -> float:
    return float(ctx.settings["device_timeout"])


def _running(session: Any) -> str:
    from opspack_network.platforms import commands

    return str(session.run(commands(session.device.platform).running))


@command(
    group="config",
    verb="backup",
    words=["net", "backup"],
    examples=["net backup sw1", "net backup all"],
    mutating=True,
    idempotent=True,
    timeout=900,
    settings=_BACKUP_SETTINGS,
)
def backup(ctx: Context, target: str, *, workers: int | None = None) -> list[Result]:
    """Save the running configs of a device or a group, and show what changed since the last backup.

    Each device's config is saved as soon as it is read, with a progress line
    ("backed up sw3 (3 of 10)"); the git commit (backup_git) comes once all are done.

    Args:
        target: a device, a group, or all
        workers: at most this many devices at once (default: the pack's workers setting)
    """
    from opspack_network.backups import Saved, Store
    from opspack_network.session import Outcome, fan_out

    store = Store(str(ctx.settings["backup_dir"]), bool(ctx.settings["backup_git"]))
    devices = load(ctx).select(target)
    w = int(workers if workers is not None else ctx.settings["workers"])
    if w < 1:
        raise UsageError("workers: give at least 1")
    saved: dict[str, Saved] = {}

    def finished(o: Outcome, count: int) -> None:
        if o.error is None:
            saved.update((s.device, s) for s in store.save({o.device.name: o.value}))
            line = f"backed up {o.device.name} ({count} of {len(devices)})"
        else:
            line = f"{o.device.name} failed ({count} of {len(devices)}): {o.error.message}"
        ctx.progress(line, percent=round(100.0 * count / len(devices), 1))

    outcomes = fan_out(ctx, devices, _running, workers=w, timeout=_timeout(ctx), on_done=finished)
    saved = {o.device.name: saved[o.device.name] for o in outcomes if o.device.name in saved}  # inventory order
    changed = [s for s in saved.values() if s.state != "unchanged"]
    commit = store.commit(
        f"net backup {target}: {len(changed)} changed of {len(saved)}\n\n"
        + "\n".join(f"{s.device}: {s.state}" for s in changed)
    )
    rows: list[list[Any]] = []
    levels: list[Any] = []
    for o in outcomes:
        s = saved.get(o.device.name)
        if s is None:
            rows.append([o.device.name, "failed", None, None, o.error.message if o.error else ""])
            levels.append("critical")
            continue
        added, removed = _counts(s.before, s.after)
        rows.append([s.device, s.state, added, removed, s.path.name])
        levels.append("warning" if s.state == "changed" else "ok")
    failed = len(outcomes) - len(saved)
    where = f"{store.folder}" + (f" (git commit {commit})" if commit else "")
    results: list[Result] = [
        Table(
            columns=["device", "backup", "lines added", "lines removed", "file / error"],
            rows=rows,
            row_status=levels,
            title=f"backup of {target} to {where}: {len(changed)} changed, {failed} failed",
            total=len(rows),
        )
    ]
    for s in [s for s in changed if s.state == "changed"][:_MAX_DIFFS]:
        results.append(
            Diff(
                before=s.before,
                after=s.after,
                title=f"{s.device}: changed since the last backup",
                before_label=f"{s.device} last backup",
                after_label=f"{s.device} running-config",
            )
        )
    return results


def _counts(before: str, after: str) -> tuple[int, int]:
    import difflib

    added = removed = 0
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


@command(
    group="config",
    verb="diff",
    words=["net", "diff"],
    examples=["net diff sw1", "net diff sw1 --against startup", "net diff sw1 --against sw1-before.cfg"],
    timeout=120,
    settings=_BACKUP_SETTINGS,
)
def diff(ctx: Context, device: str, *, against: str = "last") -> list[Result]:
    """Compare a device's running config with its last backup, its startup config, or a saved file.

    Args:
        device: the device's name in the inventory
        against: last (the last backup), startup (the startup config) or a file name in the backup folder
    """
    from opspack_network.backups import Store, normalise
    from opspack_network.platforms import commands
    from opspack_network.session import Session, run_one

    dev = load(ctx).device(device)
    cmds = commands(dev.platform)
    store = Store(str(ctx.settings["backup_dir"]), bool(ctx.settings["backup_git"]))
    before_label = ""
    before: str | None = None
    if against == "last":
        before = store.last(dev.name)
        if before is None:
            raise UsageError(f"{dev.name} has no backup yet", f"Run net backup {dev.name} first.")
        before_label = f"{dev.name} last backup"
    elif against == "startup":
        if cmds.startup is None:
            raise UsageError(f"platform {dev.platform} has no startup config to compare with")
        before_label = f"{dev.name} startup-config"
    else:
        text, path = store.file(against)
        before = normalise(text)
        before_label = path.name

    def use(session: Session) -> tuple[str, str | None]:
        running = session.run(cmds.running)
        startup = session.run(cmds.startup) if against == "startup" and cmds.startup else None
        return running, startup

    running, startup = run_one(ctx, dev, _timeout(ctx), use)
    if startup is not None:
        before = normalise(startup)
    after = normalise(running)
    result = Diff(
        before=before or "",
        after=after,
        title=f"{dev.name}: running-config against {against}",
        before_label=before_label,
        after_label=f"{dev.name} running-config",
    )
    if not result.changed:
        return [Status("ok", f"{dev.name}: no differences between {before_label} and the running config"), result]
    added, removed = _counts(result.before, result.after)
    return [Status("warning", f"{dev.name}: {added} lines added, {removed} removed against {before_label}"), result]


def _config_lines(lines: list[str]) -> list[str]:
    config = [line.rstrip() for item in lines for line in item.splitlines() if line.strip()]
    if not config:
        raise UsageError("lines: give at least one configuration line")
    return config


def _check_push(ctx: Context, device: str, lines: list[str], save: bool = False) -> None:
    """Before the confirmation: the device exists (and is one device), and there are lines."""
    _config_lines(lines)
    load(ctx).device(device)


@command(
    group="config",
    verb="push",
    words=["net", "config"],
    examples=['net config sw1 "interface FastEthernet0/1" "description uplink to core"'],
    destructive=True,
    permission="network.config.change",
    timeout=180,
    settings=[*INVENTORY_SETTINGS, *SSH_SETTINGS, "device_timeout"],
    check=_check_push,
)
def push(ctx: Context, device: str, lines: list[str], *, save: bool = False) -> list[Result]:
    """Apply configuration lines to one device, then show the running config's diff.

    Each argument is one line (quote lines with spaces), entered in configuration mode
    in order. Asks for confirmation, and needs its own permission.

    Args:
        device: the device's name in the inventory
        lines: the configuration lines, one per argument, e.g. "interface Fa0/1" "shutdown"
        save: also save the running config as the startup config (write memory)
    """
    from opspack_network.backups import normalise
    from opspack_network.platforms import commands
    from opspack_network.session import Session, run_one

    config = _config_lines(lines)
    dev = load(ctx).device(device)
    running_cmd = commands(dev.platform).running

    def use(session: Session) -> tuple[str, str, str]:
        before = session.run(running_cmd)
        echo = session.configure(config)
        if save:
            session.save()
        return before, session.run(running_cmd), echo

    before, after, echo = run_one(ctx, dev, _timeout(ctx), use)
    errors = [line.strip() for line in echo.splitlines() if line.strip().startswith(("%", "Invalid", "ERROR"))]
    result = Diff(
        before=normalise(before),
        after=normalise(after),
        title=f"{dev.name}: running-config before and after",
        before_label=f"{dev.name} before",
        after_label=f"{dev.name} after",
    )
    if errors:
        status = Status("critical", f"{dev.name} rejected lines: {'; '.join(errors[:5])}")
    elif not result.changed:
        status = Status("warning", f"{dev.name}: {len(config)} lines applied; the running config did not change")
    else:
        saved = " and saved to startup" if save else " (not saved; add --save to write memory)"
        status = Status("ok", f"{dev.name}: {len(config)} lines applied{saved}")
    return [status, result]
