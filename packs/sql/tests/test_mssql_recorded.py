"""SQL Server: no server runs here, so its statements are checked for T-SQL syntax
(sqlglot's tsql parser) and mapped from result sets recorded in Microsoft's documented
layout (fixtures/mssql_recorded.json). The connection path is real pymssql."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from conftest import results, run
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_sql.dialects import mssql
from opspack_sql.model import blocking_tree, group_waits
from opspack_testkit import free_port

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "mssql_recorded.json").read_text())
STATEMENTS = {
    name: getattr(mssql, name)
    for name in (
        "WAITS",
        "BLOCKING",
        "RUNNING",
        "TOP",
        "SIZE_DATABASES",
        "SIZE_TABLES",
        "CONNECTIONS",
        "HEALTH",
        "KILL_LOOKUP",
    )
}


class Recorded:
    """A Runner answering each known statement with its recorded rows, logging what was sent."""

    server_version = "16.0.4135.4"

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...] | None]] = []

    def query(self, sql: str, params: tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
        self.sent.append((sql, params))
        for name, statement in STATEMENTS.items():
            if sql == statement or (name == "TOP" and sql.startswith(statement.split("{order}")[0])):
                return [dict(r) for r in RECORDED.get(name, [])]
        if sql.startswith("KILL "):
            return []
        raise AssertionError(f"unexpected statement: {sql[:80]}")


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_statement_is_valid_tsql(name: str) -> None:
    sql = STATEMENTS[name]
    if name == "TOP":
        sql = sql.format(order="qs.execution_count")
    sqlglot.parse_one(sql.replace("%d", "10"), read="tsql", error_level=sqlglot.ErrorLevel.RAISE)


def test_every_top_order_is_valid_tsql() -> None:
    for order in ("qs.total_elapsed_time", "qs.execution_count", "io_pages"):
        sqlglot.parse_one(mssql.TOP.format(order=order).replace("%d", "5"), read="tsql")


def test_blocking_tree_from_recorded_requests() -> None:
    runner = Recorded()
    nodes = blocking_tree(mssql.DIALECT.blocking(runner))
    assert [(n.activity.session, n.depth) for n in nodes] == [(53, 0), (61, 1), (64, 2)]
    assert nodes[1].activity.wait_type == "Lock" and nodes[1].activity.wait_event == "LCK_M_U"
    assert nodes[1].activity.seconds == 80.5
    assert len(runner.sent) == 1  # one round trip


def test_waits_grouped_by_wait_class() -> None:
    groups = group_waits(mssql.DIALECT.waits(Recorded()))
    summary = {(g.wait_type, g.wait_event): [a.session for a in g.sessions] for g in groups}
    assert summary == {
        ("Client", "sleeping (open transaction)"): [53],
        ("Lock", "LCK_M_U"): [61],
        ("Lock", "LCK_M_S"): [64],
        ("Buffer IO", "PAGEIOLATCH_SH"): [70],
        ("CPU", "running"): [71],
    }


def test_connections_top_sizes_health_mapping() -> None:
    r = Recorded()
    use = mssql.DIALECT.connections(r)
    assert use.total == 200 and use.max_connections == 32767
    top = mssql.DIALECT.top(r, "io", 5)
    assert top.rows[0]["calls"] == 120000 and top.rows[0]["io"] == 9000000
    assert r.sent[-1][1] == (5,) and "ORDER BY io_pages DESC" in r.sent[-1][0]
    sizes = mssql.DIALECT.sizes(r, 10)
    assert sizes.databases[0] == ("shop", 21474836480) and sizes.tables[0]["rows"] == 50000000
    h = mssql.DIALECT.health(r)
    assert h.replica is True and h.lag_seconds == 4 and h.blocked == 2 and h.longest_xact_session == 53


def test_kill_sends_kill_with_the_validated_session() -> None:
    r = Recorded()
    ended = mssql.DIALECT.kill(r, 53, cancel=False)
    assert ended is not None and ended.session == 53
    assert r.sent[-1] == ("KILL 53", None)


def test_wait_classes() -> None:
    assert mssql.wait_class("LCK_M_X") == "Lock"
    assert mssql.wait_class("WRITELOG") == "Tran Log IO"
    assert mssql.wait_class("CXCONSUMER") == "Parallelism"
    assert mssql.wait_class("SOMETHING_NEW") == "Other"
    assert mssql.wait_class(None) == "CPU"


def test_unreachable_sql_server_is_a_backend_error(registry: Any, tmp_path: Path) -> None:
    env = {"OPSPACK_SQL_URL": f"mssql://sa@127.0.0.1:{free_port()}/master", "OPSPACK_SQL_CONNECT_TIMEOUT": "2"}
    rt = Runtime(registry, config=Config.load(environ=env))
    try:
        reply = run(rt, "sql health")
    finally:
        rt.close()
    assert reply.error is not None and reply.error.kind in ("backend", "timeout")
    assert "url" in (reply.error.hint or "")
    assert not results(reply, "status")
