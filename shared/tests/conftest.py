"""Fixtures for the core's tests: a sample pack, its registry and a runtime.

The sample pack (``sample_pack/opspack_sample``) is imported through the ``pythonpath``
option of pytest.ini here; it is not installed, so no other test run sees it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config

if TYPE_CHECKING:
    from opspack_testkit.servers.postgres import PostgresServer


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_sample", "1.2.3")
    return reg


@pytest.fixture
def environ() -> dict[str, str]:
    return {"OPSPACK_SAMPLE_URL": "https://backend.example", "OPSPACK_SAMPLE_PASSWORD": "s3cr3t-pa55"}


@pytest.fixture
def runtime(registry: Registry, environ: dict[str, str]) -> Iterator[Runtime]:
    rt = Runtime(registry, config=Config(data={}, path=None, environ=environ), audit=None)
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the tests that keep the audit trail in one."""
    from opspack_testkit import need
    from opspack_testkit.servers.postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        need(False, str(exc))
        raise
    yield server
    server.stop()


_databases = itertools.count(1)


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """The URL (with the password) of a new, empty database on the test server."""
    name = f"audit{next(_databases)}"
    postgres.psql(f"CREATE DATABASE {name}")
    return postgres.url(database=name, password=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty audit database: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
