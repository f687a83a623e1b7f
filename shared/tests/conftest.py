"""Fixtures for the core's tests: a sample pack, its registry and a runtime."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

SAMPLE = Path(__file__).parent / "sample_pack"
if str(SAMPLE) not in sys.path:
    sys.path.insert(0, str(SAMPLE))

from opspack.devtools.registry_build import registry_from_package  # noqa: E402
from opspack.registry import Registry  # noqa: E402
from opspack.runtime import Runtime  # noqa: E402
from opspack.settings import Config  # noqa: E402

if TYPE_CHECKING:
    from opspack.testing.postgres import PostgresServer


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
    from opspack.testing import need
    from opspack.testing.postgres import PostgresServer, PostgresUnavailable

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
