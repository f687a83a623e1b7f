"""Mutating commands against vcsim, each checked afterwards with a second command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conftest import Bot, pyvmomi_login, settings_env
from opspack_testkit import check_rendering
from opspack_testkit.servers.vcsim import Vcsim


def power(bot: Bot, vm: str) -> str:
    reply = bot(f"vm info {vm}")
    assert reply.ok, reply.error
    value: str = reply.to_dict()["results"][0]["items"]["power"]
    return value


def ok_message(reply: Any) -> str:
    assert reply.ok, reply.error
    result = reply.to_dict()["results"][0]
    assert result["kind"] == "status" and result["level"] == "ok"
    check_rendering(reply)
    message: str = result["message"]
    return message


def test_power_off_needs_confirmation_then_powers_off(scratch: Vcsim, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(settings_env(scratch))
    unconfirmed = bot("vm power-off DC0_C0_RP0_VM0")
    assert unconfirmed.error.kind == "denied" and unconfirmed.error.confirm is not None
    assert power(bot, "DC0_C0_RP0_VM0") == "on"  # nothing happened

    message = ok_message(bot("vm power-off DC0_C0_RP0_VM0", confirmed=True))
    assert "succeeded" in message and "now powered off" in message
    assert power(bot, "DC0_C0_RP0_VM0") == "off"
    listed = bot("vm list --power off").to_dict()["results"][0]["rows"]
    assert [r[0] for r in listed] == ["DC0_C0_RP0_VM0"]

    again = bot("vm power-off DC0_C0_RP0_VM0", confirmed=True)  # vCenter's task fails
    assert again.error.kind == "backend"
    assert "power-off of VM DC0_C0_RP0_VM0 failed" in again.error.message
    assert "already poweredOff" in again.error.message
    check_rendering(again)

    assert "now powered on" in ok_message(bot("vm power-on DC0_C0_RP0_VM0"))
    assert power(bot, "DC0_C0_RP0_VM0") == "on"


def test_reset_and_shutdown_guest(scratch: Vcsim, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(settings_env(scratch))
    assert bot("vm reset DC0_C0_RP0_VM1").error.kind == "denied"
    assert "now powered on" in ok_message(bot("vm reset DC0_C0_RP0_VM1", confirmed=True))
    assert power(bot, "DC0_C0_RP0_VM1") == "on"

    assert "guest shut down" in ok_message(bot("vm shutdown-guest DC0_C0_RP0_VM1"))  # not destructive
    assert power(bot, "DC0_C0_RP0_VM1") == "off"
    failed = bot("vm shutdown-guest DC0_C0_RP0_VM1")
    assert failed.error.kind == "backend" and "poweredOff" in failed.error.message
    reset_off = bot("vm reset DC0_C0_RP0_VM1", confirmed=True)
    assert reset_off.error.kind == "backend"


def test_snapshots(scratch: Vcsim, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(settings_env(scratch))
    vm = "DC0_C0_RP0_VM2"
    empty = bot(f"vm snapshot list {vm}")
    assert empty.ok and empty.to_dict()["results"][0]["rows"] == []
    assert bot(f"vm snapshot revert {vm}", confirmed=True).error.kind == "not_found"

    assert "'before' created" in ok_message(bot(f"vm snapshot create {vm} before --description 'pre patch'"))
    assert "'after' created" in ok_message(bot(f"vm snapshot create {vm} after"))
    auto = ok_message(bot(f"vm snapshot create {vm}"))
    assert "'opspack-" in auto

    listed = bot(f"vm snapshot list {vm}")
    t = listed.to_dict()["results"][0]
    rows = [dict(zip(t["columns"], r, strict=True)) for r in t["rows"]]
    assert [r["name"].strip() for r in rows][:2] == ["before", "after"]
    assert rows[0]["description"] == "pre patch" and rows[1]["parent"] == "before"
    assert rows[2]["current"] == "*" and rows[0]["current"] == ""
    check_rendering(listed)
    assert bot(f"vm info {vm}").to_dict()["results"][0]["items"]["snapshots"] == 3

    assert bot(f"vm snapshot revert {vm} before").error.kind == "denied"
    assert "reverted to snapshot 'before'" in ok_message(bot(f"vm snapshot revert {vm} before", confirmed=True))
    current = [r for r in bot(f"vm snapshot list {vm}").to_dict()["results"][0]["rows"] if r[1] == "*"]
    assert [r[0].strip() for r in current] == ["before"]

    missing = bot(f"vm snapshot remove {vm} aftr", confirmed=True)
    assert missing.error.kind == "not_found" and "after" in missing.error.hint
    assert bot(f"vm snapshot remove {vm}", confirmed=True).error.kind == "usage"
    assert "'after' removed" in ok_message(bot(f"vm snapshot remove {vm} after", confirmed=True))
    names = [r[0].strip() for r in bot(f"vm snapshot list {vm}").to_dict()["results"][0]["rows"]]
    assert "after" not in names and "before" in names
    assert "and its children" in ok_message(bot(f"vm snapshot remove {vm} before --children", confirmed=True))
    assert bot(f"vm info {vm}").to_dict()["results"][0]["items"]["snapshots"] == 0


def test_host_maintenance(scratch: Vcsim, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(settings_env(scratch))
    assert bot("host maintenance enter DC0_C0_H1").error.kind == "denied"
    assert "is in maintenance mode" in ok_message(bot("host maintenance enter DC0_C0_H1", confirmed=True))
    table = bot("host list").to_dict()["results"][0]
    rows = {r[0]: (r[4], lv) for r, lv in zip(table["rows"], table["row_status"], strict=True)}
    assert rows == {"DC0_C0_H0": ("no", "ok"), "DC0_C0_H1": ("yes", "warning")}
    assert "out of maintenance" in ok_message(bot("host maintenance exit DC0_C0_H1", confirmed=True))
    table = bot("host list").to_dict()["results"][0]
    assert [r[4] for r in table["rows"]] == ["no", "no"]
    unknown = bot("host maintenance enter DC0_C0_H7", confirmed=True)
    assert unknown.error.kind == "not_found" and "DC0_C0_H0" in unknown.error.hint


def test_ambiguous_vm_names_list_candidates(vcsim_bin: Any, make_bot: Callable[..., Bot]) -> None:
    from pyVim.connect import Disconnect
    from pyVim.task import WaitForTask

    with Vcsim(binary=vcsim_bin, datacenters=2, clusters=1, hosts=1, vms=1, tls=False) as sim:
        si = pyvmomi_login(sim)  # arrange: two VMs called web01, in DC0's and DC1's VM folders
        find = si.content.searchIndex.FindByInventoryPath
        for path in ("DC0/vm/DC0_C0_RP0_VM0", "DC1/vm/DC1_C0_RP0_VM0"):
            WaitForTask(find(path).Rename_Task("web01"))
        Disconnect(si)

        bot = make_bot(settings_env(sim))
        reply = bot("vm info web01")
        assert reply.error.kind == "usage"
        assert "'web01' is ambiguous: 2 match" in reply.error.message
        assert "DC0/vm/web01" in reply.error.message and "DC1/vm/web01" in reply.error.message
        check_rendering(reply)
        assert bot("vm power-off web01", confirmed=True).error.kind == "usage"
        assert power(bot, "DC0/vm/web01") == "on"
        assert "now powered off" in ok_message(bot("vm power-off DC1/vm/web01", confirmed=True))
        assert power(bot, "DC1/vm/web01") == "off" and power(bot, "DC0/vm/web01") == "on"
        listed = [r[0] for r in bot("vm list --name web01").to_dict()["results"][0]["rows"]]
        assert listed == ["web01", "web01"]


def test_what_would_fail_is_refused_before_the_confirmation(scratch: Vcsim, make_bot: Callable[..., Bot]) -> None:
    """A typo in a destructive command is answered at once, not after 'are you sure?'."""
    bot = make_bot(settings_env(scratch))
    vm = "DC0_C0_RP0_VM2"
    for text, kind in (
        ("vm power-off DC0_C0_RP0_VMX", "not_found"),
        ("vm reset nosuchvm", "not_found"),
        (f"vm snapshot revert {vm}", "not_found"),  # no current snapshot
        (f"vm snapshot revert {vm} nosuch", "not_found"),
        (f"vm snapshot remove {vm}", "usage"),  # no name
        (f"vm snapshot remove {vm} nosuch", "not_found"),
        ("host maintenance enter esx-nosuch", "not_found"),
        ("host maintenance exit DC0_C0", "not_found"),  # a cluster, not a host
    ):
        reply = bot(text)
        assert reply.error is not None and reply.error.kind == kind and reply.error.confirm is None, (text, reply)
        check_rendering(reply)
    missing = bot("vm power-off DC0_C0_RP0_VMX")
    assert missing.error is not None and "DC0_C0_RP0_VM" in str(missing.error.hint)  # did you mean
    asked = bot(f"vm power-off {vm}")  # it exists: now the question
    assert asked.error is not None and asked.error.kind == "denied" and asked.error.confirm is not None
    assert power(bot, vm) == "on"
