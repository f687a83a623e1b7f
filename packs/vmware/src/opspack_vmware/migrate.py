"""``vm migrate``: move a VM to another host (vMotion), and its files to another datastore
when asked, following the vSphere task (RelocateVM_Task) as it runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opspack import KV, Context, Result, Status, UsageError, command

if TYPE_CHECKING:
    from opspack_vmware._vsphere import Inventory, Obj, Session

#: Seconds a migration may take: a vMotion of a busy VM, or a storage vMotion of big disks.
TIMEOUT_S = 3600
#: The task is awaited this much less than the command's timeout, so a migration still
#: running at the end is answered by the pack ("still running: see Recent Tasks").
MARGIN_S = 60

#: One read for the names: the VM, hosts (what they mount, whether they take VMs), the
#: clusters and standalone hosts' compute resources (their root pools), datastores.
LOOKUP: dict[str, list[str]] = {
    "VirtualMachine": ["name", "parent"],
    "HostSystem": ["name", "parent", "datastore", "runtime.inMaintenanceMode", "runtime.connectionState"],
    "ComputeResource": ["name", "parent", "resourcePool"],
    "Datastore": ["name", "parent"],
}
#: Where the VM is, read before and after the task.
WHERE = ["runtime.host", "datastore"]


@command(
    group="vm",
    verb="migrate",
    mutating=True,
    idempotent=True,
    examples=["vm migrate web01 --host esx02", "vm migrate web01 --host esx02 --datastore ssd01"],
    timeout=TIMEOUT_S,
    results=["status", "kv"],
)
def migrate(ctx: Context, vm: str, *, host: str, datastore: str | None = None) -> list[Result]:
    """Move a VM to another host (vMotion), and its files to another datastore if given.

    Reports the vSphere task's progress while it runs, then where the VM is and how long
    it took. A VM already on that host (and datastore) is answered at once, without a
    task, so running it twice is the same as once. Within a cluster the VM keeps its
    resource pool; to another cluster or standalone host it goes to that one's root pool.

    Args:
        vm: the VM's name, or its inventory path when the name is ambiguous
        host: the host to move it to (name or inventory path)
        datastore: move the VM's files to this datastore too (default: they stay where they are)
    """
    from opspack_vmware import _vsphere as v

    return v.run(ctx, lambda s: _migrate(ctx, s, vm, host, datastore))


def _names(inventory: Inventory, refs: Any) -> list[str]:
    return [inventory.name_of(r) for r in refs or []]


def _migrate(ctx: Context, s: Session, vm_query: str, host_query: str, ds_query: str | None) -> list[Result]:
    from pyVmomi import vim

    from opspack_vmware import _vsphere as v

    data = s.retrieve({**LOOKUP, **v.PATH_TYPES})
    inventory = v.Inventory(data)
    found = v.pick("VM", vm_query, data["VirtualMachine"], inventory)
    target = v.pick("host", host_query, data["HostSystem"], inventory)
    ds = v.pick("datastore", ds_query, data["Datastore"], inventory) if ds_query is not None else None
    vm = s.retrieve_objects([found.ref], {"VirtualMachine": WHERE})["VirtualMachine"][0]
    source_ref = vm.get("runtime.host")
    source = inventory.by_id.get(str(source_ref._moId)) if source_ref is not None else None
    files = [str(r._moId) for r in vm.get("datastore", [])]
    name = found.name

    if source is not None and source.id == target.id and (ds is None or files == [ds.id]):
        already = f"VM {name} is already on host {target.name}{_on(ds)}; nothing to do"
        return _answer(inventory, found, vm, already, None, None)

    _check_target(inventory, name, target, ds, files)
    compute = target.get("parent")
    same_compute = source is not None and compute is not None and _id(source.get("parent")) == _id(compute)
    resources = inventory.by_id.get(str(compute._moId)) if compute is not None else None
    relocate: Any = vim.vm.RelocateSpec  # pyvmomi's types are partial
    spec = relocate(
        host=target.ref,
        # vMotion within a cluster keeps the VM's pool; elsewhere it needs the target's root pool
        pool=None if same_compute or resources is None else resources.get("resourcePool"),
        datastore=ds.ref if ds is not None else None,
    )
    what = f"migration of VM {name}"
    began = time.monotonic()
    ctx.progress(
        f"VM {name}: migrating from host {source.name if source else '?'} to host {target.name}{_on(ds)}",
        percent=0.0,
    )
    task = v.start_task(lambda: found.ref.RelocateVM_Task(spec), what)
    task_id = str(task._moId)
    ctx.progress(f"VM {name}: vCenter task {task_id} started", percent=0.0)
    shown = 0.0

    def update(state: str, progress: int | None) -> None:
        nonlocal shown
        if state == "queued":
            ctx.progress(f"VM {name}: task {task_id} is queued behind other work on vCenter", percent=shown)
        elif state == "running" and progress is not None and progress > shown:
            shown = float(progress)
            ctx.progress(f"VM {name}: {progress}% migrated", percent=shown)

    v.wait_task(s, task, what, on_update=update, timeout=TIMEOUT_S - MARGIN_S)
    took = time.monotonic() - began
    after = s.retrieve_objects([found.ref], {"VirtualMachine": WHERE})["VirtualMachine"][0]
    host_now = inventory.name_of(after.get("runtime.host"))
    ctx.progress(f"VM {name} is on host {host_now} after {took:.1f} s", percent=100.0, done=True)
    moved = f"VM {name} migrated from host {source.name if source else '?'} to host {host_now}{_on(ds)}"
    return _answer(inventory, found, after, f"{moved} in {took:.1f} s (task {task_id})", task_id, took, source)


def _id(ref: Any) -> str | None:
    return str(ref._moId) if ref is not None else None


def _on(ds: Obj | None) -> str:
    return f" and datastore {ds.name}" if ds is not None else ""


def _check_target(inventory: Inventory, vm: str, target: Obj, ds: Obj | None, files: list[str]) -> None:
    """What vCenter would refuse after starting a task, said before: a host that takes no VMs,
    or that does not mount the datastore the VM's files are (or go) on."""
    state = str(target.get("runtime.connectionState") or "connected")
    if state != "connected":
        raise UsageError(f"host {target.name} is {state}; a VM cannot move onto it", "Choose another: `host list`.")
    if target.get("runtime.inMaintenanceMode"):
        raise UsageError(
            f"host {target.name} is in maintenance mode; a VM cannot move onto it",
            f"Choose another host (`host list`), or take it out first: `host maintenance exit {target.name}`.",
        )
    mounted = {str(r._moId) for r in target.get("datastore", [])}
    wanted = [ds.id] if ds is not None else files
    missing = [inventory.by_id[i].name if i in inventory.by_id else i for i in wanted if i not in mounted]
    if missing:
        where = ", ".join(_names(inventory, target.get("datastore", []))) or "none"
        hint = f"Datastores of {target.name}: {where}."
        if ds is None:
            hint += f" Move the files too: `vm migrate {vm} --host {target.name} --datastore <one of them>`."
        raise UsageError(f"host {target.name} does not mount datastore {', '.join(missing)}", hint)


def _answer(
    inventory: Inventory,
    found: Obj,
    where: Obj,
    message: str,
    task_id: str | None,
    took: float | None,
    source: Obj | None = None,
) -> list[Result]:
    """A Status and where the VM is (with the task and its seconds when it moved)."""
    host_ref = where.get("runtime.host")
    host = inventory.by_id.get(str(host_ref._moId)) if host_ref is not None else None
    compute = host.get("parent") if host is not None else None
    parent = inventory.by_id.get(str(compute._moId)) if compute is not None else None
    in_cluster = parent is not None and parent.ref.__class__.__name__.endswith("ClusterComputeResource")
    items: dict[str, Any] = {
        "vm": found.name,
        "path": inventory.path(found),
        "host": host.name if host is not None else "",
        "cluster": parent.name if parent is not None and in_cluster else "",
        "datastores": _names(inventory, where.get("datastore", [])),
    }
    if task_id is not None:
        items["from_host"] = source.name if source is not None else ""
        items["task"] = task_id
        items["seconds"] = round(took or 0.0, 1)
    return [Status("ok", message, title=f"vm migrate {found.name}"), KV(items, title=f"VM {found.name}")]
