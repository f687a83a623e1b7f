"""Read commands against vcsim: vm list/info, host list, datastore list, cluster summary, vcenter status."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Bot
from opspack_testkit import check_rendering
from opspack_testkit.servers.vcsim import Vcsim

CLUSTER_VMS = [f"DC0_C{c}_RP0_VM{n}" for c in range(2) for n in range(4)]
ALL_VMS = sorted([*CLUSTER_VMS, "DC0_H0_VM0", "DC0_H0_VM1"])


def table(reply: Any, index: int = 0) -> dict[str, Any]:
    assert reply.ok, reply.error
    result: dict[str, Any] = reply.to_dict()["results"][index]
    return result


def records(reply: Any) -> list[dict[str, Any]]:
    t = table(reply)
    return [dict(zip(t["columns"], row, strict=True)) for row in t["rows"]]


def test_vm_list_shows_every_vm_with_its_columns(lab_bot: Bot) -> None:
    reply = lab_bot("vm list")
    t = table(reply)
    assert t["columns"] == ["name", "power", "cpus", "memory_mb", "guest_os", "ip", "host", "cluster"]
    rows = {r["name"]: r for r in records(reply)}
    assert sorted(rows) == ALL_VMS
    assert rows["DC0_C1_RP0_VM3"] == {
        "name": "DC0_C1_RP0_VM3",
        "power": "on",
        "cpus": 1,
        "memory_mb": 32,
        "guest_os": "otherGuest",
        "ip": rows["DC0_C1_RP0_VM3"]["ip"],
        "host": "DC0_C1_H1",
        "cluster": "DC0_C1",
    }
    assert rows["DC0_C0_RP0_VM0"]["ip"] == "198.18.0.10"
    assert rows["DC0_H0_VM0"]["host"] == "DC0_H0" and rows["DC0_H0_VM0"]["cluster"] == ""
    assert t["total"] == 10
    check_rendering(reply)


def test_vm_list_filters(lab_bot: Bot) -> None:
    names = lambda text: [r["name"] for r in records(lab_bot(text))]  # noqa: E731
    assert names("vm list --cluster DC0_C1") == [f"DC0_C1_RP0_VM{n}" for n in range(4)]
    assert names("vm list --host DC0_C0_H1") == ["DC0_C0_RP0_VM2", "DC0_C0_RP0_VM3"]
    assert names("vm list --host dc0_h0") == ["DC0_H0_VM0", "DC0_H0_VM1"]  # case-insensitive
    assert names("vm list --name '*_VM1'") == ["DC0_C0_RP0_VM1", "DC0_C1_RP0_VM1", "DC0_H0_VM1"]
    assert names("vm list --name h0_vm") == ["DC0_H0_VM0", "DC0_H0_VM1"]  # no wildcard: substring
    assert names("vm list --power on --cluster DC0_C0 --name VM0") == ["DC0_C0_RP0_VM0"]
    assert names("vm list --power off") == []
    assert names("vm list --folder DC0/vm") == ALL_VMS
    limited = lab_bot("vm list --limit 3")
    assert [r["name"] for r in records(limited)] == ALL_VMS[:3]
    assert table(limited)["total"] == 10 and table(limited)["title"] == "VMs (3 of 10)"


def test_vm_list_unknown_filter_names_close_matches(lab_bot: Bot) -> None:
    reply = lab_bot("vm list --cluster DC0_C9")
    assert reply.error.kind == "not_found"
    assert "cluster 'DC0_C9' not found" in reply.error.message
    assert "DC0_C0" in reply.error.hint and "DC0_C1" in reply.error.hint
    bad = lab_bot("vm list --power sleeping")
    assert bad.error.kind == "usage" and "on, off, suspended" in bad.error.message
    check_rendering(reply)


def test_vm_info(lab_bot: Bot) -> None:
    reply = lab_bot("vm info DC0_C0_RP0_VM1")
    items = table(reply)["items"]
    assert items["name"] == "DC0_C0_RP0_VM1"
    assert items["path"] == "DC0/vm/DC0_C0_RP0_VM1"
    assert items["power"] == "on"
    assert items["ip"] == "198.18.0.11"
    assert items["tools"].startswith("guestToolsNotRunning")
    assert items["cpus"] == 1 and items["memory_mb"] == 32
    assert items["host"] == "DC0_C0_H0" and items["cluster"] == "DC0_C0"
    assert items["uptime"] != ""
    (disk,) = items["disks"]
    assert "1.0 MB" in disk and "[LocalDS_0] DC0_C0_RP0_VM1/" in disk
    (nic,) = items["nics"]
    assert "VirtualE1000" in nic and "DC0_DVPG0" in nic
    assert items["snapshots"] == 0
    check_rendering(reply)
    by_path = lab_bot("vm info /DC0/vm/DC0_H0_VM0")
    assert table(by_path)["items"]["host"] == "DC0_H0" and table(by_path)["items"]["cluster"] == ""


def test_vm_not_found_lists_close_matches(lab_bot: Bot) -> None:
    reply = lab_bot("vm info DC0_C0_RP0_VM9")
    assert reply.error.kind == "not_found"
    assert "DC0_C0_RP0_VM0" in reply.error.hint
    check_rendering(reply)


def test_host_list(lab_bot: Bot) -> None:
    reply = lab_bot("host list")
    rows = {r["name"]: r for r in records(reply)}
    assert sorted(rows) == ["DC0_C0_H0", "DC0_C0_H1", "DC0_C1_H0", "DC0_C1_H1", "DC0_H0"]
    h = rows["DC0_C1_H0"]
    assert (h["cluster"], h["connection"], h["power"], h["maintenance"], h["vms"]) == (
        "DC0_C1",
        "connected",
        "on",
        "no",
        2,
    )
    assert 0 <= h["cpu_pct"] <= 100 and 0 <= h["mem_pct"] <= 100
    assert table(reply)["row_status"] == ["ok"] * 5
    only = lab_bot("host list --cluster DC0_C0")
    assert [r["name"] for r in records(only)] == ["DC0_C0_H0", "DC0_C0_H1"]
    check_rendering(reply)


def test_datastore_list_levels(lab: Vcsim, lab_bot: Bot, make_bot: Any) -> None:
    from conftest import settings_env

    reply = lab_bot("datastore list")
    t = table(reply)
    assert t["columns"] == ["name", "type", "capacity_gb", "free_gb", "used_pct"]
    rows = records(reply)
    assert [r["name"] for r in rows] == ["LocalDS_0", "LocalDS_1"]
    used = rows[0]["used_pct"]
    assert 0 <= used < 100 and rows[0]["capacity_gb"] > 0
    expected = "critical" if used >= 90 else "warning" if used >= 80 else "ok"
    assert t["row_status"] == [expected, expected]
    check_rendering(reply)

    everything = lab_bot("datastore list --warning 0 --critical 100")
    assert table(everything)["row_status"] == ["warning", "warning"]
    status = table(everything, 1)
    assert status["level"] == "warning" and "2 of 2 datastores need attention" in status["message"]
    critical = make_bot(settings_env(lab, datastore_warning_pct="0", datastore_critical_pct="0"))("datastore list")
    assert table(critical)["row_status"] == ["critical", "critical"]
    assert table(critical, 1)["level"] == "critical"
    relaxed = lab_bot("datastore list --warning 100 --critical 100")
    assert table(relaxed)["row_status"] == ["ok", "ok"] and table(relaxed, 1)["level"] == "ok"
    bad = lab_bot("datastore list --warning 95 --critical 90")
    assert bad.error.kind == "usage"


def test_cluster_summary(lab_bot: Bot) -> None:
    reply = lab_bot("cluster summary")
    rows = {r["name"]: r for r in records(reply)}
    assert sorted(rows) == ["DC0_C0", "DC0_C1"]
    c = rows["DC0_C0"]
    assert c["hosts"] == 2 and c["vms"] == 4
    assert c["cpu_total_ghz"] > 0 and c["mem_total_gb"] > 0
    assert c["ha"] in ("on", "off") and c["drs"].startswith(("on", "off"))
    check_rendering(reply)

    one = lab_bot("cluster summary DC0_C1")
    items = table(one)["items"]
    assert items["name"] == "DC0_C1" and items["hosts"] == 2 and items["vms"] == 4
    assert 0 <= items["cpu_pct"] <= 100 and 0 <= items["mem_pct"] <= 100
    check_rendering(one)
    missing = lab_bot("cluster summary prod")
    assert missing.error.kind == "not_found"


def test_vcenter_status(lab: Vcsim, lab_bot: Bot) -> None:
    reply = lab_bot("vcenter status")
    items = table(reply)["items"]
    assert items["version"] == "6.5.0" and items["build"]
    assert items["api_type"] == "VirtualCenter"
    assert items["url"] == lab.url
    assert items["session_user"] == lab.login[0] and items["session_since"]
    assert items["triggered_alarms"] == 0
    status = table(reply, 1)
    assert status["level"] == "ok" and status["message"] == "no triggered alarms"
    check_rendering(reply)


@pytest.mark.parametrize(
    "text",
    [
        "vm list",
        "vm info DC0_H0_VM0",
        "host list",
        "datastore list",
        "cluster summary",
        "vcenter status",
    ],
)
def test_missing_settings_are_a_config_error(registry: Any, text: str) -> None:
    from opspack_testkit import run_command

    reply = run_command(text, registry=registry, environ={})
    assert reply.error.kind == "config"
    assert "OPSPACK_VMWARE_URL" in reply.error.hint and "OPSPACK_VMWARE_PASSWORD" in reply.error.hint
