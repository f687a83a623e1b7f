"""opspack-server: check a host before and after a change, with the standard library only."""

from opspack.pack import Pack, Setting

pack = Pack(
    name="server",
    summary="Test a server: DNS, TCP ports, HTTP(S) status and TLS certificates",
    modules=["opspack_server.checks"],
    settings=[
        Setting("default_ports", "ports `server test` tries when none are given", default="22,443"),
        Setting("connect_timeout", "seconds to wait for each connection", type="float", default=3.0),
        Setting("verify_tls", "verify TLS certificates (false only for lab hosts)", type="bool", default=True),
        Setting("ca_file", "PEM file of extra CAs to trust (an internal CA); empty: the system's", default=""),
        Setting(
            "cert_warning_days", "a certificate expiring within this many days is a warning", type="int", default=30
        ),
        Setting(
            "cert_critical_days", "a certificate expiring within this many days is critical", type="int", default=7
        ),
    ],
)
