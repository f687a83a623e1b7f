"""Helpers the gitlab pack's tests share: read replies and the fake's request log."""

from __future__ import annotations

from typing import Any

from opspack_testkit.fakes.gitlab import FakeGitLab


def results(reply: Any) -> list[dict[str, Any]]:
    assert reply.ok, reply.error
    out: list[dict[str, Any]] = reply.to_dict()["results"]
    return out


def table(reply: Any) -> dict[str, Any]:
    return next(r for r in results(reply) if r["kind"] == "table")


def rows_by(reply: Any, column: str = "aspect") -> dict[str, dict[str, Any]]:
    t = table(reply)
    i = t["columns"].index(column)
    return {row[i]: dict(zip(t["columns"], row, strict=True)) for row in t["rows"]}


def status(reply: Any) -> tuple[str, str]:
    s = next(r for r in results(reply) if r["kind"] == "status")
    return s["level"], s["message"]


def writes(fake: FakeGitLab, since: int = 0) -> list[str]:
    """Non-GET requests recorded after index ``since`` (what changed GitLab)."""
    return [f"{r.method} {r.path}" for r in fake.requests[since:] if r.method not in ("GET", "HEAD")]
