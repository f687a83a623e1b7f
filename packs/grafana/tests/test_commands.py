"""dashboards, panels, alerts, silences, annotate, datasources against the fake Grafana."""

from __future__ import annotations

import pytest
from opspack.context import Caller
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import check_rendering
from opspack_testkit.fakes.grafana import FakeGrafana
from opspack_testkit.tls import TestCA


def test_dashboards_search_and_list(fake, run):
    reply = run("grafana dashboards")
    assert reply.ok, reply.error
    table = reply.results[0]
    assert [r[0] for r in table.rows] == ["API errors", "API latency", "Checkout Service"]
    reply = run("grafana dashboards checkout")
    assert [r[2] for r in reply.results[0].rows] == ["chk0ut01"]
    assert reply.results[0].rows[0][1] == "Payments"
    reply = run("grafana dashboards --tag prod")
    assert [r[0] for r in reply.results[0].rows] == ["Checkout Service"]
    reply = run("grafana dashboards --limit 2")
    assert len(reply.results[0].rows) == 2 and reply.results[0].total == 3
    check_rendering(reply)


def test_panels_lists_rows_and_offers_graphs(fake, run):
    reply = run("grafana panels checkout service")
    assert reply.ok, reply.error
    table, menu = reply.results
    assert [r[:2] for r in table.rows] == [
        [1, "Request rate"],
        [2, "Latency p99"],
        [3, "Latency p50"],
        [11, "Error ratio"],
    ]
    assert table.rows[3][3] == "Errors"
    assert menu.options[1].command == "grafana.panel.graph" and menu.options[1].text == "grafana graph chk0ut01 2"
    check_rendering(reply)


def test_alerts_with_statuses(fake, run):
    reply = run("grafana alerts")
    assert reply.ok, reply.error
    table, status = reply.results
    assert table.rows[0][0] == "HighErrorRate" and table.row_status[0] == "critical"
    assert table.rows[1][0] == "SlowCheckout" and table.row_status[1] == "warning"
    assert table.rows[0][5] == 2 and table.rows[0][6] == "2024-05-01 10:00:00"
    disk = next(i for i, r in enumerate(table.rows) if r[0] == "DiskFull")
    assert table.row_status[disk] == "warning" and "datasource unavailable" in table.rows[disk][2]
    assert status.level == "critical" and status.message == "1 firing, 1 pending of 4 alert rules"
    check_rendering(reply)


def test_alerts_filtered_by_state_and_folder(fake, run):
    reply = run("grafana alerts --state firing")
    assert [r[0] for r in reply.results[0].rows] == ["HighErrorRate"]
    reply = run("grafana alerts --state pending --folder payments")
    assert [r[0] for r in reply.results[0].rows] == ["SlowCheckout"]
    reply = run("grafana alerts --folder Platform")
    assert [r[0] for r in reply.results[0].rows] == ["DiskFull"] and reply.results[1].level == "ok"
    reply = run("grafana alerts --folder Paymnets")
    assert not reply.ok and reply.error.kind == "not_found" and "Payments" in reply.error.hint
    reply = run("grafana alerts --state burning")
    assert not reply.ok and reply.error.kind == "usage"


def test_silence_an_alert_rule_by_name(fake, run):
    reply = run("grafana silence HighErrorRate 2h deploying checkout v2")
    assert reply.ok, reply.error
    assert len(fake.silences) == 1
    s = fake.silences[0]
    assert s["matchers"] == [{"name": "alertname", "value": "HighErrorRate", "isRegex": False, "isEqual": True}]
    assert s["comment"] == "deploying checkout v2" and s["createdBy"] == "alice via opspack"
    assert s["startsAt"].endswith("Z") and s["endsAt"] > s["startsAt"]
    status, kv = reply.results
    assert status.level == "ok" and 'alertname="HighErrorRate"' in status.message
    assert kv.items["id"] == s["id"]
    check_rendering(reply)


def test_silence_by_label_matchers(fake, run):
    reply = run("grafana silence severity=critical,instance=~web.*,team!=db 30m 'maintenance window'")
    assert reply.ok, reply.error
    assert fake.silences[0]["matchers"] == [
        {"name": "severity", "value": "critical", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "web.*", "isRegex": True, "isEqual": True},
        {"name": "team", "value": "db", "isRegex": False, "isEqual": False},
    ]


def test_silence_mistakes(fake, run):
    reply = run("grafana silence HighErrRate 2h typo")
    assert not reply.ok and reply.error.kind == "not_found" and "HighErrorRate" in reply.error.hint
    reply = run("grafana silence HighErrorRate forever because")
    assert not reply.ok and reply.error.kind == "usage" and "duration" in reply.error.message
    reply = run("grafana silence 'sev=~' 1h x")
    assert reply.ok  # an empty regex is a valid matcher
    reply = run("grafana silence HighErrorRate 2h")
    assert not reply.ok and reply.error.kind == "usage"
    assert [p for p in fake.paths() if p.endswith("/silences")].count("/api/alertmanager/grafana/api/v2/silences") == 1


def test_silences_lists_active_first(fake, run):
    run("grafana silence HighErrorRate 2h first")
    run("grafana silence SlowCheckout 1h second")
    fake.silences.append({**fake.silences[0], "id": "expired-1", "status": {"state": "expired"}})
    reply = run("grafana silences")
    assert reply.ok, reply.error
    table = reply.results[0]
    assert len(table.rows) == 2 and {r[1] for r in table.rows} == {"active"}
    assert table.rows[0][5] == "second"  # ends sooner
    reply = run("grafana silences --all")
    assert len(reply.results[0].rows) == 3
    check_rendering(reply)


def test_annotate_a_dashboard_with_tags(fake, run):
    reply = run("grafana annotate deployed checkout v2.4.1 --dashboard checkout --tags deploy,checkout")
    assert reply.ok, reply.error
    a = fake.annotations[0]
    assert a["dashboardUID"] == "chk0ut01" and a["tags"] == ["deploy", "checkout"]
    assert a["text"].startswith("deployed checkout v2.4.1") and "alice" in a["text"]
    assert isinstance(a["time"], int) and a["time"] > 1_600_000_000_000
    assert "Annotation 1 added on dashboard 'Checkout Service'" in reply.results[0].message
    assert reply.results[1].url.endswith("/d/chk0ut01/checkout-service")
    check_rendering(reply)


def test_annotate_the_organization(fake, run):
    reply = run("grafana annotate 'incident 42 started' --tags incident")
    assert reply.ok, reply.error
    assert "dashboardUID" not in fake.annotations[0] and fake.annotations[0]["tags"] == ["incident"]


def test_datasources_with_health(fake, run):
    reply = run("grafana datasources")
    assert reply.ok, reply.error
    table, status = reply.results
    assert "Grafana 11.2.0" in table.title
    by_name = {r[0]: (r, lv) for r, lv in zip(table.rows, table.row_status, strict=True)}
    assert by_name["Prometheus"][1] == "ok" and by_name["Prometheus"][0][3] is True
    assert by_name["Loki"][1] == "critical" and "Unable to connect" in by_name["Loki"][0][5]
    assert by_name["Legacy"][1] == "unknown" and by_name["Legacy"][0][4] == "no check"
    assert status.level == "critical" and "1 failing" in status.message
    assert sum(p.endswith("/health") and "datasources" in p for p in fake.paths()) == 3
    check_rendering(reply)


def test_datasources_without_health(fake, run):
    reply = run("grafana datasources --no-health")
    assert reply.ok and len(reply.results) == 1
    assert not any("datasources/uid" in p for p in fake.paths())


def test_forbidden_is_denied_with_a_role_hint(fake, run):
    from opspack_testkit.fakes.http import Response

    fake.server.before.append(
        lambda req: (
            Response.json({"message": "You'll need additional permissions to perform this action."}, 403)
            if req.method == "POST"
            else None
        )
    )
    reply = run("grafana annotate test --tags x")
    assert not reply.ok and reply.error.kind == "denied" and "Editor" in reply.error.hint


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_ca_file_and_verify_tls_win_over_the_environments_ca_bundle(registry, tmp_path, monkeypatch):
    """requests takes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE before a session's own verify;
    the pack's ca_file and verify_tls=false must still decide."""
    (tmp_path / "other").mkdir()
    ca, other = TestCA(tmp_path), TestCA(tmp_path / "other")
    with FakeGrafana().serve_tls(ca.issue("grafana", ["127.0.0.1", "localhost"])) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_path))
        monkeypatch.setenv("CURL_CA_BUNDLE", str(other.ca_path))

        def dashboards(**extra: str):
            rt = Runtime(registry, config=Config.load(environ=server.environ(**extra)))
            try:
                return rt.chat("grafana dashboards", Caller(user="alice", frontend="test"))
            finally:
                rt.close()

        untrusted = dashboards()  # no ca_file: the environment's bundle, which does not sign it
        assert not untrusted.ok and untrusted.error.kind == "config", untrusted.error
        trusted = dashboards(OPSPACK_GRAFANA_CA_FILE=str(ca.ca_path))
        assert trusted.ok, trusted.error
        assert trusted.results[0].rows
        lab = dashboards(OPSPACK_GRAFANA_VERIFY_TLS="false")
        assert lab.ok, lab.error
