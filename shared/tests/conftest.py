"""Fixtures for the core's tests: a sample pack, its registry and a runtime.

The sample pack (``sample_pack/opspack_sample``) is imported through the ``pythonpath``
option of pytest.ini here; it is not installed, so no other test run sees it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opspack.build import registry_from_package
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config


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
