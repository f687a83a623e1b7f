"""Translating the HTTP library's transport failures, shared by packs that use requests.

Packs that talk HTTP with requests (grafana, netscaler, ...) meet the same failures:
an untrusted certificate, a timeout, a refused connection, a malformed URL. This maps
them to the core's error kinds with hints that name the pack's own settings, and marks
connection failures as transient so read-only commands are retried. It imports
requests only when the exception came from it, so the core never needs requests.
"""

from __future__ import annotations

from opspack.errors import BackendError, CommandTimeout, ConfigError, OpsError


def short(exc: BaseException, limit: int = 300) -> str:
    """An exception's text, cut to ``limit`` characters."""
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def translate_requests_error(
    exc: BaseException,
    *,
    service: str,
    pack: str,
    url_example: str,
    timeout_hint: str | None = None,
) -> OpsError | None:
    """Map a ``requests`` exception to an error result (None when it is not one).

    Args:
        exc: the exception.
        service: how people call the backend ("Grafana", "the ADC").
        pack: the pack's name, for its setting names (``OPSPACK_<PACK>_URL``).
        url_example: an example URL for the hint.
        timeout_hint: what to do about a timeout (default: retry or raise the timeout setting).
    """
    if not type(exc).__module__.startswith(("requests", "urllib3")):
        return None
    import requests

    prefix = f"OPSPACK_{pack.upper()}_"
    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigError(
            f"{service}'s TLS certificate was not accepted: {short(exc)}.",
            f"Set {prefix}CA_FILE to the CA that signed it, or {prefix}VERIFY_TLS=false for a lab.",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return CommandTimeout(
            f"{service} did not answer in time.",
            timeout_hint or f"{service} may be busy; retry, or raise {prefix}TIMEOUT.",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return BackendError(
            f"Cannot reach {service}: {short(exc)}.",
            f"Check {prefix}URL and that {service} is up and reachable from the bot.",
            retryable=True,
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return ConfigError(f"The {pack} URL is not valid: {short(exc)}.", f"Set {prefix}URL to e.g. {url_example}.")
    if isinstance(exc, requests.exceptions.RequestException):
        return BackendError(f"Talking to {service} failed: {short(exc)}.")
    return None
