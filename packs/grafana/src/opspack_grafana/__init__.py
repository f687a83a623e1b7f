"""opspack-grafana: Grafana panels as pictures in chat, dashboards, alerts, silences, annotations."""

from opspack.pack import Pack, Setting

from opspack_grafana.errors import translate

pack = Pack(
    name="grafana",
    summary="Grafana: panel pictures in chat, dashboards, alert rules and silences, annotations, data sources",
    modules=[
        "opspack_grafana.graph",
        "opspack_grafana.dashboards",
        "opspack_grafana.alerts",
        "opspack_grafana.annotations",
        "opspack_grafana.datasources",
    ],
    settings=[
        Setting("url", "Grafana's base URL, e.g. https://grafana.example.com (with its sub-path if any)"),
        Setting(
            "token", "a service account token (glsa_...) with the Viewer role, Editor to silence/annotate", secret=True
        ),
        Setting(
            "org_id",
            "organization to act in (X-Grafana-Org-Id); 0: the token's own organization",
            type="int",
            default=0,
        ),
        Setting(
            "verify_tls", "verify Grafana's TLS certificate (false only for lab servers)", type="bool", default=True
        ),
        Setting("ca_file", "PEM file of extra CAs to trust (an internal CA); empty: the system's", default=""),
        Setting(
            "timeout",
            "seconds to wait for Grafana's API (renders get their own render_timeout)",
            type="float",
            default=15.0,
        ),
        Setting("render_timeout", "seconds Grafana's image renderer may take for one panel", type="int", default=60),
    ],
    translate=translate,
    docs_url="https://grafana.com/docs/grafana/latest/developers/http_api/",
)
