"""`jenkins build`, `status`, `log` and `stop`: the real python-jenkins over HTTP to the fake."""

from __future__ import annotations

import re
import time
from typing import Any

from conftest import TOKEN, Run
from opspack_testkit.fakes.jenkins import PIPELINE, FakeJenkins


def _posts(fake: FakeJenkins) -> list[str]:
    return [r.path for r in fake.requests if r.method == "POST"]


def test_build_with_parameters_answers_number_and_link(run: Run, fake: FakeJenkins) -> None:
    reply = run("jenkins build deploy ENV=staging DRY_RUN=no")
    assert reply.ok, reply.error
    kv, link = reply.results
    assert kv.items["build"] == "#1"
    assert kv.items["param ENV"] == "staging" and kv.items["param DRY_RUN"] == "false"
    assert kv.items["param VERSION"] == "latest"  # the default is sent too
    assert link.url == f"{fake.url}job/deploy/1/"
    post = next(r for r in fake.requests if r.method == "POST")
    assert post.path == "/job/deploy/buildWithParameters"
    assert post.query["ENV"] == ["staging"] and "jenkins-crumb" in post.headers
    assert fake.jobs["deploy"].builds[0].params == {"ENV": "staging", "DRY_RUN": "false", "VERSION": "latest"}


def test_build_without_parameters_uses_build(run: Run, fake: FakeJenkins) -> None:
    reply = run("jenkins build tools/cleanup")
    assert reply.ok, reply.error
    assert _posts(fake) == ["/job/tools/job/cleanup/build"]
    assert reply.results[0].items["build"] == "#2"


def test_parameters_are_validated_before_anything_is_queued(run: Run, fake: FakeJenkins) -> None:
    cases = {
        "jenkins build deploy ENV=qa": ("got 'qa', expected one of dev, staging, prod", "usage"),
        "jenkins build deploy DRY_RUN=maybe": ("expected true or false", "usage"),
        "jenkins build deploy COLOUR=red": ("has no parameter COLOUR", "usage"),
        "jenkins build tools/cleanup X=1": ("takes no parameters", "usage"),
    }
    for text, (message, kind) in cases.items():
        reply = run(text)
        assert not reply.ok and reply.error.kind == kind, text
        assert message in reply.error.message, reply.error.message
    assert "Its parameters: ENV, DRY_RUN, VERSION" in run("jenkins build deploy COLOUR=red").error.hint
    assert _posts(fake) == []


def test_disabled_job_is_a_clear_error(run: Run, fake: FakeJenkins) -> None:
    reply = run("jenkins build legacy")
    assert reply.error.kind == "usage" and "disabled" in reply.error.message
    assert _posts(fake) == []


def test_disabled_between_check_and_post_is_the_servers_409(run: Run, fake: FakeJenkins) -> None:
    # The job is disabled after the pack read it: Jenkins answers 409 "is not buildable".
    original = fake._job_obj

    def stale(job: Any) -> Any:
        obj = original(job)
        if job.full_name == "tools/cleanup":
            job.disabled = True
            obj["buildable"], obj["color"] = True, "blue"
        return obj

    fake._job_obj = stale  # type: ignore[method-assign]
    reply = run("jenkins build tools/cleanup")
    assert reply.error.kind == "usage" and "not buildable" in reply.error.message


def test_missing_job_suggests_the_full_name(run: Run) -> None:
    reply = run("jenkins build release")
    assert reply.error.kind == "not_found"
    assert "team/app/release" in reply.error.hint
    reply = run("jenkins build deplyo")
    assert reply.error.kind == "not_found" and "deploy" in reply.error.hint


def test_a_folder_is_not_a_job(run: Run) -> None:
    reply = run("jenkins build team/app")
    assert reply.error.kind == "usage" and "folder" in reply.error.message


def test_queue_item_cancelled_before_it_started(run: Run, fake: FakeJenkins) -> None:
    fake.jobs["tools/cleanup"].cancel_in_queue = True
    reply = run("jenkins build tools/cleanup")
    assert not reply.ok and reply.error.kind == "backend"
    assert "cancelled in the queue" in reply.error.message


def test_build_still_queued_answers_why(run: Run, fake: FakeJenkins) -> None:
    fake.jobs["tools/cleanup"].queue_polls = 10**6
    reply = run("jenkins build tools/cleanup", OPSPACK_JENKINS_QUEUE_WAIT="0")
    assert reply.ok, reply.error
    status, link = reply.results
    assert status.level == "warning" and "Waiting for next available executor" in status.message
    assert link.url.endswith("/queue/item/1/")
    queue = run("jenkins queue")
    assert queue.results[0].rows[0][1] == "tools/cleanup"
    assert queue.results[0].rows[0][3] == "Waiting for next available executor"


def test_wait_follows_a_pipeline_through_its_stages(run: Run, fake: FakeJenkins) -> None:
    reply = run("jenkins build team/app/release VERSION=2.0.0 SIGNING_KEY=s3cr3t-key --wait")
    assert reply.ok, reply.error
    kinds = [r.kind for r in reply.results]
    assert kinds[0] == "progress" and kinds[-1] == "link"
    progress = [r.message for r in reply.results if r.kind == "progress"]
    assert "team/app/release #2 started" in progress
    assert any("stage Publish: SUCCESS" in m for m in progress)
    status = next(r for r in reply.results if r.kind == "status")
    assert status.level == "ok" and "SUCCESS" in status.message
    stages = next(r for r in reply.results if r.kind == "table")
    assert [row[0] for row in stages.rows] == ["Checkout", "Build", "Test", "Publish"]
    from opspack.renderers import render

    assert "s3cr3t-key" not in render(reply, "json")


def test_wait_reports_a_failed_build(run: Run) -> None:
    reply = run("jenkins build nightly --wait")
    status = next(r for r in reply.results if r.kind == "status")
    assert status.level == "critical" and "nightly #3: FAILURE" in status.message


def test_a_first_build_without_an_estimate_counts_its_stages(
    registry: Any, env: dict[str, str], fake: FakeJenkins
) -> None:
    """No earlier build, so estimatedDuration is -1: the percent is the share of stages done."""
    from opspack.context import Caller
    from opspack.runtime import Runtime
    from opspack.settings import Config

    job = "team/app/first"
    fake.add_job(job, cls=PIPELINE, stages=["A", "B", "C", "D"], script=["a", "b", "c", "d"])
    lines: list[tuple[str, float | None]] = []
    runtime = Runtime(registry, config=Config(data={}, environ=env), audit=None)
    reply = runtime.chat(
        f"jenkins build {job} --wait", Caller(user="t", on_progress=lambda p: lines.append((p.message, p.percent)))
    )
    runtime.close()
    assert reply.ok, reply.error
    ticks = [(m, p) for m, p in lines if m.startswith(f"{job} #1: ")]
    # each read of the fake's build moves it a step: some quarters may pass between two polls
    assert ticks and ticks == [(f"{job} #1: {p:.0f}% (of its stages done)", p) for _, p in ticks]
    quarters = [p for _, p in ticks]
    assert quarters == sorted(set(quarters)) and set(quarters) <= {25.0, 50.0, 75.0} and quarters[-1] == 75.0
    assert [p for _, p in lines] == sorted(p for _, p in lines)
    assert lines[-1] == (f"{job} #1 finished: SUCCESS", 100.0)


def test_status_of_a_pipeline_build_with_stages(run: Run) -> None:
    reply = run("jenkins status team/app/release")
    assert reply.ok, reply.error
    status, kv, stages, link = reply.results
    assert status.level == "ok" and kv.items["build"] == "#1"
    assert stages.columns == ["stage", "result", "duration"] and len(stages.rows) == 4
    assert link.url.endswith("/job/team/job/app/job/release/1/")


def test_status_of_a_failed_build_names_culprits(run: Run) -> None:
    reply = run("jenkins status nightly 2")
    status, kv, _link = reply.results
    assert status.level == "critical"
    assert kv.items["culprits"] == ["bob"] and kv.items["result"] == "FAILURE"
    assert run("jenkins status nightly lastSuccessful").results[1].items["build"] == "#1"


def test_status_of_a_missing_build_or_job(run: Run) -> None:
    reply = run("jenkins status nightly 99")
    assert reply.error.kind == "not_found" and "#99" in reply.error.message
    assert run("jenkins status nosuchjob").error.kind == "not_found"
    assert run("jenkins status nightly yesterday").error.kind == "usage"


def test_log_tail_and_grep(run: Run) -> None:
    run("jenkins build deploy ENV=prod VERSION=9.9 --wait")
    reply = run("jenkins log deploy --tail 2")
    text = reply.results[0]
    assert text.mono and text.text.splitlines() == ["Deployed.", "Finished: SUCCESS"]
    assert "last 2 of" in text.title
    reply = run("jenkins log deploy 1 --grep 'deploying .* to prod'")
    assert reply.results[0].text == "Deploying 9.9 to prod"
    assert run("jenkins log deploy --grep '('").error.kind == "usage"
    assert run("jenkins log deploy 7").error.kind == "not_found"


def test_stop_needs_confirmation_then_aborts(run: Run, fake: FakeJenkins) -> None:
    fake.jobs["deploy"].script = ["step"] * 100
    assert run("jenkins build deploy").ok
    reply = run("jenkins stop deploy 1")
    assert reply.error.kind == "denied" and reply.error.confirm is not None
    assert fake.jobs["deploy"].builds[0].building
    reply = run("jenkins stop deploy 1", confirmed=True)
    assert reply.ok and "abort" in reply.results[0].message
    assert fake.jobs["deploy"].builds[0].result == "ABORTED"
    again = run("jenkins stop deploy 1", confirmed=True)
    assert again.ok and "not running" in again.results[0].message


def test_stop_of_what_does_not_exist_is_refused_before_the_confirmation(run: Run, fake: FakeJenkins) -> None:
    assert run("jenkins build deploy").ok
    for text, kind in (("jenkins stop deploy 99", "not_found"), ("jenkins stop nosuchjob 1", "not_found")):
        reply = run(text)
        assert reply.error.kind == kind and reply.error.confirm is None, (text, reply.error)
    refused = run("jenkins stop deploy 1", OPSPACK_JENKINS_ALLOWED_JOBS="tools/*")
    assert refused.error.kind == "denied" and refused.error.confirm is None


def test_allowed_jobs_limits_build_and_stop(run: Run, fake: FakeJenkins) -> None:
    reply = run("jenkins build deploy", OPSPACK_JENKINS_ALLOWED_JOBS="team/*,tools/*")
    assert reply.error.kind == "denied" and "jenkins menu" in reply.error.hint
    assert run("jenkins build tools/cleanup", OPSPACK_JENKINS_ALLOWED_JOBS="team/*,tools/*").ok
    reply = run("jenkins stop deploy 1", confirmed=True, OPSPACK_JENKINS_ALLOWED_JOBS="tools/*")
    assert reply.error.kind == "denied"
    assert _posts(fake) == ["/job/tools/job/cleanup/build"]


def test_wrong_token_is_denied_and_never_shown(run: Run) -> None:
    reply = run("jenkins jobs", OPSPACK_JENKINS_TOKEN="wrong-token-xyz")
    assert reply.error.kind == "denied" and "401" in reply.error.message
    assert "token" in reply.error.hint
    from opspack.renderers import render

    assert "wrong-token-xyz" not in render(reply, "json")


def test_missing_permission_is_denied_with_the_reason(run: Run) -> None:
    reply = run(
        "jenkins build tools/cleanup", OPSPACK_JENKINS_USER="viewer", OPSPACK_JENKINS_TOKEN="viewer-api-token-4567"
    )
    assert reply.error.kind == "denied"
    assert "viewer is missing the Job/Build permission" in reply.error.message


def test_missing_settings_are_a_config_error(registry: Any) -> None:
    from opspack_testkit import run_command

    reply = run_command("jenkins jobs", registry=registry, environ={})
    assert reply.error.kind == "config" and "OPSPACK_JENKINS_URL" in reply.error.hint


def test_unreachable_controller(run: Run) -> None:
    from opspack_testkit import free_port

    reply = run("jenkins nodes", OPSPACK_JENKINS_URL=f"http://127.0.0.1:{free_port()}/")
    assert reply.error.kind == "backend" and "cannot be reached" in reply.error.message


def test_token_in_settings_does_not_leak_into_results(run: Run) -> None:
    from opspack.renderers import render

    reply = run("jenkins status nightly")
    assert TOKEN not in render(reply, "json")


def test_wait_streams_progress_while_the_build_runs(registry: Any, env: dict[str, str]) -> None:
    """A front-end that can stream (shell, command line) sees each step as it happens."""
    from opspack.context import Caller
    from opspack.runtime import Runtime
    from opspack.settings import Config

    seen: list[str] = []
    runtime = Runtime(registry, config=Config(data={}, environ=env), audit=None)
    caller = Caller(user="t", on_progress=lambda p: seen.append(p.message))
    reply = runtime.chat("jenkins build team/app/release VERSION=2.1.0 --wait", caller)
    runtime.close()
    assert reply.ok, reply.error
    assert seen[0].startswith("team/app/release: queued as item")
    assert any(m.endswith("started") for m in seen) and any("stage Publish: SUCCESS" in m for m in seen)
    in_reply = [r.message for r in reply.results if r.kind == "progress"]  # for front-ends that cannot stream
    assert seen == [*in_reply, "team/app/release #2 finished: SUCCESS"]


def test_wait_reports_queued_started_stages_percent_and_done_in_order(
    registry: Any, env: dict[str, str], fake: FakeJenkins
) -> None:
    """A build that runs for 2 s, estimated at 2 s from its last one: the percent lines rise as
    Jenkins' progress bar does (elapsed time over estimatedDuration), between the stages."""
    from opspack.context import Caller
    from opspack.runtime import Runtime
    from opspack.settings import Config

    job = "team/app/slow"
    fake.add_job(job, cls=PIPELINE, stages=["Build", "Test", "Deploy"], script=["b", "t", "d"], runs_for=2.0)
    fake.add_history(job, "SUCCESS", duration_s=2.0)
    fake.jobs[job].queue_polls = 3
    lines: list[tuple[float, str, float | None]] = []
    runtime = Runtime(registry, config=Config(data={}, environ={**env, "OPSPACK_JENKINS_POLL_INTERVAL": "0.05"}))
    caller = Caller(user="t", on_progress=lambda p: lines.append((time.monotonic(), p.message, p.percent)))
    began = time.monotonic()
    reply = runtime.chat(f"jenkins build {job} --wait", caller)
    runtime.close()
    assert reply.ok, reply.error
    assert time.monotonic() - began >= 2.0

    messages = [m for _, m, _ in lines]
    percents = [p for _, _, p in lines]
    assert messages[:3] == [
        f"{job}: queued as item 1",
        f"{job}: still queued: Waiting for next available executor",  # once, however many polls
        f"{job} #2 started",
    ]
    assert messages[-1] == f"{job} #2 finished: SUCCESS" and percents[-1] == 100.0
    assert all(p is not None for p in percents) and percents == sorted(percents)  # never back
    ticks = [(at, m, p) for at, m, p in lines if re.fullmatch(rf"{job} #2: \d+% \(\d+s of about 2s\)", m)]
    tick_percents = [p for _, _, p in ticks]
    assert len(ticks) >= 5 and tick_percents == sorted(set(tick_percents))  # each higher than the last
    assert all(p is not None and 5 <= p <= 99 for p in tick_percents)
    assert ticks[-1][0] - ticks[0][0] >= 1.0  # spread over the build's run, not bunched at its end
    stages = [m for m in messages if m.startswith("stage ")]
    assert stages[0] == "stage Build: IN_PROGRESS" and stages[-1] == "stage Deploy: SUCCESS"
    assert stages.index("stage Test: IN_PROGRESS") < stages.index("stage Deploy: IN_PROGRESS")
    status = next(r for r in reply.results if r.kind == "status")
    assert status.level == "ok" and status.message == f"{job} #2: SUCCESS in 2s"
