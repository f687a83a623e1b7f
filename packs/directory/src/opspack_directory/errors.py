"""The one place where ldap3's exceptions become opspack errors.

Imported by the pack's ``__init__``, so it must not import ldap3: it reads an exception's
module, class name and LDAP result code instead. :func:`about` names the object an operation
was about ("group VPN-Users"), so an answer says what could not be changed; :func:`translate`
is the pack's catch-all (the connection, the bind). No message ever carries the bind
password: only the server's diagnostic text and the object's name are quoted.
"""

from __future__ import annotations

import re

from opspack.errors import BackendError, ConfigError, Denied, NotFound, OpsError, UsageError

#: LDAP result codes (RFC 4511) the pack answers in its own words
STRONGER_AUTH_REQUIRED = 8
NO_SUCH_ATTRIBUTE = 16
UNDEFINED_ATTRIBUTE_TYPE = 17
CONSTRAINT_VIOLATION = 19
INVALID_ATTRIBUTE_SYNTAX = 21
ATTRIBUTE_OR_VALUE_EXISTS = 20
NO_SUCH_OBJECT = 32
OBJECT_CLASS_VIOLATION = 65
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS_RIGHTS = 50
UNWILLING_TO_PERFORM = 53
ENTRY_ALREADY_EXISTS = 68

#: Active Directory's reasons for a refused bind (the "data" of its diagnostic message)
_AD_BIND_REASONS = {
    "525": "the account does not exist",
    "52e": "the password is wrong",
    "530": "the account may not log on at this time",
    "531": "the account may not log on from this workstation",
    "532": "the password has expired",
    "533": "the account is disabled",
    "701": "the account has expired",
    "773": "the password must be changed",
    "775": "the account is locked out",
}


def _is_ldap3(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("ldap3")


def result_code(exc: BaseException) -> int | None:
    """The LDAP result code an ldap3 operation error carries (None for other errors)."""
    code = getattr(exc, "result", None)
    return code if _is_ldap3(exc) and isinstance(code, int) else None


def server_message(exc: BaseException) -> str:
    """The server's diagnostic text, shortened (AD's ``00000005: SecErr: DSID-...`` included)."""
    text = str(getattr(exc, "message", "") or "").strip().rstrip("\x00")
    return text[:300]


def _ad_reason(message: str) -> str | None:
    found = re.search(r"data ([0-9a-f]{3})", message)
    return _AD_BIND_REASONS.get(found.group(1)) if found else None


def about(exc: BaseException, what: str) -> OpsError | None:
    """``exc`` as an error about ``what`` (``"user jdoe"``, ``"group VPN-Users"``), or None
    when it is not an LDAP result this function knows."""
    code = result_code(exc)
    if code is None:
        return None
    said = server_message(exc)
    detail = f" ({said})" if said else ""
    if code == INSUFFICIENT_ACCESS_RIGHTS or said.startswith("00000005"):
        return Denied(
            f"The directory refused to change {what}: the bot's account lacks the right{detail}.",
            "Delegate that right to the bot's account (for a group: write `member`), or ask a directory admin.",
        )
    if code == NO_SUCH_OBJECT:
        return NotFound(f"{what} does not exist in the directory{detail}.", "Check the name and the pack's base_dn.")
    if code == ENTRY_ALREADY_EXISTS:
        return UsageError(f"{what} already exists.", "Pick another name, or `user info` the existing one.")
    if code == CONSTRAINT_VIOLATION:
        return UsageError(
            f"The directory refused the change to {what}: a constraint was violated{detail}.",
            "The value breaks a rule of the directory (password policy, a unique or size-limited attribute).",
        )
    if code in (INVALID_ATTRIBUTE_SYNTAX, UNDEFINED_ATTRIBUTE_TYPE, OBJECT_CLASS_VIOLATION):
        return UsageError(
            f"The directory refused the values given for {what}{detail}.",
            "Check the attributes (a template's attributes: names and values the schema accepts).",
        )
    if code == UNWILLING_TO_PERFORM:
        return UsageError(f"The directory will not do this to {what}{detail}.")
    if code == STRONGER_AUTH_REQUIRED:
        return ConfigError(
            f"The directory wants an encrypted connection to change {what}{detail}.",
            "Use an ldaps:// url, or ldap:// with StartTLS (turn allow_plain_bind off).",
        )
    return BackendError(f"The directory refused the operation on {what}: {said or f'LDAP result {code}'}.")


def translate(exc: BaseException) -> OpsError | None:
    """Map an ldap3 exception to a ``config``, ``backend``, ``denied`` or ``not_found`` error."""
    if not _is_ldap3(exc):
        return None
    name = type(exc).__name__
    text = str(exc)
    code = result_code(exc)
    if code == INVALID_CREDENTIALS:
        reason = _ad_reason(server_message(exc))
        return ConfigError(
            f"The directory refused the bot's credentials{f': {reason}' if reason else ''}.",
            "Check the pack's user and password settings (user is a DN, or name@domain for Active Directory).",
        )
    if code == STRONGER_AUTH_REQUIRED:
        return ConfigError(
            "The directory refuses a simple bind without encryption.",
            "Use an ldaps:// url, or ldap:// with StartTLS (turn allow_plain_bind off).",
        )
    if code is not None:
        return about(exc, "the entry")
    lowered = text.lower()
    if "certificate" in lowered or ("ssl" in lowered and "verify" in lowered) or name == "LDAPCertificateError":
        return ConfigError(
            "The directory's TLS certificate is not trusted.",
            "Set the pack's ca_file to the PEM of the CA that signed it (verify_tls=false only for a lab).",
        )
    if name == "LDAPStartTLSError":
        return ConfigError(
            "StartTLS failed: the server did not upgrade the connection to TLS.",
            "Use an ldaps:// url, or set ca_file; allow_plain_bind=true only for a lab.",
        )
    if name in (
        "LDAPSocketOpenError",
        "LDAPSocketReceiveError",
        "LDAPSocketSendError",
        "LDAPSessionTerminatedByServerError",
    ):
        return BackendError(
            "The directory server is unreachable or stopped answering.",
            "Check the pack's url and that the server runs and accepts connections.",
        )
    if name in ("LDAPResponseTimeoutError", "LDAPOperationsErrorResult"):
        return BackendError("The directory server did not answer in time.", "Try again, or raise the pack's timeout.")
    return BackendError(f"The directory answered with an error ({name}).", "See the directory server's log.")
