"""The kept NITRO session of a command's context (imports requests only when called).

One logged-in session per pack profile lives in the runtime's connection pool:
commands in a long-running bot reuse it, it is logged out when the runtime closes
(or the settings change), and when the ADC says the session expired (errorcode 444)
the call is made once more on a fresh login, so users never see the expiry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from opspack.context import Context
from opspack.errors import ConfigError

from opspack_netscaler.errors import is_expired

if TYPE_CHECKING:
    from opspack_netscaler.client import NitroClient

T = TypeVar("T")

#: the settings a session depends on; a change makes a new session (and logs the old one out)
SESSION_SETTINGS = ["url", "user", "password", "verify_tls", "ca_file", "timeout"]


def _factory(ctx: Context) -> Callable[[], NitroClient]:
    from opspack_netscaler.client import NitroClient

    settings = ctx.settings
    url = str(settings["url"]).strip()
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"The NetScaler URL {url!r} has no scheme.",
            "Set OPSPACK_NETSCALER_URL to e.g. https://adc1.example.com (the NSIP or management address).",
        )
    verify: bool | str = bool(settings["verify_tls"])
    ca_file = str(settings["ca_file"] or "")
    if verify and ca_file:
        verify = ca_file

    def make() -> NitroClient:
        client = NitroClient(
            url,
            str(settings["user"]),
            str(settings["password"]),
            verify=verify,
            timeout=float(settings["timeout"]),
            on_token=ctx.secret,
        )
        client.login()
        return client

    return make


def _logout(client: NitroClient) -> None:
    client.logout()


def nitro(ctx: Context, use: Callable[[NitroClient], T]) -> T:
    """Run ``use(client)`` on this profile's kept session; re-login once if it expired."""
    result: T = ctx.with_connection(
        _factory(ctx),
        use,
        expired=is_expired,
        close=_logout,
        settings=SESSION_SETTINGS,
    )
    return result
