"""The kept Grafana client of a command's context (imports requests only when called)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opspack.context import Context

if TYPE_CHECKING:
    from opspack_grafana.client import GrafanaClient


def grafana(ctx: Context) -> GrafanaClient:
    """The client for this pack and profile, made once and reused while the settings hold."""
    from opspack_grafana.client import GrafanaClient

    settings = ctx.settings
    ca_file = str(settings["ca_file"] or "")
    verify: bool | str = bool(settings["verify_tls"])
    if verify and ca_file:
        verify = ca_file

    def make() -> GrafanaClient:
        return GrafanaClient(
            str(settings["url"]),
            str(settings["token"]),
            org_id=int(settings["org_id"]),
            verify=verify,
            timeout=float(settings["timeout"]),
        )

    return ctx.connection(make, close=lambda c: c.close())
