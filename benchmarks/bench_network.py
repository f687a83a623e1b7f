"""How `net show all "show version"` on 50 simulated switches compares with one switch.

Starts 50 simulated Cisco IOS switches (opspack_testkit.servers.switches, fake-switches over SSH,
one process), then, through the real runtime and netmiko:

* one device:   ``net show sw00 "show version"``
* 50 devices:   ``net show all "show version"`` with the pack's bounded worker pool
* the naive way: the same 50 devices one after the other (``--workers 1``)

A first run learns the devices' host keys (accept-new); the timed runs check each key.

and prints wall times, the ratio to one device, and the most SSH sessions the pack had
open at once (counted from connect to disconnect), which the worker count bounds.
Needs fake-switches: ``pip install --no-deps fake-switches==1.5.0 "twisted[conch]" tftpy netaddr lxml``.

    python benchmarks/bench_network.py [--devices 50] [--workers 25] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc), 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--workers", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()

    from opspack.devtools.registry_build import registry_from_package
    from opspack_network.session import SESSIONS
    from opspack_testkit import run_command
    from opspack_testkit.servers.switches import SimulatedSwitches, SwitchSpec, switches_available

    if not switches_available():
        print("fake-switches is not installed; see this script's docstring")
        return 1
    registry = registry_from_package("opspack_network")
    names = [f"sw{i:02d}" for i in range(opts.devices)]
    with SimulatedSwitches([SwitchSpec(n) for n in names]) as sims, tempfile.TemporaryDirectory() as tmp:
        inventory = sims.write_inventory(Path(tmp) / "devices.yaml")
        env = {
            "OPSPACK_NETWORK_INVENTORY": str(inventory),
            "OPSPACK_NETWORK_WORKERS": str(opts.workers),
            # learned by the warm-up run below, then checked on every connection
            "OPSPACK_NETWORK_KNOWN_HOSTS": str(Path(tmp) / "known_hosts"),
        }

        def timed(text: str) -> float:
            start = time.perf_counter()
            reply = run_command(text, registry=registry, environ=env)
            took = time.perf_counter() - start
            assert reply.ok, reply.error
            rows = reply.results[0].to_dict().get("rows", [])
            failed = [r[0] for r in rows if isinstance(r, list) and len(r) > 2 and r[2] == "error"]
            assert not failed, f"devices failed: {failed}"
            return took

        # first contact: imports, templates, and every device's host key fetched and saved
        first = timed('net show all "show version"')
        one = [timed(f'net show {names[0]} "show version"') for _ in range(opts.repeat)]

        SESSIONS.reset()
        sim_pid = sims.pid or 0
        cpu0, sim0 = time.process_time(), _cpu_seconds(sim_pid)
        many = [timed('net show all "show version"') for _ in range(opts.repeat)]
        client_cpu = (time.process_time() - cpu0) / opts.repeat
        sim_cpu = (_cpu_seconds(sim_pid) - sim0) / opts.repeat
        peak = SESSIONS.peak
        naive = timed('net show all "show version" --workers 1')

    t1, tn = statistics.median(one), statistics.median(many)
    print(f"net show <one device> 'show version':        {t1:6.2f} s (median of {opts.repeat})")
    print(f"net show all 'show version', {opts.devices} devices:  {tn:6.2f} s = {tn / t1:4.1f}x one device")
    print(f"  the same one device at a time (--workers 1): {naive:6.2f} s = {naive / t1:4.1f}x one device")
    print(f"  concurrent SSH sessions at most: {peak} (workers setting: {opts.workers})")
    print(f"  the first run, which also learned the {opts.devices} devices' host keys: {first:6.2f} s")
    print(
        f"  CPU per 50-device run: bot {client_cpu:.2f} s + simulator {sim_cpu:.2f} s on {os.cpu_count()} CPUs "
        f"(both SSH ends in Python on the same CPUs: the bound on this machine)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
