"""Real PostgreSQL 15 and MariaDB servers for the sql pack's tests.

Each server starts once per test session in a temporary directory on a free
loopback port (as the ``opspack-test`` user under root) and is stopped at the end.
Commands run through the real runtime with an opspack.toml naming one profile per
server; passwords are given as ``env:`` references.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.results import Reply
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import check_rendering, need
from opspack_testkit.servers.mariadb import MariaDBServer
from opspack_testkit.servers.postgres import PostgresServer, PostgresUnavailable, pg_bin_dir

APP_PASSWORD = "app-Secret-42"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return registry_from_package("opspack_sql")


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    try:
        pg_bin_dir()
        have = True
    except PostgresUnavailable:
        have = False
    need(have, "PostgreSQL is not installed (apt-get install -y postgresql)")
    with PostgresServer(max_connections=300) as server:
        server.psql("CREATE DATABASE app")
        server.psql(
            f"CREATE ROLE app LOGIN PASSWORD '{APP_PASSWORD}'; GRANT pg_monitor, pg_signal_backend TO app;"
            "CREATE ROLE idler LOGIN PASSWORD 'idler'; CREATE ROLE worker LOGIN PASSWORD 'worker';"
        )
        server.psql(
            "CREATE EXTENSION pg_stat_statements; GRANT ALL ON SCHEMA public TO app;"
            "CREATE TABLE big_table AS SELECT g AS id, repeat('x', 200) AS payload FROM generate_series(1, 20000) g;"
            "CREATE TABLE small_table (id int); ANALYZE;",
            database="app",
        )
        yield server


@pytest.fixture(scope="session")
def mdb() -> Iterator[MariaDBServer]:
    need(
        shutil.which("mariadbd") is not None or Path("/usr/sbin/mariadbd").exists(),
        "MariaDB is not installed (apt-get install -y mariadb-server)",
    )
    with MariaDBServer(max_connections=300) as server:
        server.sql("CREATE DATABASE app;")
        server.sql(
            f"CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}';"
            "GRANT ALL ON *.* TO 'app'@'127.0.0.1';"
            "CREATE USER 'idler'@'127.0.0.1' IDENTIFIED BY 'idler';"
            "CREATE TABLE app.big_table (id INT PRIMARY KEY, payload VARCHAR(255)) ENGINE=InnoDB;"
            "INSERT INTO app.big_table SELECT seq, REPEAT('x', 200) FROM seq_1_to_20000;"
            "ANALYZE TABLE app.big_table;",
            database="app",
        )
        yield server


def _profiles_pg(pg: PostgresServer) -> str:
    pg_url = f"postgresql://app@127.0.0.1:{pg.port}/app"
    pg_postgres = f"postgresql://app@127.0.0.1:{pg.port}/postgres"
    return f"""
[sql.profiles.pg]
url = "{pg_url}"
password = "env:TEST_SQL_PASSWORD"
blocking_warning_seconds = 600
blocking_critical_seconds = 1200

[sql.profiles.pgpostgres]
url = "{pg_postgres}"
password = "env:TEST_SQL_PASSWORD"

[sql.profiles.pgstrict]
url = "{pg_url}"
password = "env:TEST_SQL_PASSWORD"
blocking_critical_seconds = 0
blocking_warning_seconds = 0
statement_timeout = 1

[sql.profiles.pgbadpw]
url = "{pg_url}"
password = "wrong-Password-99"
"""


def _profiles_maria(mdb: MariaDBServer) -> str:
    m_url = f"mysql://app@127.0.0.1:{mdb.port}/app"
    return f"""
[sql.profiles.maria]
url = "{m_url}"
password = "env:TEST_SQL_PASSWORD"
blocking_warning_seconds = 600
blocking_critical_seconds = 1200

[sql.profiles.mariastrict]
url = "{m_url}"
password = "env:TEST_SQL_PASSWORD"
blocking_critical_seconds = 0
blocking_warning_seconds = 0
statement_timeout = 1
"""


def _runtime(registry: Registry, tmp: Path, profiles: str) -> Runtime:
    path = tmp / "opspack.toml"
    path.write_text("[sql]\nstatement_timeout = 5\n" + profiles)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env.update({"OPSPACK_CONFIG": str(path), "TEST_SQL_PASSWORD": APP_PASSWORD})
    return Runtime(registry, config=Config.load(environ=env))


@pytest.fixture
def runtime(registry: Registry, pg: PostgresServer, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose profiles (pg, pgpostgres, pgstrict, pgbadpw) name the PostgreSQL server."""
    rt = _runtime(registry, tmp_path, _profiles_pg(pg))
    yield rt
    rt.close()


@pytest.fixture
def mruntime(registry: Registry, mdb: MariaDBServer, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose profiles (maria, mariastrict) name the MariaDB server."""
    rt = _runtime(registry, tmp_path, _profiles_maria(mdb))
    yield rt
    rt.close()


def run(runtime: Runtime, text: str, *, confirmed: bool = False) -> Reply:
    """Run chat text, render it in every format, check no secret leaks; return the reply."""
    reply = runtime.chat(text, Caller(user="test", frontend="test", confirmed=confirmed))
    rendered = check_rendering(reply)
    for out in rendered.values():
        assert APP_PASSWORD not in str(out)
    return reply


def results(reply: Reply, kind: str) -> list[dict[str, Any]]:
    return [r for r in reply.to_dict()["results"] if r["kind"] == kind]


def table_records(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


def session_id(cell: Any) -> int:
    """The id in a blocking-tree cell ('123' or '  └ 123')."""
    return int(str(cell).split()[-1])
