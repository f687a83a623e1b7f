"""`jenkins jobs` and `jenkins menu` against the fake controller, through the real runtime."""

from __future__ import annotations

from typing import Any

from conftest import Run
from opspack_testkit.fakes.jenkins import FakeJenkins, big_controller


def _rows(reply: Any) -> dict[str, list[Any]]:
    assert reply.ok, reply.error
    table = reply.results[0]
    return {row[0]: row for row in table.rows}


def test_jobs_table_shows_every_job_in_every_folder(run: Run) -> None:
    reply = run("jenkins jobs")
    rows = _rows(reply)
    assert set(rows) == {"deploy", "nightly", "legacy", "team/app/release", "team/app/lint", "tools/cleanup"}
    assert rows["nightly"][1] == "#2 FAILURE"
    assert rows["team/app/lint"][1] == "#1 UNSTABLE"
    assert rows["deploy"][1] == "never built"
    assert rows["nightly"][3] == "1m 00s" and rows["nightly"][2].endswith("UTC")
    assert reply.results[0].columns == ["job", "last result", "last build", "duration", "health"]
    status = dict(zip([r[0] for r in reply.results[0].rows], reply.results[0].row_status, strict=True))
    assert status["nightly"] == "critical" and status["team/app/lint"] == "warning" and status["tools/cleanup"] == "ok"


def test_jobs_filters(run: Run) -> None:
    assert set(_rows(run("jenkins jobs --status failing"))) == {"nightly", "team/app/lint"}
    assert set(_rows(run("jenkins jobs --status passing"))) == {"team/app/release", "tools/cleanup"}
    assert set(_rows(run("jenkins jobs --folder team"))) == {"team/app/release", "team/app/lint"}
    assert set(_rows(run("jenkins jobs --name 're*'"))) == {"team/app/release"}
    assert set(_rows(run("jenkins jobs --name 'team/*'"))) == {"team/app/release", "team/app/lint"}


def test_jobs_running_filter(run: Run, fake: FakeJenkins) -> None:
    fake.jobs["deploy"].script = ["step"] * 50
    assert run("jenkins build deploy").ok
    assert set(_rows(run("jenkins jobs --status running"))) == {"deploy"}


def test_jobs_reads_one_tree_request_for_all_levels(run: Run, fake: FakeJenkins) -> None:
    big_controller(fake, jobs=2000, levels=3)
    fake.requests.clear()
    reply = run("jenkins jobs --limit 5000", render=False)
    assert len(reply.results[0].rows) == 2006
    api = [r for r in fake.requests if r.path.endswith("/api/json") and "crumbIssuer" not in r.path]
    assert len(api) == 1, [r.path for r in api]
    assert "tree" in api[0].query
    assert len(fake.requests) <= 2  # the tree request and, once per connection, the crumb


def test_jobs_deeper_than_tree_depth_reads_the_rest_per_folder(run: Run, fake: FakeJenkins) -> None:
    big_controller(fake, jobs=100, levels=3)
    fake.requests.clear()
    reply = run("jenkins jobs --limit 5000", OPSPACK_JENKINS_TREE_DEPTH="2", render=False)
    names = {r[0] for r in reply.results[0].rows}
    assert len(names) == 106 and "team00/sub0/sub0/job-0000" in names
    api = [r for r in fake.requests if r.path.endswith("/api/json") and "crumbIssuer" not in r.path]
    # the root request reads 2 levels; each second-level folder is read once more from there
    second_level = {"/".join(j.split("/")[:2]) for j in names if j.count("/") >= 2}
    assert len(second_level) == 21  # team00..03/sub0..4 and team/app
    assert len(api) == 1 + len(second_level)
    assert {r.path for r in api[1:]} == {
        "/" + "/".join(f"job/{p}" for p in f.split("/")) + "/api/json" for f in second_level
    }


def test_jobs_in_a_missing_folder(run: Run) -> None:
    reply = run("jenkins jobs --folder nope")
    assert not reply.ok and reply.error.kind == "not_found"


def test_menu_lists_buildable_jobs_with_default_parameters_and_folders(run: Run) -> None:
    reply = run("jenkins menu")
    assert reply.ok, reply.error
    menu = reply.results[0]
    by_label = {o.label: o for o in menu.options}
    assert "legacy" not in " ".join(by_label)  # disabled
    deploy = next(o for o in menu.options if o.label.startswith("deploy"))
    assert deploy.command == "jenkins.build.start"
    assert deploy.args == {
        "job": "deploy",
        "params": {"ENV": "dev", "DRY_RUN": "false" if False else "true", "VERSION": "latest"},
    }
    assert deploy.text == "jenkins build deploy ENV=dev DRY_RUN=true VERSION=latest"
    team = by_label["team/"]
    assert team.command == "jenkins.job.menu" and team.text == "jenkins menu team"


def test_menu_of_a_folder_hides_secret_defaults(run: Run) -> None:
    reply = run("jenkins menu team/app")
    options = {o.args["job"]: o for o in reply.results[0].options}
    assert set(options) == {"team/app/release", "team/app/lint"}
    assert options["team/app/release"].args["params"] == {"VERSION": "1.0.0"}


def test_menu_honours_allowed_jobs(run: Run) -> None:
    reply = run("jenkins menu", OPSPACK_JENKINS_ALLOWED_JOBS="team/app/*")
    labels = [o.label for o in reply.results[0].options]
    assert labels == ["team/"]
    reply = run("jenkins menu tools", OPSPACK_JENKINS_ALLOWED_JOBS="team/app/*")
    assert reply.ok and reply.results[0].kind == "text"


def test_menu_renders_buttons_on_slack(run: Run) -> None:
    out = run("jenkins menu")
    assert out.ok
    from opspack.renderers import render

    slack = render(out, "slack")
    blocks = [b for m in slack for b in m["blocks"]]
    assert any(b["type"] == "actions" for b in blocks)
    text = render(out, "text")
    assert "jenkins build deploy" in text
