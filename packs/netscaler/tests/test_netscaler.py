"""The netscaler pack against the fake NITRO server: requests talks real HTTP to it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Runner
from opspack.registry import Registry
from opspack.settings import Config
from opspack_testkit import check_rendering, free_port
from opspack_testkit.fakes import netscaler as fake_nitro
from opspack_testkit.fakes.netscaler import PASSWORD, VIEWER, VIEWER_PASSWORD, FakeNitro
from opspack_testkit.tls import TestCA


def results(reply: Any) -> list[dict[str, Any]]:
    assert reply.ok, reply.error
    out: list[dict[str, Any]] = reply.to_dict()["results"]
    return out


def table_rows(reply: Any, index: int = 0) -> list[tuple[list[Any], str]]:
    table = [r for r in results(reply) if r["kind"] == "table"][index]
    levels = table.get("row_status") or ["none"] * len(table["rows"])
    return list(zip(table["rows"], levels, strict=True))


def status(reply: Any) -> tuple[str, str]:
    s = [r for r in results(reply) if r["kind"] == "status"][-1]
    return s["level"], s["message"]


def all_text(reply: Any) -> str:
    return json.dumps(check_rendering(reply), default=str)


# -- lazy imports and registry -----------------------------------------------------------


def test_command_modules_import_without_requests() -> None:
    code = (
        "import sys, opspack_netscaler, opspack_netscaler.vips, opspack_netscaler.members, "
        "opspack_netscaler.system, opspack_netscaler.ha, opspack_netscaler.certs; "
        "print('requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_entries(registry: Registry) -> None:
    words = {e["id"]: " ".join(e["chat"]["words"]) for e in registry}
    assert words == {
        "netscaler.vip.list": "ns vips",
        "netscaler.vip.show": "ns vip",
        "netscaler.member.disable": "ns member disable",
        "netscaler.member.enable": "ns member enable",
        "netscaler.backup.create": "ns backup",
        "netscaler.system.restore": "ns restore",
        "netscaler.config.diff": "ns config diff",
        "netscaler.config.save": "ns save",
        "netscaler.ha.status": "ns ha status",
        "netscaler.cert.list": "ns certs",
    }
    disable = registry.get("netscaler.member.disable")
    assert disable is not None and disable["effects"]["destructive"] and disable["effects"]["confirm"]
    enable = registry.get("netscaler.member.enable")
    assert enable is not None and not enable["effects"]["read_only"] and not enable["effects"]["confirm"]
    restore = registry.get("netscaler.system.restore")
    assert restore is not None and restore["effects"]["confirm"] and restore["effects"]["destructive"]
    assert restore["permission"] == "netscaler.restore"
    save = registry.get("netscaler.config.save")
    assert save is not None and not save["effects"]["read_only"]
    vips = registry.get("netscaler.vip.list")
    assert vips is not None and vips["effects"]["read_only"]


# -- sessions ------------------------------------------------------------------------------


def test_wrong_password_is_a_config_error(fake: FakeNitro, runner_for: Any) -> None:
    run = runner_for(fake.environ(password="not-the-password"))
    reply = run("ns vips")
    assert not reply.ok and reply.error is not None
    assert reply.error.kind == "config"
    assert "Invalid username or password" in reply.error.message
    assert "OPSPACK_NETSCALER_PASSWORD" in (reply.error.hint or "")
    assert "not-the-password" not in all_text(reply)
    assert fake.logins == 0


def test_one_login_for_many_commands_and_logout_on_close(fake: FakeNitro, runner_for: Any) -> None:
    run = runner_for(fake.environ())
    for text in ["ns vips", "ns vip vs_api", "ns ha status", "ns certs", "ns config diff"]:
        assert run(text).ok, text
    assert fake.logins == 1
    assert fake.count("POST", "/nitro/v1/config/login") == 1
    assert len(fake.sessions) == 1
    run.close()
    assert fake.logouts == 1 and fake.sessions == {}


def test_expired_session_logs_in_again_transparently(fake: FakeNitro, run: Runner) -> None:
    assert run("ns vips").ok
    fake.expire_sessions()  # the ADC's idle timeout, or an admin's `kill system session`
    reply = run("ns vip vs_web_https")
    assert reply.ok, reply.error
    assert fake.logins == 2
    # the expired request got NITRO's 444 envelope, then the same request succeeded
    assert fake.count("GET", "/nitro/v1/config/lbvserver") == 2 + 1  # vips, the 444, the retry
    assert run("ns certs").ok and fake.logins == 2


def test_token_and_password_never_reach_a_reply(fake: FakeNitro, run: Runner) -> None:
    reply = run("ns vips")
    token = next(iter(fake.sessions))
    text = all_text(reply)
    assert token not in text and PASSWORD not in text


def test_profiles_keep_one_session_per_adc_pair(tmp_path: Path, runner_for: Any) -> None:
    with FakeNitro() as dc1, FakeNitro() as dc2:
        dc2.vservers.pop("vs_legacy")
        cfg = tmp_path / "opspack.toml"
        cfg.write_text(
            "[netscaler]\n"
            f'user = "{fake_nitro.USER}"\n'
            'password = "env:NS_PASSWORD"\n'
            "[netscaler.profiles.dc1]\n"
            f'url = "{dc1.url}"\n'
            "[netscaler.profiles.dc2]\n"
            f'url = "{dc2.url}"\n'
        )
        environ = {"OPSPACK_CONFIG": str(cfg), "NS_PASSWORD": PASSWORD}
        run = runner_for(environ, Config.load(environ=environ))
        one = run("ns vips", profile="dc1")
        two = run("ns vips", profile="dc2")
        assert len(table_rows(one)) == 4 and len(table_rows(two)) == 3
        assert run("ns ha status", profile="dc1").ok and run("ns ha status", profile="dc2").ok
        assert (dc1.logins, dc2.logins) == (1, 1)
        unknown = run("ns vips", profile="dc3")
        assert unknown.error is not None and unknown.error.kind == "config" and "dc1, dc2" in (unknown.error.hint or "")
        run.close()
        assert (dc1.logouts, dc2.logouts) == (1, 1)


def test_unreachable_adc_is_a_backend_error(runner_for: Any) -> None:
    port = free_port()
    run = runner_for(
        {
            "OPSPACK_NETSCALER_URL": f"http://127.0.0.1:{port}",
            "OPSPACK_NETSCALER_USER": "nsroot",
            "OPSPACK_NETSCALER_PASSWORD": "x",
            "OPSPACK_NETSCALER_TIMEOUT": "5",
        }
    )
    reply = run("ns vips")
    assert reply.error is not None and reply.error.kind == "backend"
    assert "Cannot reach the ADC" in reply.error.message and "OPSPACK_NETSCALER_URL" in (reply.error.hint or "")


def test_missing_settings_and_bad_url(runner_for: Any, fake: FakeNitro) -> None:
    reply = runner_for({})("ns vips")
    assert (
        reply.error is not None and reply.error.kind == "config" and "OPSPACK_NETSCALER_URL" in (reply.error.hint or "")
    )
    bad = runner_for({**fake.environ(), "OPSPACK_NETSCALER_URL": "adc1.example.com"})("ns vips")
    assert bad.error is not None and bad.error.kind == "config" and "no scheme" in bad.error.message


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_ca_file_and_verify_tls_win_over_the_environments_ca_bundle(
    runner_for: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests takes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE before a session's own verify;
    the pack's ca_file and verify_tls=false must still decide."""
    (tmp_path / "other").mkdir()
    ca, other = TestCA(tmp_path), TestCA(tmp_path / "other")
    with FakeNitro().serve_tls(ca.issue("adc", ["127.0.0.1", "localhost"])) as adc:
        assert adc.url.startswith("https://")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_path))
        monkeypatch.setenv("CURL_CA_BUNDLE", str(other.ca_path))
        untrusted = runner_for(adc.environ())("ns vips")  # no ca_file: the environment's bundle
        assert untrusted.error is not None and untrusted.error.kind == "config", untrusted.error
        assert table_rows(runner_for(adc.environ(ca_file=str(ca.ca_path)))("ns vips"))
        assert table_rows(runner_for(adc.environ(verify_tls="false"))("ns vips"))
        assert adc.logins == 2


# -- VIPs -------------------------------------------------------------------------------------


def test_vips_with_state_health_and_a_status_per_row(run: Runner) -> None:
    reply = run("ns vips")
    rows = table_rows(reply)
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], lv) for r, lv in rows] == [
        ("vs_api", "10.0.0.11", 80, "HTTP", "UP", 100, "2/2", "ok"),
        ("vs_img", "10.0.0.12", 80, "HTTP", "UP", 50, "1/2", "warning"),
        ("vs_legacy", "10.0.0.13", 80, "HTTP", "DOWN", 0, "0/1", "critical"),
        ("vs_web_https", "10.0.0.10", 443, "SSL", "UP", 100, "3/3", "ok"),
    ]
    assert status(reply)[0] == "critical"
    check_rendering(reply)


def test_vips_filters(run: Runner) -> None:
    by_name = run("ns vips --name 'VS_W*'")
    assert [r[0] for r, _ in table_rows(by_name)] == ["vs_web_https"]
    down = run("ns vips --state down")
    assert [r[0] for r, _ in table_rows(down)] == ["vs_legacy"]
    table = next(r for r in results(down) if r["kind"] == "table")
    assert table["total"] == 4
    up = run("ns vips --state up --name 'vs_*'")
    assert [r[0] for r, _ in table_rows(up)] == ["vs_api", "vs_img", "vs_web_https"]
    none = run("ns vips --name 'db*'")
    assert results(none)[0]["kind"] == "text" and "of 4" in results(none)[0]["text"]
    bad = run("ns vips --state sideways")
    assert bad.error is not None and bad.error.kind == "usage"


def test_vip_shows_bindings_members_persistence_method_and_hits(run: Runner) -> None:
    reply = run("ns vip vs_web_https")
    info = results(reply)[0]["items"]
    assert info["method"] == "LEASTCONNECTION" and info["persistence"] == "COOKIEINSERT"
    assert info["hits"] == 48213 and info["health"] == "100%" and info["address"] == "10.0.0.10:443"
    assert [(r[0], r[1], r[2], r[3], r[4], lv) for r, lv in table_rows(reply)] == [
        ("servicegroup", "sg_web", "web01", "10.0.1.11:443", "UP", "ok"),
        ("servicegroup", "sg_web", "web02", "10.0.1.12:443", "UP", "ok"),
        ("servicegroup", "sg_web", "web03", "10.0.1.13:443", "UP", "ok"),
    ]
    services = run("ns vip vs_api")
    assert [(r[0], r[1], r[3], r[4]) for r, _ in table_rows(services)] == [
        ("service", "svc_api1", "10.0.2.21:8080", "UP"),
        ("service", "svc_api2", "10.0.2.22:8080", "UP"),
    ]
    assert results(services)[0]["items"]["persistence"] == "SOURCEIP"
    check_rendering(reply)


def test_vip_not_found_names_close_matches(run: Runner) -> None:
    reply = run("ns vip vs_web")
    assert reply.error is not None and reply.error.kind == "not_found"
    assert "vs_web_https" in (reply.error.hint or "")


# -- members --------------------------------------------------------------------------------


def test_disable_member_needs_confirmation(fake: FakeNitro, run: Runner) -> None:
    reply = run("ns member disable sg_web web02 443")
    assert reply.error is not None and reply.error.kind == "denied" and reply.error.confirm is not None
    assert reply.error.confirm.text == "ns member disable sg_web web02 443"
    assert fake.count("POST", "/nitro/v1/config/servicegroup") == 0


def test_disable_member_then_vip_shows_it_out_of_service(fake: FakeNitro, run: Runner) -> None:
    reply = run("ns member disable sg_web web02 443", confirmed=True)
    assert status(reply) == ("warning", "web02 443 in sg_web disabled: now OUT OF SERVICE")
    assert results(reply)[0]["items"]["admin state"] == "DISABLED"
    action = next(r for r in fake.server.requests if r.method == "POST" and r.path.endswith("/servicegroup"))
    assert action.query == {"action": ["disable"]}
    assert action.json() == {"servicegroup": {"servicegroupname": "sg_web", "servername": "web02", "port": 443}}

    vip = run("ns vip vs_web_https")
    states = {r[2]: (r[4], lv) for r, lv in table_rows(vip)}
    assert states["web02"] == ("OUT OF SERVICE", "warning")
    assert states["web01"] == ("UP", "ok")
    assert results(vip)[0]["items"]["active services"] == "2/3"
    vips = {r[0]: (r[5], lv) for r, lv in table_rows(run("ns vips"))}
    assert vips["vs_web_https"] == (66, "warning")

    back = run("ns member enable sg_web web02 443")
    assert status(back) == ("ok", "web02 443 in sg_web enabled: now UP")
    assert {r[2]: r[4] for r, _ in table_rows(run("ns vip vs_web_https"))}["web02"] == "UP"


def test_graceful_disable_with_delay_drains_first(fake: FakeNitro, run: Runner) -> None:
    reply = run("ns member disable sg_web web03 443 --graceful --delay 60", confirmed=True)
    assert status(reply) == ("warning", "web03 443 in sg_web disabled: now GOING OUT OF SERVICE")
    items = results(reply)[0]["items"]
    assert items["graceful"] == "YES" and items["delay_s"] == 60
    action = next(r for r in fake.server.requests if r.method == "POST" and r.path.endswith("/servicegroup"))
    assert action.json()["servicegroup"] == {
        "servicegroupname": "sg_web",
        "servername": "web03",
        "port": 443,
        "delay": 60,
        "graceful": "YES",
    }


def test_member_not_found_and_bad_port(run: Runner) -> None:
    missing = run("ns member disable sg_web web09 443", confirmed=True)
    assert missing.error is not None and missing.error.kind == "not_found"
    assert "web01 443" in (missing.error.hint or "")
    group = run("ns member enable sg_wbe web01 443")
    assert group.error is not None and group.error.kind == "not_found" and "sg_web" in (group.error.hint or "")
    port = run("ns member enable sg_web web01 70000")
    assert port.error is not None and port.error.kind == "usage" and "1 to 65535" in port.error.message
    # destructive ones are refused before the confirmation is asked for
    for text, kind in (
        ("ns member disable sg_web web09 443", "not_found"),
        ("ns member disable sg_wbe web01 443", "not_found"),
        ("ns member disable sg_web web01 443 --delay -5", "usage"),
        ("ns restore nosuch_backup", "not_found"),
    ):
        reply = run(text)
        assert reply.error is not None and reply.error.kind == kind and reply.error.confirm is None, text


def test_read_only_user_is_denied_with_a_hint(fake: FakeNitro, runner_for: Any) -> None:
    run = runner_for(fake.environ(user=VIEWER, password=VIEWER_PASSWORD))
    assert run("ns vips").ok
    reply = run("ns member disable sg_web web01 443", confirmed=True)
    assert reply.error is not None and reply.error.kind == "denied"
    assert "Not authorized" in reply.error.message and "command policy" in (reply.error.hint or "")
    assert fake.servicegroups["sg_web"][0].state == "ENABLED"


# -- backup, restore, save, diff ---------------------------------------------------------------


def test_backup_create_then_list(fake: FakeNitro, run: Runner) -> None:
    fake.create_backup("nightly", "full", "cron")
    reply = run("ns backup --comment 'before CHG-1234'")
    level, message = status(reply)
    assert level == "ok" and message.startswith("Created basic backup opspack_") and message.endswith(".tgz")
    created = message.split()[-1]
    rows = {r[0]: r for r, _ in table_rows(reply)}
    assert set(rows) == {created, "nightly.tgz"}
    assert rows[created][1] == "basic" and rows[created][5] == "nsroot" and rows[created][6] == "before CHG-1234"
    body = next(r for r in fake.server.requests if r.method == "POST" and r.path.endswith("/systembackup"))
    assert body.query == {"action": ["create"]}
    assert body.json()["systembackup"]["level"] == "basic"
    full = run("ns backup --level full")
    assert status(full)[1].startswith("Created full backup")
    check_rendering(full)


def test_restore_is_confirmed_and_checks_the_backup(fake: FakeNitro, run: Runner) -> None:
    name = fake.create_backup("pre_change", "basic")
    ask = run("ns restore pre_change")
    assert ask.error is not None and ask.error.kind == "denied" and ask.error.confirm is not None
    missing = run("ns restore pre_chnage", confirmed=True)
    assert missing.error is not None and missing.error.kind == "not_found" and name in (missing.error.hint or "")
    done = run("ns restore pre_change", confirmed=True)
    assert status(done)[0] == "warning" and "Reboot" in status(done)[1]
    assert fake.restored == [{"filename": name, "skipbackup": False}]
    run("ns restore pre_change.tgz --skip-backup", confirmed=True)
    assert fake.restored[-1] == {"filename": name, "skipbackup": True}


def test_restore_has_its_own_permission(fake: FakeNitro, tmp_path: Path, runner_for: Any) -> None:
    fake.create_backup("pre_change", "basic")
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[defaults]\nmutating = "deny"\ncontact = "#netops"\n'
        '[users]\nalice = ["lb-operator"]\nbob = ["adc-admin"]\n'
        '[roles.lb-operator]\nallow = ["netscaler.member.*", "netscaler.backup.*", "netscaler.config.*"]\n'
        '[roles.adc-admin]\nallow = ["netscaler.restore"]\n'
    )
    run = runner_for({**fake.environ(), "OPSPACK_POLICY": str(policy)})
    assert run("ns backup", user="alice").ok
    assert run("ns member disable sg_web web01 443", confirmed=True, user="alice").ok
    denied = run("ns restore pre_change", confirmed=True, user="alice")
    assert denied.error is not None and denied.error.kind == "denied" and "netscaler.restore" in denied.error.message
    assert fake.restored == []
    assert run("ns restore pre_change", confirmed=True, user="bob").ok
    assert [r["filename"] for r in fake.restored] == ["pre_change.tgz"]


def test_config_diff_shows_a_changed_line_then_save_clears_it(fake: FakeNitro, run: Runner) -> None:
    clean = run("ns config diff")
    assert status(clean) == ("ok", "The running configuration matches saved.")
    fake.extra_running.append("add server web04 10.0.1.14")  # someone changed the ADC
    reply = run("ns config diff")
    diff = results(reply)[0]
    assert diff["kind"] == "diff" and diff["before_label"] == "saved" and diff["after_label"] == "running"
    changed = [line for line in diff["unified"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["+add server web04 10.0.1.14"]
    assert status(reply) == (
        "warning",
        "The running configuration differs from saved: 1 line(s) added, 0 removed. Run `ns save` to keep them.",
    )
    check_rendering(reply)
    saved = run("ns save")
    assert status(saved)[0] == "ok" and fake.saves == 1
    assert status(run("ns config diff"))[0] == "ok"


def test_config_diff_against_a_backup(fake: FakeNitro, run: Runner) -> None:
    created = status(run("ns backup"))[1].split()[-1]
    assert run("ns member disable sg_web web02 443", confirmed=True).ok
    reply = run(f"ns config diff --against {created.removesuffix('.tgz')}")
    diff = results(reply)[0]
    assert diff["before_label"] == f"backup {created}"
    changed = [line for line in diff["unified"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-bind serviceGroup sg_web web02 443", "+bind serviceGroup sg_web web02 443 -state DISABLED"]
    unknown = run("ns config diff --against nope")
    assert unknown.error is not None and unknown.error.kind == "not_found" and "saved" in (unknown.error.hint or "")


# -- HA and certificates --------------------------------------------------------------------------


def test_ha_status(fake: FakeNitro, run: Runner) -> None:
    healthy = run("ns ha status")
    assert [(r[1], r[3], r[4], r[6], lv) for r, lv in table_rows(healthy)] == [
        ("adc1", "Primary", "UP", "ENABLED", "ok"),
        ("adc2", "Secondary", "UP", "ENABLED", "ok"),
    ]
    assert status(healthy) == ("ok", "adc1 is primary; both nodes healthy and in sync")
    fake.hanodes[1]["hasyncfailurereason"] = "Version mismatch"
    sync = run("ns ha status")
    assert table_rows(sync)[1][0][6] == "FAILED: Version mismatch" and status(sync)[0] == "warning"
    fake.hanodes[1]["hacurstate"] = "DOWN"
    assert status(run("ns ha status"))[0] == "critical"
    fake.hanodes[1]["state"] = "Primary"
    split = run("ns ha status")
    assert status(split)[0] == "critical" and "Expected one primary, found 2" in status(split)[1]
    fake.hanodes.pop()
    assert status(run("ns ha status"))[0] == "warning"


def test_certificate_expiry_statuses(run: Runner) -> None:
    reply = run("ns certs")
    assert [(r[0], r[4], r[5], lv) for r, lv in table_rows(reply)] == [
        ("old_example_com", -5, "Expired", "critical"),
        ("legacy_example_com", 3, "Valid", "critical"),
        ("api_example_com", 20, "Valid", "warning"),
        ("www_example_com", 200, "Valid", "ok"),
        ("ca_root", 3000, "Valid", "ok"),
    ]
    assert status(reply) == ("critical", "1 expired, 2 expiring within 30 days")
    check_rendering(reply)
    soon = run("ns certs --expiring-within 30")
    assert [r[0] for r, _ in table_rows(soon)] == ["old_example_com", "legacy_example_com", "api_example_com"]
    none = run("ns certs --expiring-within 0")
    assert [r[0] for r, _ in table_rows(none)] == ["old_example_com"]


def test_certificate_thresholds_come_from_settings(fake: FakeNitro, runner_for: Any) -> None:
    run = runner_for(fake.environ(cert_warning_days="250", cert_critical_days="1"))
    levels = {r[0]: lv for r, lv in table_rows(run("ns certs"))}
    assert levels == {
        "old_example_com": "critical",
        "legacy_example_com": "warning",
        "api_example_com": "warning",
        "www_example_com": "warning",
        "ca_root": "ok",
    }


@pytest.mark.parametrize("fmt", ["slack", "teams", "mattermost"])
def test_renders_for_chat_platforms(run: Runner, fmt: str) -> None:
    from opspack.renderers import render

    out = render(run("ns vip vs_web_https"), fmt)
    assert isinstance(out, list) and out
