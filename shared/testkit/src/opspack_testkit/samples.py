"""Big results every platform must carry: a ``vm list`` of 1,200 VMs and a 90 KB PNG.

The table has the vmware pack's ``vm list`` columns and title; the picture is a valid PNG
of random pixels (it does not compress), about the size of a typical Grafana panel.
Both are the same on every call (a fixed seed).
"""

from __future__ import annotations

import random
import struct
import zlib

from opspack.results import Image, Scalar, Table

#: the columns of the vmware pack's ``vm list``
VM_LIST_COLUMNS = ["name", "power", "cpus", "memory_mb", "guest_os", "ip", "host", "cluster"]


def vm_list_table(rows: int = 1200) -> Table:
    """A table shaped like ``vm list`` of ``rows`` VMs."""
    pick = random.Random(rows)  # noqa: S311 - test data, not secrets
    guests = ["Ubuntu Linux (64-bit)", "Microsoft Windows Server 2022 (64-bit)", "Red Hat Enterprise Linux 9 (64-bit)"]
    data: list[list[Scalar]] = [
        [
            f"DC0_C{i % 4}_RP{i % 3}_VM{i}",
            pick.choice(["on", "off", "suspended"]),
            pick.choice([1, 2, 4, 8]),
            pick.choice([1024, 2048, 4096, 8192, 16384]),
            pick.choice(guests),
            f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            f"DC0_C{i % 4}_H{i % 8}",
            f"DC0_C{i % 4}",
        ]
        for i in range(rows)
    ]
    return Table(columns=list(VM_LIST_COLUMNS), rows=data, title=f"VMs ({rows})", total=rows)


def png_bytes(size: int = 90_000) -> bytes:
    """A valid RGB PNG of random pixels, ``size`` bytes give or take a row (at least 1x1)."""
    width = 200
    height = max(1, (size - 100) // (3 * width + 1))
    pick = random.Random(size)  # noqa: S311 - test data
    raw = b"".join(b"\x00" + pick.randbytes(3 * width) for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def panel_image(size: int = 90_000) -> Image:
    """:func:`png_bytes` as an image result, like ``grafana graph``'s."""
    return Image(
        png_bytes(size), "image/png", alt="Request rate (last 6 h)", title="Request rate", filename="panel.png"
    )


__all__ = ["VM_LIST_COLUMNS", "panel_image", "png_bytes", "vm_list_table"]
