"""The one place where netmiko's, paramiko's and socket exceptions become opspack errors.

Imported by the pack's ``__init__``, so it must not import netmiko: it looks at an
exception's module first. The messages say what happened to the device, never the
credentials (netmiko's own messages echo device settings, so they are not reused).
"""

from __future__ import annotations

import socket

from opspack.errors import BackendError, CommandTimeout, ConfigError, Denied, OpsError


def translate(exc: BaseException) -> OpsError | None:
    """Map a connection exception to a ``denied``, ``timeout``, ``config`` or ``backend`` error."""
    if isinstance(exc, OpsError):
        return exc
    refused = _refused_host_key(exc)
    if refused is not None:
        return refused
    module = type(exc).__module__
    name = type(exc).__name__
    if module.startswith("netmiko"):
        if name == "NetmikoAuthenticationException":
            return Denied(
                "the device refused the login (authentication failed)",
                "Check the username and password the inventory gives this device (defaults, groups, device).",
            )
        if name == "ReadTimeout":
            return CommandTimeout(
                "the device did not finish answering in time",
                "Raise the pack's device_timeout (or --timeout), or check the command is valid on this platform.",
            )
        if name in ("NetmikoTimeoutException", "ConnectionException"):
            return BackendError(
                "the device is unreachable (no SSH connection)",
                "Check the device's host and port in the inventory, that it is up and that SSH is enabled.",
            )
        return BackendError(f"the SSH session failed ({name})", "Try again; see the bot's log for details.")
    if module.startswith("pynetbox"):
        status = getattr(getattr(exc, "req", None), "status_code", None)
        if status in (401, 403):
            return Denied(
                f"NetBox refused the API token (HTTP {status})",
                "Check OPSPACK_NETWORK_NETBOX_TOKEN: a valid token with read access to dcim devices.",
            )
        if status == 400:
            return ConfigError(
                "NetBox rejected the device filter (HTTP 400)",
                "Check OPSPACK_NETWORK_NETBOX_FILTER: NetBox device filters like site=hq,role=switch.",
            )
        return BackendError(
            f"NetBox answered with an error ({status or name})", "Check that netbox_url is NetBox's address."
        )
    if module.startswith(("requests", "urllib3")):
        return BackendError(
            f"NetBox is unreachable ({name})", "Check OPSPACK_NETWORK_NETBOX_URL and that NetBox is up."
        )
    if module.startswith("paramiko"):
        if name == "AuthenticationException" or name == "BadAuthenticationType":
            return Denied("the device refused the login", "Check the inventory's username and password.")
        return BackendError(f"the SSH session failed ({name})", "Check that the device speaks SSH on that port.")
    if isinstance(exc, TimeoutError | socket.timeout):
        return CommandTimeout("the device did not answer in time", "Raise the pack's device_timeout.")
    if isinstance(exc, ConnectionError | OSError):
        return BackendError(
            f"the device is unreachable ({exc.strerror or name})",
            "Check the device's host and port in the inventory, and that it is up.",
        )
    if isinstance(exc, ValueError) and "enable mode" in str(exc):  # netmiko's enable() found no '#' prompt
        return Denied(
            "the device refused the enable secret (privileged mode not entered)",
            "Check the secret the inventory gives this device (defaults, groups, device).",
        )
    if isinstance(exc, ValueError) and "device_type" in str(exc):
        return ConfigError(
            "the device's platform is not a netmiko device_type",
            "Set platform to a netmiko device_type (cisco_ios, arista_eos, juniper_junos, dell_os6 ...).",
        )
    return None


def _refused_host_key(exc: BaseException) -> OpsError | None:
    """The error of the host key check that refused the device (:class:`opspack_network.hostkeys.Refused`);
    netmiko re-raises it as a timeout, with the refusal chained as its context."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        error = getattr(current, "error", None)
        if type(current).__name__ == "Refused" and isinstance(error, OpsError):
            return error
        current = current.__cause__ or current.__context__
    return None


def as_error(exc: BaseException) -> OpsError:
    """Always an :class:`OpsError` (an unknown exception becomes a ``backend`` one)."""
    out = translate(exc)
    if out is not None:
        return out
    return BackendError(f"the device session failed ({type(exc).__name__})", "See the bot's log for details.")
