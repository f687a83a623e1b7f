"""The one place where python-jenkins and HTTP failures become opspack errors.

python-jenkins reports most failures as ``JenkinsException`` with the HTTP status in
its message (``... Possibly authentication failed [403]: Forbidden``) and the
``requests`` error in the exception chain; both are read here. This module does not
import python-jenkins or requests: it is imported by the pack's metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from opspack.errors import BackendError, CommandTimeout, Denied, NotFound, OpsError, UsageError

_STATUS = re.compile(r"failed \[(\d{3})\]")
_MISSING_PERMISSION = re.compile(r"([\w.@-]+ is missing the [\w/ ]+ permission)")
CRUMB_REFUSED = "No valid crumb was included in the request"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind ``exc`` (from a ``requests`` response or the message), if any."""
    for e in _chain(exc):
        response = getattr(e, "response", None)
        code = getattr(response, "status_code", None)
        if isinstance(code, int):
            return code
        m = _STATUS.search(str(e))
        if m:
            return int(m.group(1))
        if type(e).__name__ == "NotFoundException":
            return 404
    return None


def _text(exc: BaseException) -> str:
    return " ".join(str(e) for e in _chain(exc))


def is_crumb_refusal(exc: BaseException) -> bool:
    """Jenkins answered 403 because the CSRF crumb was missing or stale."""
    return CRUMB_REFUSED in _text(exc)


def translate(exc: BaseException, what: str | None = None) -> OpsError | None:
    """Map a python-jenkins / requests exception to an opspack error (None: not ours).

    Args:
        exc: the exception a client call raised.
        what: what was asked for ("job 'deploy'"), used in not-found messages.
    """
    if isinstance(exc, OpsError):
        return exc
    names = {type(e).__name__ for e in _chain(exc)}
    text = _text(exc)
    if is_crumb_refusal(exc):
        return Denied(
            "Jenkins refused the request: its CSRF crumb was missing or no longer valid (HTTP 403).",
            "Try again (the pack fetches a new crumb); if it persists, check that a proxy in front of "
            "Jenkins keeps the session cookie, or enable the crumb issuer's proxy compatibility.",
        )
    if names & {"TimeoutException", "Timeout", "ReadTimeout", "ConnectTimeout"}:
        return CommandTimeout(
            "Jenkins did not answer in time.",
            "The controller may be overloaded or unreachable; try again, or raise the jenkins timeout setting.",
        )
    if "SSLError" in names:
        return BackendError(
            "The TLS certificate of the Jenkins controller could not be verified.",
            "Install the controller's CA on the bot's host, or set verify_tls=false for a lab controller.",
        )
    if "ConnectionError" in names:
        return BackendError(
            "Jenkins cannot be reached (connection failed).",
            "Check the jenkins url setting and that the controller is up.",
        )
    status = http_status(exc)
    if status == 401:
        return Denied(
            "Jenkins did not accept the bot's credentials (HTTP 401).",
            "Check the jenkins user and token settings; make a new API token if the old one was revoked.",
        )
    if status == 403:
        m = _MISSING_PERMISSION.search(text)
        reason = f": {m.group(1)}" if m else ""
        return Denied(
            f"Jenkins refused the request (HTTP 403){reason}.",
            "The bot's Jenkins user lacks that permission; ask a Jenkins admin to grant it.",
        )
    if status == 404:
        return NotFound(
            f"Jenkins has no {what or 'such item'} (HTTP 404).",
            "Check the name (folders are separated by /); `jenkins jobs --name '*part*'` finds jobs.",
        )
    if status == 409:
        return UsageError(
            f"Jenkins cannot build {what or 'it'}: it is not buildable (disabled) (HTTP 409).",
            "Ask the job's owner to enable it.",
        )
    if status is not None and status >= 500:
        return BackendError(
            f"Jenkins failed with HTTP {status}.", "Look at the controller's log (Manage Jenkins > System Log)."
        )
    if names & {"JenkinsException", "EmptyResponseException", "BadHTTPException"}:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return BackendError(f"Jenkins request failed: {first}", "Check the controller and try again.")
    return None
