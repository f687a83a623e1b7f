# mypy: ignore-errors
# (Twisted and fake-switches are typed in one environment and absent in another)
"""The child process of :mod:`opspack_testkit.servers.switches`: fake-switches on one Twisted reactor.

Imports Twisted and fake-switches, so only ``python -m opspack_testkit.servers.switches`` imports it.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from fake_switches.cisco.cisco_core import Cisco2960SwitchCore
from fake_switches.cisco.command_processor.config import ConfigCommandProcessor
from fake_switches.cisco.command_processor.config_interface import ConfigInterfaceCommandProcessor
from fake_switches.cisco.command_processor.config_vlan import ConfigVlanCommandProcessor
from fake_switches.cisco.command_processor.config_vrf import ConfigVRFCommandProcessor
from fake_switches.cisco.command_processor.enabled import EnabledCommandProcessor
from fake_switches.dell10g.dell_core import Dell10GSwitchCore
from fake_switches.switch_configuration import Port, SwitchConfiguration
from fake_switches.transports.ssh_service import SSHDemoAvatar, SSHDemoRealm, SwitchSshService
from twisted.conch.insults import insults
from twisted.conch.ssh import session
from twisted.internet import protocol, reactor

# Three fixed neighbours in IOS's `show arp` format (Protocol, Address, Age, Hardware Addr, Type, Interface)
_ARP = [
    ("10.0.0.1", "-", "0000.0c07.ac01", "Vlan1"),
    ("10.0.0.21", "3", "0050.56a1.2b3c", "Vlan1"),
    ("10.0.0.22", "12", "0050.56a1.4d5e", "Vlan1"),
]


class IOSEnabled(EnabledCommandProcessor):
    """fake-switches' IOS enabled mode plus the show commands it lacks, in IOS's format."""

    def init(self, switch_configuration: Any, *args: Any) -> None:
        super().init(switch_configuration, *args)
        if getattr(switch_configuration, "startup_config", None) is None:
            switch_configuration.startup_config = self._running_text()

    def _running_text(self) -> str:
        lines: list[str] = []
        self.write_line = lines.append  # collect what show_run writes
        try:
            self.show_run()
        finally:
            del self.write_line
        return "\n".join(lines)

    def process_command(self, line: str) -> bool:
        # IOS's `end` leaves configuration mode from any depth (fake-switches knows only `exit`)
        if line.strip() == "end" and self.sub_processor is not None:
            self.sub_processor = None
            self.show_prompt()
            return True
        return bool(super().process_command(line))

    def do_show(self, *args: str) -> None:
        words = [a.lower() for a in args]
        if words and "startup-config".startswith(words[0]) and len(words[0]) >= 3:
            self.write_line(f"Using {len(self.switch_configuration.startup_config)} out of 524288 bytes")
            for line in self.switch_configuration.startup_config.splitlines()[3:]:  # minus the "Building" header
                self.write_line(line)
            return
        if words[:1] == ["arp"] or (len(words) >= 2 and words[0] == "ip" and "arp".startswith(words[1])):
            self.write_line("Protocol  Address          Age (min)  Hardware Addr   Type   Interface")
            for address, age, mac, interface in _ARP:
                self.write_line(f"Internet  {address:<16} {age:>9}  {mac:<14}  ARPA   {interface}")
            return
        if len(words) >= 3 and words[0] == "ip" and "interface".startswith(words[1]) and "brief".startswith(words[2]):
            self.write_line("Interface              IP-Address      OK? Method Status                Protocol")
            for port in self.switch_configuration.get_physical_ports():
                status, proto = ("administratively down", "down") if port.shutdown else ("up", "up")
                self.write_line(f"{port.name:<22} {'unassigned':<15} YES unset  {status:<21} {proto}")
            return
        if len(words) >= 2 and "interfaces".startswith(words[0]) and "status".startswith(words[1]):
            self.write_line("")
            self.write_line("Port      Name               Status       Vlan       Duplex  Speed Type")
            for port in self.switch_configuration.get_physical_ports():
                short = port.get_subname(length=2)
                status = "disabled" if port.shutdown else "connected"
                vlan = str(port.access_vlan or 1)
                name = (port.description or "")[:18]
                self.write_line(f"{short:<9} {name:<18} {status:<12} {vlan:<10} a-full  a-100 10/100BaseTX")
            return
        super().do_show(*args)

    def do_write(self, *args: str) -> None:
        super().do_write(*args)
        self.switch_configuration.startup_config = self._running_text()


class IOSCore(Cisco2960SwitchCore):
    def new_command_processor(self) -> Any:
        return IOSEnabled(
            config=ConfigCommandProcessor(
                config_vlan=ConfigVlanCommandProcessor(),
                config_vrf=ConfigVRFCommandProcessor(),
                config_interface=ConfigInterfaceCommandProcessor(),
            )
        )


def _core(platform: str, name: str, ports: int, secret: str) -> Any:
    if platform == "cisco_ios":
        port_list = [Port(f"FastEthernet0/{i}") for i in range(1, ports + 1)]
        return IOSCore(SwitchConfiguration("127.0.0.1", name=name, ports=port_list, privileged_passwords=[secret]))
    if platform == "dell_os6":
        port_list = [Port(f"tengigabitethernet 1/0/{i}") for i in range(1, ports + 1)]
        return Dell10GSwitchCore(
            SwitchConfiguration("127.0.0.1", name=name, ports=port_list, privileged_passwords=[secret])
        )
    raise SystemExit(f"unknown platform {platform!r}")


# -- one SSH data message per burst of output, as a device sends it -------------------------


class _Burst:
    """Sends what the shell writes in one reactor turn as one SSH channel message.

    fake-switches writes its echo one character at a time and its output one line at a
    time, and Twisted sends each write as its own SSH message: ~90 messages for one
    ``show version``, where a device sends its echo and its output in a few bursts.
    Everything else is the SSH session's own transport."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._chunks: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        self._chunks.append(data)
        if not self._scheduled:
            self._scheduled = True
            reactor.callLater(0, self._flush)

    def writeSequence(self, seq: Any) -> None:  # noqa: N802 - Twisted's names
        for data in seq:
            self.write(data)

    def _flush(self) -> None:
        self._scheduled = False
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._transport.write(data)

    def loseConnection(self) -> None:  # noqa: N802 - Twisted's names
        self._flush()
        self._transport.loseConnection()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _BurstAvatar(SSHDemoAvatar):
    def openShell(self, protocol: Any) -> None:  # noqa: N802 - Twisted's names
        from fake_switches.terminal.ssh import SwitchSSHShell

        server_protocol = insults.ServerProtocol(SwitchSSHShell, self, switch_core=self.switch_core)
        server_protocol.makeConnection(_Burst(protocol))
        protocol.makeConnection(session.wrapProtocol(server_protocol))


class _BurstRealm(SSHDemoRealm):
    def requestAvatar(self, avatarId: Any, mind: Any, *interfaces: Any) -> Any:  # noqa: N802,N803 - Twisted's names
        kind, _avatar, logout = super().requestAvatar(avatarId, mind, *interfaces)
        return kind, _BurstAvatar(avatarId, switch_core=self.switch_core), logout


def _listen(core: Any, users: dict[str, bytes]) -> int:
    """fake-switches' SSH service for ``core`` on a free loopback port, sending output in bursts."""
    service = SwitchSshService(ip="127.0.0.1", port=0, switch_core=core, users=users)
    listening = service.hook_to_reactor(reactor)
    listening.factory.portal.realm = _BurstRealm(core)
    return int(listening.getHost().port)


# -- a proxy that delays every chunk (a slow device) -----------------------------------------


class _Delayed:
    """Writes chunks to ``write`` ``delay`` seconds after they arrive, in order."""

    def __init__(self, delay: float, write: Callable[[bytes], None]) -> None:
        self.delay = delay
        self.write = write
        self.queue: deque[tuple[float, bytes]] = deque()
        self.scheduled = False

    def push(self, data: bytes) -> None:
        self.queue.append((time.monotonic() + self.delay, data))
        if not self.scheduled:
            self.scheduled = True
            reactor.callLater(self.delay, self.flush)

    def flush(self) -> None:
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now + 0.001:
            self.write(self.queue.popleft()[1])
        if self.queue:
            reactor.callLater(max(0.0, self.queue[0][0] - now), self.flush)
        else:
            self.scheduled = False


class _Upstream(protocol.Protocol):
    def __init__(self, front: _Front) -> None:
        self.front = front

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's names
        self.front.upstream_ready(self)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's names
        self.front.down.push(data)

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802 - Twisted's names
        reactor.callLater(self.front.delay, self.front.transport.loseConnection)


class _Front(protocol.Protocol):
    def __init__(self, delay: float, target: int) -> None:
        self.delay = delay
        self.target = target
        self.pending: list[bytes] = []
        self.upstream: _Upstream | None = None
        self.down = _Delayed(delay, lambda d: self.transport.write(d))
        self.up = _Delayed(delay, self._to_upstream)

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's names
        factory = protocol.ClientFactory()
        factory.protocol = lambda: _Upstream(self)
        reactor.connectTCP("127.0.0.1", self.target, factory)

    def upstream_ready(self, upstream: _Upstream) -> None:
        self.upstream = upstream
        for data in self.pending:
            upstream.transport.write(data)
        self.pending.clear()

    def _to_upstream(self, data: bytes) -> None:
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.transport.write(data)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's names
        self.up.push(data)

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802 - Twisted's names
        if self.upstream is not None:
            self.upstream.transport.loseConnection()


def _listen_delayed(delay: float, target: int) -> int:
    factory = protocol.ServerFactory()
    factory.protocol = lambda: _Front(delay, target)
    return int(reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port)


def serve(spec: Mapping[str, Any]) -> None:
    users = {str(spec["username"]): str(spec["password"]).encode()}
    ports: dict[str, int] = {}
    for device in spec["devices"]:
        core = _core(device["platform"], device["name"], int(device.get("ports", 8)), str(spec["secret"]))
        port = _listen(core, users)
        if float(device.get("latency") or 0) > 0:
            port = _listen_delayed(float(device["latency"]), port)
        ports[device["name"]] = port
    sys.stdout.write(json.dumps({"ports": ports}) + "\n")
    sys.stdout.flush()
    reactor.run()
