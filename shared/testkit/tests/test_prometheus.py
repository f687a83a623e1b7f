"""Prometheus, Alertmanager and MetricsExporter: real servers on free ports, history written with promtool."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from opspack_testkit import need
from opspack_testkit.servers.prometheus import (
    Alertmanager,
    MetricsExporter,
    Prometheus,
    PrometheusUnavailable,
    alertmanager_binary,
    openmetrics,
    prometheus_binary,
    prometheus_pack_environ,
)


@pytest.fixture
def binaries() -> None:
    try:
        prometheus_binary()
        alertmanager_binary()
    except PrometheusUnavailable as exc:
        need(False, str(exc))


def test_the_exporter_serves_the_exposition_format() -> None:
    with MetricsExporter(metrics="extra_metric 7\n") as exporter:
        url = f"http://{exporter.address}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        assert 'demo_memory_used_bytes{host="web1"} 1610612736' in text
        assert text.endswith("extra_metric 7\n")
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(url, timeout=2)  # stopped: nothing listens


@pytest.mark.usefixtures("binaries")
def test_prometheus_reads_its_history_and_sends_alerts_to_alertmanager() -> None:
    now = time.time()
    history = openmetrics({'past_load{host="web1"}': [(now - 3600 + 60 * i, float(i)) for i in range(30)]})
    rules = "groups:\n  - name: t\n    rules:\n      - alert: Always\n        expr: vector(1)\n"
    with Alertmanager() as am, Prometheus(rules=rules, alertmanager=am, history=history) as prom:
        folder = prom.workdir
        data = prom.query(f"past_load[2h] @ {now:.0f}")
        assert len(data["result"][0]["values"]) == 30
        assert am.wait_for_alerts(1)[0]["labels"]["alertname"] == "Always"
        am.post_alerts([{"labels": {"alertname": "Posted"}}])
        assert {a["labels"]["alertname"] for a in am.alerts()} == {"Always", "Posted"}
        assert prometheus_pack_environ(prom, am) == {
            "OPSPACK_PROMETHEUS_URL": prom.url,
            "OPSPACK_PROMETHEUS_ALERTMANAGER_URL": am.url,
        }
    assert not Path(folder).exists(), "the temporary folder is removed"


def test_a_missing_binary_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSPACK_PROMETHEUS_BIN", "/nonexistent/prometheus")
    with pytest.raises(PrometheusUnavailable, match="OPSPACK_PROMETHEUS_BIN=/nonexistent/prometheus"):
        Prometheus(start_timeout=5).start()
