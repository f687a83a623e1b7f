"""Prometheus's and Alertmanager's failures, translated to the core's error kinds in one place.

:class:`PrometheusError` carries what a server answered: the HTTP status and, for
Prometheus's API, its ``errorType`` and ``error`` message; :func:`translate` (the
pack's ``Pack(translate=...)``) maps it and the HTTP library's exceptions to errors
with a hint a person can act on. Standard library only, so the package imports
without requests.
"""

from __future__ import annotations

from opspack.errors import (
    BackendError,
    CommandTimeout,
    ConfigError,
    Denied,
    NotFound,
    OpsError,
    UsageError,
)
from opspack.transport import translate_requests_error

AUTH_HINT = (
    "Set OPSPACK_PROMETHEUS_USER and OPSPACK_PROMETHEUS_PASSWORD (basic auth) or OPSPACK_PROMETHEUS_TOKEN "
    "(bearer) to what the proxy in front of the server accepts."
)


class PrometheusError(Exception):
    """Prometheus or Alertmanager answered an HTTP error.

    Args:
        service: ``Prometheus`` or ``Alertmanager``.
        status: the HTTP status.
        message: the server's own message (Prometheus's ``error``, Alertmanager's body).
        error_type: Prometheus's ``errorType`` (``bad_data``, ``execution``, ``timeout`` ...), or "".
        path: the API path asked.
    """

    def __init__(self, service: str, status: int, message: str, error_type: str, path: str) -> None:
        super().__init__(f"{service} {path}: HTTP {status} {error_type}: {message}")
        self.service = service
        self.status = status
        self.message = message
        self.error_type = error_type
        self.path = path


def from_status(exc: PrometheusError) -> OpsError:
    """The core error for one of the servers' HTTP errors."""
    said = exc.message or f"HTTP {exc.status}"
    if exc.error_type == "timeout" or (exc.status == 503 and "timed out" in said):
        return CommandTimeout(
            f"{exc.service} gave up on the query: {said}.",
            "Ask for less: a shorter --range, a larger --step, fewer series (sum by (...), topk(...)); "
            "or raise OPSPACK_PROMETHEUS_QUERY_TIMEOUT.",
        )
    if "too many samples" in said:
        return UsageError(
            f"The query is over {exc.service}'s sample limit: {said}.",
            "Ask for less: a shorter --range, a larger --step, fewer series (sum by (...), topk(...)); "
            "the limit is Prometheus's --query.max-samples.",
        )
    if exc.error_type == "bad_data" or (exc.service == "Alertmanager" and exc.status in (400, 422)):
        return UsageError(f"{exc.service} did not accept it: {said}", "Check the PromQL or the values you gave.")
    if exc.status == 401:
        return ConfigError(f"{exc.service} refused the credentials ({said}).", AUTH_HINT)
    if exc.status == 403:
        return Denied(f"{exc.service} refused {exc.path}: {said}.", AUTH_HINT)
    if exc.status == 404:
        return NotFound(
            f"{exc.service}: {said} ({exc.path}).",
            "Check OPSPACK_PROMETHEUS_URL / OPSPACK_PROMETHEUS_ALERTMANAGER_URL (with the sub-path, if any).",
        )
    if exc.status == 422:
        return UsageError(f"{exc.service} could not run the query: {said}.", "Check the PromQL.")
    return BackendError(
        f"{exc.service} failed on {exc.path}: HTTP {exc.status} {said}.",
        f"{exc.service} may be unhealthy; check its log, then retry.",
        retryable=exc.status in (502, 503, 504),
    )


def translate(exc: BaseException) -> OpsError | None:
    """Map the servers' and the HTTP library's exceptions to the core's errors (None: not ours)."""
    if isinstance(exc, PrometheusError):
        return from_status(exc)
    return translate_requests_error(
        exc,
        service="Prometheus",
        pack="prometheus",
        url_example="https://prometheus.example.com",
        timeout_hint="The server may be overloaded; retry, or raise OPSPACK_PROMETHEUS_TIMEOUT.",
    )
