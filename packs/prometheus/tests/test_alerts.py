"""`alerts`, `silence`, `silences`, `unsilence` against a real Alertmanager fed by a real Prometheus."""

from __future__ import annotations

from conftest import RunFn, by_kind
from opspack_testkit import check_rendering
from opspack_testkit.servers.prometheus import Alertmanager


def _alert_names(reply: object) -> list[str]:
    tables = by_kind(reply, "table")  # type: ignore[arg-type]
    return [row[1] for row in tables[0].rows] if tables else []


def test_alerts_shows_firing_grouped_with_a_status_line_and_the_pending_one(run: RunFn) -> None:
    reply = run("alerts")
    assert reply.ok, reply.error
    status, table = reply.results
    assert status.kind == "status" and status.level == "critical"
    assert status.message.startswith("3 firing (2 critical, 1 warning), 1 pending"), status.message
    assert table.columns == ["group", "alert", "severity", "state", "for", "labels", "summary"]
    rows = {row[1]: row for row in table.rows}
    assert set(rows) == {"AlwaysFiring", "DiskAlmostFull", "TargetDown", "SlowBurn"}
    assert rows["AlwaysFiring"][0] == "alertname=AlwaysFiring"  # Alertmanager's group (group_by alertname)
    assert rows["AlwaysFiring"][3] == "firing" and rows["AlwaysFiring"][4].endswith("s")
    assert rows["DiskAlmostFull"][6] == "Disk on db1 is 91% full"
    assert "instance=127.0.0.1:" in rows["TargetDown"][5] and "job=app" in rows["TargetDown"][5]
    assert rows["SlowBurn"][0] == "(pending in Prometheus)" and rows["SlowBurn"][3] == "pending"
    # critical groups first, pending last
    assert table.rows[-1][1] == "SlowBurn"
    assert table.row_status[0] == "critical"
    check_rendering(reply)


def test_alerts_filters_by_severity_and_matchers(run: RunFn) -> None:
    warning = run("alerts --severity warning")
    assert warning.ok, warning.error
    assert sorted(_alert_names(warning)) == ["DiskAlmostFull", "SlowBurn"]
    assert 'severity="warning"' in warning.results[0].message
    storage = run("prometheus alerts --match team=storage")
    assert _alert_names(storage) == ["DiskAlmostFull"]
    assert _alert_names(run("alerts team=storage")) == ["DiskAlmostFull"]
    assert sorted(_alert_names(run("alerts --match team=ops alertname=~.*Down"))) == ["TargetDown"]
    regex = run("alerts --match alertname=~Always.*,team!=storage")
    assert _alert_names(regex) == ["AlwaysFiring"]
    none = run("alerts --match team=nobody")
    assert none.ok and [r.kind for r in none.results] == ["status"]
    assert none.results[0].level == "ok" and none.results[0].message.startswith("0 firing")


def test_a_bad_matcher_is_a_usage_error(run: RunFn) -> None:
    reply = run("alerts --match 'team~storage'")
    assert not reply.ok and reply.error.kind == "usage"
    assert "name=value" in reply.error.message
    bad_regex = run("alerts --match 'team=~(unclosed'")
    assert bad_regex.error.kind == "usage" and "regex" in bad_regex.error.message


def test_without_alertmanager_alerts_answer_a_config_error(run: RunFn, environ: dict[str, str]) -> None:
    env = {k: v for k, v in environ.items() if k != "OPSPACK_PROMETHEUS_ALERTMANAGER_URL"}
    reply = run("alerts", env=env)
    assert not reply.ok and reply.error.kind == "config"
    assert "OPSPACK_PROMETHEUS_ALERTMANAGER_URL" in (reply.error.hint or "")


def test_alerts_still_answer_when_prometheus_is_down(run: RunFn, environ: dict[str, str]) -> None:
    from opspack_testkit import free_port

    reply = run("alerts", env={**environ, "OPSPACK_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"})
    assert reply.ok, reply.error
    assert "3 firing" in reply.results[0].message
    assert "pending unknown (Cannot reach Prometheus" in reply.results[0].message
    assert "SlowBurn" not in _alert_names(reply)


def test_silence_hides_an_alert_until_unsilenced(run: RunFn, am: Alertmanager) -> None:
    made = run("silence DiskAlmostFull 30m replacing the disk")
    assert made.ok, made.error
    status, kv = made.results
    assert status.level == "ok" and 'alertname="DiskAlmostFull"' in status.message and "30m" in status.message
    silence_id = kv.items["id"]
    try:
        stored = [s for s in am.silences() if s["id"] == silence_id]
        assert stored and stored[0]["comment"] == "replacing the disk"
        assert stored[0]["createdBy"] == "alice via opspack" and stored[0]["status"]["state"] == "active"

        listed = run("silences")
        assert listed.ok, listed.error
        table, menu = listed.results
        row = next(r for r in table.rows if r[0] == silence_id[:8])
        assert row[1] == "active" and row[2] == 'alertname="DiskAlmostFull"' and row[4].startswith(("29m", "30m"))
        assert any(o.args == {"silence_id": silence_id} for o in menu.options)
        check_rendering(listed)

        quiet = run("alerts")
        assert "DiskAlmostFull" not in _alert_names(quiet)
        assert "1 silenced or inhibited" in quiet.results[0].message
        loud = run("alerts --silenced")
        rows = {r[1]: r for r in by_kind(loud, "table")[0].rows}
        assert rows["DiskAlmostFull"][3] == "silenced"
    finally:
        expired = run(f"unsilence {silence_id[:8]}")
    assert expired.ok, expired.error
    assert expired.results[0].message.startswith(f"Expired silence {silence_id[:8]}")
    assert next(s for s in am.silences() if s["id"] == silence_id)["status"]["state"] == "expired"
    assert "DiskAlmostFull" in _alert_names(run("alerts"))
    again = run(f"unsilence {silence_id}")
    assert again.ok and "already expired" in again.results[0].message
    assert silence_id[:8] not in [r[0] for r in run("silences").results[0].rows]
    assert silence_id[:8] in [r[0] for r in run("silences --all").results[0].rows]


def test_silence_by_label_matchers(run: RunFn, am: Alertmanager) -> None:
    made = run("silence team=storage severity=~warn.* 1h30m maintenance window")
    assert made.ok, made.error
    silence_id = made.results[1].items["id"]
    stored = next(s for s in am.silences() if s["id"] == silence_id)
    assert {(m["name"], m["value"], m["isRegex"]) for m in stored["matchers"]} == {
        ("team", "storage", False),
        ("severity", "warn.*", True),
    }
    assert "1h 30m" in made.results[0].message
    assert run(f"unsilence {silence_id}").ok


def test_silence_checks_the_alert_name_duration_and_comment(run: RunFn, am: Alertmanager) -> None:
    before = len(am.silences())
    typo = run("silence DiskAlmostFul 1h oops")
    assert not typo.ok and typo.error.kind == "not_found"
    assert "DiskAlmostFull" in (typo.error.hint or "")
    forever = run("silence AlwaysFiring forever because")
    assert forever.error.kind == "usage" and "duration" in forever.error.message
    too_short = run("silence AlwaysFiring 10s because")
    assert too_short.error.kind == "usage" and "1m" in too_short.error.message
    no_reason = run("silence AlwaysFiring 1h")
    assert no_reason.error.kind == "usage" and "comment" in no_reason.error.message
    assert len(am.silences()) == before, "nothing was created"


def test_unsilence_of_an_unknown_id_is_not_found(run: RunFn) -> None:
    reply = run("unsilence 00000000-dead")
    assert not reply.ok and reply.error.kind == "not_found"
    short = run("unsilence ab")
    assert short.error.kind == "usage"
