"""The one place where vCenter and network failures become the core's error kinds.

:func:`translate` is the pack's ``Pack(translate=...)`` hook and is also called by
the session code with the endpoint's URL and user, so an unreachable vCenter or a
refused login names them. It imports nothing from pyvmomi itself: a pyvmomi fault
can only exist once pyvmomi has been imported by a running command.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import sys
from typing import Any

from opspack.errors import BackendError, ConfigError, Denied, OpsError

_TLS_HINT = (
    "Give the CA that signed vCenter's certificate in the ca_file setting "
    "(OPSPACK_VMWARE_CA_FILE), or set verify_tls=false for a lab vCenter only."
)


def fault_text(fault: Any) -> str:
    """vCenter's own message for a fault (``msg``, else its localized messages, else its type)."""
    msg = str(getattr(fault, "msg", "") or getattr(fault, "localizedMessage", "") or "").strip()
    if msg.startswith("*types."):  # vcsim puts the Go type name here, not a message
        msg = ""
    if not msg:
        messages = getattr(fault, "faultMessage", None) or []
        msg = "; ".join(str(getattr(m, "message", "") or getattr(m, "key", "")) for m in messages).strip("; ")
    name = type(fault).__name__.rsplit(".", 1)[-1]
    if name == "InvalidPowerState":
        existing = getattr(fault, "existingState", None)
        requested = getattr(fault, "requestedState", None)
        detail = f"the VM is already {existing}" if existing and existing == requested else f"the VM is {existing}"
        return f"{msg} ({detail})" if msg else f"invalid power state: {detail}"
    if not msg:
        return str(getattr(fault, "_wsdlName", None) or name)
    return msg


def translate(exc: BaseException, *, url: str | None = None, user: str | None = None) -> OpsError | None:
    """An error result for ``exc``, or None to let the runtime report it as internal."""
    if isinstance(exc, OpsError):
        return exc
    where = f"vCenter {url}" if url else "vCenter"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return ConfigError(f"the TLS certificate of {where} could not be verified: {reason}", _TLS_HINT)
    if isinstance(exc, ssl.SSLError):
        return BackendError(f"TLS handshake with {where} failed: {exc.reason or exc}", _TLS_HINT)
    if isinstance(exc, socket.gaierror):
        return BackendError(
            f"{where} is unreachable: its host name does not resolve ({exc.strerror})",
            "Check the url setting (OPSPACK_VMWARE_URL) and DNS.",
        )
    if isinstance(exc, OSError | http.client.HTTPException):
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return BackendError(
            f"{where} is unreachable: {reason}",
            "Check the url setting (OPSPACK_VMWARE_URL), that vCenter is up and that this host may reach it.",
        )

    pyvmomi = sys.modules.get("pyVmomi")
    if pyvmomi is None:
        return None
    vim, vmodl = pyvmomi.vim, pyvmomi.vmodl
    if isinstance(exc, vim.fault.InvalidLogin):
        who = f" for user '{user}'" if user else ""
        return ConfigError(
            f"{where} refused the login{who}: wrong user name or password",
            "Check the user and password settings (OPSPACK_VMWARE_USER, OPSPACK_VMWARE_PASSWORD, "
            "or the profile chosen with --profile).",
        )
    if isinstance(exc, vim.fault.NotAuthenticated):
        return BackendError(
            f"{where} ended the session and logging in again did not help",
            "Try again; if it persists, check the account in vCenter.",
        )
    if isinstance(exc, vim.fault.NoPermission):
        privilege = getattr(exc, "privilegeId", None)
        need = f" (needs privilege {privilege})" if privilege else ""
        return Denied(
            f"{where} denied the operation to the pack's account{need}: {fault_text(exc)}",
            "Ask a vSphere admin to grant the privilege to the account in the user setting.",
        )
    if isinstance(exc, vmodl.MethodFault):
        return BackendError(f"{where} answered: {fault_text(exc)}")
    return None


def task_error(what: str, task_id: str | None, fault: Any) -> OpsError:
    """The error for a vSphere task that ended in error (``task_id`` and its ``info.error``), or
    that vCenter refused to start (``task_id`` None and the fault it raised): vCenter's own
    message in both; a missing privilege is ``denied``, anything else ``backend``."""
    said = f"vCenter task {task_id} says" if task_id else "vCenter says"
    message = f"{what} failed: {said}: {fault_text(fault)}"
    translated = translate(fault) if isinstance(fault, BaseException) else None
    if isinstance(translated, Denied):
        privilege = getattr(fault, "privilegeId", None)
        return Denied(message + (f" (needs privilege {privilege})" if privilege else ""), translated.hint)
    return BackendError(message, "See the task in vCenter's Recent Tasks for details." if task_id else None)


__all__ = ["fault_text", "task_error", "translate"]
