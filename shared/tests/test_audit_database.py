"""The audit trail's database: one made by an earlier version (whose tables SQLAlchemy
created) keeps working, and without a PostgreSQL driver the core says what to install."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from opspack.audit import AuditLog, Record
from opspack.confirm import SqlConfirmations
from opspack.registry import Registry
from opspack.results import Confirmation, Error, Reply
from opspack.store import Database


def sqlalchemy_create_table(name: str, *lines: str) -> str:
    """``CREATE TABLE`` laid out as SQLAlchemy 2's ``CreateTable`` writes it."""
    return f"CREATE TABLE {name} (\n\t" + ", \n\t".join(lines) + "\n)"


def old_schema(dialect: str) -> list[str]:
    """The DDL SQLAlchemy 2 emitted for the audit trail's tables in opspack 0.1.2 (``CreateTable``
    and ``CreateIndex`` compiled for each dialect): ``user`` is quoted and ids are SERIAL on
    PostgreSQL."""
    user = '"user"' if dialect == "postgresql" else "user"
    serial = "SERIAL" if dialect == "postgresql" else "INTEGER"
    return [
        sqlalchemy_create_table(
            "opspack_invocations",
            f"id {serial} NOT NULL",
            "at FLOAT NOT NULL",
            f"{user} VARCHAR(200) NOT NULL",
            "channel VARCHAR(200)",
            "frontend VARCHAR(50) NOT NULL",
            "command VARCHAR(200)",
            "text TEXT",
            "args TEXT NOT NULL",
            "ok BOOLEAN NOT NULL",
            "error_kind VARCHAR(20)",
            "duration_ms FLOAT NOT NULL",
            "PRIMARY KEY (id)",
        ),
        "CREATE INDEX ix_opspack_invocations_at ON opspack_invocations (at)",
        f"CREATE INDEX ix_opspack_invocations_user ON opspack_invocations ({user})",
        "CREATE INDEX ix_opspack_invocations_command ON opspack_invocations (command)",
        sqlalchemy_create_table(
            "opspack_friction",
            f"id {serial} NOT NULL",
            "at FLOAT NOT NULL",
            f"{user} VARCHAR(200) NOT NULL",
            "channel VARCHAR(200)",
            "text TEXT NOT NULL",
            "tags VARCHAR(500) NOT NULL",
            "done_at FLOAT",
            "done_by VARCHAR(200)",
            "PRIMARY KEY (id)",
        ),
        "CREATE INDEX ix_opspack_friction_at ON opspack_friction (at)",
        sqlalchemy_create_table(
            "opspack_confirmations",
            "token_sha256 VARCHAR(64) NOT NULL",
            "expires FLOAT NOT NULL",
            "pending TEXT NOT NULL",
            "PRIMARY KEY (token_sha256)",
        ),
        "CREATE INDEX ix_opspack_confirmations_expires ON opspack_confirmations (expires)",
    ]


#: rows as the earlier version wrote them (SQLite kept its booleans as 1 and 0)
OLD_INVOCATION = (1.7e9, "olduser", "#ops", "slack", "sample.thing.list", "thing list", "{}", True, None, 12.5)
OLD_FRICTION = (1.7e9, "olduser", None, "restarting by hand", "manual", None, None)

CATALOG_SQLITE = """
SELECT m.name, p.name, p.type, p."notnull", p.pk FROM sqlite_master m, pragma_table_info(m.name) p
WHERE m.type = 'table' ORDER BY m.name, p.cid
"""
INDEXES_SQLITE = "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' ORDER BY name"
CATALOG_POSTGRES = """
SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default
FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position
"""
INDEXES_POSTGRES = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"


def record(user: str, **kw: Any) -> Record:
    fields: dict[str, Any] = {
        "at": time.time(), "channel": None, "frontend": "cli", "command": "sample.thing.list", "text": None,
        "args": "{}", "ok": True, "error_kind": None, "duration_ms": 1.0,
    }  # fmt: skip
    return Record(user=user, **{**fields, **kw})


def catalog(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The tables' columns and the indexes of ``db``, as its own catalog describes them."""
    if db.dialect == "sqlite":
        return db.query(CATALOG_SQLITE), db.query(INDEXES_SQLITE)
    return db.query(CATALOG_POSTGRES), db.query(INDEXES_POSTGRES)


def make_old_database(url: str) -> None:
    """A database as the earlier, SQLAlchemy-based version left it: its tables and one row in each."""
    db = Database(url)
    with db.transaction() as tx:
        for statement in old_schema(db.dialect):
            tx.execute(statement)
        tx.execute(
            'INSERT INTO opspack_invocations (at, "user", channel, frontend, command, text, args, ok, error_kind, '
            "duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            OLD_INVOCATION,
        )
        tx.execute(
            'INSERT INTO opspack_friction (at, "user", channel, text, tags, done_at, done_by) '
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            OLD_FRICTION,
        )
    db.close()


#: what opening an earlier version's database adds: the invocations' new columns (at the end,
#: nullable), the table of spent confirmation tokens and the runner's registry snapshots
ADDED_COLUMNS = {"opspack_invocations": ["token", "approver", "reason"]}
ADDED_TABLES = {"opspack_confirmations_spent", "opspack_registry_snapshots"}


def test_an_audit_database_made_by_the_earlier_version_keeps_working(audit_url: str) -> None:
    make_old_database(audit_url)
    before_columns, before_indexes = catalog(Database(audit_url))
    audit = AuditLog(audit_url)
    try:
        confirmations = SqlConfirmations(audit.database)
        columns, indexes = catalog(audit.database)
        # opening it added the new columns, nullable and at the end, and the new table; nothing else
        added = [c for c in columns if c not in before_columns]
        assert [c[:2] for c in added if c[0] not in ADDED_TABLES] == [
            (table, name) for table, names in ADDED_COLUMNS.items() for name in names
        ]
        assert {c[0] for c in added} - set(ADDED_COLUMNS) == ADDED_TABLES
        assert all(c in columns for c in before_columns)
        nullable = {c[1]: c for c in added if c[0] == "opspack_invocations"}
        assert all((c[3] == 0) if audit.database.dialect == "sqlite" else (c[4] == "YES") for c in nullable.values())
        assert [i for i in indexes if i not in before_indexes] == [
            i for i in indexes if any(table in i[0] for table in ADDED_TABLES)
        ]
        old = audit.history(limit=5)
        assert [(r.id, r.user, r.ok, r.duration_ms) for r in old] == [(1, "olduser", True, 12.5)]
        assert (old[0].token, old[0].approver, old[0].reason) == (None, None, None)
        audit.record(record("newuser", ok=False, error_kind="backend", token="hubot", reason="why not"))
        both = [(r.id, r.user, r.ok, r.token, r.reason) for r in audit.history(limit=5)]
        assert both == [(2, "newuser", False, "hubot", "why not"), (1, "olduser", True, None, None)]
        assert [r.user for r in audit.history(failed=True)] == ["newuser"]
        assert audit.stats()[0] == {
            "command": "sample.thing.list", "runs": 2, "failures": 1, "failure_rate": 0.5, "median_ms": 12.5,
            "slowest_ms": 12.5,
        }  # fmt: skip
        assert audit.friction_add("al", "#ops", "no runbook", ["docs"]) == 2
        assert [r["id"] for r in audit.friction_list()] == [2, 1]
        assert audit.friction_done(1, "al") and not audit.friction_done(1, "al")
        ask = Reply.failure(
            Error(kind="denied", message="?", confirm=Confirmation(command="c.d.e", args={"x": 1}, prompt="Sure?"))
        )
        token = confirmations.issue(ask, "al").error.confirm.token  # type: ignore[union-attr]
        assert token and confirmations.redeem(token, "al").args == {"x": 1}
    finally:
        audit.close()


def test_new_tables_are_the_ones_an_earlier_database_is_brought_to(
    audit_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Same names, types, keys, defaults and indexes: the earlier version's tables with the
    columns added since, and a database it made, once opened, is the same again. Opening
    it twice (or from two processes) changes nothing more."""
    if audit_url.startswith("sqlite"):
        old_url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        old_url = audit_url.rsplit("/", 1)[0] + "/oldschema"  # a sibling database on the same server
        request.getfixturevalue("postgres").psql("CREATE DATABASE oldschema")
    make_old_database(old_url)
    old_columns, old_indexes = catalog(Database(old_url))
    audit = AuditLog(audit_url)
    SqlConfirmations(audit.database)
    migrated = [AuditLog(old_url) for _ in range(2)]
    SqlConfirmations(migrated[0].database)
    try:
        columns, indexes = catalog(audit.database)
        assert (columns, indexes) == catalog(migrated[0].database)
        new = [c for c in columns if c not in old_columns]
        assert [c[:2] for c in new if c[0] == "opspack_invocations"] == [
            ("opspack_invocations", n) for n in ADDED_COLUMNS["opspack_invocations"]
        ]
        assert {c[0] for c in new} == {"opspack_invocations", *ADDED_TABLES}
        assert set(old_indexes) <= set(indexes)
    finally:
        audit.close()
        for log in migrated:
            log.close()


def test_without_psycopg_the_command_line_says_what_to_install(tmp_path: Path, registry: Registry) -> None:
    """`opspack run` still runs the command (the trail is off, the log says why); `opspack history` fails
    with the message and the hint, not a traceback."""
    reg = tmp_path / "registry.json"
    reg.write_text(json.dumps(registry.to_data()))
    code = (
        "import sys; sys.modules['psycopg'] = None; "
        "from opspack.frontends.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent / "sample_pack"),
        "OPSPACK_AUDIT_URL": "postgresql://app:hunter2@127.0.0.1:1/app",
        "OPSPACK_SAMPLE_URL": "https://b",
        "OPSPACK_SAMPLE_PASSWORD": "pw-123456",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-c", code, "--registry", str(reg), *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=60)

    ran = cli("run", "--", "thing", "list", "--limit", "1")
    assert ran.returncode == 0 and "thing0" in ran.stdout
    assert "the audit trail cannot be opened" in ran.stderr and "pip install 'opspack[postgres]'" in ran.stderr
    assert "Traceback" not in ran.stderr and "hunter2" not in ran.stderr
    history = cli("history", "--json")
    assert history.returncode == 1 and history.stdout == ""
    assert history.stderr == (
        "opspack: postgresql://app:***@127.0.0.1:1/app: PostgreSQL needs the psycopg driver, which is not installed\n"
        "Install it: pip install 'opspack[postgres]'\n"
    )


def test_the_core_imports_no_database_driver_until_one_is_used(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from opspack.audit import AuditLog\n"
        "from opspack.frontends.gateway import Gateway\n"
        "AuditLog(sys.argv[1]).close()\n"
        "print(sorted(m for m in ('psycopg', 'sqlalchemy') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent / "sample_pack")}
    proc = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path / 'a.db'}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert sqlite3.connect(tmp_path / "a.db").execute("SELECT COUNT(*) FROM opspack_invocations").fetchone() == (0,)
