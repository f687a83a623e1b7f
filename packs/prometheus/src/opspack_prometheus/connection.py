"""The kept client of a command's context (imports requests only when called)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opspack.context import Context

if TYPE_CHECKING:
    from opspack_prometheus.client import PrometheusClient


def prometheus(ctx: Context) -> PrometheusClient:
    """The client for this pack and profile, made once and reused while the settings hold."""
    from opspack_prometheus.client import PrometheusClient

    settings = ctx.settings
    ca_file = str(settings["ca_file"] or "")
    verify: bool | str = bool(settings["verify_tls"])
    if verify and ca_file:
        verify = ca_file

    def make() -> PrometheusClient:
        return PrometheusClient(
            str(settings["url"]),
            str(settings["alertmanager_url"] or ""),
            user=str(settings["user"] or ""),
            password=str(settings["password"] or ""),
            token=str(settings["token"] or ""),
            verify=verify,
            timeout=float(settings["timeout"]),
            query_timeout=float(settings["query_timeout"]),
        )

    return ctx.connection(make, close=lambda c: c.close())
