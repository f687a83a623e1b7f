"""`gitlab pipeline status|run|retry|cancel`, `gitlab issues` and `gitlab issue new`."""

from __future__ import annotations

from conftest import Run
from gitlab_helpers import results, status, table, writes
from opspack_testkit.fakes.gitlab import FakeGitLab


def test_pipeline_status_of_a_ref_shows_jobs(fake: FakeGitLab, run: Run) -> None:
    project = fake.add_project("platform/app", files={".gitlab-ci.yml": "x"})
    fake.add_pipeline(project, ref="main", status="success")
    failed = fake.add_pipeline(project, ref="main", status="failed")
    reply = run("gitlab pipeline status platform/app main")
    kv = results(reply)[0]
    assert kv["items"]["pipeline"] == f"#{failed['id']}" and kv["items"]["duration"] == "5m 55s"
    jobs = table(reply)
    assert [r[:3] for r in jobs["rows"]] == [
        ["build", "build", "success"], ["test", "test", "failed"], ["deploy", "deploy", "skipped"],
    ]  # fmt: skip
    assert jobs["row_status"] == ["ok", "critical", "ok"] and jobs["rows"][1][4] == "script_failure"
    assert status(reply) == ("critical", f"Pipeline #{failed['id']} on main: failed")
    assert len(fake.calls("GET")) == 2  # the latest pipeline, its jobs


def test_pipeline_status_without_ref_and_without_pipelines(fake: FakeGitLab, run: Run) -> None:
    project = fake.add_project("platform/app", files={".gitlab-ci.yml": "x"})
    for n in range(30):
        fake.add_pipeline(project, ref=f"branch-{n}", jobs=False)
    reply = run("gitlab pipeline status platform/app --limit 5")
    t = table(reply)
    assert len(t["rows"]) == 5 and t["total"] == 30 and t["rows"][0][1] == "branch-29"
    assert fake.requests[-1].query["per_page"] == ["5"]
    none = run("gitlab pipeline status platform/app nowhere")
    assert status(none) == ("unknown", "platform/app has no pipeline on nowhere.")


def test_pipeline_run_passes_variables(fake: FakeGitLab, run: Run) -> None:
    project = fake.add_project("platform/app", files={".gitlab-ci.yml": "x"})
    reply = run("gitlab pipeline run platform/app main DEPLOY_ENV=staging VERSION=1.2.3")
    created = project.pipelines[-1]
    assert created["_variables"] == [
        {"key": "DEPLOY_ENV", "value": "staging", "variable_type": "env_var"},
        {"key": "VERSION", "value": "1.2.3", "variable_type": "env_var"},
    ]
    assert created["source"] == "api" and created["ref"] == "main"
    assert status(reply) == ("ok", f"Pipeline #{created['id']} created on main (variables: DEPLOY_ENV, VERSION).")
    missing_ref = run("gitlab pipeline run platform/app nope")
    assert missing_ref.error.kind == "usage"
    assert missing_ref.error.message == "GitLab rejected the request: base Reference not found"
    bad_name = run("gitlab pipeline run platform/app main BAD-NAME=x")
    assert bad_name.error.kind == "usage" and "BAD-NAME" in bad_name.error.message


def test_pipeline_retry_and_cancel(fake: FakeGitLab, run: Run) -> None:
    project = fake.add_project("platform/app", files={".gitlab-ci.yml": "x"})
    failed = fake.add_pipeline(project, status="failed")
    running = fake.add_pipeline(project, status="running")
    assert status(run(f"gitlab pipeline retry platform/app {failed['id']}")) == (
        "ok", f"Pipeline #{failed['id']} retried: now running.",
    )  # fmt: skip
    not_retryable = run(f"gitlab pipeline retry platform/app {running['id']}")
    assert not_retryable.error.kind == "denied"

    before = len(fake.requests)
    unconfirmed = run(f"gitlab pipeline cancel platform/app {running['id']}")
    assert unconfirmed.error.kind == "denied" and unconfirmed.error.confirm is not None
    assert writes(fake, before) == [] and running["status"] == "running"
    for text in ("gitlab pipeline cancel platform/app 999999", "gitlab pipeline cancel platform/nosuch 1"):
        missing = run(text)  # refused before the question
        assert missing.error.kind == "not_found" and missing.error.confirm is None, (text, missing.error)
    done = run(f"gitlab pipeline cancel platform/app {running['id']}", confirmed=True)
    assert status(done) == ("ok", f"Pipeline #{running['id']}: canceled.") and running["status"] == "canceled"
    assert {j["status"] for j in project.jobs[running["id"]]} >= {"canceled"}


def test_issues_list_and_new(fake: FakeGitLab, run: Run) -> None:
    project = fake.add_project("platform/app", files={"README.md": "x"})
    fake.add_issue(project, "Old bug", labels=["bug"])
    fake.add_issue(project, "Docs typo", labels=["docs"])
    reply = run("gitlab issue new platform/app Login fails on Safari --label bug,frontend")
    kv = results(reply)[0]["items"]
    assert kv == {"issue": "platform/app#3", "title": "Login fails on Safari", "labels": "bug, frontend"}
    bugs = run("gitlab issues platform/app --label bug")
    assert fake.requests[-1].query["labels"] == ["bug"]
    assert [r[1] for r in table(bugs)["rows"]] == ["Login fails on Safari", "Old bug"]
    empty = run('gitlab issue new platform/app ""')
    assert empty.error.kind == "usage"
    too_long = run("gitlab issue new platform/app " + "x" * 300)
    assert too_long.error.kind == "usage" and "title is too long" in too_long.error.message
