"""``vm snapshot list|create|revert|remove``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opspack import Ambiguous, Context, NotFound, Status, Table, UsageError, command

if TYPE_CHECKING:
    from opspack_vmware._vmdetail import SnapshotRow
    from opspack_vmware._vsphere import Obj, Session


def _vm_and_snapshots(s: Session, query: str) -> tuple[Obj, list[SnapshotRow]]:
    from opspack_vmware import _vmdetail
    from opspack_vmware import _vsphere as v

    found, _ = v.resolve(s, "VirtualMachine", query, "VM")
    vm = s.retrieve_objects([found.ref], {"VirtualMachine": ["name", "snapshot"]})["VirtualMachine"][0]
    return found, _vmdetail.snapshot_rows(vm.get("snapshot"))


def _one(vm: Obj, rows: list[SnapshotRow], name: str) -> SnapshotRow:
    found = [r for r in rows if r.name == name] or [r for r in rows if r.name.lower() == name.lower()]
    if len(found) == 1:
        return found[0]
    if found:
        raise Ambiguous(
            f"VM {vm.name} snapshot", name, [f"{r.name} (created {r.created}, parent {r.parent or '-'})" for r in found]
        )
    if not rows:
        raise NotFound(f"VM {vm.name} has no snapshots", f"Create one: vm snapshot create {vm.name} <name>")
    raise NotFound.with_matches(f"VM {vm.name} snapshot", name, [r.name for r in rows])


@command(group="snapshot", verb="list", words=["vm", "snapshot", "list"], examples=["vm snapshot list web01"])
def list_(ctx: Context, vm: str) -> Table:
    """List a VM's snapshots as a tree: name, created, power state, description; * marks the current one.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
    """
    from opspack_vmware import _vsphere

    def use(s: Session) -> Table:
        found, rows = _vm_and_snapshots(s, vm)
        return Table(
            columns=["name", "current", "created", "state", "parent", "description"],
            rows=[
                ["  " * r.depth + r.name, "*" if r.current else "", r.created, r.state, r.parent, r.description]
                for r in rows
            ],
            title=f"Snapshots of VM {found.name} ({len(rows)})",
        )

    return _vsphere.run(ctx, use)


@command(
    group="snapshot",
    verb="create",
    words=["vm", "snapshot", "create"],
    mutating=True,
    examples=["vm snapshot create web01 before-upgrade", "vm snapshot create web01 pre-patch --memory"],
    timeout=300,
)
def create(
    ctx: Context,
    vm: str,
    name: str | None = None,
    *,
    description: str = "",
    memory: bool = False,
    quiesce: bool = False,
) -> Status:
    """Take a snapshot of a VM and wait for the vSphere task.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
        name: the snapshot's name (default: opspack-<date>-<time> in UTC)
        description: a description stored with the snapshot
        memory: include the VM's memory (a powered-on VM then resumes where it was)
        quiesce: quiesce the guest file systems first (needs VMware Tools)
    """
    import datetime as dt

    from opspack_vmware import _vsphere as v

    snap_name = name or "opspack-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")

    def use(s: Session) -> Status:
        found, _ = v.resolve(s, "VirtualMachine", vm, "VM")
        done = v.run_task(
            s,
            lambda: found.ref.CreateSnapshot_Task(snap_name, description, memory, quiesce),
            f"snapshot of VM {found.name}",
        )
        return Status(
            "ok",
            f"VM {found.name}: snapshot '{snap_name}' created (task {done.task_id}, {done.seconds:.1f} s)",
            title=f"vm snapshot create {found.name}",
        )

    return v.run(ctx, use)


def _current_or_named(vm: Obj, rows: list[SnapshotRow], name: str | None) -> SnapshotRow:
    if name is not None:
        return _one(vm, rows, name)
    current = next((r for r in rows if r.current), None)
    if current is None:
        raise NotFound(f"VM {vm.name} has no current snapshot to revert to")
    return current


def _check_revert(ctx: Context, vm: str, name: str | None = None) -> None:
    """Before the confirmation: the VM and the snapshot exist."""
    from opspack_vmware import _vsphere as v

    def use(s: Session) -> None:
        found, rows = _vm_and_snapshots(s, vm)
        _current_or_named(found, rows, name)

    v.run(ctx, use)


def _check_remove(ctx: Context, vm: str, name: str | None = None, children: bool = False) -> None:
    """Before the confirmation: a snapshot name is given, and the VM has that snapshot."""
    from opspack_vmware import _vsphere as v

    _name_required(vm, name)

    def use(s: Session) -> None:
        found, rows = _vm_and_snapshots(s, vm)
        _one(found, rows, str(name))

    v.run(ctx, use)


def _name_required(vm: str, name: str | None) -> None:
    if not name:
        raise UsageError(
            "vm snapshot remove needs the snapshot's name",
            f"See them with `vm snapshot list {vm}`, then `vm snapshot remove {vm} <name>`.",
        )


@command(
    group="snapshot",
    verb="revert",
    words=["vm", "snapshot", "revert"],
    destructive=True,
    examples=["vm snapshot revert web01 before-upgrade", "vm snapshot revert web01"],
    timeout=300,
    check=_check_revert,
)
def revert(ctx: Context, vm: str, name: str | None = None) -> Status:
    """Revert a VM to a snapshot (default: its current one); changes since then are lost.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
        name: the snapshot to revert to (default: the current snapshot)
    """
    from opspack_vmware import _vsphere as v

    def use(s: Session) -> Status:
        found, rows = _vm_and_snapshots(s, vm)
        target = _current_or_named(found, rows, name)
        done = v.run_task(s, lambda: target.ref.RevertToSnapshot_Task(), f"revert of VM {found.name}")
        return Status(
            "ok",
            f"VM {found.name} reverted to snapshot '{target.name}' (task {done.task_id}, {done.seconds:.1f} s)",
            title=f"vm snapshot revert {found.name}",
        )

    return v.run(ctx, use)


@command(
    group="snapshot",
    verb="remove",
    words=["vm", "snapshot", "remove"],
    destructive=True,
    examples=["vm snapshot remove web01 before-upgrade", "vm snapshot remove web01 old --children"],
    timeout=600,
    check=_check_remove,
)
def remove(ctx: Context, vm: str, name: str | None = None, *, children: bool = False) -> Status:
    """Delete a VM's snapshot (its changes are merged into the disks).

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
        name: the snapshot to delete (required; see `vm snapshot list`)
        children: delete the snapshot's children too
    """
    from opspack_vmware import _vsphere as v

    _name_required(vm, name)

    def use(s: Session) -> Status:
        found, rows = _vm_and_snapshots(s, vm)
        target = _one(found, rows, str(name))
        done = v.run_task(s, lambda: target.ref.RemoveSnapshot_Task(children), f"removal of snapshot '{target.name}'")
        what = "and its children " if children else ""
        return Status(
            "ok",
            f"VM {found.name}: snapshot '{target.name}' {what}removed (task {done.task_id}, {done.seconds:.1f} s)",
            title=f"vm snapshot remove {found.name}",
        )

    return v.run(ctx, use)
