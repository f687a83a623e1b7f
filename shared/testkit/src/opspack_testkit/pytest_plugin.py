"""pytest plugin (registered by the testkit's ``pytest11`` entry point): test runs keep their
audit trail and the runner's artifacts (linked files) in temporary folders instead of the
user's data folder."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_made: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Point ``OPSPACK_AUDIT_URL`` at a temporary SQLite file and ``OPSPACK_SERVE_ARTIFACT_DIR``
    at a temporary folder, unless the run sets them."""
    if "OPSPACK_AUDIT_URL" not in os.environ:
        folder = tempfile.mkdtemp(prefix="opspack-test-audit-")
        _made.append(folder)
        os.environ["OPSPACK_AUDIT_URL"] = f"sqlite:///{folder}/audit.db"
    if "OPSPACK_SERVE_ARTIFACT_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="opspack-test-artifacts-")
        _made.append(folder)
        os.environ["OPSPACK_SERVE_ARTIFACT_DIR"] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the temporary folders made for the run."""
    while _made:
        shutil.rmtree(_made.pop(), ignore_errors=True)
