"""The one place where python-gitlab's and requests' exceptions become the core's error kinds.

It imports neither library at module level: it only runs after a command failed,
when they are loaded already.
"""

from __future__ import annotations

import sys
from typing import Any

from opspack.errors import BackendError, CommandTimeout, ConfigError, Denied, NotFound, OpsError, UsageError

AUTH_HINT = (
    "Check OPSPACK_GITLAB_TOKEN (or `token` in opspack.toml): an access token with the api "
    "scope that has not expired or been revoked."
)


def describe(message: Any) -> str:
    """GitLab's ``message`` (a string, a list, or field -> [problems]) as one line."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if isinstance(message, dict):
        parts: list[str] = []
        for key, value in message.items():
            problems = value if isinstance(value, list) else [value]
            parts.extend(f"{key} {p}" for p in problems)
        return "; ".join(parts)
    if isinstance(message, list):
        return "; ".join(describe(m) for m in message)
    text = str(message).strip()
    if text.startswith("{") or text.startswith("["):
        import json

        try:
            return describe(json.loads(text)) or text
        except ValueError:
            return text
    return text


def translate(exc: BaseException) -> OpsError | None:
    """Map a python-gitlab or requests exception to an error with a hint; None if unknown."""
    gitlab_exc = sys.modules.get("gitlab.exceptions")
    if gitlab_exc is not None and isinstance(exc, gitlab_exc.GitlabError):
        return _from_http(getattr(exc, "response_code", None), describe(exc.error_message))
    requests_exc = sys.modules.get("requests.exceptions")
    if requests_exc is not None and isinstance(exc, requests_exc.RequestException):
        if isinstance(exc, requests_exc.SSLError):
            return ConfigError(
                "GitLab's TLS certificate could not be verified",
                "Set `ca_file` to your internal CA's PEM file (or verify_tls=false for a lab server).",
            )
        if isinstance(exc, requests_exc.Timeout):
            return CommandTimeout(
                "GitLab did not answer in time",
                "Try again; if it keeps happening raise the `timeout` setting or check GitLab's health.",
            )
        if isinstance(exc, requests_exc.ConnectionError):
            return BackendError(
                "cannot reach GitLab: connection failed",
                "Check the `url` setting and that GitLab is up and reachable from the bot.",
            )
        return BackendError(f"request to GitLab failed: {type(exc).__name__}")
    return None


def _from_http(code: int | None, message: str) -> OpsError:
    said = f"GitLab: {message}" if not code or message.startswith(str(code)) else f"GitLab answered {code}: {message}"
    if code == 401:
        return Denied("GitLab refused the token (401 Unauthorized)", AUTH_HINT)
    if code == 403:
        return Denied(
            said,
            "The token's user lacks the role for this (most settings need Maintainer); "
            "ask a project owner, or use a token with the api scope.",
        )
    if code == 404:
        return NotFound(
            said,
            "Check the path (group/subgroup/project, or a numeric id) and that the token's user can see it.",
        )
    if code == 409:
        return UsageError(said, "It exists already; `gitlab repo check` shows what is there.")
    if code in (400, 422):
        return UsageError(f"GitLab rejected the request: {message}", "Fix the value GitLab names and try again.")
    if code == 429:
        return BackendError(said, "GitLab is rate-limiting the bot; wait a minute and try again.")
    if code is not None and code >= 500:
        return BackendError(said, "GitLab had an internal error; try again, then ask its admins.")
    return BackendError(said)
