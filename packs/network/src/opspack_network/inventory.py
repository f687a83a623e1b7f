"""The inventory: devices from a YAML file, with defaults and groups, and how a name selects them.

::

    defaults: {username: netops, password: "vault:secret/net#password", secret: "env:NET_ENABLE"}
    groups:
      core: {username: admin, password: "file:/run/secrets/core"}
    devices:
      - {name: sw1, host: 10.0.0.1, port: 22, platform: cisco_ios, groups: [core], site: hq}

Group settings override the defaults (in the order the device lists its groups),
the device's own settings override both. The group ``all`` names every device. Values
may be ``env:``, ``file:`` or ``vault:`` references; they are resolved only for the
devices a command talks to, and every resolved password is registered for masking.
The file is read anew when it changes (its modification time), so edits need no restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opspack import ConfigError, Context, NotFound

#: the settings every command that reads the inventory needs
SETTINGS = ["inventory", "netbox_url", "netbox_token", "netbox_filter", "netbox_ttl"]
#: the settings of every command that opens SSH sessions (host key checking: hostkeys.py)
SSH_SETTINGS = ["host_keys", "known_hosts"]

_FIELDS = ("host", "port", "platform", "username", "password", "secret", "site")
_SECRET_FIELDS = ("password", "secret")


@dataclass(frozen=True, slots=True)
class Device:
    """One device as the inventory describes it (credentials still unresolved)."""

    name: str
    host: str
    platform: str
    port: int = 22
    username: str = ""
    password: str = ""
    secret: str = ""
    site: str = ""
    groups: tuple[str, ...] = ()
    #: where the device comes from: "file" or "netbox"
    source: str = "file"


@dataclass(frozen=True, slots=True)
class Login:
    """What connecting to one device takes, references resolved."""

    device: Device
    username: str
    password: str
    secret: str


@dataclass(slots=True)
class Inventory:
    devices: dict[str, Device] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None
    #: the file's defaults and group settings (NetBox devices take their credentials from them)
    defaults: dict[str, Any] = field(default_factory=dict)
    group_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: devices NetBox lists that cannot be used, and why (name -> reason)
    skipped: dict[str, str] = field(default_factory=dict)

    def select(self, target: str) -> list[Device]:
        """The devices ``target`` names: a device, a group, or ``all``."""
        if target in self.devices:
            return [self.devices[target]]
        if target == "all":
            return list(self.devices.values())
        if target in self.groups:
            return [self.devices[n] for n in self.groups[target]]
        raise NotFound.with_matches("device or group", target, [*self.devices, *self.groups, "all"])

    def device(self, name: str) -> Device:
        """One device by name (a group here is a usage error)."""
        if name in self.devices:
            return self.devices[name]
        if name == "all" or name in self.groups:
            from opspack import UsageError

            raise UsageError(f"'{name}' is a group; this command takes one device", "Name one device.")
        raise NotFound.with_matches("device", name, self.devices)


_cache: dict[Path, tuple[float, Inventory]] = {}
_lock = threading.Lock()


def load(ctx: Context) -> Inventory:
    """The file's devices, plus NetBox's when ``netbox_url`` is set (the file wins on a name)."""
    file_setting = ctx.settings["inventory"]
    netbox_url = ctx.settings["netbox_url"]
    if not file_setting and not netbox_url:
        raise ConfigError(
            "no inventory: neither an inventory file nor NetBox is set",
            "Set OPSPACK_NETWORK_INVENTORY to a YAML file with defaults, groups and devices"
            " (and/or OPSPACK_NETWORK_NETBOX_URL).",
        )
    inventory = _load_file(Path(str(file_setting)).expanduser()) if file_setting else Inventory()
    if not netbox_url:
        return inventory
    from opspack_network.netbox import fetch

    return with_netbox(inventory, fetch(ctx))


def with_netbox(inventory: Inventory, found: list[Any]) -> Inventory:
    """A new inventory: the file's devices, then NetBox's (``Found``) with the file's credentials."""
    out = Inventory(
        devices=dict(inventory.devices),
        groups={g: list(names) for g, names in inventory.groups.items()},
        path=inventory.path,
        defaults=inventory.defaults,
        group_settings=inventory.group_settings,
    )
    for f in found:
        if f.name in out.devices:
            continue  # the file's device wins
        if f.skipped:
            out.skipped[f.name] = f.skipped
            continue
        merged: dict[str, Any] = {k: v for k, v in inventory.defaults.items() if k in _FIELDS}
        for g in f.groups:
            merged.update({k: v for k, v in inventory.group_settings.get(g, {}).items() if k in _FIELDS})
        out.devices[f.name] = Device(
            name=f.name,
            host=f.host,
            platform=f.platform,
            port=f.port,
            username=str(merged.get("username") or ""),
            password=str(merged.get("password") or ""),
            secret=str(merged.get("secret") or ""),
            site=f.site,
            groups=tuple(f.groups),
            source="netbox",
        )
        for g in f.groups:
            out.groups.setdefault(g, []).append(f.name)
    return out


def _load_file(path: Path) -> Inventory:
    """The inventory file at ``path`` (cached until the file changes)."""
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ConfigError(
            f"the inventory file {path} cannot be read ({exc.strerror})",
            "Set OPSPACK_NETWORK_INVENTORY to a YAML file with defaults, groups and devices.",
        ) from None
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    inventory = parse(path.read_text(encoding="utf-8"), path)
    with _lock:
        _cache[path] = (mtime, inventory)
    return inventory


def parse(text: str, path: Path | None = None) -> Inventory:
    """Parse inventory YAML (JSON is YAML too) and merge defaults, groups and devices."""
    import yaml

    where = str(path or "the inventory")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{where} is not valid YAML{line}", "Fix the file; see the pack's README.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping with defaults, groups and devices")
    defaults = _mapping(data.get("defaults"), f"{where}: defaults")
    groups = {str(k): _mapping(v, f"{where}: group {k}") for k, v in _mapping(data.get("groups"), where).items()}
    devices_raw = data.get("devices") or []
    if not isinstance(devices_raw, list):
        raise ConfigError(f"{where}: devices must be a list")
    inventory = Inventory(path=path, defaults=defaults, group_settings=groups)
    for i, raw in enumerate(devices_raw):
        item = _mapping(raw, f"{where}: device #{i + 1}")
        name = str(item.get("name") or "").strip()
        if not name:
            raise ConfigError(f"{where}: device #{i + 1} has no name")
        if name in inventory.devices:
            raise ConfigError(f"{where}: device {name} is listed twice")
        member_of = [str(g) for g in item.get("groups") or []]
        merged: dict[str, Any] = {k: v for k, v in defaults.items() if k in _FIELDS}
        for g in member_of:
            merged.update({k: v for k, v in groups.get(g, {}).items() if k in _FIELDS})
        merged.update({k: v for k, v in item.items() if k in _FIELDS})
        if not merged.get("host") or not merged.get("platform"):
            raise ConfigError(f"{where}: device {name} needs a host and a platform (a netmiko device_type)")
        try:
            port = int(merged.get("port") or 22)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: device {name} has port {merged.get('port')!r}, expected a number") from None
        inventory.devices[name] = Device(
            name=name,
            host=str(merged["host"]),
            platform=str(merged["platform"]),
            port=port,
            username=str(merged.get("username") or ""),
            password=str(merged.get("password") or ""),
            secret=str(merged.get("secret") or ""),
            site=str(merged.get("site") or ""),
            groups=tuple(member_of),
        )
        for g in member_of:
            inventory.groups.setdefault(g, []).append(name)
    for g in groups:
        inventory.groups.setdefault(g, [])
    return inventory


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    return {str(k): v for k, v in value.items()}


def login(ctx: Context, device: Device) -> Login:
    """Resolve the device's credentials (references included) and register them for masking."""
    values: dict[str, str] = {}
    for name in ("username", *_SECRET_FIELDS):
        raw = str(getattr(device, name))
        try:
            values[name] = ctx.resolve(raw, secret=name in _SECRET_FIELDS) if raw else ""
        except ConfigError as exc:
            raise ConfigError(f"device {device.name}, {name}: {exc.message}", exc.hint) from None
    return Login(device, values["username"], values["password"], values["secret"])
