"""opspack-prometheus: what is firing, silences, PromQL queries and graphs as pictures, targets, rules."""

from opspack.pack import Pack, Setting

from opspack_prometheus.errors import translate

pack = Pack(
    name="prometheus",
    summary="Prometheus and Alertmanager: firing alerts, silences, queries, graphs as pictures, targets, rules",
    modules=[
        "opspack_prometheus.alerts",
        "opspack_prometheus.silences",
        "opspack_prometheus.query",
        "opspack_prometheus.graph",
        "opspack_prometheus.targets",
    ],
    settings=[
        Setting("url", "Prometheus's base URL, e.g. https://prometheus.example.com (with its sub-path if any)"),
        Setting(
            "alertmanager_url",
            "Alertmanager's base URL, e.g. https://alertmanager.example.com; empty: alerts and silences are off",
            default="",
        ),
        Setting("user", "user for HTTP basic auth (a reverse proxy in front); empty: none", default=""),
        Setting("password", "password for HTTP basic auth", secret=True, default=""),
        Setting("token", "bearer token sent as Authorization: Bearer (instead of basic auth)", secret=True, default=""),
        Setting("verify_tls", "verify the servers' TLS certificates (false only for a lab)", type="bool", default=True),
        Setting("ca_file", "PEM file of extra CAs to trust (an internal CA); empty: the system's", default=""),
        Setting("timeout", "seconds to wait for each HTTP request", type="float", default=15.0),
        Setting(
            "query_timeout",
            "seconds Prometheus may spend evaluating one query (its `timeout` parameter)",
            type="float",
            default=10.0,
        ),
        Setting("max_series", "`graph` draws at most this many series", type="int", default=30),
    ],
    translate=translate,
    docs_url="https://prometheus.io/docs/prometheus/latest/querying/api/",
)
