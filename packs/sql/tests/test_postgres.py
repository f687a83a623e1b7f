"""The sql pack against a real PostgreSQL 15: the situations each command exists for."""

from __future__ import annotations

import psycopg
import pytest
from conftest import APP_PASSWORD, results, run, session_id, table_records
from opspack.runtime import Runtime
from opspack_testkit.servers.postgres import PostgresServer


def test_blocking_tree_shows_exactly_the_holder_and_its_two_waiters(runtime: Runtime, pg: PostgresServer) -> None:
    with pg.blocking_workload("app") as work:
        reply = run(runtime, "sql blocking pg")
    assert reply.ok, reply.error
    (table,) = results(reply, "table")
    rows = table_records(table)
    sessions = [session_id(r["session"]) for r in rows]
    assert sorted(sessions) == sorted([work.holder, *work.waiters])
    assert sessions[0] == work.holder and rows[0]["blocked_by"] is None
    assert rows[0]["state"] == "idle in transaction"
    # PostgreSQL reports the second waiter as waiting on the first (tuple lock): depth 2
    assert session_id(rows[1]["session"]) == work.waiters[0] and rows[1]["blocked_by"] == str(work.holder)
    assert session_id(rows[2]["session"]) == work.waiters[1] and rows[2]["blocked_by"] == str(work.waiters[0])
    assert str(rows[2]["session"]).strip().startswith("└") and str(rows[2]["session"]).startswith("  ")
    for r in rows:
        assert r["statement"] == "UPDATE opspack_demo_lock SET v = v + ? WHERE id = ?;"
    (status,) = results(reply, "status")
    assert status["level"] == "ok"  # below blocking_warning_seconds (10 s)
    assert f"2 sessions blocked by 1 ({work.holder})" in status["message"]


def test_blocking_is_critical_past_the_profiles_threshold(runtime: Runtime, pg: PostgresServer) -> None:
    with pg.blocking_workload("app"):
        reply = run(runtime, "sql blocking pgstrict")
    (status,) = results(reply, "status")
    assert status["level"] == "critical"
    assert results(reply, "table")[0]["row_status"][0] == "critical"


def test_no_blocking_is_ok(runtime: Runtime) -> None:
    reply = run(runtime, "sql blocking pg")
    assert [r["kind"] for r in reply.to_dict()["results"]] == ["status"]
    assert results(reply, "status")[0] == {
        "kind": "status",
        "title": "blocking on pg (127.0.0.1/app)",
        "level": "ok",
        "message": "no session is blocked",
    }


def test_waits_groups_the_lock_waiters_and_the_idle_transaction(runtime: Runtime, pg: PostgresServer) -> None:
    with pg.blocking_workload("app") as work:
        reply = run(runtime, "sql waits pg")
    rows = table_records(results(reply, "table")[0])
    lock = [r for r in rows if r["wait_type"] == "Lock"]
    assert sum(r["sessions"] for r in lock) == 2
    assert {r["longest_session"] for r in lock} == set(work.waiters)
    idle = [r for r in rows if r["wait_type"] == "Client"]
    assert idle == [
        {
            "wait_type": "Client",
            "wait_event": "ClientRead (idle in transaction)",
            "sessions": 1,
            "longest_s": idle[0]["longest_s"],
            "longest_session": work.holder,
        }
    ]
    assert results(reply, "status")[0]["level"] == "warning"


def test_running_lists_the_long_sleep_only(runtime: Runtime, pg: PostgresServer) -> None:
    sleeper = pg.session(database="app", application_name="sleeper")
    try:
        sleeper.send("SELECT pg_sleep(600) /* secret 'abc' */;")
        pg.wait_until(
            "SELECT clock_timestamp() - query_start > interval '1 second' FROM pg_stat_activity "
            f"WHERE pid = {sleeper.pid} AND state = 'active'",
            "t",
        )
        reply = run(runtime, "sql running pg --min-seconds 1")
    finally:
        sleeper.close()
    rows = table_records(results(reply, "table")[0])
    assert [r["session"] for r in rows] == [sleeper.pid]
    assert rows[0]["statement"] == "SELECT pg_sleep(?) ;"
    assert rows[0]["running_s"] >= 1


def test_connections_counts_idle_sessions_by_user(runtime: Runtime, pg: PostgresServer) -> None:
    idle = [
        psycopg.connect(host="127.0.0.1", port=pg.port, user="idler", password="idler", dbname="app") for _ in range(25)
    ]
    try:
        reply = run(runtime, "sql connections pg")
    finally:
        for c in idle:
            c.close()
    by_user, by_state = (table_records(t) for t in results(reply, "table"))
    assert {"user": "idler", "connections": 25} in by_user
    assert next(r["connections"] for r in by_state if r["state"] == "idle") >= 25
    (status,) = results(reply, "status")
    assert status["level"] == "ok" and "of 300 connections" in status["message"]


def test_top_uses_pg_stat_statements(runtime: Runtime, pg: PostgresServer) -> None:
    for _ in range(3):
        pg.psql("SELECT count(*) FROM big_table WHERE id > 10", database="app")
    reply = run(runtime, "sql top pg --by calls --limit 50")
    rows = table_records(results(reply, "table")[0])
    assert any(r["statement"] == "SELECT count(*) FROM big_table WHERE id > $1" and r["calls"] >= 3 for r in rows)


def test_top_says_how_to_enable_pg_stat_statements(runtime: Runtime) -> None:
    reply = run(runtime, "sql top pgpostgres")
    assert results(reply, "status")[0]["level"] == "unknown"
    assert "shared_preload_libraries" in results(reply, "text")[0]["text"]


def test_size_lists_databases_and_the_largest_table(runtime: Runtime) -> None:
    reply = run(runtime, "sql size pg --limit 3")
    dbs, tables = (table_records(t) for t in results(reply, "table"))
    assert {"app", "postgres"} <= {r["database"] for r in dbs}
    assert tables[0]["table"] == "public.big_table"
    assert tables[0]["rows_estimate"] == 20000
    assert tables[0]["total_bytes"] > 4_000_000


def test_health_is_ok_then_critical_while_blocked(runtime: Runtime, pg: PostgresServer) -> None:
    reply = run(runtime, "sql health pg")
    (kv,) = results(reply, "kv")
    assert kv["items"]["version"].startswith("PostgreSQL 15")
    assert kv["items"]["role"] == "primary"
    assert results(reply, "status")[0]["level"] == "ok"
    with pg.blocking_workload("app") as work:
        reply = run(runtime, "sql health pgstrict")
    (kv,) = results(reply, "kv")
    assert kv["items"]["blocking"].startswith("2 sessions blocked")
    assert f"(session {work.holder})" in kv["items"]["longest transaction"]
    assert results(reply, "status")[0]["level"] == "critical"


def test_kill_needs_confirmation_then_ends_the_blocker(runtime: Runtime, pg: PostgresServer) -> None:
    with pg.blocking_workload("app", user="worker", password="worker") as work:
        asked = run(runtime, f"sql kill pg {work.holder}")
        assert not asked.ok and asked.error is not None and asked.error.confirm is not None
        assert pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {work.holder}") == "1"
        reply = run(runtime, f"sql kill pg {work.holder}", confirmed=True)
        assert reply.ok, reply.error
        assert f"ended session {work.holder}" in results(reply, "status")[0]["message"]
        pg.wait_until(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {work.holder}", "0")
        pg.wait_until("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'", "0", database="app")


def test_kill_cancel_stops_only_the_statement(runtime: Runtime, pg: PostgresServer) -> None:
    sleeper = pg.session(database="app", user="worker", password="worker")
    try:
        sleeper.send("SELECT pg_sleep(600);")
        pg.wait_until(f"SELECT state FROM pg_stat_activity WHERE pid = {sleeper.pid}", "active")
        reply = run(runtime, f"sql kill pg {sleeper.pid} --cancel", confirmed=True)
        assert "cancelled the statement of" in results(reply, "status")[0]["message"]
        pg.wait_until(f"SELECT state FROM pg_stat_activity WHERE pid = {sleeper.pid}", "idle")
    finally:
        sleeper.close()


def test_kill_unknown_session_is_not_found(runtime: Runtime) -> None:
    reply = run(runtime, "sql kill pg 999999", confirmed=True)
    assert reply.error is not None and reply.error.kind == "not_found"


def test_statement_timeout_stops_a_query_stuck_on_a_lock(runtime: Runtime, pg: PostgresServer) -> None:
    """A sick database cannot hang the bot: the pack's own statement gives up after statement_timeout."""
    locker = pg.session(database="app")
    try:
        locker.send("BEGIN; LOCK TABLE pg_stat_statements_info IN ACCESS EXCLUSIVE MODE;")
        locker.send("LOCK TABLE pg_stat_statements IN ACCESS EXCLUSIVE MODE;")
        pg.wait_until(
            f"SELECT count(*) FROM pg_locks WHERE pid = {locker.pid} AND mode = 'AccessExclusiveLock'",
            "2",
            database="app",
        )
        reply = run(runtime, "sql top pgstrict")
    finally:
        locker.close()
    assert reply.error is not None and reply.error.kind == "timeout"
    assert "statement_timeout" in (reply.error.hint or "")


def test_connections_are_pooled_per_profile(runtime: Runtime, pg: PostgresServer) -> None:
    for _ in range(3):
        assert run(runtime, "sql blocking pg").ok
        assert run(runtime, "sql health pg").ok
    count = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'opspack-sql'")
    assert count == "1"


def test_wrong_password_is_denied_without_showing_it(runtime: Runtime) -> None:
    reply = run(runtime, "sql health pgbadpw")
    assert reply.error is not None and reply.error.kind == "denied"
    assert "wrong-Password-99" not in str(reply.to_dict())
    assert "password" in (reply.error.hint or "")


@pytest.mark.parametrize(
    ("text", "kind"),
    [("sql waits nosuch", "not_found"), ("sql waits pgg", "not_found"), ("sql waits", "config")],
)
def test_unknown_profile_and_missing_url(runtime: Runtime, text: str, kind: str) -> None:
    reply = run(runtime, text)
    assert reply.error is not None and reply.error.kind == kind
    if text.endswith("pgg"):
        assert "pg" in (reply.error.hint or "")


def test_url_password_is_masked(registry: object, pg: PostgresServer) -> None:
    from opspack.settings import Config

    env = {"OPSPACK_SQL_URL": f"postgresql://app:{APP_PASSWORD}@127.0.0.1:{pg.port}/nosuchdb"}
    rt = Runtime(registry, config=Config.load(environ=env))  # type: ignore[arg-type]
    try:
        reply = run(rt, "sql health")
    finally:
        rt.close()
    assert reply.error is not None and reply.error.kind == "config"
