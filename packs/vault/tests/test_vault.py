"""The vault pack against a real OpenBao dev server, through the real runtime and hvac."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CANARY, run, settings
from opspack.registry import Registry
from opspack.results import Reply
from opspack_testkit import check_rendering, free_port
from opspack_testkit.servers.openbao import OpenBao
from opspack_testkit.tls import TestCA


def ok(reply: Reply) -> list[dict[str, Any]]:
    assert reply.ok, reply.error
    check_rendering(reply)
    results: list[dict[str, Any]] = reply.to_dict()["results"]
    return results


def kind_of(reply: Reply) -> str:
    assert not reply.ok and reply.error is not None
    check_rendering(reply)
    return reply.error.kind


def test_status(bao: OpenBao, registry: Registry) -> None:
    kv, status = ok(run(registry, "vault status", settings(bao)))
    assert kv["items"]["sealed"] is False and kv["items"]["initialized"] is True
    assert kv["items"]["version"].startswith("2.")
    assert kv["items"]["cluster name"].startswith("vault-cluster-")
    assert status["level"] == "ok" and "unsealed" in status["message"]


def test_status_of_a_sealed_server(registry: Registry) -> None:
    with OpenBao(dev=False) as server:
        server.init()
        server.seal()
        env = {"OPSPACK_VAULT_ADDR": server.addr, "OPSPACK_VAULT_TOKEN": str(server.root_token)}
        kv, status = ok(run(registry, "vault status", env))
        assert kv["items"]["sealed"] is True and "of 1 key shares" in kv["items"]["unseal progress"]
        assert status["level"] == "critical"
        reply = run(registry, "vault token info", env)
        assert kind_of(reply) == "backend" and reply.error is not None and "sealed" in reply.error.message


def test_kv_list(bao: OpenBao, registry: Registry) -> None:
    (table,) = ok(run(registry, "vault kv list secret/", settings(bao)))
    assert ["app/", "folder"] in table["rows"] and ["bot", "secret"] in table["rows"]
    (table,) = ok(run(registry, "vault kv list secret/app", settings(bao)))
    assert table["rows"] == [["api", "secret"], ["db", "secret"]]
    (table,) = ok(run(registry, "vault kv list kv1", settings(bao)))
    assert table["rows"] == [["legacy", "secret"]] and "KV v1" in table["title"]
    assert kind_of(run(registry, "vault kv list secret/nothing", settings(bao))) == "not_found"


def test_kv_info_shows_versions_and_readers_not_values(bao: OpenBao, registry: Registry) -> None:
    kv, versions = ok(run(registry, "vault kv info secret/app/db", settings(bao)))
    items = kv["items"]
    assert items["current version"] == 2 and items["versions kept"] == 2 and items["KV version"] == 2
    assert items["created"].endswith("UTC") and items["readable by this bot"] == "yes"
    # app-reader: secret/data/app/*; ops: denied on exactly this path; root reads all
    assert items["policies that grant read"] == ["root", "app-reader"]
    assert [row[0] for row in versions["rows"]] == [2, 1]
    (kv, _) = ok(run(registry, "vault kv info secret/app/api", settings(bao)))
    assert kv["items"]["policies that grant read"] == ["root", "app-reader", "ops"]
    (kv,) = ok(run(registry, "vault kv info kv1/legacy", settings(bao)))
    assert kv["items"]["KV version"] == 1
    assert kind_of(run(registry, "vault kv info secret/app/nope", settings(bao))) == "not_found"
    assert kind_of(run(registry, "vault kv info kv1/nope", settings(bao))) == "not_found"
    # a token that may not read policies: the readers are "unknown", the rest still works
    limited = bao.token(["app-reader"])
    denied = run(registry, "vault kv info secret/app/db", settings(bao, limited))
    assert kind_of(denied) == "denied"  # app-reader has no access to the metadata endpoint


def test_kv_info_for_a_token_that_may_not_read_policies(bao: OpenBao, registry: Registry) -> None:
    bao.policy("meta-only", 'path "secret/metadata/app/*" { capabilities = ["read", "list"] }')
    token = bao.token(["meta-only"])
    kv, _ = ok(run(registry, "vault kv info secret/app/db", settings(bao, token)))
    assert kv["items"]["policies that grant read"].startswith("unknown")
    assert kv["items"]["readable by this bot"] == "no"


def test_token_info_and_renew(bao: OpenBao, registry: Registry) -> None:
    kv, status = ok(run(registry, "vault token info", settings(bao)))
    assert kv["items"]["policies"] == ["root"] and kv["items"]["TTL left"] == "never expires"
    assert status["level"] == "ok"
    token = bao.token(["app-reader"], ttl="2h")
    env = settings(bao, token)
    kv, status = ok(run(registry, "vault token info", env))
    assert kv["items"]["policies"] == ["app-reader", "default"] and kv["items"]["renewable"] is True
    assert status["level"] == "warning"  # 2 h left, below the default threshold of 24 h
    kv, status = ok(run(registry, "vault token info", {**env, "OPSPACK_VAULT_TOKEN_WARNING": "60"}))
    assert status["level"] == "ok"
    _, status = ok(run(registry, "vault token info", {**env, "OPSPACK_VAULT_TOKEN_WARNING": "86400"}))
    assert status["level"] == "warning" and "vault token renew" in status["message"]
    assert token not in json.dumps(kv)
    (status,) = ok(run(registry, "vault token renew", env))
    assert status["level"] == "ok" and "renewed" in status["message"]
    assert kind_of(run(registry, "vault token renew", settings(bao))) == "usage"  # root: not renewable


def test_the_packs_own_token_from_a_vault_reference_and_approle(bao: OpenBao, registry: Registry) -> None:
    env = {**bao.env(), "OPSPACK_VAULT_ADDR": bao.addr, "OPSPACK_VAULT_TOKEN": "vault:secret/bot#token"}
    kv, _ = ok(run(registry, "vault token info", env))
    assert kv["items"]["policies"] == ["root"]
    role_id, secret_id = bao.approle("vault-pack", ["app-reader"])
    env = {"OPSPACK_VAULT_ADDR": bao.addr, "OPSPACK_VAULT_ROLE_ID": role_id, "OPSPACK_VAULT_SECRET_ID": secret_id}
    kv, _ = ok(run(registry, "vault token info", env))
    assert kv["items"]["policies"] == ["app-reader", "default"] and kv["items"]["created by"].startswith("auth/approle")


def test_leases(bao: OpenBao, registry: Registry) -> None:
    role_id, secret_id = bao.approle("lease-maker", ["default"])
    for _ in range(2):
        bao.request("POST", "auth/approle/login", {"role_id": role_id, "secret_id": secret_id}, token=None)
    (table,) = ok(run(registry, "vault lease list auth/", settings(bao)))
    assert ["auth/approle/", "prefix", "", None, None] in table["rows"]
    (table,) = ok(run(registry, "vault lease list auth/approle/login", settings(bao)))
    leases = [row for row in table["rows"] if row[1] == "lease"]
    assert len(leases) >= 2 and all(row[3] > 0 for row in leases)
    lease_id = leases[0][0]
    reply = run(registry, f"vault lease revoke {lease_id}", settings(bao))
    assert kind_of(reply) == "denied" and reply.error is not None and reply.error.confirm is not None
    (status,) = ok(run(registry, f"vault lease revoke {lease_id}", settings(bao), confirmed=True))
    assert "revoked" in status["message"]
    (table,) = ok(run(registry, "vault lease list auth/approle/login", settings(bao)))
    assert lease_id not in [row[0] for row in table["rows"]]
    missing = run(registry, f"vault lease revoke {lease_id}", settings(bao), confirmed=True)
    assert kind_of(missing) == "not_found"
    unasked = run(registry, f"vault lease revoke {lease_id}", settings(bao))  # refused before the question
    assert kind_of(unasked) == "not_found" and unasked.error is not None and unasked.error.confirm is None
    assert kind_of(run(registry, "vault lease list nothing/here", settings(bao))) == "not_found"
    limited = bao.token(["app-reader"])
    assert kind_of(run(registry, "vault lease list auth/", settings(bao, limited))) == "denied"


def test_policies(bao: OpenBao, registry: Registry) -> None:
    (table,) = ok(run(registry, "vault policy list", settings(bao)))
    names = [row[0] for row in table["rows"]]
    assert {"app-reader", "default", "ops", "root"} <= set(names)
    (text,) = ok(run(registry, "vault policy show app-reader", settings(bao)))
    assert 'path "secret/data/app/*"' in text["text"]
    reply = run(registry, "vault policy show app-reder", settings(bao))
    assert kind_of(reply) == "not_found" and reply.error is not None and "app-reader" in str(reply.error.hint)


def test_configuration_and_connection_errors(bao: OpenBao, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID"):
        monkeypatch.delenv(var, raising=False)
    assert kind_of(run(registry, "vault token info", {})) == "config"
    assert kind_of(run(registry, "vault token info", {"OPSPACK_VAULT_ADDR": bao.addr})) == "config"
    monkeypatch.setenv("VAULT_ADDR", bao.addr)  # the Vault CLI's variables are the fallback
    monkeypatch.setenv("VAULT_TOKEN", str(bao.root_token))
    ok(run(registry, "vault token info", {}))
    down = {"OPSPACK_VAULT_ADDR": f"http://127.0.0.1:{free_port()}", "OPSPACK_VAULT_TOKEN": "x" * 10}
    assert kind_of(run(registry, "vault status", down)) == "backend"
    assert kind_of(run(registry, "vault token info", settings(bao, "s.wrong-token"))) == "denied"


def test_tls_settings(registry: Registry) -> None:
    with OpenBao(tls=True, root_token="tls-root-token-1") as server:
        env = {"OPSPACK_VAULT_ADDR": server.addr, "OPSPACK_VAULT_TOKEN": str(server.root_token)}
        assert kind_of(run(registry, "vault status", env)) == "config"
        ok(run(registry, "vault status", {**env, "OPSPACK_VAULT_CA_CERT": str(server.ca_cert)}))
        ok(run(registry, "vault status", {**env, "OPSPACK_VAULT_VERIFY_TLS": "false"}))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_settings_win_over_the_environments_ca_bundle(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests takes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE before a session's own verify;
    hvac hands verify to every request, so ca_cert and verify_tls=false still decide."""
    other = TestCA(tmp_path)
    with OpenBao(tls=True, root_token="tls-root-token-2") as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_path))
        monkeypatch.setenv("CURL_CA_BUNDLE", str(other.ca_path))
        env = {"OPSPACK_VAULT_ADDR": server.addr, "OPSPACK_VAULT_TOKEN": str(server.root_token)}
        assert kind_of(run(registry, "vault status", env)) == "config"
        ok(run(registry, "vault status", {**env, "OPSPACK_VAULT_CA_CERT": str(server.ca_cert)}))
        ok(run(registry, "vault status", {**env, "OPSPACK_VAULT_VERIFY_TLS": "false"}))


def test_rules_reader() -> None:
    from opspack_vault.rules import grants_read, parse

    rules = parse(
        '# c\npath "secret/data/*" { capabilities = ["read"] }\n'
        'path "secret/data/+/admin" {\n capabilities = ["deny"]\n}\npath "sys/*" {}'
    )
    assert rules == {"secret/data/*": {"read"}, "secret/data/+/admin": {"deny"}, "sys/*": set()}
    assert grants_read(rules, "secret/data/app") is True
    assert grants_read(rules, "secret/data/team/admin") is False
    assert grants_read(rules, "kv/x") is None
    assert parse('{"path": {"kv/*": {"capabilities": ["read"]}}}') == {"kv/*": {"read"}}


def test_command_modules_do_not_import_hvac() -> None:
    code = (
        "import sys, opspack_vault, opspack_vault.server, opspack_vault.kv, opspack_vault.token,"
        " opspack_vault.lease, opspack_vault.policy, opspack_vault.rules, opspack_vault.errors;"
        "print('hvac' in sys.modules, 'requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_no_command_shows_a_secret_value(registry: Registry) -> None:
    """There is deliberately no kv get: a chat room is the wrong place for a secret."""
    words = {" ".join(entry["chat"]["words"]) for entry in registry}
    assert not {w for w in words if w.endswith(("get", "read", "show")) and "kv" in w}
    reply = run(registry, "vault kv get secret/app/db", {})
    assert kind_of(reply) == "usage"
    assert CANARY not in json.dumps(reply.to_dict())


def test_canary_appears_in_no_output_error_or_log(
    bao: OpenBao, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """Every command and every failure path, with CANARY stored in Vault: it shows nowhere."""
    import logging

    from conftest import ROOT

    caplog.set_level(logging.DEBUG)
    role_id, secret_id = bao.approle("canary-leases", ["default"])
    bao.request("POST", "auth/approle/login", {"role_id": role_id, "secret_id": secret_id}, token=None)
    lease = bao.request("LIST", "sys/leases/lookup/auth/approle/login")["data"]["keys"][0]
    limited = bao.token(["app-reader"], ttl="1h")
    good = settings(bao)
    by_ref = {**bao.env(), "OPSPACK_VAULT_ADDR": bao.addr, "OPSPACK_VAULT_TOKEN": "vault:secret/app/db#password"}
    missing_key = {**by_ref, "OPSPACK_VAULT_TOKEN": "vault:secret/app/db#nope"}
    down = {"OPSPACK_VAULT_ADDR": f"http://127.0.0.1:{free_port()}", "OPSPACK_VAULT_TOKEN": CANARY}
    cases: list[tuple[str, dict[str, str], bool]] = [
        ("vault status", good, False),
        ("vault kv list secret/app", good, False),
        ("vault kv list kv1/", good, False),
        ("vault kv info secret/app/db", good, False),
        ("vault kv info secret/app/api", good, False),
        ("vault kv info kv1/legacy", good, False),
        ("vault kv info secret/app/missing", good, False),
        ("vault token info", good, False),
        ("vault token info", settings(bao, limited), False),
        ("vault token renew", settings(bao, limited), False),
        ("vault token renew", good, False),
        ("vault lease list auth/approle/login", good, False),
        (f"vault lease revoke auth/approle/login/{lease}", good, False),
        (f"vault lease revoke auth/approle/login/{lease}", good, True),
        (f"vault lease revoke auth/approle/login/{lease}", good, True),
        ("vault policy list", good, False),
        ("vault policy show app-reader", good, False),
        ("vault policy show nope", good, False),
        ("vault kv info secret/app/db", settings(bao, limited), False),
        ("vault lease list auth/", settings(bao, limited), False),
        ("vault token info", settings(bao, "s.wrong"), False),
        ("vault status", down, False),
        ("vault token info", down, False),
        ("vault token info", by_ref, False),  # a secret used as the token: refused, and masked
        ("vault token info", missing_key, False),
        ("vault kv get secret/app/db", good, False),
    ]
    kinds = set()
    for text, env, confirmed in cases:
        reply = run(registry, text, env, confirmed=confirmed)
        kinds.add(reply.error.kind if reply.error else "ok")
        for fmt, rendered in check_rendering(reply).items():
            dumped = json.dumps(rendered)
            assert CANARY not in dumped, (text, fmt)
            assert ROOT not in dumped and limited not in dumped, (text, fmt)
    assert kinds == {"ok", "denied", "not_found", "usage", "backend", "config"}
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert CANARY not in logged and ROOT not in logged
