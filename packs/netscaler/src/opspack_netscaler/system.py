"""``ns backup``, ``ns restore``, ``ns save`` and ``ns config diff``: the change-window commands."""

from __future__ import annotations

import base64
import io
import tarfile
import time
from typing import TYPE_CHECKING, Any, Literal

from opspack import BackendError, Context, Diff, NotFound, Result, Status, Table, UsageError, command

from opspack_netscaler import states
from opspack_netscaler.connection import nitro

if TYPE_CHECKING:
    from opspack_netscaler.client import NitroClient

#: where the ADC keeps system backups (``create system backup`` writes here)
BACKUP_DIR = "/var/ns_sys_backup"

BACKUP_COLUMNS = ["filename", "level", "created", "size_kb", "version", "created_by", "comment"]


def _no_backup(filename: str, names: list[str], *, saved: bool = False) -> NotFound:
    """``NotFound`` for a backup name, naming close matches or else what there is."""
    choices = ["saved", *names] if saved else names
    error = NotFound.with_matches("backup", filename, choices)
    if error.hint is None:
        error.hint = (
            f"Backups on the ADC: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}."
            if names
            else "The ADC keeps no backups yet; create one with `ns backup`."
        )
        if saved:
            error.hint += " Or compare against `saved`."
    return error


def _backup_rows(backups: list[dict[str, Any]]) -> list[list[Any]]:
    def key(b: dict[str, Any]) -> float:
        try:
            return time.mktime(time.strptime(str(b.get("creationtime", "")), "%a %b %d %H:%M:%S %Y"))
        except ValueError:
            return 0.0

    return [
        [
            b.get("filename"),
            b.get("level"),
            b.get("creationtime"),
            states.to_int(b.get("size")),
            b.get("version"),
            b.get("createdby"),
            b.get("comment") or "",
        ]
        for b in sorted(backups, key=key, reverse=True)
    ]


@command(
    group="backup",
    verb="create",
    words=["ns", "backup"],
    mutating=True,
    idempotent=False,
    timeout=600,
    examples=["ns backup", "ns backup --level full --comment 'before CHG-1234'"],
    results=["status", "table"],
)
def backup(
    ctx: Context,
    *,
    level: Literal["basic", "full"] = "basic",
    comment: str | None = None,
) -> list[Result]:
    """Create a system backup on the ADC, then list the backups it keeps.

    A backup holds the saved configuration (ns.conf) and, at level full, certificates
    and other files too: run `ns save` first if the running configuration has changes.

    Args:
        level: basic (configuration files) or full (also certificates, custom files)
        comment: a note stored with the backup (a change ticket, say)
    """
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
    filename = f"opspack_{stamp}"
    payload: dict[str, Any] = {"filename": filename, "level": level}
    payload["comment"] = comment or f"opspack backup by {ctx.user}"

    def run(c: NitroClient) -> list[dict[str, Any]]:
        c.action("systembackup", "create", payload)
        return c.get("systembackup")

    backups = nitro(ctx, run)
    created = f"{filename}.tgz"
    if not any(b.get("filename") == created for b in backups):
        raise BackendError(
            f"The ADC accepted the backup request but {created} is not in its backup list.",
            f"Check free space in {BACKUP_DIR} on the ADC (`shell df -h /var`), then retry.",
        )
    table = Table(columns=BACKUP_COLUMNS, rows=_backup_rows(backups), title="System backups on the ADC")
    return [Status("ok", f"Created {level} backup {created}"), table]


def _backup_file(backup: str) -> str:
    return backup if backup.endswith(".tgz") else f"{backup}.tgz"


def _check_restore(ctx: Context, backup: str, skip_backup: bool = False) -> None:
    """Before the confirmation: the ADC has that backup."""
    filename = _backup_file(backup)

    def run(c: NitroClient) -> None:
        names = [str(b.get("filename")) for b in c.get("systembackup")]
        if filename not in names:
            raise _no_backup(filename, names)

    nitro(ctx, run)


@command(
    group="system",
    verb="restore",
    words=["ns", "restore"],
    destructive=True,
    permission="netscaler.restore",
    timeout=600,
    examples=["ns restore opspack_20240101_120000.tgz"],
    results=["status"],
    check=_check_restore,
)
def restore(ctx: Context, backup: str, *, skip_backup: bool = False) -> list[Result]:
    """Restore the ADC's configuration from one of its system backups.

    The ADC first takes a backup of its current state (unless --skip-backup); the
    restored configuration takes effect after a reboot of the appliance.

    Args:
        backup: the backup file's name (as `ns backup` lists it; .tgz may be left off)
        skip_backup: do not take a backup of the current state before restoring
    """
    filename = _backup_file(backup)

    def run(c: NitroClient) -> None:
        names = [str(b.get("filename")) for b in c.get("systembackup")]
        if filename not in names:
            raise _no_backup(filename, names)
        payload: dict[str, Any] = {"filename": filename}
        if skip_backup:
            payload["skipbackup"] = True
        c.action("systembackup", "restore", payload)

    nitro(ctx, run)
    return [
        Status(
            "warning",
            f"Restored {filename}. Reboot the ADC (`reboot -warm`) for the restored configuration to take effect; "
            "on an HA pair, restore the peer too or force a sync afterwards.",
        )
    ]


@command(
    group="config",
    verb="save",
    words=["ns", "save"],
    mutating=True,
    idempotent=True,
    timeout=300,
    examples=["ns save"],
    results=["status"],
)
def save(ctx: Context) -> list[Result]:
    """Save the running configuration (it survives a reboot; `ns config diff` shows no change after)."""
    nitro(ctx, lambda c: c.action("nsconfig", "save", {}))
    return [Status("ok", "Running configuration saved to ns.conf")]


def _config_text(records: list[dict[str, Any]], field: str) -> str:
    if not records:
        return ""
    return str(records[0].get(field) or "")


def _comparable(text: str) -> str:
    """The configuration without comment lines (build banner, `# Last modified` stamps)."""
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line and not line.lstrip().startswith("#")) + "\n"


def _ns_conf_from_backup(data: bytes, filename: str) -> str:
    """The saved ns.conf inside a system backup archive (``nsconfig/ns.conf``)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar.getmembers():
                parts = member.name.lstrip("./").split("/")
                if member.isfile() and parts[-1] == "ns.conf" and "nsconfig" in parts:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return handle.read().decode("utf-8", errors="replace")
    except tarfile.TarError as exc:
        raise BackendError(f"Backup {filename} is not a readable archive: {exc}.") from None
    raise BackendError(
        f"Backup {filename} holds no nsconfig/ns.conf.", "Compare against another backup, or against saved."
    )


@command(
    group="config",
    verb="diff",
    words=["ns", "config", "diff"],
    timeout=300,
    examples=["ns config diff", "ns config diff --against opspack_20240101_120000.tgz"],
    results=["diff", "status"],
)
def diff(ctx: Context, *, against: str = "saved") -> list[Result]:
    """Compare the running configuration with the saved one, or with a system backup.

    Run it before and after a change window: lines only in the running configuration
    are what changed since the last save (or since the backup). Comment lines are ignored.

    Args:
        against: `saved` (the last saved ns.conf), or the name of a backup `ns backup` lists
    """
    if not against.strip():
        raise UsageError("against: got an empty value, expected `saved` or a backup's file name")

    def run(c: NitroClient) -> tuple[str, str, str]:
        running = _config_text(c.get("nsrunningconfig"), "response")
        if against == "saved":
            return _config_text(c.get("nssavedconfig"), "textblob"), running, "saved"
        filename = against if against.endswith(".tgz") else f"{against}.tgz"
        names = [str(b.get("filename")) for b in c.get("systembackup")]
        if filename not in names:
            raise _no_backup(filename, names, saved=True)
        files = c.get("systemfile", args={"filename": filename, "filelocation": BACKUP_DIR})
        if not files:
            raise BackendError(f"The ADC did not return {BACKUP_DIR}/{filename}.")
        content = base64.b64decode(str(files[0].get("filecontent") or ""))
        return _ns_conf_from_backup(content, filename), running, f"backup {filename}"

    before, after, label = nitro(ctx, run)
    before_c, after_c = _comparable(before), _comparable(after)
    result = Diff(
        before=before_c, after=after_c, title=f"running vs {label}", before_label=label, after_label="running"
    )
    if not result.changed:
        return [result, Status("ok", f"The running configuration matches {label}.")]
    added = removed = 0
    for line in result.unified.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    hint = " Run `ns save` to keep them." if label == "saved" else ""
    return [
        result,
        Status(
            "warning",
            f"The running configuration differs from {label}: {added} line(s) added, {removed} removed.{hint}",
        ),
    ]
