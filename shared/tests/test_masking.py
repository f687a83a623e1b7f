"""Masking that matches its promise: names split into words, values that look like secrets,
arguments a command declares secret, and the places they are masked in (the audit trail's
text and arguments, history, logs, confirmation requests, the pending store, friction)."""

from __future__ import annotations

import json
import logging
import time
from importlib import metadata
from pathlib import Path

import pytest
from opspack.audit import AuditLog
from opspack.confirm import Refused, Sealer, SqlConfirmations
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.errors import ConfigError
from opspack.frontends.gateway import Gateway
from opspack.masking import MASK, Masker, MaskingFilter, is_secret_name, mask_args, mask_text, name_words
from opspack.registry import Registry
from opspack.results import KV, Confirmation, Error, Reply
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack.store import Database
from opspack_sample.thing import CALLS

# -- names ------------------------------------------------------------------------------
MASKED_NAMES = [
    "password",
    "DB_PASSWORD",
    "SSH_KEY",
    "SIGNING_KEY",
    "api-key",
    "apiKey",
    "APIKey",
    "x-api-key",
    "apikey",
    "SESSION_COOKIE",
    "sessionCookie",
    "AWS_SECRET_ACCESS_KEY",
    "client.secret",
    "privateKey",
    "PRIVATE",
    "passwd",
    "PWD",
    "passphrase",
    "credentials",
    "Credential",
    "token",
    "GITLAB_TOKEN",
    "refreshToken",
    "signing",
    "key2",
    # run-together words: a stem at the end, or a stem and a secret word
    "DBPASSWORD",
    "PGPASSWORD",
    "clientsecret",
    "secrets",
    "SECRETKEY",
    "apikeys",
]
KEPT_NAMES = [
    "keyword",
    "KEYWORD",
    "monkey",
    "turkey_count",
    "keys",
    "keys_total",
    "tokens",
    "max_tokens",
    "session",
    "session_id",
    "SESSION",
    "secretary",
    "passwordless",
    "SSHKEY",  # one word that only ends with "key": as "monkey" does
    "lease",
    "role_id",
    "user",
    "ENV",
]


@pytest.mark.parametrize("name", MASKED_NAMES)
def test_names_with_a_secret_word_are_masked(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", KEPT_NAMES)
def test_names_without_one_are_kept(name: str) -> None:
    assert not is_secret_name(name)


def test_names_split_into_words() -> None:
    assert name_words("AWS_SECRET_ACCESS_KEY") == ["aws", "secret", "access", "key"]
    assert name_words("APIKey") == ["api", "key"]
    assert name_words("xApiKey") == ["x", "api", "key"]
    assert name_words("db.password-2") == ["db", "password", "2"]
    assert name_words("keyword") == ["keyword"]


# -- values that look like secrets -------------------------------------------------------
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACD\n-----END OPENSSH PRIVATE KEY-----"
SECRET_LOOKING = {
    "pem": PEM,
    "pem-rsa-one-line": "-----BEGIN RSA PRIVATE KEY----- MIIEpAIBAAKCAQEA -----END RSA PRIVATE KEY-----",
    "jwt": JWT,
    "gitlab": "glpat-Zx8sgtrfAxKr8q1TPY8Y",
    "gitlab-deploy": "gldt-Zx8sgtrfAxKr8q1TPY8Y",
    "slack-bot": "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack-user": "xoxp-1234567890-1234567890123-1234567890123-abcdef0123456789",
    "slack-app": "xapp-1-A0123456789-1234567890123-abcdef0123456789",
    "github": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github-app": "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github-fine": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "grafana": "glsa_AbCdEfGhIjKlMnOpQrStUvWxYz012345_0a1b2c3d",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "vault": "hvs.CAESIJlWh0Y1M7hUuB0TJ0XGjfQmQ4b3LG1nC2E",
    "npm": "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
}


@pytest.mark.parametrize("value", list(SECRET_LOOKING.values()), ids=list(SECRET_LOOKING))
def test_values_that_look_like_secrets_are_masked_in_place(value: str) -> None:
    masker = Masker()
    assert masker(value) == MASK
    said = f"deploy failed, I pasted {value} here; see #ops"
    assert masker(said) == f"deploy failed, I pasted {MASK} here; see #ops"


def test_a_private_key_cut_short_is_masked_to_the_end() -> None:
    assert mask_text("key: x\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nmore") == f"key: {MASK}\n{MASK}"


@pytest.mark.parametrize(
    "text",
    [
        "ghp_short",
        "the prefix glpat- is GitLab's",
        "AKIA1234",
        "eyJ alone",
        "xghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        "-----BEGIN PUBLIC KEY----- MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE -----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----",
    ],
)
def test_near_misses_are_kept(text: str) -> None:
    assert Masker()(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jenkins build deploy SIGNING_KEY=s1 ENV=prod", f"jenkins build deploy SIGNING_KEY={MASK} ENV=prod"),
        ("x --api-key abc --verbose --token --next y", f"x --api-key {MASK} --verbose --token --next y"),
        ("x --password=abc", f"x --password={MASK}"),
        ('{"password": "hunter2", "user": "bob"}', f'{{"password": "{MASK}", "user": "bob"}}'),
        ("{'apiKey': 'zz', 'n': 5}", f"{{'apiKey': '{MASK}', 'n': 5}}"),
        (r'{"echo": "{\"token\": \"a b\"}"}', rf'{{"echo": "{{\"token\": \"{MASK}\"}}"}}'),
        ("GET /x?token=abc&user=bob", f"GET /x?token={MASK}&user=bob"),
        ("deploy 'MSG=hello world' 'DB_PASSWORD=my pass' x", f"deploy 'MSG=hello world' 'DB_PASSWORD={MASK}' x"),
        ('deploy DB_PASSWORD="my pass" x', f'deploy DB_PASSWORD="{MASK}" x'),
        ("error: DB_PASSWORD=x", f"error: DB_PASSWORD={MASK}"),
        ("Bearer abcdefghijkl0123", f"Bearer {MASK}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {MASK}"),
        ("keyword=a monkey=b keys_total=5 session=abc", "keyword=a monkey=b keys_total=5 session=abc"),
        ("the token expired", "the token expired"),
        (f"SIGNING_KEY={MASK}", f"SIGNING_KEY={MASK}"),
    ],
)
def test_named_values_in_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_arguments_named_like_secrets_at_any_depth() -> None:
    masker = Masker()
    masker.add("registered-value")
    args = {
        "job": "deploy",
        "params": {"SIGNING_KEY": "s1", "ENV": "prod", "nested": {"apiKey": "k", "note": "registered-value"}},
        "private": True,
        "password": None,
        "ssh_key": ["a", "b"],
        "note": f"token {JWT}",
        "port": 22,
    }
    assert json.loads(mask_args(args, masker)) == {
        "job": "deploy",
        "params": {"ENV": "prod", "SIGNING_KEY": MASK, "nested": {"apiKey": MASK, "note": MASK}},
        "private": True,  # true/false and nothing hold no secret
        "password": None,
        "ssh_key": [MASK, MASK],
        "note": f"token {MASK}",
        "port": 22,
    }
    assert json.loads(mask_args({"combination": "1234", "n": 1}, masker, {"combination"})) == {
        "combination": MASK,
        "n": 1,
    }


def test_key_values_named_like_secrets_are_masked_in_replies() -> None:
    reply = Reply(ok=True, command="x", results=[KV({"param SIGNING_KEY": "s1", "param ENV": "prod", "build": 4})])
    Masker().scrub(reply)
    assert reply.results[0].to_dict()["items"] == {"param SIGNING_KEY": MASK, "param ENV": "prod", "build": 4}


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("opspack.test-masking")
    flt = MaskingFilter(Masker())
    log.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="opspack.test-masking"):
            log.info("params %s", {"SIGNING_KEY": "s1-value", "ENV": "prod"})
            log.info("token %s", "glpat-Zx8sgtrfAxKr8q1TPY8Y")
    finally:
        log.removeFilter(flt)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"params {{'SIGNING_KEY': '{MASK}', 'ENV': 'prod'}}", f"token {MASK}"]


# -- declared secrets -----------------------------------------------------------------
def test_a_declared_secret_is_write_only_in_the_schema(registry: Registry) -> None:
    entry = registry.get("sample.thing.unlock")
    assert entry is not None
    props = entry["args_schema"]["properties"]
    assert props["combination"]["writeOnly"] is True
    assert "writeOnly" not in props["thing"]


def test_declaring_an_unknown_secret_fails() -> None:
    from opspack.declare import command, spec_of

    def unlock(thing: str) -> None:
        """Unlock."""

    unlock.__module__ = "opspack_sample.thing"
    spec = spec_of(command(secret=["nothing"])(unlock))
    with pytest.raises(TypeError, match="secret names no argument: nothing"):
        _ = spec.args


def test_a_bad_secret_value_is_not_echoed(runtime: Runtime) -> None:
    reply = runtime.chat("thing unlock thing1 1234 --tries many")
    assert reply.error is not None and "many" in reply.error.message
    runtime.invoke("sample.thing.unlock", {"thing": "thing1", "combination": ["a", "list", "of", "canary-x"]})
    bad = runtime.invoke("sample.thing.unlock", {"thing": "thing1", "combination": ["canary-x"]})
    assert bad.error is not None and bad.error.kind == "usage"
    assert "canary-x" not in bad.error.message and MASK in bad.error.message


# -- where it is masked: the audit trail, history, refusals, confirmations ------------------
@pytest.fixture
def audited(registry: Registry, environ: dict[str, str], tmp_path: Path) -> Runtime:
    core = registry_from_package("opspack_core", metadata.version("opspack"))
    both = Registry(packs=registry.packs + core.packs, commands=registry.commands + core.commands)
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}")
    rt = Runtime(both, config=Config(data={}, environ=environ), policy=None, audit=audit)
    yield rt  # type: ignore[misc]
    rt.close()


def test_the_audit_trail_masks_names_values_and_declared_secrets(audited: Runtime) -> None:
    gateway = Gateway(audited)
    al = Caller(user="al")
    gateway.chat(f"thing build deploy SIGNING_KEY=s1 SSH_KEY=s2 DB_PASSWORD=s3 ENV=prod NOTE={JWT}", al)
    asked = gateway.chat("thing unlock thing1 9-8-7-6", al)
    gateway.chat("thing unlock thing1 9-8-7-6 --bogus", al)  # refused before its arguments are read
    assert audited.audit is not None
    refused, unlock, build = audited.audit.history(limit=3)
    assert json.loads(build.args)["params"] == {
        "DB_PASSWORD": MASK,
        "ENV": "prod",
        "NOTE": MASK,
        "SIGNING_KEY": MASK,
        "SSH_KEY": MASK,
    }
    assert build.text == (
        f"thing build deploy 'SIGNING_KEY={MASK}' 'SSH_KEY={MASK}' 'DB_PASSWORD={MASK}' ENV=prod 'NOTE={MASK}'"
    )
    assert json.loads(unlock.args) == {"thing": "thing1", "combination": MASK}
    assert unlock.text == f"thing unlock thing1 '{MASK}'"
    assert refused.command is None and refused.text == f"thing unlock {MASK}"
    # the confirmation request shows the masked arguments; the token runs the real ones
    assert asked.error is not None and asked.error.confirm is not None
    confirm = asked.error.confirm
    assert confirm.args == {"thing": "thing1", "combination": MASK}
    assert "9-8-7-6" not in json.dumps(asked.to_dict()) and confirm.token
    CALLS.clear()
    done = gateway.chat(None, al, confirm.token)
    assert done.ok, done.to_dict()
    assert CALLS == ["unlock thing1 with 9-8-7-6"]


def test_friction_is_masked_before_it_is_stored(audited: Runtime) -> None:
    gateway = Gateway(audited)
    token = "glpat-Zx8sgtrfAxKr8q1TPY8Y"
    added = gateway.chat(f"friction add I pasted {token} and DB_PASSWORD=hunter2 by mistake", Caller(user="al"))
    assert added.ok, added.to_dict()
    assert audited.audit is not None
    audited.audit.friction_add("al", None, f"with Bearer {JWT}", ["ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"])
    notes = audited.audit.friction_list()
    stored = json.dumps(notes)
    for secret in (token, "hunter2", JWT, "ghp_A1b2"):
        assert secret not in stored
    assert [n["text"] for n in notes] == [
        f"with Bearer {MASK}",
        f"I pasted {MASK} and DB_PASSWORD={MASK} by mistake",
    ]
    assert notes[0]["tags"] == MASK


# -- the pending store ----------------------------------------------------------------
def _rows(database: Database) -> str:
    return json.dumps(database.query("SELECT * FROM opspack_confirmations"))


def test_the_pending_store_holds_no_plaintext_secret(
    registry: Registry, environ: dict[str, str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    config = Config(data={}, environ=environ)
    first = Runtime(registry, config=config, policy=None, audit=AuditLog(url))
    second = Runtime(registry, config=config, policy=None, audit=AuditLog(url))
    try:
        one, two = Gateway(first), Gateway(second)
        al = Caller(user="al")
        asked = one.chat("thing unlock thing1 canary-4711", al)
        assert asked.error is not None and asked.error.confirm is not None
        token = asked.error.confirm.token
        assert token
        assert first.audit is not None
        stored = _rows(first.audit.database)
        assert "canary-4711" not in stored and "sealed" in stored
        # another process made with its own key cannot run it, and does not use it up
        elsewhere = two.chat(None, al, token)
        assert elsewhere.error is not None and elsewhere.error.kind == "denied"
        assert "sealed by another runner" in elsewhere.error.message
        assert second.audit is not None
        refused = [r for r in second.audit.history(limit=5) if (r.reason or "").startswith("sealed elsewhere")]
        assert [(r.user, r.command, r.error_kind) for r in refused] == [("al", "sample.thing.unlock", "denied")]
        assert one.confirmations.gone(token) is None  # not spent: still waiting for its runner
        CALLS.clear()
        done = one.chat(None, al, token)
        assert done.ok and CALLS == ["unlock thing1 with canary-4711"]
        # arguments with no secret are kept as they are: any runner redeems them
        plain = one.chat("thing retire thing2", al)
        assert plain.error is not None and plain.error.confirm is not None
        assert "sealed" not in _rows(first.audit.database)
        assert two.chat(None, al, plain.error.confirm.token).ok
    finally:
        first.close()
        second.close()


def test_runners_sharing_a_confirm_key_redeem_each_others_secret_confirmations(
    registry: Registry, environ: dict[str, str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    key_file = tmp_path / "confirm.key"
    key_file.write_text("Qq4nC0H8YIjc6eNSm7b1ZqzXh7V0VbnLwH8TqR4tKso=\n")
    env = {**environ, "OPSPACK_CONFIRM_KEY": "env:KEY", "KEY": key_file.read_text().strip()}
    first = Runtime(registry, config=Config(data={}, environ=env), policy=None, audit=AuditLog(url))
    toml = {"serve": {"confirm_key": f"file:{key_file}"}}
    second = Runtime(registry, config=Config(data=toml, environ=environ), policy=None, audit=AuditLog(url))
    try:
        asked = Gateway(first).chat("thing unlock thing1 canary-0815", Caller(user="al"))
        assert asked.error is not None and asked.error.confirm is not None
        assert first.audit is not None and "canary-0815" not in _rows(first.audit.database)
        CALLS.clear()
        done = Gateway(second).chat(None, Caller(user="al"), asked.error.confirm.token)
        assert done.ok and CALLS == ["unlock thing1 with canary-0815"]
    finally:
        first.close()
        second.close()


def test_stored_rows_read_back_earlier_ones_and_ones_sealed_elsewhere(tmp_path: Path) -> None:
    """``SqlConfirmations._load``: a row of a version before groups had their name, and a row
    whose real arguments another runner sealed (refused here, and left for that runner)."""
    database = Database(f"sqlite:///{tmp_path / 'c.db'}")
    here, there = SqlConfirmations(database), SqlConfirmations(database)  # each with a key of its own
    expires = time.time() + 60
    old = {"command": "sample.thing.retire", "args": {"thing": "t2"}, "user": "al", "expires": expires,
           "text": "thing retire t2", "channel": "#ops", "approvers": ["ops"], "roles": ["ops-team"]}  # fmt: skip
    with database.transaction() as tx:
        tx.execute(
            "INSERT INTO opspack_confirmations (token_sha256, expires, pending) VALUES (?, ?, ?)",
            (SqlConfirmations._key("old-token"), expires, json.dumps(old)),
        )
    read = here.peek("old-token")
    assert read is not None and (read.groups, read.approvers, read.args) == (("ops-team",), ("ops",), {"thing": "t2"})
    assert (read.shown, read.unavailable) == (None, None)

    confirm = Confirmation(
        command="sample.thing.unlock",
        args={"thing": "t1", "combination": MASK},
        prompt="Run?",
        text=f"thing unlock t1 {MASK}",
        run_args={"thing": "t1", "combination": "canary-2718"},
    )
    token = there.issue(Reply.failure(Error("denied", "confirm", confirm=confirm)), "al").error.confirm.token  # type: ignore[union-attr]
    assert token and "canary-2718" not in _rows(database)
    sealed = here.peek(token)
    assert sealed is not None and sealed.args == sealed.shown == {"thing": "t1", "combination": MASK}
    assert sealed.unavailable and "sealed by another runner" in sealed.unavailable
    with pytest.raises(Refused) as refused:
        here.redeem(token, "al")
    assert refused.value.reason.startswith("sealed elsewhere") and refused.value.command == "sample.thing.unlock"
    assert here.gone(token) is None  # the token is not used up ...
    assert there.redeem(token, "al").args == {"thing": "t1", "combination": "canary-2718"}  # ... its runner runs it


def test_sealer_keys() -> None:
    key = "Qq4nC0H8YIjc6eNSm7b1ZqzXh7V0VbnLwH8TqR4tKso="
    sealed = Sealer([key]).seal("hello")
    assert "hello" not in sealed
    assert Sealer([key]).open(sealed) == "hello"
    assert Sealer(["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", key]).open(sealed) == "hello"  # rotation
    assert Sealer().open(sealed) is None and not Sealer().shared
    with pytest.raises(ConfigError, match="32 bytes in base64"):
        Sealer(["correct horse battery staple"])


def test_a_request_without_its_real_arguments_gets_no_token(tmp_path: Path) -> None:
    store = SqlConfirmations(Database(f"sqlite:///{tmp_path / 'c.db'}"))
    confirm = Confirmation(command="sample.thing.unlock", args={"thing": "t1", "combination": MASK}, prompt="Run?")
    issued = store.issue(Reply.failure(Error("denied", "confirm", confirm=confirm)), "al")
    assert confirm.token is None and "Run the command again" in (issued.error.hint or "")  # type: ignore[union-attr]
