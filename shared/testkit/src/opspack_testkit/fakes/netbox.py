"""A fake NetBox (the DCIM devices API) on loopback, for the network pack's tests.

The real pynetbox client talks real HTTP to it. It answers ``GET /api/dcim/devices/``
the way NetBox's REST API does (https://netboxlabs.com/docs/netbox/integrations/rest-api/
and the OpenAPI schema at ``/api/schema/``, ``PaginatedDeviceWithConfigContextList``):
``{"count", "next", "previous", "results"}`` with ``limit``/``offset`` paging and
absolute ``next`` links, device objects with nested ``site``/``role``/``platform``/
``primary_ip4`` (``address`` with its prefix length) and ``tags``, ``custom_fields``;
``site``, ``role`` and ``tag`` filters; ``Authorization: Token <key>`` and
``{"detail": "Invalid token"}`` with 403 for a wrong token (401 where the server asks the
client to authenticate: set ``auth_failure``). Its page size is capped at
:data:`MAX_PAGE_SIZE` (NetBox's ``MAX_PAGE_SIZE`` setting), so five devices take three
pages::

    with FakeNetBox([device(1, "sw1", ip="127.0.0.1/32", platform="ios", role="core")]) as nb:
        pynetbox.api(nb.url, token=TOKEN).dcim.devices.all()
"""

from __future__ import annotations

from typing import Any

from opspack_testkit.fakes.http import FakeHTTPServer, FakeService, Request, Response

__all__ = ["MAX_PAGE_SIZE", "TOKEN", "FakeNetBox", "device"]

#: the API token the fake accepts
TOKEN = "0123456789abcdef0123456789abcdef01234567"
#: the most devices one page holds, whatever ``limit`` asks
MAX_PAGE_SIZE = 2


def device(
    i: int,
    name: str,
    *,
    ip: str | None,
    platform: str | None,
    role: str,
    site: str = "hq",
    tags: tuple[str, ...] = (),
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A device object as ``GET /api/dcim/devices/`` lists it (id ``i``, a C2960, active).

    ``ip`` is its primary IPv4 address with prefix length; ``fields`` its custom fields
    (``netmiko_device_type`` and ``ssh_port`` are there, None by default)."""
    base = "http://netbox.invalid/api"
    return {
        "id": i,
        "url": f"{base}/dcim/devices/{i}/",
        "display": name,
        "name": name,
        "device_type": {"id": 1, "url": f"{base}/dcim/device-types/1/", "model": "C2960", "slug": "c2960"},
        "role": {"id": 2, "url": f"{base}/dcim/device-roles/2/", "name": role.title(), "slug": role},
        "platform": None
        if platform is None
        else {"id": 3, "url": f"{base}/dcim/platforms/3/", "name": platform, "slug": platform},
        "site": {"id": 4, "url": f"{base}/dcim/sites/4/", "name": site.upper(), "slug": site},
        "status": {"value": "active", "label": "Active"},
        "primary_ip": None if ip is None else {"id": 10 + i, "family": {"value": 4}, "address": ip},
        "primary_ip4": None if ip is None else {"id": 10 + i, "family": {"value": 4}, "address": ip},
        "primary_ip6": None,
        "tags": [{"id": 20 + n, "name": t, "slug": t, "color": "9e9e9e"} for n, t in enumerate(tags)],
        "custom_fields": {"netmiko_device_type": None, "ssh_port": None, **(fields or {})},
        "config_context": {},
    }


class FakeNetBox(FakeService):
    """NetBox's device list over ``devices``; ``server.requests`` records every request."""

    def __init__(self, devices: list[dict[str, Any]]) -> None:
        self.devices = devices
        #: the status a missing or wrong token gets (NetBox: 403; 401 when it asks to authenticate)
        self.auth_failure = 403
        self.server = FakeHTTPServer()
        self.server.route("GET", r"/api/dcim/devices/")(self.list_devices)

    def list_devices(self, req: Request) -> Response:
        """``GET /api/dcim/devices/``: filtered, one page of at most :data:`MAX_PAGE_SIZE`."""
        header = req.headers.get("authorization", "")
        if header != f"Token {TOKEN}":
            detail = "Invalid token" if header else "Authentication credentials were not provided."
            return Response.json({"detail": detail}, self.auth_failure)
        chosen = self.devices
        for key in ("site", "role"):
            wanted = req.query.get(key)
            if wanted:
                chosen = [d for d in chosen if d[key]["slug"] in wanted]
        if req.query.get("tag"):
            chosen = [d for d in chosen if {t["slug"] for t in d["tags"]} & set(req.query["tag"])]
        limit = min(int(req.arg("limit") or 50) or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        offset = int(req.arg("offset") or 0)
        page = chosen[offset : offset + limit]

        def link(at: int) -> str:
            rest = "".join(f"&{k}={v}" for k, vs in req.query.items() if k not in ("limit", "offset") for v in vs)
            return f"{self.server.url}/api/dcim/devices/?limit={limit}&offset={at}{rest}"

        return Response.json(
            {
                "count": len(chosen),
                "next": link(offset + limit) if offset + limit < len(chosen) else None,
                "previous": link(max(0, offset - limit)) if offset else None,
                "results": page,
            }
        )
