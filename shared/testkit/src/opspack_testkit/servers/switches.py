"""Simulated network switches (fake-switches over SSH) for tests, benchmarks and the demo.

One child process serves any number of simulated devices, each on its own loopback
port, through `fake-switches <https://github.com/internap/fake-switches>`_ (a CLI
simulator of Cisco, Dell, Brocade ... switches on Twisted). The parent reads the
ports the child prints once every device listens::

    with SimulatedSwitches([SwitchSpec("sw1"), SwitchSpec("sw2", "dell_os6")]) as sims:
        sims.ports["sw1"]                       # the SSH port of sw1
        sims.write_inventory(path)              # an inventory file for the network pack

Platforms (netmiko ``device_type`` names): ``cisco_ios`` (fake-switches' Cisco 2960)
and ``dell_os6`` (its Dell 10G core). fake-switches lacks a few commands every IOS has;
for ``cisco_ios`` the simulator here adds them in IOS's own output format:
``show ip interface brief`` (fake-switches crashes on it), ``show arp`` / ``show ip arp``
(three fixed entries), ``show interfaces status``, ``show startup-config`` (the
configuration as of the last ``write memory``, or start-up) and ``end`` in configuration
mode (netmiko leaves configuration mode with it). A port is ``up`` unless it
is ``shutdown``. What a device writes in one turn of the simulator's event loop goes out as
one SSH message, as a device sends its echo and its output in bursts (fake-switches alone
sends one message per echoed character and per line of output). A device with ``latency``
> 0 sits behind a TCP proxy in the same process that delays every chunk by that many
seconds, each way: a device that answers slowly.

fake-switches pins Twisted<17 in its metadata but runs on current Twisted, so it is
installed apart: ``pip install --no-deps fake-switches==1.5.0 "twisted[conch]" tftpy
netaddr lxml`` (the network pack declares this in ``[tool.opspack.test-install]``).
:func:`switches_available` says whether it is installed. Run ``python -m
opspack_testkit.servers.switches sw1=cisco_ios sw2=dell_os6`` to serve devices by hand.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = [
    "PLATFORMS",
    "SimulatedSwitches",
    "SwitchSpec",
    "SwitchesError",
    "switches_available",
]

#: netmiko device_type -> what the simulator runs for it
PLATFORMS = ("cisco_ios", "dell_os6")


class SwitchesError(ServerError):
    """The simulator did not start."""


def switches_available() -> bool:
    """fake-switches and Twisted's SSH support are importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("fake_switches", "twisted", "cryptography"))


@dataclass(slots=True)
class SwitchSpec:
    """One simulated device: its name (also its hostname and prompt) and platform."""

    name: str
    platform: str = "cisco_ios"
    #: seconds added to every chunk of data, each way (a slow device)
    latency: float = 0.0
    #: how many front ports it has
    ports: int = 8

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(f"platform {self.platform!r}: the simulator runs {', '.join(PLATFORMS)}")


class SimulatedSwitches(ManagedProcess):
    """A child process serving ``devices`` over SSH on loopback; a context manager."""

    name = "switches"
    error = SwitchesError
    own_port = True  # one port per device, printed once every device listens

    def __init__(
        self,
        devices: Sequence[SwitchSpec],
        *,
        username: str = "admin",
        password: str = "admin",  # noqa: S107 - the simulator's default login
        secret: str = "secret",  # noqa: S107 - and its enable secret
        start_timeout: float = 60.0,
        python: str = sys.executable,
    ) -> None:
        super().__init__(start_timeout=start_timeout)
        self.devices = list(devices)
        self.username = username
        self.password = password
        self.secret = secret
        self.python = python
        #: device name -> its SSH port (once started)
        self.ports: dict[str, int] = {}

    # -- ManagedProcess ------------------------------------------------------------------
    def prepare(self) -> None:
        """Forget the ports of an earlier run."""
        self.ports = {}

    def command(self) -> list[str]:
        """This module run as the simulator, with the devices as JSON."""
        spec = {
            "username": self.username,
            "password": self.password,
            "secret": self.secret,
            "devices": [asdict(d) for d in self.devices],
        }
        return [self.python, "-m", "opspack_testkit.servers.switches", "--json", json.dumps(spec)]

    def environment(self) -> dict[str, str]:
        """The tests' environment, with Python's output unbuffered (the ports line comes at once)."""
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def on_output(self, line: str) -> None:
        """The child prints ``{"ports": {name: port}}`` once every device listens."""
        if line.startswith("{") and not self.ports:
            with contextlib.suppress(ValueError, KeyError, AttributeError):
                self.ports = {str(k): int(v) for k, v in json.loads(line)["ports"].items()}

    def ready(self) -> bool:
        """Every device listens."""
        return bool(self.ports)

    # -- inventories -----------------------------------------------------------------
    def inventory(
        self,
        *,
        extra: Iterable[Mapping[str, Any]] = (),
        groups: Mapping[str, Mapping[str, Any]] | None = None,
        defaults: Mapping[str, Any] | None = None,
        device_groups: Mapping[str, list[str]] | None = None,
        site: str = "lab",
    ) -> dict[str, Any]:
        """An inventory for the network pack: every simulated device, plus ``extra`` ones."""
        base: dict[str, Any] = {"username": self.username, "password": self.password, "secret": self.secret}
        base.update(defaults or {})
        devices: list[dict[str, Any]] = []
        for d in self.devices:
            devices.append(
                {
                    "name": d.name,
                    "host": "127.0.0.1",
                    "port": self.ports[d.name],
                    "platform": d.platform,
                    "groups": list((device_groups or {}).get(d.name, [])),
                    "site": site,
                }
            )
        devices.extend(dict(e) for e in extra)
        return {"defaults": base, "groups": {k: dict(v) for k, v in (groups or {}).items()}, "devices": devices}

    def write_inventory(self, path: Path, **kwargs: Any) -> Path:
        """Write :meth:`inventory` to ``path`` (JSON, which YAML readers read as well)."""
        path.write_text(json.dumps(self.inventory(**kwargs), indent=2) + "\n", encoding="utf-8")
        return path


# ---------------------------------------------------------------------------------------
# the child process (imports Twisted and fake-switches; never imported by the parent)


def _serve(spec: Mapping[str, Any]) -> None:  # pragma: no cover - runs in the child
    from opspack_testkit.servers import _switches_sim

    _switches_sim.serve(spec)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - runs in the child
    """The simulator child: ``--json <spec>``, or ``name=platform`` pairs to serve devices by hand."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--json"]:
        spec = json.loads(args[1])
    else:
        devices = []
        for item in args:
            name, _, platform = item.partition("=")
            devices.append(asdict(SwitchSpec(name, platform or "cisco_ios")))
        spec = {"username": "admin", "password": "admin", "secret": "secret", "devices": devices}
    _serve(spec)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
