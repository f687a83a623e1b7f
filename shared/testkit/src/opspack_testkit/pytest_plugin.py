"""pytest plugin (registered by the testkit's ``pytest11`` entry point): test runs keep their
audit trail in a temporary folder instead of the user's data folder."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_made: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Point ``OPSPACK_AUDIT_URL`` at a temporary SQLite file unless the run sets one."""
    if "OPSPACK_AUDIT_URL" not in os.environ:
        folder = tempfile.mkdtemp(prefix="opspack-test-audit-")
        _made.append(folder)
        os.environ["OPSPACK_AUDIT_URL"] = f"sqlite:///{folder}/audit.db"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the temporary folders made for the run."""
    while _made:
        shutil.rmtree(_made.pop(), ignore_errors=True)
