"""`gitlab mr list` and `gitlab mr <project>!<iid>`."""

from __future__ import annotations

from conftest import Run
from gitlab_helpers import results, table
from opspack_testkit.fakes.gitlab import FakeGitLab


def test_mr_list_reads_one_page_of_a_big_project(fake: FakeGitLab, run: Run) -> None:
    project = fake.add_project("platform/monolith", files={"README.md": "x"})
    fake.add_merge_requests(project, 400)
    before = len(fake.requests)
    reply = run("gitlab mr list platform/monolith")
    calls = fake.requests[before:]
    assert len(calls) == 1
    assert calls[0].query["per_page"] == ["20"] and calls[0].query["state"] == ["opened"]
    t = table(reply)
    opened = sum(1 for m in project.merge_requests if m["state"] == "opened")
    assert len(t["rows"]) == 20 and t["total"] == opened
    assert t["columns"] == ["mr", "title", "author", "merge status", "conflicts", "labels", "age"]
    assert t["title"] == f"Merge requests in platform/monolith (opened: 20 of {opened})"
    newest = max((m for m in project.merge_requests if m["state"] == "opened"), key=lambda m: m["created_at"])
    assert t["rows"][0][:2] == [f"!{newest['iid']}", newest["title"]]
    conflict = next(i for i, r in enumerate(t["rows"]) if r[3] == "conflict")
    assert t["rows"][conflict][4] == "yes" and t["row_status"][conflict] == "critical"


def test_mr_list_filters_are_gitlabs(fake: FakeGitLab, run: Run) -> None:
    project = fake.add_project("platform/app", files={"README.md": "x"})
    fake.add_merge_requests(project, 60)
    reply = run("gitlab mr list platform/app --author @alice --label bug --state all --limit 5")
    query = fake.requests[-1].query
    assert query["author_username"] == ["alice"] and query["labels"] == ["bug"] and query["state"] == ["all"]
    rows = table(reply)["rows"]
    assert rows and {r[2] for r in rows} == {"alice"} and all("bug" in r[5] for r in rows)
    assert len(rows) <= 5


def test_mr_list_without_project_covers_all_projects(fake: FakeGitLab, run: Run) -> None:
    for name in ("a", "b"):
        fake.add_merge_requests(fake.add_project(f"platform/{name}", files={"x": "y"}), 3)
    reply = run("gitlab mr list --state all")
    assert fake.requests[-1].path == "/api/v4/merge_requests" and fake.requests[-1].query["scope"] == ["all"]
    refs = {r[0].split("!")[0] for r in table(reply)["rows"]}
    assert refs == {"platform/a", "platform/b"}


def test_mr_show_has_approvals_pipeline_and_conflicts(fake: FakeGitLab, run: Run) -> None:
    project = fake.add_project("platform/app", files={"README.md": "x"})
    fake.add_merge_request(
        project, iid=42, title="Make checkout faster", author="carol", detailed_merge_status="conflict",
        approvals_required=2, approved_by=["alice"], pipeline_status="failed", labels=["perf"],
    )  # fmt: skip
    reply = run("gitlab mr platform/app!42")
    kv, link, menu = results(reply)
    items = kv["items"]
    assert items["title"] == "Make checkout faster" and items["author"] == "carol"
    assert items["approvals"] == "1 of 2 required (alice)" and items["approved"] == "no"
    assert items["pipeline"].endswith(" failed") and items["conflicts"] == "yes"
    assert items["merge status"] == "conflict" and items["branches"] == "feature/change-42 → main"
    assert link["url"].endswith("/platform/app/-/merge_requests/42")
    texts = [o["text"] for o in menu["options"]]
    assert texts[0] == "gitlab pipeline status platform/app feature/change-42"
    assert texts[1].startswith("gitlab pipeline retry platform/app ")
    by_url = run("gitlab mr https://gitlab.example.com/platform/app/-/merge_requests/42")
    assert results(by_url)[0]["items"]["title"] == "Make checkout faster"


def test_mr_words_list_wins_and_bad_refs_are_usage_errors(fake: FakeGitLab, run: Run) -> None:
    fake.add_project("platform/app", files={"README.md": "x"})
    assert run("gitlab mr list platform/app").command == "gitlab.mr.list"
    bad = run("gitlab mr platform/app#3")
    assert bad.command == "gitlab.mr.show" and bad.error.kind == "usage"
    assert bad.error.hint == "Write it as group/project!12 (or paste the merge request's URL)."
    missing = run("gitlab mr platform/app!999")
    assert missing.error.kind == "not_found" and missing.error.message == "GitLab: 404 Not found"
    no_project = run("gitlab mr platform/ghost!1")
    assert no_project.error.kind == "not_found" and "Project Not Found" in no_project.error.message
