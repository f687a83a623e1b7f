"""Devices from NetBox: the real pynetbox client over real HTTP to a fake NetBox on loopback.

The fake (``opspack_testkit.fakes.netbox``) answers ``GET /api/dcim/devices/`` the way
NetBox's REST API does, two devices a page, so five devices take three pages. NetBox
devices point at the simulated switches (custom field ``ssh_port``), so commands reach
them over SSH.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Lab, run
from opspack.registry import Registry
from opspack_testkit import free_port
from opspack_testkit.fakes.netbox import TOKEN, FakeNetBox, device


@pytest.fixture
def netbox(lab: Lab) -> Iterator[FakeNetBox]:
    from opspack_network.netbox import clear_cache

    ports = lab.sims.ports
    fake = FakeNetBox(
        [
            device(
                1,
                "nb1",
                ip="127.0.0.1/32",
                platform="ios",
                role="core",
                tags=("nb-only",),
                fields={"ssh_port": ports["sw1"]},
            ),
            device(
                2,
                "nb2",
                ip="127.0.0.1/24",
                platform=None,
                role="access",
                site="dc3",
                fields={"netmiko_device_type": "dell_os6", "ssh_port": ports["dsw"]},
            ),
            device(3, "noip", ip=None, platform="ios", role="access"),
            device(4, "sw1", ip="192.0.2.1/24", platform="eos", role="core"),  # the file's sw1 wins
            device(5, "noplat", ip="127.0.0.1/32", platform=None, role="access"),
        ]
    )
    clear_cache()
    with fake:
        yield fake
    clear_cache()


def env_for(lab: Lab, netbox: FakeNetBox, **extra: str) -> dict[str, str]:
    return {
        **lab.env,
        "OPSPACK_NETWORK_NETBOX_URL": netbox.url,
        "OPSPACK_NETWORK_NETBOX_TOKEN": TOKEN,
        "OPSPACK_NETWORK_NETBOX_TTL": "0",
        **extra,
    }


def rows_by_name(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r[0]: dict(zip(table["columns"], r, strict=True)) for r in table["rows"]}


def test_netbox_devices_join_the_file_devices(lab: Lab, registry: Registry, netbox: FakeNetBox) -> None:
    reply = run(registry, "net devices", env_for(lab, netbox))
    assert reply.ok, reply.error
    (table,) = reply.to_dict()["results"]
    rows = rows_by_name(table)
    assert rows["nb1"]["platform"] == "cisco_ios" and rows["nb1"]["host"] == "127.0.0.1"
    assert rows["nb1"]["port"] == lab.sims.ports["sw1"] and rows["nb1"]["source"] == "netbox"
    assert rows["nb1"]["groups"] == "core, nb-only" and rows["nb1"]["site"] == "hq"
    assert rows["nb2"]["platform"] == "dell_os6" and rows["nb2"]["site"] == "dc3"
    # the file's sw1 wins over NetBox's
    assert rows["sw1"]["source"] == "file" and rows["sw1"]["host"] == "127.0.0.1"
    assert "primary IP" in rows["noip"]["note"] and "platform" in rows["noplat"]["note"]
    assert "2 NetBox devices skipped" in table["title"]
    # five devices, pages of two: the first request, then pynetbox follows the next links
    calls = netbox.server.requests
    assert len(calls) == 3 and all(c.headers["authorization"] == f"Token {TOKEN}" for c in calls)
    assert [c.query.get("offset") for c in calls] == [None, ["2"], ["4"]]


def test_commands_reach_netbox_devices_with_the_file_credentials(
    lab: Lab, registry: Registry, netbox: FakeNetBox
) -> None:
    env = env_for(lab, netbox)
    reply = run(registry, 'net show nb1 "show version"', env)
    assert reply.ok, reply.error
    (table,) = reply.to_dict()["results"]
    assert table["kind"] == "table" and dict(zip(table["columns"], table["rows"][0], strict=True))["hostname"] == "sw1"
    # a NetBox tag is a group; the core group holds the file's and NetBox's members
    reply = run(registry, "net status nb-only", env)
    assert reply.ok, reply.error
    (table,) = run(registry, "net devices --group core", env).to_dict()["results"]
    assert [r[0] for r in table["rows"]] == ["sw1", "sw2", "nb1"]


def test_netbox_filter_goes_to_the_api(lab: Lab, registry: Registry, netbox: FakeNetBox) -> None:
    reply = run(registry, "net devices", env_for(lab, netbox, OPSPACK_NETWORK_NETBOX_FILTER="site=dc3, role=access"))
    assert reply.ok, reply.error
    names = [r[0] for r in reply.to_dict()["results"][0]["rows"]]
    assert "nb2" in names and "nb1" not in names and "noip" not in names
    assert netbox.server.requests[0].query["site"] == ["dc3"] and netbox.server.requests[0].query["role"] == ["access"]
    reply = run(registry, "net devices", env_for(lab, netbox, OPSPACK_NETWORK_NETBOX_FILTER="site"))
    assert not reply.ok and reply.error is not None and reply.error.kind == "config"


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_denied(lab: Lab, registry: Registry, netbox: FakeNetBox, status: int) -> None:
    netbox.auth_failure = status
    wrong = "ffffffffffffffffffffffffffffffffdeadbeef"
    reply = run(registry, "net devices", env_for(lab, netbox, OPSPACK_NETWORK_NETBOX_TOKEN=wrong))
    assert not reply.ok and reply.error is not None
    assert reply.error.kind == "denied" and str(status) in reply.error.message
    assert wrong not in str(reply.to_dict())
    reply = run(registry, "net show all show version", env_for(lab, netbox, OPSPACK_NETWORK_NETBOX_TOKEN=""))
    assert not reply.ok and reply.error is not None and reply.error.kind == "denied"


def test_netbox_down_is_a_backend_error(lab: Lab, registry: Registry) -> None:
    env = {
        **lab.env,
        "OPSPACK_NETWORK_NETBOX_URL": f"http://127.0.0.1:{free_port()}",
        "OPSPACK_NETWORK_NETBOX_TTL": "0",
    }
    reply = run(registry, "net devices", env)
    assert not reply.ok and reply.error is not None and reply.error.kind == "backend"
    assert "NetBox" in reply.error.message


def test_netbox_alone_without_an_inventory_file(lab: Lab, registry: Registry, netbox: FakeNetBox) -> None:
    env = {k: v for k, v in env_for(lab, netbox).items() if k != "OPSPACK_NETWORK_INVENTORY"}
    reply = run(registry, "net devices", env)
    assert reply.ok, reply.error
    assert [r[0] for r in reply.to_dict()["results"][0]["rows"]] == ["nb1", "nb2", "sw1", "noip", "noplat"]


def test_platform_slugs_and_filters() -> None:
    from opspack_network.netbox import parse_filter, platform_of

    assert platform_of({"platform": {"slug": "cisco-ios"}}) == "cisco_ios"
    assert platform_of({"platform": {"slug": "eos"}}) == "arista_eos"
    assert (
        platform_of({"platform": {"slug": "ios"}, "custom_fields": {"netmiko_device_type": "cisco_xe"}}) == "cisco_xe"
    )
    assert platform_of({"platform": None}) == ""
    assert parse_filter("site=hq,tag=a,tag=b") == {"site": "hq", "tag": ["a", "b"]}


def test_pynetbox_is_imported_only_when_netbox_is_used() -> None:
    code = (
        "import sys, opspack_network, opspack_network.devices, opspack_network.inventory, opspack_network.netbox;"
        "assert 'pynetbox' not in sys.modules and 'requests' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
