"""The sql pack against a real MariaDB (Debian's 10.11): the same situations as for PostgreSQL."""

from __future__ import annotations

import pymysql
import pytest
from conftest import APP_PASSWORD, results, run, session_id, table_records
from opspack.runtime import Runtime
from opspack_testkit.servers.mariadb import MariaDBServer


def test_blocking_tree_shows_exactly_the_holder_and_its_two_waiters(mruntime: Runtime, mdb: MariaDBServer) -> None:
    with mdb.blocking_workload("app") as work:
        reply = run(mruntime, "sql blocking maria")
    assert reply.ok, reply.error
    rows = table_records(results(reply, "table")[0])
    sessions = [session_id(r["session"]) for r in rows]
    assert sorted(sessions) == sorted([work.holder, *work.waiters])
    assert sessions[0] == work.holder and rows[0]["blocked_by"] is None
    assert work.holder in [int(x) for x in rows[1]["blocked_by"].split(",")]
    # InnoDB reports the second waiter blocked by the holder and the first waiter
    assert {int(x) for x in rows[2]["blocked_by"].split(",")} <= {work.holder, work.waiters[0]}
    assert rows[1]["statement"] == "UPDATE opspack_demo_lock SET v = v + ? WHERE id = ?"
    assert rows[1]["wait"] == "Lock/InnoDB row lock"
    assert results(reply, "status")[0]["level"] == "ok"


def test_blocking_is_critical_past_the_profiles_threshold(mruntime: Runtime, mdb: MariaDBServer) -> None:
    with mdb.blocking_workload("app"):
        reply = run(mruntime, "sql blocking mariastrict")
    assert results(reply, "status")[0]["level"] == "critical"


def test_no_blocking_is_ok(mruntime: Runtime) -> None:
    reply = run(mruntime, "sql blocking maria")
    assert results(reply, "status")[0]["message"] == "no session is blocked"


def test_waits_counts_the_two_lock_waiters(mruntime: Runtime, mdb: MariaDBServer) -> None:
    with mdb.blocking_workload("app") as work:
        reply = run(mruntime, "sql waits maria")
    rows = table_records(results(reply, "table")[0])
    lock = [r for r in rows if r["wait_type"] == "Lock"]
    assert [(r["wait_event"], r["sessions"]) for r in lock] == [("InnoDB row lock", 2)]
    assert lock[0]["longest_session"] in work.waiters
    idle = [r for r in rows if r["wait_type"] == "Client"]
    assert [(r["sessions"], r["longest_session"]) for r in idle] == [(1, work.holder)]


def test_running_lists_the_long_sleep_only(mruntime: Runtime, mdb: MariaDBServer) -> None:
    sleeper = mdb.session(database="app")
    try:
        sleeper.send("SELECT SLEEP(600), 'secret';")
        mdb.wait_until(
            f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {sleeper.id} AND TIME >= 1", "1"
        )
        reply = run(mruntime, "sql running maria --min-seconds 1")
    finally:
        sleeper.close()
    rows = table_records(results(reply, "table")[0])
    assert [r["session"] for r in rows] == [sleeper.id]
    assert rows[0]["statement"] == "SELECT SLEEP(?), ?"


def test_connections_counts_idle_sessions_by_user(mruntime: Runtime, mdb: MariaDBServer) -> None:
    idle = [pymysql.connect(host="127.0.0.1", port=mdb.port, user="idler", password="idler") for _ in range(25)]
    try:
        reply = run(mruntime, "sql connections maria")
    finally:
        for c in idle:
            c.close()
    by_user, by_state = (table_records(t) for t in results(reply, "table"))
    assert {"user": "idler", "connections": 25} in by_user
    assert next(r["connections"] for r in by_state if r["state"] == "Sleep") >= 25
    assert "of 300 connections" in results(reply, "status")[0]["message"]


def test_top_uses_performance_schema_digests(mruntime: Runtime, mdb: MariaDBServer) -> None:
    for _ in range(3):
        mdb.sql("SELECT COUNT(*) FROM big_table WHERE id > 10", database="app")
    reply = run(mruntime, "sql top maria --by calls --limit 100")
    rows = table_records(results(reply, "table")[0])
    assert any(
        r["statement"] == "SELECT COUNT ( * ) FROM `big_table` WHERE ID > ?" and r["calls"] >= 3 for r in rows
    ), rows


def test_size_lists_databases_and_the_largest_table(mruntime: Runtime) -> None:
    reply = run(mruntime, "sql size maria --limit 3")
    dbs, tables = (table_records(t) for t in results(reply, "table"))
    assert "app" in {r["database"] for r in dbs}
    assert tables[0]["table"] == "app.big_table"
    assert tables[0]["total_bytes"] > 2_000_000


def test_health_is_ok_then_critical_while_blocked(mruntime: Runtime, mdb: MariaDBServer) -> None:
    reply = run(mruntime, "sql health maria")
    (kv,) = results(reply, "kv")
    assert kv["items"]["version"].startswith("MariaDB 10.")
    assert kv["items"]["role"] == "primary"
    assert results(reply, "status")[0]["level"] == "ok"
    with mdb.blocking_workload("app") as work:
        reply = run(mruntime, "sql health mariastrict")
    (kv,) = results(reply, "kv")
    assert kv["items"]["blocking"].startswith("2 sessions blocked")
    assert f"(session {work.holder})" in kv["items"]["longest transaction"]
    assert results(reply, "status")[0]["level"] == "critical"


def test_kill_ends_the_blocker_and_unblocks_the_waiters(mruntime: Runtime, mdb: MariaDBServer) -> None:
    with mdb.blocking_workload("app") as work:
        asked = run(mruntime, f"sql kill maria {work.holder}")
        assert asked.error is not None and asked.error.confirm is not None
        reply = run(mruntime, f"sql kill maria {work.holder}", confirmed=True)
        assert reply.ok, reply.error
        mdb.wait_until(f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {work.holder}", "0")
        mdb.wait_until("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'", "0")


def test_kill_unknown_session_is_not_found(mruntime: Runtime) -> None:
    reply = run(mruntime, "sql kill maria 999999", confirmed=True)
    assert reply.error is not None and reply.error.kind == "not_found"


def test_statement_timeout_stops_the_packs_own_statement(mdb: MariaDBServer) -> None:
    """The pack's sessions run with max_statement_time, so a slow statement ends as a timeout."""
    from opspack_sql.connection import Database, parse_url
    from opspack_sql.errors import translate

    target, _ = parse_url(f"mysql://app@127.0.0.1:{mdb.port}/app")
    db = Database(target, APP_PASSWORD, statement_timeout=0.5)
    try:
        (row,) = db.run(lambda r: r.query("SELECT @@max_statement_time AS t"))
        assert float(row["t"]) == 0.5
        with pytest.raises(pymysql.err.OperationalError) as caught:
            db.run(lambda r: r.query("SELECT COUNT(*) FROM big_table a, big_table b"))
        error = translate(caught.value)
        assert error is not None and error.kind == "timeout"
        assert db.connects == 1
    finally:
        db.close()
