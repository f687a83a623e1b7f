"""opspack-netscaler: NetScaler (Citrix ADC) load balancing and system commands over NITRO."""

from opspack.pack import Pack, Setting

from opspack_netscaler.errors import translate

pack = Pack(
    name="netscaler",
    summary="NetScaler ADC: VIPs, service group members, backup and restore, config compare, HA, certificates",
    modules=[
        "opspack_netscaler.vips",
        "opspack_netscaler.members",
        "opspack_netscaler.system",
        "opspack_netscaler.ha",
        "opspack_netscaler.certs",
    ],
    settings=[
        Setting(
            "url", "NITRO endpoint of the ADC (its NSIP or the pair's management address): https://adc1.example.com"
        ),
        Setting("user", "NITRO user (a system user whose command policy allows what you run)"),
        Setting("password", "password of that user", secret=True),
        Setting("verify_tls", "verify the ADC's TLS certificate (false only for a lab)", type="bool", default=True),
        Setting("ca_file", "PEM file of the CA that signed the ADC's certificate; empty: the system's", default=""),
        Setting("timeout", "seconds to wait for each NITRO request", type="float", default=60.0),
        Setting(
            "cert_warning_days", "a certificate expiring within this many days is a warning", type="int", default=30
        ),
        Setting(
            "cert_critical_days", "a certificate expiring within this many days is critical", type="int", default=7
        ),
    ],
    translate=translate,
    docs_url="https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/",
)
