"""opspack-network: show, compare and back up device configs across many devices (netmiko)."""

from opspack.pack import Pack, Setting

from opspack_network.errors import translate

pack = Pack(
    name="network",
    summary="Network devices over SSH (netmiko): show commands on many devices, status, config backup and diff",
    modules=["opspack_network.devices", "opspack_network.show", "opspack_network.configs", "opspack_network.keys"],
    settings=[
        Setting(
            "inventory",
            "the inventory file (YAML): defaults, groups and devices with their platform"
            " (optional when netbox_url is set; it still gives NetBox devices their credentials)",
            required=False,
        ),
        Setting(
            "netbox_url",
            "NetBox's address (e.g. https://netbox.example.com): its devices join the inventory",
            required=False,
        ),
        Setting("netbox_token", "NetBox API token (read access to dcim devices)", secret=True, default=""),
        Setting(
            "netbox_filter",
            "NetBox device filters, comma-separated KEY=VALUE (e.g. site=hq,role=switch,status=active)",
            default="",
        ),
        Setting(
            "netbox_ttl", "seconds NetBox's device list is kept before it is asked again", type="float", default=60.0
        ),
        Setting("workers", "at most this many devices are talked to at once", type="int", default=10),
        Setting("device_timeout", "seconds one device may take (connect + command)", type="float", default=30.0),
        Setting(
            "allowed_commands",
            "comma-separated command prefixes `net show` accepts besides show/display (e.g. `ping,dir flash:`)",
            default="",
        ),
        Setting(
            "host_keys",
            "how devices' SSH host keys are checked: accept-new (learn a device's key the first time, refuse"
            " a changed one), strict (only keys already in known_hosts) or off (any key; labs only)",
            default="accept-new",
        ),
        Setting(
            "known_hosts",
            "the OpenSSH known_hosts file of devices' host keys"
            " (default: $XDG_DATA_HOME/opspack/network_known_hosts, i.e. ~/.local/share/opspack/)",
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
