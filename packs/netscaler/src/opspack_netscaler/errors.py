"""NITRO's failures, translated to the core's error kinds in one place.

NITRO answers a failure with an HTTP 4xx/5xx status and its error envelope
``{"errorcode": N, "message": "...", "severity": "ERROR"}``. :class:`NitroError`
carries it; :func:`translate` (the pack's ``Pack(translate=...)``) maps it and the
HTTP library's exceptions to errors with a hint a person can act on. This module
imports only the standard library, so the package imports without requests.
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

#: NITRO error codes the pack acts on (the ADC's ``errorcode`` field).
INVALID_CREDENTIALS = 354  # Invalid username or password
SESSION_EXPIRED = 444  # Session expired or killed. Please login again
SESSION_LIMIT = 445  # Session limit exceeded
CONNECTION_LIMIT = 446  # Connection limit to CFE exceeded
NO_SUCH_RESOURCE = 258  # No such resource
RESOURCE_EXISTS = 273  # Resource already exists
NOT_AUTHORIZED = 2138  # Not authorized to execute this command
NOT_AUTHORIZED_OLD = 10  # Not authorized to execute this command (older builds)
INVALID_ARGUMENT = (257, 278, 1092, 1093)  # argument errors

CREDENTIALS_HINT = (
    "Check OPSPACK_NETSCALER_USER and OPSPACK_NETSCALER_PASSWORD (or the profile's user and password in "
    "opspack.toml); the account must be a NetScaler system user allowed to use NITRO."
)


class NitroError(Exception):
    """The ADC answered a NITRO request with an error envelope (or a non-NITRO HTTP error)."""

    def __init__(
        self,
        status: int,
        errorcode: int | None,
        message: str,
        *,
        method: str,
        resource: str,
        severity: str | None = None,
    ) -> None:
        super().__init__(f"{method} {resource}: HTTP {status}, NITRO error {errorcode}: {message}")
        self.status = status
        self.errorcode = errorcode
        self.message = message
        self.method = method
        self.resource = resource
        self.severity = severity

    @property
    def expired(self) -> bool:
        """The session token is no longer valid; a new login fixes it."""
        return self.errorcode == SESSION_EXPIRED


def is_expired(exc: BaseException) -> bool:
    """For ``ctx.with_connection``: the kept session expired and a re-login will help."""
    return isinstance(exc, NitroError) and exc.expired


def from_nitro(exc: NitroError) -> OpsError:
    """The core error for one NITRO error envelope."""
    said = exc.message.rstrip(".") or f"HTTP {exc.status}"
    code = exc.errorcode
    if code == INVALID_CREDENTIALS:
        return ConfigError(f"NetScaler refused the login: {said}.", CREDENTIALS_HINT)
    if code in (NOT_AUTHORIZED, NOT_AUTHORIZED_OLD) or exc.status == 403:
        return Denied(
            f"NetScaler refused {exc.method} {exc.resource}: {said}.",
            "The NITRO user's command policy does not allow this; ask an ADC admin to bind a policy "
            "(e.g. superuser, or a custom policy) that permits it, or use a profile with such a user.",
        )
    if code == SESSION_EXPIRED:
        return BackendError(
            f"The NITRO session expired again right after logging in: {said}.",
            "The ADC may be killing sessions (restricted timeout, or an admin running `kill system session`); retry.",
        )
    if code in (SESSION_LIMIT, CONNECTION_LIMIT):
        return BackendError(
            f"NetScaler has no room for another NITRO session: {said}.",
            "Too many management sessions are open on the ADC; close idle ones (`show system session`, "
            "`kill system session`) or wait for them to time out, then retry.",
        )
    if code == NO_SUCH_RESOURCE or exc.status == 404:
        return NotFound(f"NetScaler: {said} ({exc.resource}).", "Check the name; names are case-sensitive on the ADC.")
    if code == RESOURCE_EXISTS:
        return UsageError(f"NetScaler: {said}.", "Choose another name.")
    if code in INVALID_ARGUMENT or exc.status == 400:
        return UsageError(f"NetScaler did not accept the request: {said}.", "Check the values you gave.")
    return BackendError(
        f"NetScaler failed on {exc.method} {exc.resource}: {said} (errorcode {code}, HTTP {exc.status}).",
        "Check the ADC's health (`show ns events`, /var/log/ns.log), then retry.",
    )


def translate(exc: BaseException) -> OpsError | None:
    """Map NITRO's and the HTTP library's exceptions to the core's errors (None: not ours)."""
    if isinstance(exc, NitroError):
        return from_nitro(exc)
    try:
        import requests
    except ImportError:  # pragma: no cover - requests is a dependency
        return None
    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigError(
            f"The ADC's TLS certificate was not accepted: {_short(exc)}.",
            "Set OPSPACK_NETSCALER_CA_FILE to the CA that signed the management certificate, "
            "or OPSPACK_NETSCALER_VERIFY_TLS=false for a lab appliance.",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return CommandTimeout(
            "The ADC did not answer in time.",
            "The management CPU may be busy (a backup or save in progress); retry, or raise OPSPACK_NETSCALER_TIMEOUT.",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return BackendError(
            f"Cannot reach the ADC: {_short(exc)}.",
            "Check OPSPACK_NETSCALER_URL (the NSIP or management address) and that the bot can reach it.",
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return ConfigError(
            f"The NetScaler URL is not valid: {_short(exc)}.",
            "Set OPSPACK_NETSCALER_URL to e.g. https://adc1.example.com.",
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return BackendError(f"Talking to the ADC failed: {_short(exc)}.")
    return None


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."
