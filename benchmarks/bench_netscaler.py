"""netscaler pack: NITRO logins per 20 consecutive commands in one process, kept session vs login per command.

Runs against the test kit's fake NITRO server (opspack_testkit.fakes.netscaler: loopback, real HTTP
through requests), in one run:

- the pack: one runtime runs 20 chat commands; its NITRO session is kept in the runtime's
  connection pool, so it logs in once (and logs out once, when the runtime closes);
- the naive way: the same 20 commands through the same runtime, but the session is dropped
  after every command (login, the command's requests, logout), as a script calling NITRO
  with a fresh login per command does.

It prints logins, logouts and requests for each, and the wall time ratio naive / pack, first on
loopback (a login costs what the fake costs) and then with a simulated login latency (a real ADC
checks the password against its user store, LDAP or RADIUS; --login-ms sets it).

    python benchmarks/bench_netscaler.py [--rounds 5] [--login-ms 150]
"""

from __future__ import annotations

import argparse
import statistics
import time

from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.netscaler import FakeNitro

COMMANDS = ["ns vips", "ns vip vs_web_https", "ns ha status", "ns certs", "ns config diff"] * 4  # 20


def one_run(fake: FakeNitro, registry: Registry, *, keep: bool) -> tuple[float, int, int, int]:
    """Run the 20 commands in one runtime; return (seconds, logins, logouts, requests)."""
    logins, logouts, requests = fake.logins, fake.logouts, len(fake.server.requests)
    runtime = Runtime(registry, config=Config.load(environ=fake.environ()))
    caller = Caller(user="bench", frontend="bench")
    start = time.perf_counter()
    for text in COMMANDS:
        reply = runtime.chat(text, caller)
        if not reply.ok:
            raise SystemExit(f"{text!r} failed: {reply.error}")
        if not keep:
            runtime.pool.close_all()  # the naive way: log out after every command
    runtime.close()  # the pack logs out when the process shuts down
    elapsed = time.perf_counter() - start
    return elapsed, fake.logins - logins, fake.logouts - logouts, len(fake.server.requests) - requests


def scenario(fake: FakeNitro, registry: Registry, rounds: int, label: str) -> None:
    results: dict[str, list[tuple[float, int, int, int]]] = {"pack": [], "naive": []}
    for _ in range(rounds):  # interleaved, so drift hits both alike
        results["pack"].append(one_run(fake, registry, keep=True))
        results["naive"].append(one_run(fake, registry, keep=False))
    print(f"\n{label}")
    print(f"{'':28}{'logins':>8}{'logouts':>9}{'requests':>10}{'median s':>11}")
    medians = {}
    for name, runs in results.items():
        _, logins, logouts, requests = runs[-1]
        medians[name] = statistics.median(r[0] for r in runs)
        title = "pack (kept session)" if name == "pack" else "naive (login per command)"
        print(f"{title:28}{logins:>8}{logouts:>9}{requests:>10}{medians[name]:>11.4f}")
    print(f"time ratio naive / pack: {medians['naive'] / medians['pack']:.2f}x over {len(COMMANDS)} commands")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of the 20 commands per way (median shown)")
    parser.add_argument("--login-ms", type=float, default=150.0, help="simulated login latency for the second part")
    args = parser.parse_args()
    registry = registry_from_package("opspack_netscaler")
    print(f"{len(COMMANDS)} consecutive commands in one process: {', '.join(dict.fromkeys(COMMANDS))}")
    with FakeNitro() as fake:
        warm = Runtime(registry, config=Config.load(environ=fake.environ()))
        warm.chat("ns vips", Caller())  # import the pack and requests before timing
        warm.close()
        scenario(fake, registry, args.rounds, "loopback fake, login as cheap as any request:")
        fake.login_delay = args.login_ms / 1000
        label = f"same, with a simulated {args.login_ms:g} ms login (ADC authentication):"
        scenario(fake, registry, args.rounds, label)


if __name__ == "__main__":
    main()
