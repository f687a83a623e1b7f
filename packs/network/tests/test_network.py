"""The network pack against simulated switches, through the real runtime and netmiko."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Lab, run
from opspack.registry import Registry
from opspack.results import Reply


def ok(reply: Reply) -> list[dict[str, Any]]:
    assert reply.ok, reply.error
    results: list[dict[str, Any]] = reply.to_dict()["results"]
    return results


def failed(reply: Reply) -> str:
    assert not reply.ok and reply.error is not None
    return reply.error.kind


def summary_rows(table: dict[str, Any]) -> dict[str, list[Any]]:
    return {row[0]: row for row in table["rows"]}


def test_command_modules_do_not_import_netmiko() -> None:
    code = (
        "import sys, opspack_network, opspack_network.show, opspack_network.configs, opspack_network.devices,"
        " opspack_network.keys;"
        "bad = [m for m in ('netmiko', 'paramiko', 'textfsm', 'yaml') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_devices(lab: Lab, registry: Registry) -> None:
    (table,) = ok(run(registry, "net devices", lab.env))
    assert [r[0] for r in table["rows"]] == ["sw1", "sw2", "dsw", "slow", "down", "badpw"]
    assert table["rows"][0][3] == "cisco_ios" and table["rows"][0][4] == "core"
    (table,) = ok(run(registry, "net devices --group core", lab.env))
    assert [r[0] for r in table["rows"]] == ["sw1", "sw2"]
    (table,) = ok(run(registry, "net devices --site dc2", lab.env))
    assert [r[0] for r in table["rows"]] == ["down", "badpw"]
    reply = run(registry, "net devices --group cor", lab.env)
    assert failed(reply) == "not_found" and "core" in str(reply.error and reply.error.hint)


def test_show_on_one_device_parses_with_textfsm(lab: Lab, registry: Registry) -> None:
    for text in ("net show sw1 show version", 'net show sw1 "show version"', "net show sw1 sh ver"):
        (table,) = ok(run(registry, text, lab.env))
        assert table["kind"] == "table"
        row = dict(zip(table["columns"], table["rows"][0], strict=True))
        assert row["version"] == "12.2(58)SE2" and row["hostname"] == "sw1"


def test_show_without_a_template_is_raw_text(lab: Lab, registry: Registry) -> None:
    (text,) = ok(run(registry, "net show dsw show vlan", lab.env))
    assert text["kind"] == "text" and text["mono"] and "default" in text["text"]
    (text,) = ok(run(registry, "net show sw1 show running-config", lab.env))
    assert text["kind"] == "text" and "hostname sw1" in text["text"]


@pytest.mark.parametrize(
    "command",
    ["configure terminal", "reload", "copy run start", "show run | redirect flash:x.cfg", "s version"],
)
def test_show_refuses_what_is_not_read_only(lab: Lab, registry: Registry, command: str) -> None:
    reply = run(registry, f'net show sw1 "{command}"', lab.env)
    assert failed(reply) == "usage"


def test_allowed_commands_extend_the_read_only_list() -> None:
    from opspack_network.platforms import check_read_only

    assert check_read_only("show ip route", "") is None
    assert check_read_only("display current-configuration", "") is None
    assert check_read_only("ping 10.0.0.1", "") is not None
    assert check_read_only("ping 10.0.0.1", "ping, traceroute") is None
    assert check_read_only("pingall", "ping") is not None


def test_show_on_a_group_reports_every_device(lab: Lab, registry: Registry) -> None:
    results = ok(run(registry, "net show all show version --workers 3", lab.env))
    summary = summary_rows(results[0])
    assert set(summary) == {"sw1", "sw2", "dsw", "slow", "down", "badpw"}
    assert [summary[n][2] for n in ("sw1", "sw2", "dsw", "slow")] == ["ok"] * 4
    assert summary["down"][2] == "error" and "unreachable" in summary["down"][3]
    assert summary["badpw"][2] == "error" and "refused the login" in summary["badpw"][3]
    levels = dict(zip([r[0] for r in results[0]["rows"]], results[0]["row_status"], strict=True))
    assert levels["sw1"] == "ok" and levels["down"] == "critical"
    parsed = results[1]
    assert parsed["columns"][0] == "device" and {r[0] for r in parsed["rows"]} == {"sw1", "sw2", "slow"}
    raw = [r for r in results[2:] if r["kind"] == "text"]
    assert [r["title"] for r in raw] == ["dsw: show version"]  # fake-switches' Dell answers nothing


def test_a_slow_device_answers_or_times_out_alone(lab: Lab, registry: Registry) -> None:
    (table,) = ok(run(registry, "net show slow show version", lab.env))
    assert table["rows"][0][table["columns"].index("hostname")] == "slow"
    results = ok(run(registry, "net show all show version --timeout 1", lab.env))
    summary = summary_rows(results[0])
    assert summary["slow"][2] == "error"
    assert summary["sw1"][2] == "ok" and summary["sw2"][2] == "ok"
    reply = run(registry, "net show slow show version --timeout 1", lab.env)
    assert failed(reply) in ("timeout", "backend")


def test_wrong_password_and_down_device(lab: Lab, registry: Registry) -> None:
    reply = run(registry, "net show badpw show version", lab.env)
    assert failed(reply) == "denied" and reply.error is not None and "password" in str(reply.error.hint)
    reply = run(registry, "net show down show version", lab.env)
    assert failed(reply) == "backend" and reply.error is not None and "host and port" in str(reply.error.hint)
    (status,) = ok(run(registry, "net status down", lab.env))
    assert status["level"] == "critical" and "unreachable" in status["message"]


def test_status(lab: Lab, registry: Registry) -> None:
    status, kv = ok(run(registry, "net status sw1", lab.env))
    assert status["level"] == "ok" and "12.2(58)SE2" in status["message"]
    assert kv["items"]["interfaces up"] + kv["items"]["interfaces down"] == 8
    assert kv["items"]["uptime"].startswith("1 year")
    status, table = ok(run(registry, "net status all", lab.env))
    assert status["level"] == "warning" and "down" in status["message"] and "badpw" in status["message"]
    rows = summary_rows(table)
    assert rows["sw2"][2] == "reachable" and rows["badpw"][2] == "login refused"
    assert rows["down"][2] == "unreachable" and rows["dsw"][2] == "reachable"
    status, _ = ok(run(registry, "net status core", lab.env))
    assert status["level"] == "ok" and "all 2 devices" in status["message"]


def test_interfaces_vlans_arp(lab: Lab, registry: Registry) -> None:
    (table,) = ok(run(registry, "net interfaces sw1", lab.env))
    assert table["columns"] == ["interface", "ip_address", "status", "proto"] and len(table["rows"]) == 8
    (table,) = ok(run(registry, "net vlans sw1", lab.env))
    assert table["rows"][0][:3] == ["1", "default", "active"] and "Fa0/1" in table["rows"][0][3]
    (table,) = ok(run(registry, "net arp sw1", lab.env))
    assert [r[1] for r in table["rows"]] == ["10.0.0.1", "10.0.0.21", "10.0.0.22"]
    (text,) = ok(run(registry, "net vlans dsw", lab.env))
    assert text["kind"] == "text" and "no TextFSM template" in text["title"]
    assert failed(run(registry, "net vlans core", lab.env)) == "usage"
    assert failed(run(registry, "net vlans sw9", lab.env)) == "not_found"


def test_backup_config_change_and_diff(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    env = {**lab.env, "OPSPACK_NETWORK_BACKUP_DIR": str(tmp_path / "configs"), "OPSPACK_NETWORK_BACKUP_GIT": "true"}
    assert failed(run(registry, "net diff sw2", env)) == "usage"  # no backup yet
    (table,) = ok(run(registry, "net backup core", env))
    assert [r[1] for r in table["rows"]] == ["new", "new"]
    saved = (tmp_path / "configs" / "sw2.cfg").read_text()
    assert "hostname sw2" in saved and "Current configuration" not in saved

    change = 'net config sw2 "interface FastEthernet0/3" "description uplink to core" "shutdown"'
    reply = run(registry, change, env)
    assert failed(reply) == "denied" and reply.error is not None and reply.error.confirm is not None
    status, diff = ok(run(registry, change, env, confirmed=True))
    assert status["level"] == "ok" and "not saved" in status["message"]
    assert "+ description uplink to core" in diff["unified"]

    status, diff = ok(run(registry, "net diff sw2", env))
    assert status["level"] == "warning" and "2 lines added" in status["message"]
    assert "+ shutdown" in diff["unified"] and diff["before_label"] == "sw2 last backup"
    _, diff = ok(run(registry, "net diff sw2 --against startup", env))
    assert "+ description uplink to core" in diff["unified"]
    (interfaces,) = ok(run(registry, "net interfaces sw2", env))
    assert ["FastEthernet0/3", "unassigned", "administratively down", "down"] in interfaces["rows"]

    table, diff = ok(run(registry, "net backup core", env))
    assert summary_rows(table)["sw2"][1:4] == ["changed", 2, 0] and summary_rows(table)["sw1"][1] == "unchanged"
    assert "+ shutdown" in diff["unified"] and "git commit" in table["title"]
    status, _ = ok(run(registry, "net diff sw2", env))
    assert status["level"] == "ok"
    (table,) = ok(run(registry, "net backup core", env))
    assert [r[1] for r in table["rows"]] == ["unchanged", "unchanged"]
    log = subprocess.run(["git", "-C", str(tmp_path / "configs"), "log", "--oneline"], capture_output=True, text=True)
    assert len(log.stdout.splitlines()) == 2  # one commit per backup run that changed something

    _, diff = ok(run(registry, "net diff sw2 --against sw1.cfg", env))
    assert "-hostname sw1" in diff["unified"] and "+hostname sw2" in diff["unified"]
    assert failed(run(registry, "net diff sw2 --against ../devices.yaml", env)) == "usage"
    assert failed(run(registry, "net diff sw2 --against nothing.cfg", env)) == "not_found"

    undo = 'net config sw2 "interface FastEthernet0/3" "no description" "no shutdown" --save'
    status, _ = ok(run(registry, undo, env, confirmed=True))
    assert "saved to startup" in status["message"]
    status, _ = ok(run(registry, "net diff sw2 --against startup", env))
    assert status["level"] == "ok"


def test_config_lines_the_device_rejects(lab: Lab, registry: Registry) -> None:
    status, diff = ok(run(registry, 'net config sw2 "interface Fa0/99"', lab.env, confirmed=True))
    assert status["level"] == "critical" and "rejected" in status["message"] and diff["unified"] == ""


def test_backup_of_a_group_with_failures(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    env = {**lab.env, "OPSPACK_NETWORK_BACKUP_DIR": str(tmp_path)}
    (table,) = ok(run(registry, "net backup broken", env))
    assert [r[1] for r in table["rows"]] == ["failed", "failed"] and table["row_status"] == ["critical", "critical"]
    assert not list(tmp_path.glob("*.cfg"))


def test_backup_of_all_reports_each_device_as_it_finishes(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    """One progress line per device as it is done, counting up to 100 %; a device's file is
    written by the time its line says "backed up"; the slow device comes last."""
    from opspack.context import Caller
    from opspack.runtime import Runtime
    from opspack.settings import Config

    folder = tmp_path / "configs"
    lines: list[tuple[str, float | None, bool]] = []

    def seen(p: Any) -> None:
        name = p.message.split()[2] if p.message.startswith("backed up ") else p.message.split()[0]
        lines.append((p.message, p.percent, (folder / f"{name}.cfg").exists()))

    env = {**lab.env, "OPSPACK_NETWORK_BACKUP_DIR": str(folder), "OPSPACK_NETWORK_WORKERS": "2"}
    runtime = Runtime(registry, config=Config(data={}, environ=env), audit=None)
    reply = runtime.chat("net backup all", Caller(user="t", on_progress=seen))
    runtime.close()
    (table, *_) = ok(reply)
    devices = [row[0] for row in table["rows"]]
    assert len(devices) == 6 and len(lines) == 6

    counts = [re.search(r"\((\d+) of 6\)", m) for m, _, _ in lines]
    assert [int(c.group(1)) for c in counts if c] == [1, 2, 3, 4, 5, 6]
    assert [p for _, p, _ in lines] == [16.7, 33.3, 50.0, 66.7, 83.3, 100.0]
    done = {m.split()[2]: on_disk for m, _, on_disk in lines if m.startswith("backed up ")}
    assert done == {"sw1": True, "sw2": True, "dsw": True, "slow": True}  # saved when its line came
    failures = {m.split()[0]: m for m, _, _ in lines if " failed " in m}
    assert set(failures) == {"down", "badpw"} and all(not on_disk for m, _, on_disk in lines if " failed " in m)
    assert failures["down"].endswith("the device is unreachable (no SSH connection)")
    assert failures["badpw"].endswith("the device refused the login (authentication failed)")
    assert lines[-1][0] == "backed up slow (6 of 6)"  # 0.1 s per packet: the others are done first
    assert sorted(p.name for p in folder.glob("*.cfg")) == ["dsw.cfg", "slow.cfg", "sw1.cfg", "sw2.cfg"]


def test_inventory_problems_are_config_errors(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    env = {**lab.env, "OPSPACK_NETWORK_INVENTORY": str(tmp_path / "missing.yaml")}
    assert failed(run(registry, "net devices", env)) == "config"
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices:\n  - {name: sw1, host: [\n")
    assert failed(run(registry, "net devices", {**lab.env, "OPSPACK_NETWORK_INVENTORY": str(bad)})) == "config"
    bad.write_text("devices:\n  - {name: sw1, host: 10.0.0.1}\n")
    reply = run(registry, "net devices", {**lab.env, "OPSPACK_NETWORK_INVENTORY": str(bad)})
    assert failed(reply) == "config" and "platform" in str(reply.error and reply.error.message)
    env = {k: v for k, v in lab.env.items() if k != "NET_PASSWORD"}
    reply = run(registry, "net show sw1 show version", env)
    assert failed(reply) == "config" and "NET_PASSWORD" in str(reply.error and reply.error.message)
    assert failed(run(registry, "net devices", {})) == "config"  # no inventory setting


def test_yaml_inventory_merges_defaults_groups_and_devices() -> None:
    from opspack_network.inventory import parse

    inv = parse(
        """
defaults: {username: netops, password: "vault:secret/net#password", secret: "env:NET_ENABLE"}
groups:
  core: {username: admin, password: "file:/run/secrets/core"}
  dc: {port: 2222}
devices:
  - {name: sw1, host: 10.0.0.1, port: 22, platform: cisco_ios, groups: [core, dc], site: hq}
  - {name: sw2, host: 10.0.0.2, platform: arista_eos, groups: [dc], username: ops2}
"""
    )
    sw1, sw2 = inv.devices["sw1"], inv.devices["sw2"]
    assert (sw1.username, sw1.password, sw1.secret, sw1.port) == (
        "admin",
        "file:/run/secrets/core",
        "env:NET_ENABLE",
        22,
    )
    assert (sw2.username, sw2.password, sw2.port) == ("ops2", "vault:secret/net#password", 2222)
    assert [d.name for d in inv.select("all")] == ["sw1", "sw2"] and [d.name for d in inv.select("dc")] == [
        "sw1",
        "sw2",
    ]


def known_hosts_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_host_keys_are_learned_on_first_contact_then_checked(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    """accept-new (the default): one line per device, written once, in OpenSSH's format."""
    path = tmp_path / "state" / "known_hosts"
    env = {**lab.env, "OPSPACK_NETWORK_KNOWN_HOSTS": str(path)}
    ok(run(registry, "net show sw1 show version", env))
    (line,) = known_hosts_lines(path)
    name, kind, blob = line.split()
    assert name == f"[127.0.0.1]:{lab.sims.ports['sw1']}" and kind == "ssh-rsa" and len(blob) > 200
    assert path.stat().st_mode & 0o777 == 0o600
    ok(run(registry, "net show sw1 show version", env))  # checked, not learned again
    assert known_hosts_lines(path) == [line]
    table, *_ = ok(run(registry, "net show core show version", env))
    assert {r[2] for r in table["rows"]} == {"ok"}
    assert len(known_hosts_lines(path)) == 2


def test_a_changed_host_key_is_refused_before_any_login(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    import paramiko

    path = tmp_path / "known_hosts"
    impostor = paramiko.RSAKey.generate(1024)  # the key on record differs from the device's
    path.write_text(f"[127.0.0.1]:{lab.sims.ports['sw1']} ssh-rsa {impostor.get_base64()}\n")
    env = {**lab.env, "OPSPACK_NETWORK_KNOWN_HOSTS": str(path)}
    reply = run(registry, "net show sw1 show version", env)
    assert failed(reply) == "denied"
    assert reply.error is not None and "host key is not the one on record" in reply.error.message
    assert reply.error.hint is not None and "ssh-keygen -R" in reply.error.hint
    # in a group the device is one failed row; the others answer
    table, *_ = ok(run(registry, "net show core show version", env))
    rows = summary_rows(table)
    assert rows["sw1"][2] == "error" and "not the one on record" in rows["sw1"][3]
    assert rows["sw2"][2] == "ok"
    assert len(known_hosts_lines(path)) == 2  # sw2 learned; sw1's record left as it was


def test_strict_host_keys_talk_only_to_devices_on_record(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    strict = {**lab.env, "OPSPACK_NETWORK_KNOWN_HOSTS": str(path), "OPSPACK_NETWORK_HOST_KEYS": "strict"}
    reply = run(registry, "net show sw2 show version", strict)
    assert failed(reply) == "denied"
    assert reply.error is not None and "not in" in reply.error.message and "ssh-keyscan" in str(reply.error.hint)
    assert not path.exists()  # strict never writes
    ok(run(registry, "net show sw2 show version", {**strict, "OPSPACK_NETWORK_HOST_KEYS": "accept-new"}))
    ok(run(registry, "net show sw2 show version", strict))


def test_host_keys_off_and_a_bad_mode(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    env = {**lab.env, "OPSPACK_NETWORK_KNOWN_HOSTS": str(path), "OPSPACK_NETWORK_HOST_KEYS": "off"}
    ok(run(registry, "net show sw1 show version", env))
    assert not path.exists()
    reply = run(registry, "net show sw1 show version", {**env, "OPSPACK_NETWORK_HOST_KEYS": "yes"})
    assert failed(reply) == "config" and "accept-new, strict, off" in str(reply.error and reply.error.hint)


def test_a_wrong_enable_secret_is_a_denied_row(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    from conftest import PASSWORD, USER

    inventory = tmp_path / "devices.yaml"
    port = lab.sims.ports["sw1"]
    inventory.write_text(
        f"defaults: {{username: {USER}, password: {PASSWORD}, secret: not-the-enable-secret}}\n"
        f"devices:\n  - {{name: sw1, host: 127.0.0.1, port: {port}, platform: cisco_ios}}\n"
    )
    env = {**lab.env, "OPSPACK_NETWORK_INVENTORY": str(inventory)}
    reply = run(registry, "net show sw1 show version", env)
    assert failed(reply) == "denied" and reply.error is not None
    assert "enable secret" in reply.error.message and "secret" in str(reply.error.hint)


def test_raw_output_several_devices_answered_alike_is_shown_once(lab: Lab, registry: Registry) -> None:
    results = ok(run(registry, "net show core show etherchannel summary", lab.env))
    raw = [r for r in results[1:] if r["kind"] == "text"]
    assert [r["title"] for r in raw] == ["sw1, sw2 (same output on 2 devices): show etherchannel summary"]
    assert "Number of channel-groups in use" in raw[0]["text"]
    assert {r[0]: r[3] for r in results[0]["rows"]} == {"sw1": "17 lines", "sw2": "17 lines"}

    from opspack_network.show import _names

    assert _names(["sw1"]) == "sw1"
    many = _names([f"sw{i}" for i in range(1, 9)])
    assert many == "sw1, sw2, sw3, sw4, sw5 and 3 more (same output on 8 devices)"


def test_hostkeys_lists_checks_and_forgets(lab: Lab, registry: Registry, tmp_path: Path) -> None:
    import paramiko

    path = tmp_path / "known_hosts"
    env = {**lab.env, "OPSPACK_NETWORK_KNOWN_HOSTS": str(path)}
    (table,) = ok(run(registry, "net hostkeys core", env))
    assert [r[2] for r in table["rows"]] == ["(not yet seen)"] * 2 and table["row_status"] == ["warning"] * 2
    ok(run(registry, "net show sw1 show version", env))  # learns sw1's key
    (table,) = ok(run(registry, "net hostkeys core", env))
    rows = {r[0]: r for r in table["rows"]}
    assert rows["sw1"][1] == f"[127.0.0.1]:{lab.sims.ports['sw1']}"
    assert rows["sw1"][2].startswith("ssh-rsa SHA256:") and rows["sw2"][2] == "(not yet seen)"

    # the device shows another key than the record: --check says so, without logging in
    lines = path.read_text().splitlines()
    impostor = paramiko.RSAKey.generate(1024)
    path.write_text(f"{lines[0].split()[0]} ssh-rsa {impostor.get_base64()}\n")
    status, table = ok(run(registry, "net hostkeys core --check", env))
    rows = {r[0]: r for r in table["rows"]}
    assert rows["sw1"][4] == "changed" and rows["sw2"][4] == "new"
    assert rows["sw1"][3].startswith("ssh-rsa SHA256:") and rows["sw1"][3] != rows["sw1"][2]
    assert status["level"] == "critical" and "sw1" in status["message"]
    (_, table) = ok(run(registry, "net hostkeys broken --check", env))
    assert {r[0]: r[4] for r in table["rows"]}["down"] == "unreachable"

    # forget: destructive, so it asks first; then the next connection learns the real key
    assert failed(run(registry, "net hostkey forget sw1", env)) == "denied"
    (done,) = ok(run(registry, "net hostkey forget sw1", env, confirmed=True))
    assert done["level"] == "ok" and "1 host key line(s) removed" in done["message"]
    assert path.read_text() == ""
    assert failed(run(registry, "net hostkey forget sw1", env, confirmed=True)) == "usage"
    nothing = run(registry, "net hostkey forget sw1", env)  # refused before anyone is asked
    assert failed(nothing) == "usage" and nothing.error is not None and nothing.error.confirm is None
    ok(run(registry, "net show sw1 show version", env))
    status, table = ok(run(registry, "net hostkeys sw1 --check", env))
    assert table["rows"][0][4] == "matches" and status["level"] == "ok"


def test_forget_finds_hashed_known_hosts_names(tmp_path: Path) -> None:
    import paramiko
    from opspack_network.hostkeys import HostKeys

    key = paramiko.RSAKey.generate(1024)
    path = tmp_path / "known_hosts"
    hashed = paramiko.HostKeys.hash_host("[10.0.0.7]:2222")
    path.write_text(f"{hashed} ssh-rsa {key.get_base64()}\n10.0.0.8 ssh-rsa {key.get_base64()}\n")
    keys = HostKeys(path, "strict")
    assert set(keys.records("[10.0.0.7]:2222")) == {"ssh-rsa"}
    assert keys.forget("[10.0.0.7]:2222") == 1
    assert keys.records("[10.0.0.7]:2222") == {} and set(keys.records("10.0.0.8")) == {"ssh-rsa"}
    assert path.read_text().startswith("10.0.0.8 ") and path.stat().st_mode & 0o777 == 0o600


def test_config_that_cannot_run_is_refused_before_the_confirmation(lab: Lab, registry: Registry) -> None:
    for text, kind in (
        ('net config core "hostname x"', "usage"),  # a group
        ('net config sw9 "hostname x"', "not_found"),
        ('net config sw1 "   "', "usage"),  # no line
    ):
        reply = run(registry, text, lab.env)
        assert failed(reply) == kind and reply.error is not None and reply.error.confirm is None, text
    asked = run(registry, 'net config sw1 "hostname x"', lab.env)
    assert failed(asked) == "denied" and asked.error is not None and asked.error.confirm is not None
