"""Secret-looking arguments on a real runner: ``jenkins build deploy SIGNING_KEY=s1 SSH_KEY=s2
DB_PASSWORD=s3`` needs an approval, is approved by a second person and runs with the real
values against a fake Jenkins, and the request, the pending store, the audit trail and what
a viewer reads with ``history`` show none of them."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import start_runner
from opspack.masking import MASK
from opspack_testkit.fakes.jenkins import FakeJenkins, string

POLICY = """
[defaults]
read_only = "allow"
mutating = "deny"

[users]
alice = ["ops"]
bob = ["viewer"]
carol = ["leads"]

[roles.ops]
allow = ["jenkins.*", "echo.*"]

[roles.viewer]
allow = ["*.read"]

[roles.leads]
allow = ["*.read"]

[approvals]
"jenkins.build.start" = ["leads"]
"""
ATTACK = "jenkins build deploy SIGNING_KEY=s1 SSH_KEY=s2 DB_PASSWORD=s3 ENV=prod"
#: a secret value shown anywhere: s1, s2 or s3 on its own (not inside a longer word)
LEAKED = re.compile(r"(?<![A-Za-z0-9])s[123](?![A-Za-z0-9])")


@pytest.fixture
def jenkins() -> Iterator[FakeJenkins]:
    fake = FakeJenkins()
    fake.add_job(
        "deploy",
        params=[string("SIGNING_KEY"), string("SSH_KEY"), string("DB_PASSWORD"), string("ENV", "dev")],
        script=["Deploying to ${ENV}", "Deployed."],
    )
    fake.start()
    yield fake
    fake.stop()


def test_secret_looking_parameters_are_masked_on_a_real_runner(
    registry_file: Path, tmp_path: Path, jenkins: FakeJenkins
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    audit = tmp_path / "audit.db"
    env = {
        "OPSPACK_AUDIT_URL": f"sqlite:///{audit}",
        "OPSPACK_POLICY": str(policy),
        "OPSPACK_JENKINS_URL": jenkins.url,
        "OPSPACK_JENKINS_USER": "alice",
        "OPSPACK_JENKINS_TOKEN": "alice-api-token-0123",
        "OPSPACK_JENKINS_POLL_INTERVAL": "0",
        "OPSPACK_JENKINS_QUEUE_WAIT": "30",
    }
    with start_runner(registry_file, tmp_path, **env) as runner, httpx.Client(timeout=60) as http:
        auth = {"Authorization": f"Bearer {runner.token}"}

        def chat(text: str, user: str, **more: Any) -> dict[str, Any]:
            r = http.post(f"{runner.url}/chat", json={"text": text, "user": user, **more}, headers=auth)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        # the approval request: the prompt, the chat text and the arguments it shows are masked
        asked = chat(ATTACK, "alice")
        confirm = asked["error"]["confirm"]
        assert confirm["approvers"] == ["leads"] and confirm["token"]
        assert confirm["args"]["params"] == {"SIGNING_KEY": MASK, "SSH_KEY": MASK, "DB_PASSWORD": MASK, "ENV": "prod"}
        shown = json.dumps(asked, ensure_ascii=False)
        assert not LEAKED.search(shown), shown
        # ... and so is the pending store: no plaintext parameter in opspack_confirmations
        with sqlite3.connect(audit) as db:
            pending = [row[0] for row in db.execute("SELECT pending FROM opspack_confirmations")]
        assert len(pending) == 1 and not LEAKED.search(pending[0]), pending
        assert json.loads(pending[0])["args"]["params"]["DB_PASSWORD"] == MASK

        # a second person approves: the build runs with the real values
        approved = chat(f"confirm {confirm['token']}", "carol")
        assert approved["ok"] is True, approved
        assert jenkins.jobs["deploy"].builds[-1].params == {
            "SIGNING_KEY": "s1",
            "SSH_KEY": "s2",
            "DB_PASSWORD": "s3",
            "ENV": "prod",
        }
        assert not LEAKED.search(json.dumps(approved, ensure_ascii=False)), approved

        # a viewer reads history (the run's record was committed before its answer): every
        # record of it masked, the request and the approved run
        history = chat("history", "bob", format="json")
        assert history["ok"] is True, history
        rows = [r for r in history["results"][0]["rows"] if r[4].startswith("jenkins build deploy")]
        assert [r[5] for r in rows] == ["ok, approved by carol", "awaiting confirmation"], rows
        assert rows[0][4] == rows[1][4], rows  # the same chat text: what was asked for is what ran
        assert f"'SIGNING_KEY={MASK}'" in rows[0][4] and "ENV=prod" in rows[0][4]
        assert not LEAKED.search(json.dumps(history, ensure_ascii=False)), history
        # a declared secret (echo's `lock open <door> <combination>`), confirmed by its user
        opened = chat("lock open front s2", "alice")
        assert opened["error"]["confirm"]["args"] == {"door": "front", "combination": MASK}
        done = chat(f"confirm {opened['error']['confirm']['token']}", "alice")
        assert done["ok"] is True and "2 characters" in done["results"][0]["message"], done

    with sqlite3.connect(audit) as db:
        records = db.execute("SELECT text, args FROM opspack_invocations WHERE command IS NOT NULL").fetchall()
        jobs = db.execute("SELECT text, reply FROM opspack_jobs").fetchall()
    assert len(records) >= 5
    for row in [*records, *jobs]:
        assert not LEAKED.search(json.dumps(row, ensure_ascii=False)), row
