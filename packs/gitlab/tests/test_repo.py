"""`gitlab repo new|check|list` with python-gitlab over real HTTP to the fake GitLab."""

from __future__ import annotations

from collections.abc import Callable

import gitlab
from conftest import Run
from gitlab_helpers import rows_by, status, table, writes
from opspack_testkit.fakes.gitlab import FakeGitLab

TEAM_STANDARD = """
default_branch = "main"
template = "service"

[protection]
push = "maintainer"
merge = "developer"

[approvals]
required = 2
rule = "Two reviewers"

[settings]
only_allow_merge_if_pipeline_succeeds = true
remove_source_branch_after_merge = true

[members]
group = "platform/engineers"
access = "developer"

[[labels]]
name = "bug"
color = "#d9534f"

[[labels]]
name = "incident"
color = "#000000"

[templates.service.files]
"README.md" = "# {name}\\n\\nOwned by {namespace}.\\n"
".gitlab-ci.yml" = "stages: [test]\\n"
"CODEOWNERS" = "* @{namespace}/maintainers\\n"

[templates.skeleton]
project = "platform/templates/skeleton"
"""


def test_repo_new_creates_the_standard_project(fake: FakeGitLab, run: Run) -> None:
    reply = run("gitlab repo new platform/billing-api")
    rows = rows_by(reply)
    assert rows["project"]["result"] == "created (from template service)"
    assert rows["file README.md"]["result"] == "created on main"
    assert rows["protected main"]["result"] == "protected"
    assert rows["approvals"]["result"] == "created"
    assert {r["result"] for a, r in rows.items() if a.startswith("label ")} == {"created"}
    assert status(reply)[0] == "ok"
    project = fake.find_project("platform/billing-api")
    assert project is not None
    assert project.attrs["visibility"] == "private" and project.attrs["default_branch"] == "main"
    assert project.attrs["only_allow_merge_if_pipeline_succeeds"] is True
    assert set(project.files["main"]) == {"README.md", ".gitlab-ci.yml", "CODEOWNERS"}
    assert project.files["main"]["README.md"].startswith("# billing-api")
    assert project.protected["main"]["push"] == 40 and project.protected["main"]["merge"] == 30
    assert [(r["name"], r["approvals_required"]) for r in project.approval_rules] == [("Standard", 1)]
    assert [lb["name"] for lb in project.labels] == ["bug", "feature", "security", "tech-debt"]

    before = len(fake.requests)
    again = run("gitlab repo new platform/billing-api")
    assert writes(fake, before) == []  # the second run changes nothing
    assert {r["result"] for r in rows_by(again).values()} == {"ok"}
    assert status(again) == ("ok", f"platform/billing-api checked: {len(rows_by(again))} already matched.")


def test_repo_new_converges_a_partially_configured_project(
    fake: FakeGitLab, run: Run, standard_file: Callable[[str], dict[str, str]]
) -> None:
    std = standard_file(TEAM_STANDARD)
    project = fake.add_project(
        "platform/legacy",
        files={"README.md": "# legacy, hand written\n", ".gitlab-ci.yml": "stages: [build]\n"},
        default_branch="master",
        visibility="public",
        only_allow_merge_if_pipeline_succeeds=True,
    )
    project.protected["main"] = {"id": 1, "push": 30, "merge": 30, "allow_force_push": True}
    project.approval_rules.append({"id": 7, "name": "Two reviewers", "approvals_required": 1})
    project.labels.append({"id": 8, "name": "bug", "color": "#ffffff", "is_project_label": True})
    group = fake.find_group("platform/engineers")
    assert group is not None
    project.attrs["shared_with_groups"] = [
        {"group_id": group["id"], "group_name": "Engineers", "group_full_path": "platform/engineers",
         "group_access_level": 20, "expires_at": None}
    ]  # fmt: skip

    reply = run("gitlab repo new platform/legacy --visibility internal", extra=std)
    rows = rows_by(reply)
    assert rows["project"]["result"] == "ok"
    assert rows["file README.md"]["result"] == "ok"  # present files are kept, not overwritten
    assert rows["file CODEOWNERS"]["result"] == "created on master"
    assert rows["default branch"] == {
        "aspect": "default branch", "standard": "main", "found": "master",
        "result": "created from master, set as default",
    }  # fmt: skip
    assert rows["visibility"]["result"] == "set to internal"
    assert rows["only allow merge if pipeline succeeds"]["result"] == "ok"
    assert rows["protected main"]["found"] == "push developer, merge developer, force push allowed"
    assert rows["protected main"]["result"] == "re-protected"
    assert rows["approvals"]["result"] == "updated"
    assert rows["label bug"]["result"] == "recoloured"
    assert rows["label incident"]["result"] == "created"
    assert rows["members"]["found"] == "shared with platform/engineers as reporter"
    assert rows["members"]["result"] == "re-shared"

    assert project.attrs["default_branch"] == "main" and project.attrs["visibility"] == "internal"
    assert project.files["main"]["README.md"] == "# legacy, hand written\n"
    assert project.files["main"]["CODEOWNERS"] == "* @platform/maintainers\n"
    assert project.protected["main"] == {
        **project.protected["main"],
        "push": 40,
        "merge": 30,
        "allow_force_push": False,
    }
    assert project.approval_rules[0]["approvals_required"] == 2
    assert [lb["color"] for lb in project.labels] == ["#d9534f", "#000000"]
    assert project.attrs["shared_with_groups"][0]["group_access_level"] == 30

    before = len(fake.requests)
    again = run("gitlab repo new platform/legacy", extra=std)
    assert writes(fake, before) == []
    assert {r["result"] for r in rows_by(again).values()} == {"ok"}
    check = run("gitlab repo check platform/legacy", extra=std)
    assert status(check) == ("ok", f"platform/legacy matches the standard ({len(table(check)['rows'])} aspects).")


def test_repo_check_reports_drift_and_changes_nothing(fake: FakeGitLab, run: Run) -> None:
    fake.add_project("platform/drifted", files={"README.md": "# drifted\n"})
    before = len(fake.requests)
    reply = run("gitlab repo check platform/drifted")
    assert writes(fake, before) == []
    rows = rows_by(reply)
    assert rows["file README.md"]["result"] == "ok"
    assert rows["file CODEOWNERS"]["result"] == "missing"
    assert rows["protected main"]["result"] == "differs"
    level, message = status(reply)
    assert level == "warning" and "aspects differ from the standard" in message
    assert "`gitlab repo new platform/drifted` fixes what it can" in message
    diff = next(r for r in reply.to_dict()["results"] if r["kind"] == "diff")
    assert "-protected main: not protected" in diff["unified"]
    assert "+protected main: push maintainer, merge developer, no force push" in diff["unified"]


def test_a_changed_standard_reaches_new_repos(
    fake: FakeGitLab, run: Run, standard_file: Callable[[str], dict[str, str]]
) -> None:
    std = standard_file(TEAM_STANDARD)
    reply = run("gitlab repo new platform/payments", extra=std)
    project = fake.find_project("platform/payments")
    assert project is not None and status(reply)[0] == "ok"
    assert [lb["name"] for lb in project.labels] == ["bug", "incident"]
    assert project.approval_rules[0]["name"] == "Two reviewers"
    assert project.attrs["shared_with_groups"][0]["group_full_path"] == "platform/engineers"
    assert project.files["main"]["README.md"] == "# payments\n\nOwned by platform.\n"


def test_repo_new_forks_a_template_project(
    fake: FakeGitLab, run: Run, standard_file: Callable[[str], dict[str, str]]
) -> None:
    std = standard_file(TEAM_STANDARD)
    fake.add_project("platform/templates/skeleton", files={"README.md": "# skeleton\n", "Makefile": "all:\n"})
    reply = run("gitlab repo new platform/search --template skeleton", extra=std)
    rows = rows_by(reply)
    assert rows["project"]["result"] == "created (forked from platform/templates/skeleton)"
    assert rows["template skeleton"]["result"] == "ok"
    fork = fake.find_project("platform/search")
    assert fork is not None
    assert fork.attrs["forked_from_project"]["path_with_namespace"] == "platform/templates/skeleton"
    assert set(fork.files["main"]) == {"README.md", "Makefile"}
    assert fork.protected["main"]["push"] == 40
    other = fake.add_project("platform/handmade", files={"README.md": "x"})
    assert other is not None
    check = run("gitlab repo check platform/handmade --template skeleton", extra=std)
    assert rows_by(check)["template skeleton"]["result"].startswith("manual: an existing project cannot be re-forked")


def test_unknown_template_bad_standard_and_missing_group(
    fake: FakeGitLab, run: Run, standard_file: Callable[[str], dict[str, str]]
) -> None:
    reply = run("gitlab repo new platform/x --template nope")
    assert reply.error.kind == "usage" and "Known templates: service" in reply.error.hint
    bad = run("gitlab repo new platform/x", extra=standard_file("[protection]\npush = 'everyone'\n"))
    assert bad.error.kind == "config" and "protection.push = 'everyone'" in bad.error.message
    typo = run("gitlab repo check platform/x", extra=standard_file("lables = []\n"))
    assert typo.error.kind == "config" and "unknown keys lables" in typo.error.message
    missing = run("gitlab repo new nowhere/x")
    assert missing.error.kind == "not_found" and missing.error.message == "group 'nowhere' not found"
    assert fake.find_project("nowhere/x") is None


def test_a_failing_fix_is_reported_and_the_rest_converges(
    fake: FakeGitLab, run: Run, standard_file: Callable[[str], dict[str, str]]
) -> None:
    """GitLab answers 422 for an access level it does not know; the other aspects still converge."""
    std = standard_file("[protection]\npush = 20\n")
    fake.add_project("platform/odd", files={"README.md": "x"})
    reply = run("gitlab repo new platform/odd", extra=std)
    rows = rows_by(reply)
    assert rows["protected main"]["result"] == (
        "failed: GitLab rejected the request: Push access levels access level has acceptable levels"
    )
    assert rows["approvals"]["result"] == "created"
    level, message = status(reply)
    assert level == "critical" and "1 failed (protected main)" in message
    assert table(reply)["row_status"][list(rows).index("protected main")] == "critical"


def test_conflicts_from_gitlab_409_and_400_taken(fake: FakeGitLab, run: Run) -> None:
    """A label made meanwhile (409 "Label already exists") and a project made meanwhile
    (400 "has already been taken") come back as errors a person can act on."""
    project = fake.add_project("platform/racy", files={"README.md": "x", ".gitlab-ci.yml": "", "CODEOWNERS": ""})
    stale = {"labels": True, "project": True}

    def stale_reads(req: object) -> object:
        from opspack_testkit.fakes.http import Request, Response

        assert isinstance(req, Request)
        if req.method == "GET" and req.path.endswith(f"/projects/{project.id}/labels") and stale["labels"]:
            stale["labels"] = False
            # the label list was read before someone added "bug"
            project.labels.append({"id": 1, "name": "bug", "color": "#d9534f", "is_project_label": True})
            return Response.json([], headers={"X-Total": "0", "X-Total-Pages": "1", "X-Per-Page": "20"})
        if req.method == "GET" and req.path.endswith("platform%2Fnewcomer") and stale["project"]:
            stale["project"] = False
            fake.add_project("platform/newcomer")
            return Response.json({"message": "404 Project Not Found"}, 404)
        return None

    fake.server.before.append(stale_reads)  # type: ignore[arg-type]
    reply = run("gitlab repo new platform/racy")
    assert rows_by(reply)["label bug"]["result"] == "failed: GitLab answered 409: Label already exists"
    assert status(reply)[0] == "critical"
    taken = run("gitlab repo new platform/newcomer")
    assert taken.error.kind == "usage"
    assert "name has already been taken" in taken.error.message and "path has already been taken" in taken.error.message


def test_repo_list_reads_only_the_pages_it_shows(fake: FakeGitLab, run: Run) -> None:
    for n in range(500):
        fake.add_project(f"platform/svc-{n:03d}", files={"README.md": "x"})
    fake.add_project("other/elsewhere")
    before = len(fake.requests)
    reply = run("gitlab repo list platform")
    listed = fake.calls("GET", "/groups/platform/projects")
    assert len(fake.requests) - before == 1 and len(listed) == 1
    assert listed[0].query["per_page"] == ["20"]
    t = table(reply)
    assert len(t["rows"]) == 20 and t["total"] == 500
    assert t["title"] == "Projects in platform (20 of 500)"

    before = len(fake.requests)
    bigger = run("gitlab repo list platform --limit 250")
    pages = [r.query["page"][0] if "page" in r.query else "1" for r in fake.requests[before:]]
    assert pages == ["1", "2", "3"]  # 100 + 100 + the 50 still needed, never pages 4 and 5
    assert len(table(bigger)["rows"]) == 250
    assert {r.query["per_page"][0] for r in fake.requests[before:]} == {"100"}

    search = run("gitlab repo list platform --search svc-49")
    assert sorted(r[0] for r in table(search)["rows"]) == [f"platform/svc-49{n}" for n in range(10)]


def test_the_fake_follows_python_gitlabs_keyset_pagination(fake: FakeGitLab) -> None:
    """python-gitlab walks keyset pages by the Link header (no totals), as GitLab documents."""
    group = fake.add_group("big")
    for n in range(250):
        fake.add_project(f"big/p{n}")
    gl = gitlab.Gitlab(fake.url, private_token=fake.token)
    before = len(fake.requests)
    pages = gl.groups.get(group["id"], lazy=True).projects.list(
        iterator=True, pagination="keyset", order_by="id", sort="asc", per_page=100
    )
    ids = [p.id for p in pages]
    assert ids == sorted(ids) and len(ids) == 250
    assert len(fake.requests) - before == 3
    assert "id_after" in fake.requests[-1].query and pages.total is None
