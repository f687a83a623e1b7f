"""Devices from NetBox's DCIM API (pynetbox), merged into the inventory when ``netbox_url`` is set.

``GET /api/dcim/devices/?<netbox_filter>`` through pynetbox (which follows the paginated
answer's ``next`` links), one :class:`~opspack_network.inventory.Device` per NetBox device:

* name: the device's ``name`` (a device without a name is skipped);
* host: ``primary_ip4.address`` without its prefix length (``10.0.0.1/24`` -> ``10.0.0.1``),
  else ``primary_ip6``; a device without a primary IP is skipped, with a note;
* platform (netmiko ``device_type``): the device's custom field ``netmiko_device_type`` when
  set, else its NetBox platform's slug, with ``-`` read as ``_`` and the usual short slugs
  mapped (``ios`` -> ``cisco_ios``, ``eos`` -> ``arista_eos``, ``junos`` -> ``juniper_junos`` ...);
  a device with neither is skipped, with a note;
* port: the custom field ``ssh_port`` when set, else 22;
* site: the site's slug; groups: the role's slug, then the tags' slugs.

Credentials are not in NetBox: they come from the inventory file's ``defaults`` and from its
``groups`` whose names match the device's role or tags, as for the file's own devices.
On a name in both the file and NetBox, the file's device wins.

pynetbox is an optional dependency (``opspack-network[netbox]``), imported only here and
only when ``netbox_url`` is set.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from opspack import ConfigError, Context

#: NetBox platform slugs people use, and the netmiko device_type each one means
SLUG_ALIASES = {
    "ios": "cisco_ios",
    "iosxe": "cisco_xe",
    "ios_xe": "cisco_xe",
    "nxos": "cisco_nxos",
    "nx_os": "cisco_nxos",
    "iosxr": "cisco_xr",
    "ios_xr": "cisco_xr",
    "eos": "arista_eos",
    "junos": "juniper_junos",
    "os6": "dell_os6",
    "os10": "dell_os10",
    "procurve": "hp_procurve",
}

PLATFORM_FIELD = "netmiko_device_type"
PORT_FIELD = "ssh_port"


@dataclass(frozen=True, slots=True)
class Found:
    """One NetBox device as the pack reads it; ``skipped`` says why it cannot be used."""

    name: str
    host: str = ""
    platform: str = ""
    port: int = 22
    site: str = ""
    groups: tuple[str, ...] = ()
    skipped: str = ""


def parse_filter(text: str) -> dict[str, Any]:
    """``site=hq,role=switch,tag=a,tag=b`` -> pynetbox filter keywords (a repeated key is a list)."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(
                f"netbox_filter: '{part}' is not KEY=VALUE",
                "Write NetBox device filters like site=hq,role=switch,tag=core.",
            )
        if key in out:
            prior = out[key]
            out[key] = [*prior, value] if isinstance(prior, list) else [prior, value]
        else:
            out[key] = value
    return out


def platform_of(record: dict[str, Any]) -> str:
    """The netmiko device_type of a NetBox device record ("" when it has none)."""
    fields = record.get("custom_fields") or {}
    explicit = fields.get(PLATFORM_FIELD) if isinstance(fields, dict) else None
    if explicit:
        return str(explicit).strip()
    platform = record.get("platform") or {}
    slug = str(platform.get("slug") or "").strip().lower().replace("-", "_") if isinstance(platform, dict) else ""
    return SLUG_ALIASES.get(slug, slug)


def _slug(value: Any) -> str:
    return str(value.get("slug") or "") if isinstance(value, dict) else ""


def _address(record: dict[str, Any]) -> str:
    for key in ("primary_ip4", "primary_ip6"):
        ip = record.get(key)
        if isinstance(ip, dict) and ip.get("address"):
            return str(ip["address"]).split("/", 1)[0]
    return ""


def read(record: dict[str, Any]) -> Found:
    """A NetBox device record (``GET /api/dcim/devices/`` ``results`` item) as a :class:`Found`."""
    name = str(record.get("name") or "").strip()
    if not name:
        return Found(name=f"#{record.get('id')}", skipped="the NetBox device has no name")
    site = _slug(record.get("site"))
    groups = [g for g in [_slug(record.get("role") or record.get("device_role"))] if g]
    groups += [_slug(t) for t in record.get("tags") or [] if _slug(t)]
    base = Found(name=name, site=site, groups=tuple(dict.fromkeys(groups)))
    host = _address(record)
    if not host:
        return _replace(base, skipped="no primary IP in NetBox: set one to reach it")
    platform = platform_of(record)
    if not platform:
        return _replace(
            base, host=host, skipped=f"no platform in NetBox: set its platform or the custom field {PLATFORM_FIELD}"
        )
    fields = record.get("custom_fields") or {}
    raw_port = fields.get(PORT_FIELD) if isinstance(fields, dict) else None
    try:
        port = int(raw_port) if raw_port not in (None, "") else 22
    except (TypeError, ValueError):
        return _replace(base, host=host, platform=platform, skipped=f"custom field {PORT_FIELD} is not a number")
    return _replace(base, host=host, platform=platform, port=port)


def _replace(found: Found, **changes: Any) -> Found:
    from dataclasses import replace

    return replace(found, **changes)


_cache: dict[str, tuple[float, list[Found]]] = {}
_lock = threading.Lock()


def fetch(ctx: Context) -> list[Found]:
    """The devices NetBox lists for the pack's settings (kept ``netbox_ttl`` seconds)."""
    url = str(ctx.settings["netbox_url"] or "").strip()
    token = str(ctx.settings["netbox_token"] or "")
    ctx.secret(token)
    filters = parse_filter(str(ctx.settings["netbox_filter"] or ""))
    ttl = float(ctx.settings["netbox_ttl"])
    key = hashlib.sha256(f"{url}\0{token}\0{sorted(filters.items())}".encode()).hexdigest()
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
    found = [read(dict(r)) for r in _records(url, token, filters)]
    with _lock:
        _cache[key] = (time.monotonic(), found)
    return found


def _records(url: str, token: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        import pynetbox
    except ImportError:
        raise ConfigError(
            "netbox_url is set but pynetbox is not installed",
            "Install the pack with its NetBox extra: pip install 'opspack-network[netbox]'.",
        ) from None
    api = pynetbox.api(url, token=token or None)
    api.http_session.headers["User-Agent"] = "opspack-network"
    # filter() with no keywords is refused by pynetbox; all() is the same request unfiltered
    records = api.dcim.devices.filter(**filters) if filters else api.dcim.devices.all()
    return [dict(r) for r in records]


def clear_cache() -> None:
    """Forget what NetBox answered (tests; a changed setting already makes a new key)."""
    with _lock:
        _cache.clear()
