"""Simulated switches (opspack_testkit.servers.switches: fake-switches over SSH) the network pack's tests talk to.

One simulator process serves every device on its own loopback port: two Cisco IOS
switches, a Dell OS6 switch and a Cisco switch behind a proxy that delays every packet
(a slow device). The inventory adds a device on a closed port (down) and one with a
wrong password. Passwords come from env: and file: references, as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.results import Reply
from opspack_testkit import check_rendering, free_port, need, run_command
from opspack_testkit.servers.switches import SimulatedSwitches, SwitchSpec, switches_available

USER = "netops"
PASSWORD = "Pw-canary-8c1f0e77"
SECRET = "En-canary-77d2a9"


@dataclass
class Lab:
    sims: SimulatedSwitches
    inventory: Path
    env: dict[str, str]
    folder: Path


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_network", metadata.version("opspack-network"))
    return reg


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need(switches_available(), "fake-switches is not installed (pip install --no-deps fake-switches==1.5.0)")
    folder = tmp_path_factory.mktemp("network")
    devices = [
        SwitchSpec("sw1", "cisco_ios"),
        SwitchSpec("sw2", "cisco_ios"),
        SwitchSpec("dsw", "dell_os6", ports=4),
        SwitchSpec("slow", "cisco_ios", latency=0.1),
    ]
    with SimulatedSwitches(devices, username=USER, password=PASSWORD, secret=SECRET) as sims:
        (folder / "enable").write_text(SECRET + "\n")
        inventory = sims.write_inventory(
            folder / "devices.yaml",
            defaults={"password": "env:NET_PASSWORD", "secret": f"file:{folder / 'enable'}"},
            groups={"core": {"username": USER}, "edge": {}, "broken": {}},
            device_groups={"sw1": ["core"], "sw2": ["core"], "dsw": ["edge"]},
            extra=[
                {
                    "name": "down",
                    "host": "127.0.0.1",
                    "port": free_port(),
                    "platform": "cisco_ios",
                    "groups": ["broken"],
                    "site": "dc2",
                },
                {
                    "name": "badpw",
                    "host": "127.0.0.1",
                    "port": sims.ports["sw2"],
                    "platform": "cisco_ios",
                    "password": "wrong-password-1",
                    "groups": ["broken"],
                    "site": "dc2",
                },
            ],
            site="hq",
        )
        env = {
            "OPSPACK_NETWORK_INVENTORY": str(inventory),
            "OPSPACK_NETWORK_BACKUP_DIR": str(folder / "backups"),
            "OPSPACK_NETWORK_KNOWN_HOSTS": str(folder / "known_hosts"),
            "OPSPACK_NETWORK_DEVICE_TIMEOUT": "60",
            "NET_PASSWORD": PASSWORD,
        }
        yield Lab(sims, inventory, env, folder)


def run(registry: Registry, text: str, env: dict[str, str], confirmed: bool = False) -> Reply:
    reply: Reply = run_command(text, registry=registry, environ=env, confirmed=confirmed)
    rendered = check_rendering(reply)
    for value in (PASSWORD, SECRET):
        assert all(value not in str(r) for r in rendered.values()), "a secret reached a rendering"
    return reply
