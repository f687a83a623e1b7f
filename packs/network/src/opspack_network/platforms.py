"""Which command answers which question on each platform (netmiko device_type names).

``net interfaces``, ``net vlans``, ``net arp``, ``net status``, ``net backup`` and
``net diff`` ask a device through these; a platform not listed gets :data:`GENERIC`
(IOS-like). ``None`` means the platform has no such command.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Commands:
    version: str = "show version"
    interfaces: str = "show ip interface brief"
    vlans: str | None = "show vlan brief"
    arp: str | None = "show ip arp"
    running: str = "show running-config"
    startup: str | None = "show startup-config"


GENERIC = Commands()

PLATFORMS: dict[str, Commands] = {
    "cisco_ios": GENERIC,
    "cisco_xe": GENERIC,
    "cisco_nxos": Commands(interfaces="show interface brief"),
    "cisco_xr": Commands(interfaces="show ipv4 interface brief", vlans=None, arp="show arp", startup=None),
    "arista_eos": Commands(interfaces="show interfaces status", vlans="show vlan"),
    "dell_os6": Commands(interfaces="show interfaces status", vlans="show vlan", arp="show arp"),
    "dell_os10": Commands(interfaces="show interface status", vlans="show vlan", arp="show ip arp"),
    "juniper_junos": Commands(
        interfaces="show interfaces terse",
        vlans="show vlans",
        arp="show arp no-resolve",
        running="show configuration",
        startup=None,
    ),
    "hp_procurve": Commands(interfaces="show interfaces brief", vlans="show vlans", arp="show arp"),
}


def commands(platform: str) -> Commands:
    return PLATFORMS.get(platform, GENERIC)


# Show commands whose first word may be abbreviated (sh ver, disp cur)
_READ_VERBS = ("show", "display")
# Pipe targets that write to the device's flash or elsewhere
_WRITING_PIPES = ("redirect", "tee", "append", "save", "copy")


def check_read_only(command: str, allowed: str) -> str | None:
    """Why ``command`` may not run (``None`` when it may): show/display or an allowed prefix."""
    text = " ".join(command.split())
    if not text:
        return "give a command, e.g. show version"
    if any(ord(c) < 32 for c in command):
        return "the command may not contain control characters"
    first = text.split(" ", 1)[0].lower()
    extra = [p.strip().lower() for p in allowed.split(",") if p.strip()]
    low = text.lower()
    ok = any(len(first) >= 2 and verb.startswith(first) for verb in _READ_VERBS) or any(
        low == p or low.startswith(p + " ") for p in extra
    )
    if not ok:
        allowed_text = ", ".join(["show", "display", *extra])
        return f"only read-only commands run here ({allowed_text}); '{first}' is not one"
    for segment in text.split("|")[1:]:
        verb = segment.strip().split(" ", 1)[0].lower()
        if any(len(verb) >= 2 and w.startswith(verb) for w in _WRITING_PIPES):
            return f"'| {verb}' writes on the device; it is not allowed"
    return None
