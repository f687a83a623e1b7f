"""The dialect-free parts: literal masking, the blocking tree, URLs, profiles, laziness."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opspack import ConfigError
from opspack_sql.connection import parse_url
from opspack_sql.model import Activity, blocking_tree, group_waits, human_bytes, mask_literals


@pytest.mark.parametrize(
    ("sql", "masked"),
    [
        ("SELECT * FROM t WHERE name = 'bob' AND id = 42", "SELECT * FROM t WHERE name = ? AND id = ?"),
        ("UPDATE t SET pw = 'it''s secret' WHERE x = -3.5e2", "UPDATE t SET pw = ? WHERE x = -?"),
        ("SELECT $$body$$, $tag$x$tag$, $1", "SELECT ?, ?, $1"),
        ("SELECT E'a\\'b', t1.c2 FROM t1", "SELECT ?, t1.c2 FROM t1"),
        ('SELECT "Col1" FROM t -- note 123\nWHERE a=0x1F', 'SELECT "Col1" FROM t WHERE a=?'),
        ("SELECT /* 'hidden' */ 1", "SELECT ?"),
        ("SELECT 'unterminated secret", "SELECT ?"),
        ("SELECT [dbo].[t2], `a1` FROM x", "SELECT [dbo].[t2], `a1` FROM x"),
        (None, ""),
    ],
)
def test_mask_literals(sql: str | None, masked: str) -> None:
    assert mask_literals(sql) == masked


def test_mask_double_quotes_for_mysql_and_cut() -> None:
    assert mask_literals('SELECT "secret" FROM t', double_quoted_strings=True) == "SELECT ? FROM t"
    assert mask_literals("SELECT a, b, c FROM t", limit=10) == "SELECT a,…"


def test_blocking_tree_picks_the_deepest_blocker() -> None:
    acts = [
        Activity(3, blocked_by=[1, 2], seconds=1),
        Activity(1, xact_seconds=50),
        Activity(2, blocked_by=[1], seconds=5),
        Activity(9, blocked_by=[8], seconds=1),
        Activity(8, xact_seconds=10),
    ]
    assert [(n.activity.session, n.depth, n.root) for n in blocking_tree(acts)] == [
        (1, 0, 1),
        (2, 1, 1),
        (3, 2, 1),
        (8, 0, 8),
        (9, 1, 8),
    ]


def test_blocking_tree_survives_a_cycle() -> None:
    acts = [Activity(1, blocked_by=[2]), Activity(2, blocked_by=[1])]
    assert sorted(n.activity.session for n in blocking_tree(acts)) == [1, 2]


def test_group_waits() -> None:
    acts = [
        Activity(1, wait_type="Lock", wait_event="tuple", seconds=3),
        Activity(2),
        Activity(3, wait_type="Lock", wait_event="tuple", seconds=9),
    ]
    groups = group_waits(acts)
    assert [(g.wait_type, g.wait_event, len(g.sessions), g.longest.session) for g in groups] == [
        ("Lock", "tuple", 2, 3),
        ("CPU", "running", 1, 2),
    ]


def test_parse_url() -> None:
    target, password = parse_url("postgresql+psycopg://app:p%40ss@db1:6432/app?sslmode=require")
    assert (target.scheme, target.host, target.port, target.user, target.database) == (
        "postgresql",
        "db1",
        6432,
        "app",
        "app",
    )
    assert target.options == {"sslmode": "require"} and password == "p@ss"
    assert parse_url("mariadb://u@h/d")[0].scheme == "mariadb"
    with pytest.raises(ConfigError):
        parse_url("oracle://u@h/d")


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (12, 1536, 5 * 1024**3)] == ["12 B", "1.5 KiB", "5.0 GiB"]


def test_command_modules_import_no_driver() -> None:
    code = (
        "import sys, opspack_sql, opspack_sql.activity, opspack_sql.stats, opspack_sql.server;"
        "from opspack_sql.connection import parse_url; from opspack_sql.dialects import dialect_for;"
        "[dialect_for(s) for s in ('postgresql', 'mysql', 'mssql')];"
        "bad = [m for m in ('psycopg', 'pymysql', 'pymssql', 'sqlalchemy') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
