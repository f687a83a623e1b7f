"""Units, durations and times as people type them (no server needed)."""

from __future__ import annotations

import math

import pytest
from opspack.errors import UsageError
from opspack_prometheus.draw import with_gaps
from opspack_prometheus.matchers import matcher_text, matches, parse_matchers
from opspack_prometheus.timeparse import auto_step, parse_duration, parse_time, short_duration
from opspack_prometheus.units import format_value, metric_names, unit_of_name, unit_of_query


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6h", 21600), ("2d", 172800), ("1d12h", 129600), ("90m", 5400), ("now-1h", 3600), ("1w", 604800), ("30s", 30)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "6", "h", "-1h", "0s", "1h foo"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_times() -> None:
    now = 1_800_000_000.0
    assert parse_time("now", now=now) == now
    assert parse_time("now-1h", now=now) == now - 3600
    assert parse_time("2026-11-01T10:00Z", now=now) == 1793527200
    assert parse_time("2026-11-01", now=now) == 1793491200
    assert parse_time("1793527200000", now=now) == 1793527200
    with pytest.raises(UsageError):
        parse_time("yesterday", now=now)


def test_auto_step_is_round_and_keeps_about_720_points() -> None:
    assert auto_step(6 * 3600) == 30
    assert auto_step(300) == 1
    assert auto_step(7 * 86400) == 900
    assert 6 * 3600 / auto_step(6 * 3600) <= 720


def test_short_duration() -> None:
    assert short_duration(5) == "5s"
    assert short_duration(3725) == "1h 2m"
    assert short_duration(2 * 86400 + 7200 + 5) == "2d 2h"


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("node_memory_MemFree_bytes", "bytes"),
        ("node_network_receive_bytes_total", "bytes"),
        ("http_request_duration_seconds_bucket", "seconds"),
        ("http_request_duration_seconds_count", None),
        ("cache_hit_ratio", "ratio"),
        ("up", None),
    ],
)
def test_unit_of_name(name: str, unit: str | None) -> None:
    assert unit_of_name(name) == unit


def test_unit_of_query_reads_the_promql() -> None:
    assert metric_names('sum by (job) (rate(x_bytes_total{a="b_seconds"}[5m]))') == ["x_bytes_total"]
    assert unit_of_query("sum(rate(node_network_receive_bytes_total[5m]))") == "bytes/s"
    assert unit_of_query("rate(process_cpu_seconds_total[5m])") is None
    assert unit_of_query("histogram_quantile(0.99, sum by (le) (rate(h_seconds_bucket[5m])))") == "seconds"
    assert unit_of_query("a_bytes / b_seconds") is None
    assert unit_of_query("anything", ["a_bytes", "b_bytes"]) == "bytes"


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1610612736, "bytes", "1.5 GiB"),
        (512, "bytes", "512 B"),
        (2048, "bytes/s", "2 KiB/s"),
        (0.25, "seconds", "250 ms"),
        (0.0000042, "seconds", "4.2 µs"),
        (7384, "seconds", "2h 3m"),
        (0.935, "ratio", "93.5%"),
        (12345, None, "12,345"),
        (math.nan, "bytes", "NaN"),
        (math.inf, None, "+Inf"),
    ],
)
def test_format_value(value: float, unit: str | None, text: str) -> None:
    assert format_value(value, unit) == text  # type: ignore[arg-type]


def test_matchers() -> None:
    ms = parse_matchers('{team="pay,ments", env=~prod.*,host!=a}')
    assert [matcher_text(m) for m in ms] == ['team="pay,ments"', 'env=~"prod.*"', 'host!="a"']
    assert matches({"team": "pay,ments", "env": "prod-eu", "host": "b"}, ms)
    assert not matches({"team": "pay,ments", "env": "xprod", "host": "b"}, ms), "regexes are anchored"
    with pytest.raises(UsageError):
        parse_matchers("team")


def test_gaps_break_the_line() -> None:
    xs, ys = with_gaps([0, 10, 20, 60, 70], [1, 2, 3, 4, 5], 10)
    assert xs == [0, 10, 20, 30, 60, 70] and math.isnan(ys[3])
