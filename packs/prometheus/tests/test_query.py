"""`query`, `targets` and `rules` against a real Prometheus."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from conftest import MAX_SAMPLES, RunFn
from opspack_testkit import check_rendering
from opspack_testkit.servers.prometheus import TEST_PASSWORD, TEST_PASSWORD_BCRYPT, TEST_USER, Prometheus
from opspack_testkit.tls import TestCA


def test_query_puts_labels_in_columns_and_common_ones_in_the_title(run: RunFn, prom: Prometheus) -> None:
    reply = run("query 'up{job=\"app\"}'")
    assert reply.ok, reply.error
    table, link = reply.results
    assert table.columns == ["instance", "value"]
    assert 'up{job="app"}' in table.title
    values = {row[0]: row[1] for row in table.rows}
    assert len(values) == 2 and sorted(values.values()) == [0, 1]
    assert table.rows[0][1] == 1, "largest first"
    assert link.url.startswith(prom.url + "/graph?g0.expr=up")
    check_rendering(reply)


def test_values_are_formatted_by_the_unit_the_metric_name_carries(run: RunFn) -> None:
    memory = run("query demo_memory_used_bytes")
    assert memory.ok, memory.error
    assert [r[-1] for r in memory.results[0].rows] == ["1.5 GiB", "500 MiB"]
    assert "(bytes)" in memory.results[0].title
    durations = run("query demo_request_duration_seconds")
    assert {r[-2]: r[-1] for r in durations.results[0].rows} == {"/checkout": "250 ms", "/login": "4.2 ms"}
    ratio = run("query demo_cache_hit_ratio")
    assert ratio.results[0].rows[0][-1] == "93.5%"
    # a function drops __name__: the unit is read from the PromQL
    summed = run("query 'sum(demo_memory_used_bytes)'")
    assert summed.results[0].rows == [["1.99 GiB"]]  # 1.5 GiB + 500 MiB
    rate = run("query 'sum(rate(demo_requests_total[1m]))'")
    assert isinstance(rate.results[0].rows[0][0], float)


def test_scalars_and_empty_results(run: RunFn) -> None:
    scalar = run("query 'scalar(demo_cache_hit_ratio)'")
    assert scalar.ok and scalar.results[0].kind == "kv" and scalar.results[0].items["value"] == "93.5%"
    empty = run("query 'up{job=\"nothing\"}'")
    assert empty.ok and empty.results[0].kind == "text" and "no series" in empty.results[0].text


def test_a_bad_query_answers_usage_with_prometheus_own_message(run: RunFn) -> None:
    reply = run("query 'up{'")
    assert not reply.ok and reply.error.kind == "usage"
    assert "parse error: unexpected end of input inside braces" in reply.error.message
    wrong_time = run("query up --time yesterday")
    assert wrong_time.error.kind == "usage" and "time" in wrong_time.error.message


def test_a_query_over_the_sample_limit_is_a_clean_error(run: RunFn) -> None:
    reply = run("query 'sum(count_over_time(vector(1)[7d:1s]))'")
    assert not reply.ok and reply.error.kind == "usage"
    assert "sample limit" in reply.error.message and "too many samples" in reply.error.message
    assert MAX_SAMPLES < 604_800
    assert "--query.max-samples" in (reply.error.hint or "")


def test_a_query_prometheus_gives_up_on_is_a_timeout(run: RunFn) -> None:
    with Prometheus(scrape_self=False) as fresh:  # no sample limit: the time is what runs out
        reply = run(
            "query 'sum(count_over_time(vector(1)[7d:1s]))'",
            env={"OPSPACK_PROMETHEUS_URL": fresh.url, "OPSPACK_PROMETHEUS_QUERY_TIMEOUT": "0.005"},
        )
    assert not reply.ok and reply.error.kind == "timeout", reply.error
    assert "query timed out" in reply.error.message
    assert "OPSPACK_PROMETHEUS_QUERY_TIMEOUT" in (reply.error.hint or "")


def test_an_unreachable_prometheus_is_a_backend_error(run: RunFn) -> None:
    from opspack_testkit import free_port

    reply = run("query up", env={"OPSPACK_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"})
    assert not reply.ok and reply.error.kind == "backend"
    assert "OPSPACK_PROMETHEUS_URL" in (reply.error.hint or "")


def test_targets_one_up_one_down(run: RunFn) -> None:
    reply = run("targets --job app")
    assert reply.ok, reply.error
    status, table = reply.results
    assert status.level == "warning" and status.message == "1 of 2 targets up in job app"
    assert [row[2] for row in table.rows] == ["down", "up"], "down first"
    assert "connection refused" in table.rows[0][5]
    assert table.row_status == ["critical", "ok"]
    down = run("targets --down")
    assert [row[2] for row in down.results[1].rows] == ["down"]
    assert down.results[0].message == "2 of 3 targets up"
    check_rendering(reply)


def test_rules_with_state_and_the_firing_ones(run: RunFn) -> None:
    reply = run("rules")
    assert reply.ok, reply.error
    status, table = reply.results
    assert status.level == "critical" and status.message == "3 firing, 1 pending, 0 with errors"
    rows = {row[1]: row for row in table.rows}
    assert rows["AlwaysFiring"][2:5] == ["alert", "firing", 1]
    assert rows["SlowBurn"][3] == "pending"
    assert rows["job:up:sum"][2:4] == ["record", "recording"]
    assert rows["job:up:sum"][7] == "sum by (job) (up)"
    firing = run("rules --firing")
    assert sorted(row[1] for row in firing.results[1].rows) == ["AlwaysFiring", "DiskAlmostFull", "TargetDown"]
    check_rendering(reply)


def test_basic_auth_and_a_refused_password(run: RunFn) -> None:
    with Prometheus(scrape_self=False, basic_auth_users={TEST_USER: TEST_PASSWORD_BCRYPT}) as guarded:
        env = {"OPSPACK_PROMETHEUS_URL": guarded.url, "OPSPACK_PROMETHEUS_USER": TEST_USER}
        ok = run("query 'vector(42)'", env={**env, "OPSPACK_PROMETHEUS_PASSWORD": TEST_PASSWORD})
        assert ok.ok, ok.error
        assert ok.results[0].rows == [[42]]
        wrong = run("query 'vector(42)'", env={**env, "OPSPACK_PROMETHEUS_PASSWORD": "not-the-password-9f2"})
        bearer = run("query up", env={"OPSPACK_PROMETHEUS_URL": guarded.url, "OPSPACK_PROMETHEUS_TOKEN": "tok-77a1"})
    assert not wrong.ok and wrong.error.kind == "config"
    assert "refused the credentials" in wrong.error.message
    assert "OPSPACK_PROMETHEUS_PASSWORD" in (wrong.error.hint or "")
    assert "not-the-password-9f2" not in str(wrong.to_dict())
    assert bearer.error.kind == "config" and "tok-77a1" not in str(bearer.to_dict())


def test_a_large_result_is_cut_with_the_whole_table_as_csv(run: RunFn) -> None:
    reply = run("query '{__name__=~\"prometheus_.+\"}'", fmt="slack")
    assert reply.ok, reply.error
    table = reply.results[0]
    assert len(table.rows) > 200
    assert table.columns == ["metric", "labels", "value"], "many kinds of series: their labels in one column"
    slack = check_rendering(reply)["slack"]
    uploads = [m["upload"] for m in slack if "upload" in m]
    assert [u["mime"] for u in uploads] == ["text/csv"]
    csv_text = base64.b64decode(uploads[0]["content_base64"]).decode()
    assert len(csv_text.splitlines()) == len(table.rows) + 1
    assert "the full table is attached" in json.dumps(slack)


def test_a_range_vector_shows_samples_and_the_last_value(run: RunFn) -> None:
    reply = run("query 'demo_memory_used_bytes[10s]'")
    assert reply.ok, reply.error
    table = reply.results[0]
    assert table.columns == ["host", "samples", "last"]
    assert {row[0]: row[2] for row in table.rows} == {"web1": "1.5 GiB", "web2": "500 MiB"}
    assert all(row[1] >= 1 for row in table.rows)


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")  # verify_tls=false, as asked
def test_tls_is_verified_against_the_ca_file(run: RunFn, tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    with Prometheus(scrape_self=False, tls=ca.issue("prometheus", ["127.0.0.1"])) as secure:
        assert secure.url.startswith("https://")
        env = {"OPSPACK_PROMETHEUS_URL": secure.url}
        untrusted = run("query 'vector(1)'", env=env)
        trusted = run("query 'vector(1)'", env={**env, "OPSPACK_PROMETHEUS_CA_FILE": str(ca.ca_path)})
        lab = run("query 'vector(1)'", env={**env, "OPSPACK_PROMETHEUS_VERIFY_TLS": "false"})
    assert not untrusted.ok and untrusted.error.kind == "config"
    assert "OPSPACK_PROMETHEUS_CA_FILE" in (untrusted.error.hint or "")
    assert trusted.ok, trusted.error
    assert trusted.results[0].rows == [[1]]
    assert lab.ok, lab.error
