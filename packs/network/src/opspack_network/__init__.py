"""opspack-network: show, compare and back up device configs across many devices (netmiko)."""

from opspack.pack import Pack, Setting

from opspack_network.errors import translate

pack = Pack(
    name="network",
    summary="Network devices over SSH (netmiko): show commands on many devices, status, config backup and diff",
    modules=["opspack_network.devices", "opspack_network.show", "opspack_network.configs"],
    settings=[
        Setting("inventory", "the inventory file (YAML): defaults, groups and devices with their platform"),
        Setting("workers", "at most this many devices are talked to at once", type="int", default=10),
        Setting("device_timeout", "seconds one device may take (connect + command)", type="float", default=30.0),
        Setting(
            "allowed_commands",
            "comma-separated command prefixes `net show` accepts besides show/display (e.g. `ping,dir flash:`)",
            default="",
        ),
        Setting("backup_dir", "folder where `net backup` keeps running configs (one file per device)"),
        Setting(
            "backup_git",
            "keep the backup folder as a git repository, one commit per backup run",
            type="bool",
            default=False,
        ),
    ],
    translate=translate,
)
