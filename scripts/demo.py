"""The demo: the chat console with every pack of the repo installed.

``nox -s demo`` installs the core, the test kit and every pack, installs or builds what the
demo's services need (``scripts/install-test-deps.sh --demo``: PostgreSQL, Go and govmomi
for the vCenter simulator, Redis), then runs this. It starts the local services the packs'
demos need (an OpenBao dev server holding the demo's secrets, govmomi's vCenter simulator,
a PostgreSQL with a blocked workload, simulated switches), points those packs' settings at
them with ``vault:`` references, and opens ``opspack shell``. The servers and simulators are
the test kit's (``opspack_testkit.servers``); what only the demo does with them (its secrets,
its PostgreSQL workload) is here.

A service that cannot start is named in the banner with why, and its pack's commands answer
"the demo's <service> is not running: <why>". Everything the demo keeps (its audit trail,
the shell's history, the servers' folders) is in one temporary folder, removed when the demo
ends: at ``exit``, at the end of its input, on Ctrl-C, SIGTERM or SIGHUP (the terminal
closed), which also stop every service. The user's own opspack.toml and audit trail are
never read or written. Pass chat lines on stdin to run it without a terminal:
``printf 'help\\n' | nox -s demo``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opspack_testkit.servers.openbao import OpenBao


@dataclass
class Demo:
    """What the demo's services share: the environment they set and the secrets to store."""

    stack: contextlib.ExitStack
    env: dict[str, str] = field(default_factory=dict)
    #: environment variable -> {"path", "key", "value"}: stored in OpenBao, given as vault: references
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    bao: Any = None


def _vault(demo: Demo) -> str:
    """An OpenBao dev server; the other packs' secrets are stored in it."""
    from opspack_testkit.servers.openbao import OpenBao

    demo.bao = demo.stack.enter_context(OpenBao(root_token=secrets.token_hex(12)))
    demo.env["OPSPACK_VAULT_ADDR"] = demo.bao.addr
    demo.env["OPSPACK_VAULT_TOKEN"] = demo.bao.root_token
    return f"OpenBao {demo.bao.addr} (the packs' secrets are vault: references to it)"


def _vcsim(demo: Demo) -> str:
    """govmomi's vCenter simulator with two clusters, so `vm list` shows machines."""
    from opspack_testkit.servers.vcsim import Vcsim, vmware_pack_environ

    sim = demo.stack.enter_context(
        Vcsim(
            clusters=2,
            hosts=2,
            vms=3,
            standalone_hosts=1,
            tls=False,
            guest_ip_base="198.18.0.10",
            # a migration takes a few seconds, as a small vMotion does: `vm migrate` shows its progress
            method_delay_ms={"RelocateVM_Task": 3000},
        )
    )
    env = vmware_pack_environ(sim)
    password = env.pop("OPSPACK_VMWARE_PASSWORD", "demo-password")
    demo.env.update(env)
    demo.secrets["OPSPACK_VMWARE_PASSWORD"] = {"path": "secret/demo/vmware", "key": "password", "value": password}
    return f"vcsim {sim.url} (try: vm list, host list, cluster summary, vm migrate DC0_C0_RP0_VM0 --host DC0_C0_H1)"


@contextlib.contextmanager
def postgres_with_a_blocked_workload(*, waiters: int = 2) -> Iterator[dict[str, str]]:
    """A PostgreSQL with a blocked workload; yields the sql pack's settings.

    Starts a private server, makes the database ``app`` and a login ``app`` (pg_monitor,
    pg_signal_backend), enables pg_stat_statements there, and keeps one session holding a
    row lock with ``waiters`` sessions waiting on it (as the non-superuser ``worker``, so
    ``sql kill`` can end it). Yields ``OPSPACK_SQL_URL`` / ``OPSPACK_SQL_PASSWORD``."""
    from opspack_testkit.servers.postgres import PostgresServer

    with PostgresServer() as pg:
        password = "demo-" + secrets.token_hex(6)
        pg.psql("CREATE DATABASE app")
        pg.psql(
            f"CREATE ROLE app LOGIN PASSWORD '{password}'; GRANT pg_monitor, pg_signal_backend TO app;"
            "CREATE ROLE worker LOGIN PASSWORD 'worker';"
        )
        pg.psql(
            "CREATE EXTENSION pg_stat_statements;"
            "CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS ref FROM generate_series(1, 50000) g; ANALYZE;",
            database="app",
        )
        with pg.blocking_workload("app", waiters=waiters, user="worker", password="worker"):  # noqa: S106
            yield {"OPSPACK_SQL_URL": pg.url(user="app", database="app"), "OPSPACK_SQL_PASSWORD": password}


def _postgres(demo: Demo) -> str:
    """A private PostgreSQL where one session blocks two others, so `sql blocking` has a chain."""
    env = demo.stack.enter_context(postgres_with_a_blocked_workload())
    password = env.pop("OPSPACK_SQL_PASSWORD")
    demo.env.update(env)
    demo.secrets["OPSPACK_SQL_PASSWORD"] = {"path": "secret/demo/sql", "key": "password", "value": password}
    return "PostgreSQL with a blocking workload (try: sql blocking, sql waits, sql health)"


def _switches(demo: Demo) -> str:
    """Simulated switches (fake-switches over SSH) and an inventory whose password is in OpenBao."""
    import tempfile
    from pathlib import Path

    from opspack_testkit.servers.switches import SimulatedSwitches, SwitchSpec

    password, enable = secrets.token_hex(8), secrets.token_hex(8)
    sims = demo.stack.enter_context(
        SimulatedSwitches(
            [SwitchSpec("core1"), SwitchSpec("core2"), SwitchSpec("access1", "dell_os6", ports=4)],
            password=password,
            secret=enable,
        )
    )
    folder = Path(demo.stack.enter_context(tempfile.TemporaryDirectory(prefix="opspack-demo-net-")))
    inventory = sims.write_inventory(
        folder / "devices.yaml",
        defaults={"password": "vault:secret/demo/network#password", "secret": "vault:secret/demo/network#enable"},
        device_groups={"core1": ["core"], "core2": ["core"]},
    )
    for key, value in (("password", password), ("enable", enable)):
        demo.secrets[f"OPSPACK_DEMO_NETWORK_{key.upper()}"] = {
            "path": "secret/demo/network",
            "key": key,
            "value": value,
        }
    demo.env["OPSPACK_NETWORK_INVENTORY"] = str(inventory)
    demo.env["OPSPACK_NETWORK_BACKUP_DIR"] = str(folder / "backups")
    demo.env["OPSPACK_NETWORK_KNOWN_HOSTS"] = str(folder / "known_hosts")  # learned on first contact
    return "3 simulated switches (try: net devices, net status all, net show core1 show vlan brief)"


#: the demo's alerting rules: a heartbeat that always fires, the demo app's errors (fire after
#: two scrapes), a slow checkout that stays pending, and any target that is down
DEMO_RULES = """\
groups:
  - name: demo
    rules:
      - alert: DemoHeartbeat
        expr: vector(1)
        labels: {severity: info, team: ops}
        annotations: {summary: "The demo's Prometheus evaluates its rules (always fires)"}
      - alert: CheckoutErrors
        expr: rate(demo_requests_total{code="500"}[1m]) > 0
        labels: {severity: warning, team: payments}
        annotations: {summary: "demo-app answers HTTP 500 on {{ $labels.instance }}"}
      - alert: SlowCheckout
        expr: demo_request_duration_seconds{route="/checkout"} > 0.2
        for: 30m
        labels: {severity: warning, team: payments}
        annotations: {summary: "/checkout takes {{ $value }}s"}
      - alert: TargetDown
        expr: up == 0
        labels: {severity: critical, team: ops}
        annotations: {summary: "{{ $labels.job }} {{ $labels.instance }} is down"}
"""


def _prometheus(demo: Demo) -> str:
    """Prometheus scraping the demo's services (itself, Alertmanager, a demo app's exporter) and
    sending alerts to Alertmanager; it returns once alerts fire, so `alerts` and `graph up` answer."""
    from opspack_testkit.servers.prometheus import Alertmanager, MetricsExporter, Prometheus, prometheus_pack_environ

    app = demo.stack.enter_context(MetricsExporter())
    am = demo.stack.enter_context(Alertmanager(group_by=("alertname", "team")))
    prom = demo.stack.enter_context(
        Prometheus(
            targets={"alertmanager": [am.address], "demo-app": [app.address]},
            rules=DEMO_RULES,
            alertmanager=am,
            interval="2s",
        )
    )
    prom.wait_until("count(up == 1) == 3")
    am.wait_for_alerts(1)
    demo.env.update(prometheus_pack_environ(prom, am))
    return f"Prometheus {prom.url} and Alertmanager {am.url} (try: alerts, graph up, targets, rules)"


def _samba(demo: Demo) -> str:
    """A Samba AD domain controller holding a small company (nested groups, managers), so
    `user info`, `group members` and `access why` answer; the service desk may manage VPN-*."""
    import json

    from opspack_testkit.servers.samba import SambaDC, company_ldif

    dc = demo.stack.enter_context(SambaDC())
    dc.add_ldif(company_ldif(dc.base_dn, password="Demo-" + secrets.token_hex(6) + "-9x!"))
    staff = {"ou": f"OU=Staff,{dc.base_dn}", "groups": ["VPN-Users"], "attributes": {"department": "Sales"}}
    demo.env.update(
        {
            "OPSPACK_DIRECTORY_URL": dc.url,
            "OPSPACK_DIRECTORY_USER": dc.admin_user,
            "OPSPACK_DIRECTORY_CA_FILE": str(dc.ca_file),
            "OPSPACK_DIRECTORY_FLAVOR": "ad",
            "OPSPACK_DIRECTORY_MANAGED_GROUPS": "VPN-*",
            "OPSPACK_DIRECTORY_TEMPLATES": json.dumps({"staff": staff}),
        }
    )
    demo.secrets["OPSPACK_DIRECTORY_PASSWORD"] = {
        "path": "secret/demo/directory",
        "key": "password",
        "value": dc.admin_password,
    }
    return (
        f"Samba AD DC {dc.url} (try: user info bmartin, group members VPN-Users --nested, access why cnguyen VPN-Users)"
    )


def store_secrets(bao: OpenBao, wanted: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Store the demo's secrets in OpenBao and return the environment that uses them.

    ``wanted`` maps a pack setting's environment variable to ``{"path": "<mount>/<path>",
    "key": ..., "value": ...}``; every secret is written (KV v2), the variable is set to the
    ``vault:<path>#<key>`` reference, and ``VAULT_ADDR``/``VAULT_TOKEN`` are added. A
    read-only token (policy ``opspack-demo``: read on the paths used) is used, not root::

        env = store_secrets(bao, {"OPSPACK_JENKINS_TOKEN":
                                  {"path": "secret/demo/jenkins", "key": "token", "value": "t0k3n"}})
        # env["OPSPACK_JENKINS_TOKEN"] == "vault:secret/demo/jenkins#token"
    """
    grouped: dict[str, dict[str, str]] = {}
    for spec in wanted.values():
        grouped.setdefault(spec["path"], {})[spec["key"]] = spec["value"]
    for path, data in grouped.items():
        bao.put(path, data)
    rules = "\n".join(
        f'path "{p.partition("/")[0]}/data/{p.partition("/")[2]}" {{ capabilities = ["read"] }}' for p in grouped
    )
    bao.policy("opspack-demo", rules)
    env = bao.env(bao.token(["opspack-demo"], ttl="24h"))
    for var, spec in wanted.items():
        env[var] = f"vault:{spec['path']}#{spec['key']}"
    return env


#: services in start order; each returns a line for the banner, or raises and is skipped
STARTERS: list[tuple[str, Callable[[Demo], str]]] = [
    ("vault", _vault),
    ("vmware", _vcsim),
    ("sql", _postgres),
    ("network", _switches),
    ("prometheus", _prometheus),
    ("directory", _samba),
]
#: what a pack's demo service is called in "the demo's <service> is not running"
SERVICE_NAMES = {
    "vault": "OpenBao server",
    "vmware": "vCenter simulator",
    "sql": "PostgreSQL server",
    "network": "switch simulator",
    "prometheus": "Prometheus server",
    "directory": "Samba AD domain controller",
}
#: what to do about a service that could not start
INSTALL_HINT = (
    "Install what the demo's services need (as root: bash scripts/install-test-deps.sh --demo), "
    "then start the demo again."
)


def service_name(pack: str) -> str:
    """``vCenter simulator``: how the banner and the pack's answers name its demo service."""
    return SERVICE_NAMES.get(pack, f"{pack} service")


def why(exc: BaseException) -> str:
    """An exception as one plain sentence for the banner (its first line)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def not_running(down: Mapping[str, str]) -> Any:
    """The runtime gate that answers for the packs whose service is down (pack -> why):
    a ``config`` error saying which service is not running and why, before any setting is read."""
    from opspack.results import Error

    def gate(entry: Mapping[str, Any], caller: object) -> Error | None:
        pack = entry["pack"]["name"]
        if pack not in down:
            return None
        return Error("config", f"the demo's {service_name(pack)} is not running: {down[pack]}", INSTALL_HINT)

    return gate


@contextlib.contextmanager
def services() -> Iterator[tuple[dict[str, str], list[str], dict[str, str]]]:
    """Start what can run here; yield the environment that points packs at it, the banner's
    report, and the packs whose service could not start (pack -> why)."""
    with contextlib.ExitStack() as stack:
        demo = Demo(stack)
        report: list[str] = []
        down: dict[str, str] = {}
        for name, start in STARTERS:
            try:
                report.append(f"  {name}: {start(demo)}")
            except Exception as exc:  # noqa: BLE001 - a missing simulator must not stop the demo
                down[name] = why(exc)
                report.append(f"  {name}: the {service_name(name)} could not start: {down[name]}")
        if demo.secrets and demo.bao is not None:
            demo.env.update(store_secrets(demo.bao, demo.secrets))
        elif demo.secrets:  # no OpenBao here: the packs get the values themselves
            demo.env.update({var: spec["value"] for var, spec in demo.secrets.items()})
        yield demo.env, report, down


def keep_state_in(folder: str) -> None:
    """Everything the demo and its servers keep goes under ``folder``: temporary files, the
    audit trail, the shell's history; an empty opspack.toml stands for the user's own."""
    import tempfile
    from pathlib import Path

    os.chmod(folder, 0o711)  # noqa: S103 - traverse only: servers run as their own user reach their folders
    tempfile.tempdir = folder
    config = Path(folder) / "opspack.toml"
    config.write_text("# the demo's own (empty) configuration: the packs' settings come from its services\n")
    os.environ.update(
        TMPDIR=folder,
        XDG_DATA_HOME=str(Path(folder) / "data"),
        OPSPACK_CONFIG=str(config),
        OPSPACK_AUDIT_URL=f"sqlite:///{folder}/audit.db",
        OPSPACK_HISTORY=str(Path(folder) / "shell-history"),
    )


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP (the terminal closed) end the demo as ``exit`` does: every service
    stopped, every folder removed. A second signal while that runs is ignored."""
    import signal

    def stop(signum: int, frame: object) -> None:
        for sig in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if signum == signal.SIGHUP:  # no terminal to write to any more
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
        raise SystemExit(128 + signum)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, stop)


@contextlib.contextmanager
def celery_workers(folder: str) -> Iterator[str]:
    """Redis and an `opspack worker` for every pack, sharing the console's audit trail:
    the demo's `--celery`. Yields a line for the report."""
    import subprocess

    from opspack_testkit import stop_process
    from opspack_testkit.servers.redis import RedisServer

    with RedisServer() as redis:
        os.environ["OPSPACK_BROKER_URL"] = redis.url()
        log = open(f"{folder}/worker.log", "wb")  # noqa: SIM115 - closed below
        worker = subprocess.Popen(
            [sys.executable, "-m", "opspack.frontends.cli", "worker", "--concurrency", "2"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"  jobs: Redis {redis.url()} and a Celery worker (log: {folder}/worker.log)"
        finally:
            stop_process(worker)
            log.close()


def main() -> int:
    import tempfile

    from opspack.frontends.shell import run_shell
    from opspack.registry import Registry

    stop_on_signals()
    celery = "--celery" in sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="opspack-demo-") as folder:
        keep_state_in(folder)
        with services() as (env, report, down):
            os.environ.update(env)
            executor = None
            with contextlib.ExitStack() as stack:
                if celery:
                    from opspack.executor import for_runner

                    try:
                        report.append(stack.enter_context(celery_workers(folder)))
                        executor = for_runner
                    except Exception as exc:  # noqa: BLE001 - the console still runs, in this process
                        report.append(f"  jobs: Redis could not start: {why(exc)}; commands run in the console")
                registry = Registry.from_installed()
                sys.stdout.write(
                    f"opspack demo: {len(registry)} commands from {len(registry.packs)} packs "
                    f"({', '.join(p['name'] for p in registry.packs)}).\n"
                    + ("Local services for the demo:\n" + "\n".join(report) + "\n" if report else "")
                    + (f"{INSTALL_HINT}\n" if down else "")
                    + f"The demo keeps its audit trail and history in {folder} (removed when it ends).\n"
                    "Try: help | vm list | vm migrate DC0_C0_RP0_VM0 --host DC0_C0_H1 | sql blocking | "
                    "net status all | server test localhost --ports 22,80 | jobs | history\n"
                )
                sys.stdout.flush()
                return run_shell(registry, executor=executor, gates=[not_running(down)] if down else ())


if __name__ == "__main__":
    sys.exit(main())
