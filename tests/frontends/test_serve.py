"""`opspack serve`: the app through Starlette's TestClient, then a real uvicorn process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from frontend_helpers import TOKEN, Runner
from opspack.context import Caller
from opspack.frontends.gateway import Gateway
from opspack.frontends.serve import ServeSettings, create_app, openapi_document
from opspack.registry import Entry, Registry
from opspack.results import Error
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.validate import validate_reply_json, validate_slack_messages
from starlette.testclient import TestClient

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_client(registry: Registry, gates: list[Any] | None = None, max_body: int = 64 * 1024) -> TestClient:
    runtime = Runtime(registry, config=Config(data={}, path=None, environ={}), gates=gates or [])
    app = create_app(Gateway(runtime), ServeSettings(tokens=[TOKEN, "second-token"], max_body=max_body))
    return TestClient(app)


@pytest.fixture
def client(registry: Registry) -> Iterator[TestClient]:
    with make_client(registry) as c:
        yield c


# -- authentication and malformed requests ----------------------------------------
def test_healthz_needs_no_token(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer "}],
    ids=["none", "unknown", "basic", "empty"],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/registry"), ("POST", "/invoke"), ("GET", "/openapi.json")])
def test_no_valid_token_no_access(client: TestClient, headers: dict[str, str], method: str, path: str) -> None:
    r = client.request(method, path, headers=headers, json={"command": "echo.msg.say", "args": {"text": "x"}})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["kind"] == "denied"


def test_every_configured_token_works(client: TestClient) -> None:
    r = client.get("/registry", headers={"Authorization": "Bearer second-token"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"command": "echo.msg.say", "bogus": 1}',
        b'{"args": {"text": "x"}}',
        b'{"command": "echo.msg.say", "format": "pdf"}',
        b'{"command": "echo.msg.say", "roles": "admin"}',
    ],
    ids=["not-json", "not-object", "unknown-field", "no-command", "bad-format", "roles-not-list"],
)
def test_malformed_invoke_is_400(client: TestClient, body: bytes) -> None:
    r = client.post("/invoke", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["kind"] == "usage" and err["message"]


def test_chat_without_text_is_400(client: TestClient) -> None:
    assert client.post("/chat", json={"user": "al"}, headers=AUTH).status_code == 400


def test_body_over_the_limit_is_413(registry: Registry) -> None:
    with make_client(registry, max_body=1000) as c:
        big = {"command": "echo.msg.say", "args": {"text": "x" * 2000}}
        r = c.post("/invoke", json=big, headers=AUTH)
        assert r.status_code == 413 and "1000 bytes" in r.json()["error"]["message"]
        # Without a Content-Length (chunked), the limit holds while reading.
        chunks = iter([json.dumps(big).encode()[:600], json.dumps(big).encode()[600:]])
        r = c.post("/invoke", content=chunks, headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 413
        # Under the limit all is well.
        r = c.post("/invoke", json={"command": "echo.msg.say", "args": {"text": "hi"}}, headers=AUTH)
        assert r.status_code == 200 and r.json()["ok"] is True


# -- running commands ---------------------------------------------------------------
def test_chat_runs_the_server_pack(client: TestClient, open_port: int) -> None:
    r = client.post("/chat", json={"text": f"server test 127.0.0.1 --ports {open_port}", "user": "al"}, headers=AUTH)
    assert r.status_code == 200
    reply = r.json()
    validate_reply_json(reply)
    assert reply["ok"] is True and reply["command"] == "server.host.test"
    table = reply["results"][0]
    assert ["tcp", f"127.0.0.1:{open_port}"] == table["rows"][1][:2] and table["row_status"] == ["ok", "ok"]


def test_invoke_runs_the_server_pack_with_typed_args(client: TestClient, open_port: int) -> None:
    body = {"command": "server.host.test", "args": {"host": "127.0.0.1", "ports": [open_port, 1]}, "user": "al"}
    reply = client.post("/invoke", json=body, headers=AUTH).json()
    assert reply["ok"] is True
    rows = reply["results"][0]["rows"]
    assert [r[:2] for r in rows[1:]] == [["tcp", f"127.0.0.1:{open_port}"], ["tcp", "127.0.0.1:1"]]
    assert reply["results"][0]["row_status"] == ["ok", "ok", "critical"]


def test_failures_of_a_looked_up_command_are_200(client: TestClient) -> None:
    unknown = client.post("/chat", json={"text": "echo.nope"}, headers=AUTH)
    assert unknown.status_code == 200 and unknown.json()["error"]["kind"] == "usage"
    bad = client.post("/invoke", json={"command": "echo.msg.say", "args": {"times": "x"}}, headers=AUTH)
    assert bad.status_code == 200
    assert bad.json()["error"]["kind"] == "usage" and "times" in bad.json()["error"]["message"]
    bad_id = client.post("/invoke", json={"command": "echo.msg.sya", "args": {}}, headers=AUTH)
    assert bad_id.status_code == 200 and bad_id.json()["ok"] is False


@pytest.mark.parametrize("fmt", ["slack", "teams", "mattermost", "text", "markdown"])
def test_other_formats_carry_the_rendered_payload(client: TestClient, fmt: str, open_port: int) -> None:
    body = {"text": f"server test 127.0.0.1 --ports {open_port}", "format": fmt}
    data = client.post("/chat", json=body, headers=AUTH).json()
    assert set(data) == {"reply", "rendered"}
    validate_reply_json(data["reply"])
    if fmt == "slack":
        validate_slack_messages(data["rendered"])
    elif fmt in ("text", "markdown"):
        assert isinstance(data["rendered"], str) and "127.0.0.1" in data["rendered"]
    else:
        assert isinstance(data["rendered"], list) and data["rendered"]


# -- confirmation ------------------------------------------------------------------------
def test_destructive_command_through_its_confirmation(client: TestClient) -> None:
    first = client.post(
        "/invoke", json={"command": "echo.disk.wipe", "args": {"disk": "d1"}, "user": "al"}, headers=AUTH
    ).json()
    assert first["ok"] is False and first["error"]["kind"] == "denied"
    confirm = first["error"]["confirm"]
    assert confirm["command"] == "echo.disk.wipe" and confirm["text"] == "disk wipe d1"
    token = confirm["token"]
    assert token and f"confirm {token}" in first["error"]["hint"]

    # Someone else cannot use it, nor can it confirm another command; it stays valid.
    other = client.post("/invoke", json={"confirm_token": token, "user": "mallory"}, headers=AUTH).json()
    assert other["ok"] is False and "another user" in other["error"]["message"]
    wrong = client.post(
        "/chat", json={"text": "disk wipe d2", "confirm_token": token, "user": "al"}, headers=AUTH
    ).json()
    assert wrong["ok"] is False and "disk wipe d1" in wrong["error"]["message"]

    done = client.post(
        "/chat", json={"text": "disk wipe d1", "confirm_token": token, "user": "al"}, headers=AUTH
    ).json()
    assert done["ok"] is True and done["results"][0]["message"] == "d1 wiped"

    again = client.post("/invoke", json={"confirm_token": token, "user": "al"}, headers=AUTH).json()
    assert again["ok"] is False and "already used" in again["error"]["message"]


def test_confirmation_by_chat_text_and_by_token_alone(client: TestClient) -> None:
    first = client.post("/chat", json={"text": "disk wipe d3 --force", "user": "bo"}, headers=AUTH).json()
    token = first["error"]["confirm"]["token"]
    done = client.post("/chat", json={"text": f"confirm {token}", "user": "bo"}, headers=AUTH).json()
    assert done["ok"] is True and done["results"][0]["message"] == "d3 wiped (forced)"

    first = client.post(
        "/invoke", json={"command": "echo.disk.wipe", "args": {"disk": "d4", "force": True}, "user": "bo"}, headers=AUTH
    ).json()
    token = first["error"]["confirm"]["token"]
    body = {"command": "echo.disk.wipe", "args": {"disk": "d4", "force": True}, "confirm_token": token, "user": "bo"}
    assert client.post("/invoke", json=body, headers=AUTH).json()["ok"] is True


# -- registry and OpenAPI ---------------------------------------------------------------
def test_registry_lists_every_command(client: TestClient, registry: Registry) -> None:
    data = client.get("/registry", headers=AUTH).json()
    assert {c["id"] for c in data["commands"]} == {c["id"] for c in registry}
    assert data["schema_version"] == 1 and {"server", "echo"} <= {p["name"] for p in data["packs"]}


def test_registry_is_filtered_by_the_runtime_gates(registry: Registry) -> None:
    def admins_only_for_destructive(entry: Entry, caller: Caller) -> Error | None:
        if entry["effects"]["destructive"] and "admin" not in caller.groups:
            return Error("denied", "admins only")
        return None

    with make_client(registry, gates=[admins_only_for_destructive]) as c:
        plain = {e["id"] for e in c.get("/registry?user=al", headers=AUTH).json()["commands"]}
        admin = {e["id"] for e in c.get("/registry?user=al&roles=admin", headers=AUTH).json()["commands"]}
        assert "echo.disk.wipe" not in plain and "echo.disk.wipe" in admin and "server.host.test" in plain
        refused = c.post("/invoke", json={"command": "echo.disk.wipe", "args": {"disk": "x"}}, headers=AUTH).json()
        assert refused["error"]["message"] == "admins only"


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/openapi.json", headers=AUTH).json()
    assert doc == json.loads(json.dumps(openapi_document()))
    assert doc["openapi"].startswith("3.1") and {"/invoke", "/chat", "/registry", "/healthz"} <= set(doc["paths"])
    # Every reference resolves inside the document.
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node: Any = doc
        for key in ref.removeprefix("#/").split("/"):
            node = node[key]
    # The request schemas accept what the tests send and the reply schema is the contract's.
    import jsonschema

    invoke = {**doc["components"]["schemas"]["InvokeRequest"], "components": doc["components"]}
    jsonschema.validate({"command": "echo.msg.say", "args": {"text": "x"}, "user": "al"}, invoke)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"command": "x", "bogus": 1}, invoke)


# -- a real uvicorn process -------------------------------------------------------------------
def test_real_runner_end_to_end(runner: Runner, open_port: int) -> None:
    with httpx.Client(base_url=runner.url, timeout=30) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/registry").status_code == 401
        assert http.post("/chat", json={"text": "echo hi"}, headers={"Authorization": "Bearer nope"}).status_code == 401
        auth = {"Authorization": f"Bearer {runner.token}"}
        r = http.post("/chat", json={"text": f"server test 127.0.0.1 --ports {open_port}"}, headers=auth)
        assert r.status_code == 200 and r.json()["ok"] is True
        first = http.post("/chat", json={"text": "disk wipe sdz", "user": "al"}, headers=auth).json()
        token = first["error"]["confirm"]["token"]
        done = http.post("/invoke", json={"confirm_token": token, "user": "al"}, headers=auth).json()
        assert done["ok"] is True and done["results"][0]["message"] == "sdz wiped"
        assert http.post("/invoke", content=b"{", headers=auth).status_code == 400
        big = b'{"command": "echo.msg.say", "args": {"text": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
        assert http.post("/invoke", content=big, headers=auth).status_code == 413


def test_a_slow_command_does_not_stall_the_others(runner: Runner) -> None:
    auth = {"Authorization": f"Bearer {runner.token}"}
    slow_done = threading.Event()
    slow_reply: dict[str, Any] = {}

    def slow() -> None:
        with httpx.Client(base_url=runner.url, timeout=30) as http:
            slow_reply.update(http.post("/chat", json={"text": "echo slow --seconds 4"}, headers=auth).json())
        slow_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        with httpx.Client(base_url=runner.url, timeout=30) as http:
            # Wait until the slow one is surely in flight: the runner counts it in no API,
            # so send fast requests until several have been answered.
            for i in range(5):
                r = http.post("/invoke", json={"command": "echo.msg.say", "args": {"text": str(i)}}, headers=auth)
                assert r.json()["results"][0]["text"] == str(i)
            fast_done_while_slow_running = not slow_done.is_set()
    finally:
        thread.join()
    assert fast_done_while_slow_running
    assert slow_reply["ok"] is True and slow_reply["results"][0]["text"] == "slept 4 s"


def test_two_runners_on_one_audit_database_accept_each_others_tokens(
    runner: Runner, registry_file: Path, tmp_path: Path
) -> None:
    """Two runners behind one address: the confirmation may reach the other one."""
    from conftest import start_runner

    auth = {"Authorization": f"Bearer {runner.token}"}
    with start_runner(registry_file, tmp_path) as second, httpx.Client(timeout=30) as http:
        first = http.post(f"{runner.url}/chat", json={"text": "disk wipe sdq", "user": "al"}, headers=auth).json()
        token = first["error"]["confirm"]["token"]
        done = http.post(f"{second.url}/invoke", json={"confirm_token": token, "user": "al"}, headers=auth).json()
        assert done["ok"] is True and done["results"][0]["message"] == "sdq wiped", done
        again = http.post(f"{runner.url}/invoke", json={"confirm_token": token, "user": "al"}, headers=auth).json()
        assert again["ok"] is False and "already used" in again["error"]["message"]
