"""The one place where hvac's and requests' exceptions become opspack errors.

Imported by the pack's ``__init__``, so it must not import hvac itself: it looks at
an exception's module first and imports hvac only for hvac's own exceptions. The
messages come from what Vault says about the request (never a secret value, and
never the request URL with its path parameters echoed back raw).
"""

from __future__ import annotations

from opspack.errors import BackendError, ConfigError, Denied, NotFound, OpsError, UsageError


def _vault_errors(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list | tuple) and errors:
        return "; ".join(str(e) for e in errors)[:300]
    return type(exc).__name__


def translate(exc: BaseException) -> OpsError | None:
    """Map a client exception to a ``denied``, ``not_found``, ``config`` or ``backend`` error."""
    module = type(exc).__module__
    if module.startswith("requests") or module.startswith("urllib3"):
        import requests

        if isinstance(exc, requests.exceptions.SSLError):
            return ConfigError(
                "the Vault server's TLS certificate is not trusted",
                "Set the pack's ca_cert (or VAULT_CACERT) to the CA's PEM file.",
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return BackendError("the Vault server did not answer in time", "Try again, or raise the pack's timeout.")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return BackendError(
                "the Vault server is unreachable", "Check the pack's addr (or VAULT_ADDR) and that Vault is running."
            )
        return None
    if not module.startswith("hvac"):
        return None
    from hvac import exceptions as hx

    said = _vault_errors(exc)
    if isinstance(exc, hx.VaultDown):
        return BackendError("Vault is sealed", "Ask an operator to unseal it; `vault status` shows the seal state.")
    if isinstance(exc, hx.VaultNotInitialized):
        return BackendError("Vault is not initialised", "Initialise and unseal it (bao operator init).")
    if isinstance(exc, hx.Forbidden | hx.Unauthorized):
        return Denied(
            f"Vault refused the bot's token ({said})",
            "The token may have expired or its policies do not allow this; see `vault token info`.",
        )
    if isinstance(exc, hx.InvalidPath):
        return NotFound("nothing at that path in Vault", "Check the path; `vault kv list <mount>/` shows what exists.")
    if isinstance(exc, hx.InvalidRequest):
        return UsageError(f"Vault rejected the request: {said}")
    if isinstance(exc, hx.RateLimitExceeded):
        return BackendError("Vault is rate-limiting the bot", "Wait a moment and try again.")
    if isinstance(exc, hx.VaultError):
        return BackendError(f"Vault answered with an error: {said}", "See the Vault server's log.")
    return None
