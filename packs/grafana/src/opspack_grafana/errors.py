"""Grafana's failures, translated to the core's error kinds in one place.

:class:`GrafanaError` carries what Grafana answered (status, its ``message`` and
``messageId``); :func:`translate` (the pack's ``Pack(translate=...)``) maps it and
the HTTP library's exceptions to errors with a hint a person can act on. This
module imports only the standard library, so the package imports without requests.
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

RENEW_HINT = (
    "Set OPSPACK_GRAFANA_TOKEN to a valid service account token (Administration > Users and access > "
    "Service accounts > Add token); check that it has not expired or been revoked."
)


class GrafanaError(Exception):
    """Grafana answered an HTTP error."""

    def __init__(self, status: int, message: str, method: str, path: str, message_id: str | None = None) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.message_id = message_id


class RendererMissing(ConfigError):
    """Grafana has no image renderer (plugin or remote service) to draw panels with."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Grafana cannot render panels: no image renderer is installed ({detail}).",
            "Ask a Grafana admin to install the renderer: `grafana cli plugins install grafana-image-renderer` "
            "and restart Grafana, or run the grafana/grafana-image-renderer service and set "
            "[rendering] server_url and callback_url in grafana.ini "
            "(https://grafana.com/docs/grafana/latest/setup-grafana/image-rendering/).",
        )


def from_status(exc: GrafanaError) -> OpsError:
    """The core error for one of Grafana's HTTP errors."""
    said = exc.message or f"HTTP {exc.status}"
    if exc.status == 401:
        what = {
            "api-key.expired": "has expired",
            "api-key.revoked": "was revoked",
        }.get(exc.message_id or "", "was rejected")
        return ConfigError(f"Grafana: the service account token {what} ({said}).", RENEW_HINT)
    if exc.status == 403:
        return Denied(
            f"Grafana refused {exc.method} {exc.path}: {said}.",
            "The service account's role is too low for this: give it Viewer to read, Editor to silence or "
            "annotate, or the folder/data source permission it lacks.",
        )
    if exc.status == 404:
        return NotFound(f"Grafana: {said} ({exc.path}).")
    if exc.status in (400, 409, 422):
        return UsageError(f"Grafana did not accept the request: {said}.", "Check the values you gave.")
    if exc.status == 504:
        return CommandTimeout(f"Grafana timed out on {exc.path}: {said}.", "Try a shorter time range or retry.")
    return BackendError(
        f"Grafana failed on {exc.method} {exc.path}: HTTP {exc.status} {said}.",
        "Grafana or its database may be unhealthy; check Grafana's log, then retry.",
    )


def translate(exc: BaseException) -> OpsError | None:
    """Map Grafana's and the HTTP library's exceptions to the core's errors (None: not ours)."""
    if isinstance(exc, GrafanaError):
        return from_status(exc)
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigError(
            f"Grafana's TLS certificate was not accepted: {_short(exc)}.",
            "Set OPSPACK_GRAFANA_CA_FILE to the CA that signed it, or OPSPACK_GRAFANA_VERIFY_TLS=false for a lab.",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return CommandTimeout(
            "Grafana did not answer in time.",
            "Grafana may be overloaded; retry, or raise OPSPACK_GRAFANA_TIMEOUT.",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return BackendError(
            f"Cannot reach Grafana: {_short(exc)}.",
            "Check OPSPACK_GRAFANA_URL and that Grafana is up and reachable from the bot.",
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return ConfigError(
            f"The Grafana URL is not valid: {_short(exc)}.",
            "Set OPSPACK_GRAFANA_URL to e.g. https://grafana.example.com.",
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return BackendError(f"Talking to Grafana failed: {_short(exc)}.")
    return None


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."
