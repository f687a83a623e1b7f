"""Describing a VM's devices and snapshot tree in words (imports pyvmomi)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from opspack_vmware._vsphere import Inventory


@dataclass(slots=True)
class SnapshotRow:
    """One snapshot of a VM's tree, in tree order."""

    name: str
    description: str
    created: str
    state: str
    depth: int
    parent: str
    current: bool
    ref: Any


def snapshot_rows(info: Any) -> list[SnapshotRow]:
    """The snapshot tree of ``vm.snapshot`` (None when the VM has none), depth first."""
    if info is None:
        return []
    current = getattr(info, "currentSnapshot", None)
    current_id = str(current._moId) if current is not None else None
    rows: list[SnapshotRow] = []

    def walk(nodes: Any, depth: int, parent: str) -> None:
        for node in nodes or []:
            created = node.createTime.isoformat(timespec="seconds") if node.createTime else ""
            rows.append(
                SnapshotRow(
                    name=str(node.name),
                    description=str(node.description or ""),
                    created=created,
                    state=str(node.state or ""),
                    depth=depth,
                    parent=parent,
                    current=current_id is not None and str(node.snapshot._moId) == current_id,
                    ref=node.snapshot,
                )
            )
            walk(node.childSnapshotList, depth + 1, str(node.name))

    walk(info.rootSnapshotList, 0, "")
    return rows


def _size(kb: Any) -> str:
    if kb is None:
        return "?"
    kb = int(kb)
    if kb >= 1024**2:
        return f"{kb / 1024**2:.1f} GB"
    return f"{kb / 1024:.1f} MB"


def disks(devices: Any) -> list[str]:
    """``Hard disk 1: 1.0 MB, thin, [LocalDS_0] vm/vm.vmdk``, one per virtual disk."""
    out: list[str] = []
    for dev in devices or []:
        if not isinstance(dev, vim.vm.device.VirtualDisk):
            continue
        label = dev.deviceInfo.label if dev.deviceInfo else f"disk {dev.key}"
        backing: Any = dev.backing
        parts = [f"{label}: {_size(dev.capacityInKB)}"]
        if getattr(backing, "thinProvisioned", None):
            parts.append("thin")
        if getattr(backing, "fileName", None):
            parts.append(str(backing.fileName))
        out.append(", ".join(parts))
    return out


def nics(devices: Any, inventory: Inventory) -> list[str]:
    """``Network adapter 1: VirtualE1000 00:0c:29:..., DC0_DVPG0, connected``, one per NIC."""
    out: list[str] = []
    for dev in devices or []:
        if not isinstance(dev, vim.vm.device.VirtualEthernetCard):
            continue
        label = dev.deviceInfo.label if dev.deviceInfo else f"nic {dev.key}"
        backing: Any = dev.backing
        network = ""
        port = getattr(backing, "port", None)
        if port is not None and getattr(port, "portgroupKey", None):
            key = str(port.portgroupKey)
            found = inventory.by_id.get(key)
            network = found.name if found is not None else key
        elif getattr(backing, "network", None) is not None:
            network = inventory.name_of(backing.network)
        elif getattr(backing, "deviceName", None):
            network = str(backing.deviceName)
        connected = dev.connectable.connected if dev.connectable is not None else None
        state = "" if connected is None else ("connected" if connected else "disconnected")
        kind = type(dev).__name__.rsplit(".", 1)[-1]
        parts = [f"{label}: {kind} {dev.macAddress or ''}".rstrip(), network, state]
        out.append(", ".join(p for p in parts if p))
    return out
