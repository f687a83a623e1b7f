"""The core's database layer (opspack.store): SQLite through the standard library and
PostgreSQL through psycopg, with one SQL text for both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from opspack.errors import ConfigError
from opspack.store import Column, Database, Table


def test_sqlite_writers_in_many_threads_and_connections_lose_nothing(tmp_path: Path) -> None:
    """Eight threads on one Database and four on another (another process, say) update one
    counter and insert rows; every transaction counts, none fails on a busy database."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    counters = Table(
        "counters", (Column("name", "VARCHAR(20)", nullable=False, primary_key=True), Column("n", "INTEGER"))
    )
    events = Table(
        "events",
        (Column("id", "INTEGER", nullable=False, primary_key=True, autoincrement=True), Column("who", "TEXT")),
    )
    first, second = Database(url), Database(url)
    first.create_tables(counters, events)
    second.create_tables(counters, events)  # again: nothing happens
    first.execute("INSERT INTO counters (name, n) VALUES (?, ?)", ("hits", 0))
    errors: list[BaseException] = []
    ids: list[int | None] = []

    def work(db: Database, who: str) -> None:
        try:
            for _ in range(50):
                with db.transaction() as tx:
                    n = tx.scalar("SELECT n FROM counters WHERE name = ?", ("hits",))
                    tx.execute("UPDATE counters SET n = ? WHERE name = ?", (n + 1, "hits"))
                    ids.append(tx.insert(events, {"who": who}))
                db.query("SELECT COUNT(*) FROM events")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(first, f"a{i}")) for i in range(8)]
    threads += [threading.Thread(target=work, args=(second, f"b{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert first.scalar("SELECT n FROM counters WHERE name = ?", ("hits",)) == 600
    assert first.scalar("SELECT COUNT(*) FROM events") == 600
    assert sorted(i for i in ids if i is not None) == list(range(1, 601))
    assert first.scalar("PRAGMA journal_mode") == "wal"
    first.close()
    second.close()


def test_a_transaction_that_raises_leaves_nothing(audit_url: str) -> None:
    db = Database(audit_url)
    db.create_tables(Table("notes", (Column("body", "TEXT", nullable=False),)))

    def interrupted() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO notes (body) VALUES (?)", ("half done",))
            raise RuntimeError("stop")

    def refused() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO notes (body) VALUES (?)", ("first",))
            tx.execute("INSERT INTO notes (body) VALUES (?)", (None,))  # NOT NULL: the database refuses

    with pytest.raises(RuntimeError):
        interrupted()
    with pytest.raises(Exception, match=r"(?i)null"):
        refused()
    assert db.query("SELECT body FROM notes") == []
    text = "100% done, 'quoted' ?"
    db.execute("INSERT INTO notes (body) VALUES (?)", (text,))  # the connection is still good
    assert db.query("SELECT body, '50%?' FROM notes WHERE body LIKE ?", ("100%",)) == [(text, "50%?")]
    db.close()


def test_a_table_made_before_gets_the_columns_declared_since(audit_url: str) -> None:
    """create_tables adds a newer version's nullable columns (and their indexes) to a table an
    earlier version made, keeps its rows, and refuses a column the rows cannot have."""
    db = Database(audit_url)
    old = Table("events", (Column("id", "INTEGER", primary_key=True, autoincrement=True), Column("what", "TEXT")))
    db.create_tables(old)
    db.execute("INSERT INTO events (what) VALUES (?)", ("before",))
    new = Table("events", (*old.columns, Column("who", "VARCHAR(200)", index=True), Column("why", "TEXT")))
    db.create_tables(new)
    db.create_tables(new)  # once is enough: again changes nothing
    db.execute("INSERT INTO events (what, who, why) VALUES (?, ?, ?)", ("after", "al", "because"))
    rows = db.query("SELECT id, what, who, why FROM events ORDER BY id")
    assert rows == [(1, "before", None, None), (2, "after", "al", "because")]
    if db.dialect == "sqlite":
        indexes = [r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'index'")]
    else:
        indexes = [r[0] for r in db.query("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")]
    assert "ix_events_who" in indexes
    required = Table("events", (*new.columns, Column("when_at", "FLOAT", nullable=False)))
    with pytest.raises(ConfigError, match="lacks column when_at, which cannot be added"):
        db.create_tables(required)
    assert db.query("SELECT COUNT(*) FROM events") == [(2,)]
    db.close()


def test_sqlite_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = Database("sqlite:///rel/audit.db")
    assert relative.path == Path("rel/audit.db")
    relative.create_tables(Table("t", (Column("x", "INTEGER"),)))
    assert (tmp_path / "rel" / "audit.db").is_file()
    absolute = Database(f"sqlite:///{tmp_path}/abs/audit.db")
    assert absolute.path == tmp_path / "abs" / "audit.db"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Database("sqlite:///~/data/audit.db").path == tmp_path / "home" / "data" / "audit.db"
    assert Database("sqlite:///x.db?timeout=2").path == Path("x.db")
    with pytest.raises(ConfigError, match="unknown SQLite option mode"):
        Database("sqlite:///x.db?mode=ro")
    with pytest.raises(ConfigError, match="three slashes"):
        Database("sqlite://host/x.db")
    for url in ("sqlite://", "sqlite:///:memory:"):
        memory = Database(url)  # one private database that every thread sees
        memory.create_tables(Table("t", (Column("x", "INTEGER"),)))
        threads = [
            threading.Thread(target=memory.execute, args=("INSERT INTO t (x) VALUES (?)", (i,))) for i in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert memory.scalar("SELECT SUM(x) FROM t") == 10 and memory.path is None
        memory.close()


def test_unknown_databases_are_config_errors_without_the_password() -> None:
    with pytest.raises(ConfigError, match="mysql is not supported") as err:
        Database("mysql://al:hunter2@db1/app")
    assert "hunter2" not in str(err.value) and "al:***@db1" in str(err.value)
    assert err.value.hint is not None and "postgresql://" in err.value.hint
    with pytest.raises(ConfigError, match="not a database URL"):
        Database("/var/lib/audit.db")


def test_postgres_url_forms_and_a_dropped_connection(postgres_url: str) -> None:
    rest = postgres_url.split("://", 1)[1]
    for scheme in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        db = Database(f"{scheme}://{rest}?application_name=opspack-{scheme.replace('+', '-')}")
        assert db.dialect == "postgresql"
        assert db.scalar("SELECT current_setting('application_name')") == f"opspack-{scheme.replace('+', '-')}"
        assert "***" in repr(db) and rest.split("@")[0].split(":")[1] not in repr(db)
        db.close()
    db = Database(postgres_url)
    pid = db.scalar("SELECT pg_backend_pid()")
    Database(postgres_url).query("SELECT pg_terminate_backend(?)", (pid,))
    time.sleep(0.2)
    assert db.scalar("SELECT pg_backend_pid()") != pid  # the idle connection was replaced
    db.close()


def test_without_psycopg_a_postgresql_url_says_what_to_install(tmp_path: Path) -> None:
    """psycopg cannot be imported (as when opspack was installed without the postgres extra)."""
    code = (
        "import json, sys\n"
        "sys.modules['psycopg'] = None  # import psycopg fails from here on\n"
        "from opspack.errors import ConfigError\n"
        "from opspack.store import Database\n"
        "try:\n"
        "    Database('postgresql://app:hunter2@db1/app')\n"
        "except ConfigError as exc:\n"
        "    print(json.dumps([exc.message, exc.hint]))\n"
        "Database(sys.argv[1]).query('SELECT 1')  # SQLite needs nothing more\n"
        "print('sqlite ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path / 'a.db'}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    message, hint = json.loads(first)
    assert message == "postgresql://app:***@db1/app: PostgreSQL needs the psycopg driver, which is not installed"
    assert hint == "Install it: pip install 'opspack[postgres]'"
    assert second == "sqlite ok"


def test_a_forked_child_uses_its_own_connections(audit_url: str) -> None:
    """A worker process forked from a runner: its queries never go over the parent's connection."""
    db = Database(audit_url)
    db.create_tables(Table("notes", (Column("body", "TEXT", nullable=False),)))
    session = "SELECT pg_backend_pid()" if db.dialect == "postgresql" else "SELECT 1"
    before = db.scalar(session)  # the parent's connection, idle in the pool now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            db.execute("INSERT INTO notes (body) VALUES (?)", ("from the child",))
            os.write(write, json.dumps(db.scalar(session)).encode())
            db.close()
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child_session = json.loads(os.read(read, 100))
    os.close(read)
    assert status == 0
    if db.dialect == "postgresql":
        assert child_session != before
    assert db.scalar(session) == before  # the parent's connection is unharmed
    assert db.query("SELECT body FROM notes") == [("from the child",)]
    db.close()
