"""opspack-vmware: vSphere inventory and VM operations through pyvmomi.

Importing this package (or any command module) does not import pyvmomi; the
session module ``opspack_vmware._vsphere`` does, when a command runs.
"""

from opspack.pack import Pack, Setting

from opspack_vmware.errors import translate

#: The settings a vCenter session is made from (a change makes a new session).
SESSION_SETTINGS = ["url", "user", "password", "verify_tls", "ca_file"]

pack = Pack(
    name="vmware",
    summary="vSphere inventory and VM operations: VMs, migrations, snapshots, hosts, datastores, clusters",
    modules=[
        "opspack_vmware.vm",
        "opspack_vmware.migrate",
        "opspack_vmware.snapshot",
        "opspack_vmware.host",
        "opspack_vmware.datastore",
        "opspack_vmware.cluster",
        "opspack_vmware.vcenter",
    ],
    settings=[
        Setting("url", "vCenter SDK endpoint, e.g. https://vc.example.com/sdk"),
        Setting("user", "vCenter user, e.g. svc-opspack@vsphere.local"),
        Setting("password", "the user's password", secret=True),
        Setting(
            "verify_tls", "verify vCenter's TLS certificate (false only for lab vCenters)", type="bool", default=True
        ),
        Setting("ca_file", "PEM file of the CA(s) that signed vCenter's certificate; empty: the system's", default=""),
        Setting(
            "task_timeout",
            "seconds to wait for a vSphere task before answering with a timeout",
            type="float",
            default=120.0,
        ),
        Setting(
            "datastore_warning_pct", "datastore use (percent) from which `datastore list` warns", type="int", default=80
        ),
        Setting(
            "datastore_critical_pct",
            "datastore use (percent) from which `datastore list` is critical",
            type="int",
            default=90,
        ),
    ],
    translate=translate,
)
