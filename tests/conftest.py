"""Markers of the cross-pack tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs nox or builds virtualenvs (seconds to minutes)")
