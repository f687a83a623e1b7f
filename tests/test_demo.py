"""The demo console (scripts/demo.py) answers a newcomer's first commands without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def demo_env(data_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env["XDG_DATA_HOME"] = str(data_home)
    env.update(extra)
    return env


def run_demo(lines: list[str], data_home: Path, *options: str, **extra: str) -> str:
    env = demo_env(data_home, **extra)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), *options],
        input="\n".join([*lines, "exit"]) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.stdout


def test_demo_lists_every_pack_and_runs_a_first_command(tmp_path: Path) -> None:
    from opspack.registry import Registry

    out = run_demo(["help", "server test 127.0.0.1 --ports 1", "vm lst", "history"], tmp_path)
    assert "vault: OpenBao http://127.0.0.1:" in out, "the demo starts OpenBao for the packs' secrets"
    for pack in Registry.from_installed().packs:
        assert pack["name"] in out
    assert "server test 127.0.0.1" in out and "connection refused" in out
    assert "Unknown command `vm lst`" in out
    assert "History (2 most recent)" in out, "the demo records what it runs"
    # in its own folder, not in the user's audit trail (XDG_DATA_HOME/opspack/audit.db)
    assert not (tmp_path / "opspack").exists()
    assert "The demo keeps its audit trail and history in " in out


def test_demo_vault_answers_from_the_local_openbao(tmp_path: Path) -> None:
    out = run_demo(["vault status", "jenkins jobs"], tmp_path)
    assert "[OK] unsealed" in out
    assert "Error (config): pack jenkins is not configured: missing url" in out
    assert "OPSPACK_JENKINS_URL" in out


def test_demo_first_vm_list_shows_machines_and_sql_blocking_a_chain(tmp_path: Path) -> None:
    """The issues' demo promises: `vm list` shows VMs (vcsim), `sql blocking` a chain (PostgreSQL),
    and the secrets behind them come from OpenBao."""
    out = run_demo(["vm list --limit 2", "sql blocking", "vault kv list secret/demo", "net status all"], tmp_path)
    assert "not started" not in out, out[:2000]
    assert "DC0_C0_RP0_VM0" in out
    assert "2 sessions blocked by 1" in out
    stored = {line.split()[0] for line in out.splitlines() if line.rstrip().endswith(" secret")}
    assert {"vmware", "sql", "network"} <= stored
    assert "all 3 devices reachable" in out


def test_demo_vm_migrate_shows_its_progress_then_where_the_vm_is(tmp_path: Path) -> None:
    """The jobs issue's demo: a vMotion that takes a few seconds, its progress in the console."""
    out = run_demo(["vm migrate DC0_C0_RP0_VM0 --host DC0_C0_H1", "jobs"], tmp_path)
    assert "migrating" in out and "DC0_C0_H1" in out, out[-3000:]
    lines = out[out.index("vm migrate DC0_C0_RP0_VM0") :].splitlines()
    progress = [line for line in lines if "%" in line or "task" in line.lower()]
    assert len(progress) >= 2, lines[:20]
    assert "vmware.vm.migrate" in out or "vm migrate DC0_C0_RP0_VM0" in out.split("Jobs of", 1)[-1]


def test_demo_with_celery_runs_the_console_commands_on_a_worker(tmp_path: Path) -> None:
    """`nox -s demo -- --celery`: Redis and a Celery worker start too, and `vm migrate` shows
    its progress in the console while a worker runs it."""
    out = run_demo(["vm migrate DC0_C0_RP0_VM2 --host DC0_C0_H1", "jobs"], tmp_path, "--celery")
    assert "jobs: Redis redis://127.0.0.1:" in out and "Celery worker" in out
    assert "is on host DC0_C0_H1" in out and "succeeded" in out, out[-3000:]


def test_a_service_that_cannot_start_is_named_and_its_pack_says_so(tmp_path: Path) -> None:
    """Without its vCenter simulator, the banner says which service did not start and why, and
    `vm list` answers that the simulator is not running (not that settings are missing)."""
    out = run_demo(["vm list", "sql blocking"], tmp_path, OPSPACK_VCSIM_BIN=str(tmp_path / "no-vcsim"))
    why = f"OPSPACK_VCSIM_BIN={tmp_path / 'no-vcsim'} is not an executable file"
    assert f"vmware: the vCenter simulator could not start: {why}" in out, out[:2000]
    assert f"Error (config): the demo's vCenter simulator is not running: {why}" in out
    assert "scripts/install-test-deps.sh --demo" in out
    assert "not configured" not in out
    assert "2 sessions blocked by 1" in out, "the other services still run"


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_hangup_or_term_stops_every_service_and_removes_every_folder(tmp_path: Path, signum: int) -> None:
    """`kill -HUP` (the terminal closed) or `kill -TERM` of the demo at its prompt: no process
    of it is left, and nothing is left in its temporary folder."""
    import shutil
    import tempfile

    # a folder of its own under the system's (the servers' users, as root, must reach theirs in it)
    tmp = Path(tempfile.mkdtemp(prefix="opspack-demo-test-", dir="/tmp"))
    tmp.chmod(0o711)
    try:
        _hang_up(tmp, tmp_path, signum)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _hang_up(tmp: Path, tmp_path: Path, signum: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        stdin=subprocess.PIPE,  # kept open: the console waits at its prompt
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=demo_env(tmp_path / "data", TMPDIR=str(tmp)),
    )
    try:
        assert proc.stdout is not None
        banner = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            banner.append(line)
            if not line or line.startswith("opspack shell:"):
                break
        assert banner[-1].startswith("opspack shell:"), "".join(banner)
        assert "could not start" not in "".join(banner), "".join(banner)
        services = _descendants(proc.pid)
        assert len(services) >= 4, services  # OpenBao, vcsim, PostgreSQL, the switches
        assert any(tmp.iterdir()), "the demo's folder is under TMPDIR"
        proc.send_signal(signum)
        assert proc.wait(timeout=120) == 128 + signum
    finally:
        if proc.poll() is None:  # the test failed before the signal: still stop its services
            proc.terminate()
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in services) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in services if _alive(p)], "processes of the demo outlived it"
    assert list(tmp.iterdir()) == [], "the demo left folders behind"


def test_demo_prometheus_alerts_and_graph_up_answer_from_the_start(tmp_path: Path) -> None:
    """The prometheus issue's demo: Prometheus and Alertmanager scrape the demo's own services,
    so `alerts` shows firing alerts and `graph up` draws a picture from the first command."""
    out = run_demo(["alerts", "graph up --range 5m", "targets"], tmp_path)
    assert "prometheus: Prometheus http://127.0.0.1:" in out, out[:2000]
    assert "DemoHeartbeat" in out and "firing" in out
    assert "[image: Graph of up over the last 5m: 3 series (image/png" in out
    assert "3 of 3 targets up" in out


def test_demo_directory_answers_from_a_samba_domain(tmp_path: Path) -> None:
    """The directory issue's demo: a Samba AD DC with a small company, its password in OpenBao."""
    out = run_demo(["user info bmartin", "group members VPN-Users --nested", "access why cnguyen VPN-Users"], tmp_path)
    assert "directory: Samba AD DC ldaps://127.0.0." in out, out[:2000]
    assert "Bruno Martin" in out and "Alice Dupont" in out  # the user and the manager
    assert "via Sales-EU" in out  # cnguyen is in VPN-Users through Sales-EU and Sales
    assert "cnguyen > Sales-EU > Sales > VPN-Users" in out or "Chloe Nguyen > Sales-EU > Sales > VPN-Users" in out
