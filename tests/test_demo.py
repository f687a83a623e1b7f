"""The demo console (scripts/demo.py) answers a newcomer's first commands without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_demo(lines: list[str], data_home: Path, *options: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env["XDG_DATA_HOME"] = str(data_home)
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
    assert (tmp_path / "opspack" / "audit.db").is_file()


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


def test_demo_directory_answers_from_a_samba_domain(tmp_path: Path) -> None:
    """The directory issue's demo: a Samba AD DC with a small company, its password in OpenBao."""
    out = run_demo(["user info bmartin", "group members VPN-Users --nested", "access why cnguyen VPN-Users"], tmp_path)
    assert "directory: Samba AD DC ldaps://127.0.0." in out, out[:2000]
    assert "Bruno Martin" in out and "Alice Dupont" in out  # the user and the manager
    assert "via Sales-EU" in out  # cnguyen is in VPN-Users through Sales-EU and Sales
    assert "cnguyen > Sales-EU > Sales > VPN-Users" in out or "Chloe Nguyen > Sales-EU > Sales > VPN-Users" in out
