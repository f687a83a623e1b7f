"""An OpenBao dev server (opspack_testkit.servers.openbao) the vault pack's tests talk to with hvac.

The server holds one known secret value (CANARY) in KV v2 and KV v1, a policy that
may read it, a policy that may not, and AppRole logins that create leases.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib import metadata

import pytest
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.results import Reply
from opspack_testkit import need, run_command
from opspack_testkit.servers.openbao import OpenBao, OpenBaoUnavailable, bao_binary

CANARY = "CANARY-vault-pack-9b1e77-s3cr3t"
ROOT = "dev-root-token-5c0ffee"


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_vault", metadata.version("opspack-vault"))
    return reg


@pytest.fixture(scope="session")
def bao() -> Iterator[OpenBao]:
    try:
        bao_binary()
    except OpenBaoUnavailable as exc:
        need(False, str(exc))
    with OpenBao(root_token=ROOT) as server:
        server.put("secret/app/db", password=CANARY, user="app")
        server.put("secret/app/db", password=CANARY + "-v2", user="app")
        server.put("secret/app/api", token=CANARY)
        server.put("secret/bot", token=ROOT)  # the pack's own token, read through a vault: reference
        server.enable_kv("kv1", version=1)
        server.put("kv1/legacy", kv=1, password=CANARY)
        server.policy("app-reader", 'path "secret/data/app/*" {\n  capabilities = ["read", "list"]\n}\n')
        server.policy(
            "ops",
            '# operators\npath "secret/data/*" { capabilities = ["read"] }\n'
            'path "secret/data/app/db" { capabilities = ["deny"] }\n',
        )
        server.policy("nothing", 'path "kv1/*" { capabilities = ["list"] }')
        yield server


@pytest.fixture(autouse=True)
def _fresh_vault_cache() -> Iterator[None]:
    yield
    if "opspack.vault" in sys.modules:
        sys.modules["opspack.vault"].clear_cache()


def settings(bao: OpenBao, token: str | None = None, **extra: str) -> dict[str, str]:
    env = {"OPSPACK_VAULT_ADDR": bao.addr, "OPSPACK_VAULT_TOKEN": token or str(bao.root_token)}
    env.update(extra)
    return env


def run(registry: Registry, text: str, env: dict[str, str], confirmed: bool = False) -> Reply:
    reply: Reply = run_command(text, registry=registry, environ=env, confirmed=confirmed)
    return reply
