"""Fixtures for the core's tests: a sample pack, its registry and a runtime."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parent / "sample_pack"
if str(SAMPLE) not in sys.path:
    sys.path.insert(0, str(SAMPLE))

from opspack.devtools.registry_build import registry_from_package  # noqa: E402
from opspack.registry import Registry  # noqa: E402
from opspack.runtime import Runtime  # noqa: E402
from opspack.settings import Config  # noqa: E402


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
