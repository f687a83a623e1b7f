"""Compare a project with the standard, aspect by aspect, and (for `repo new`) fix what differs.

Each check reads what it needs, yields one :class:`Item` per aspect, and when fixing
is on the item is fixed before the next check reads anything, so later checks see
earlier fixes (files make the default branch exist, which protection then protects).
A fix that fails is reported on its row; the other aspects still converge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opspack.results import Level

from opspack_gitlab._client import gitlab_error
from opspack_gitlab._errors import translate
from opspack_gitlab._standard import MEMBER_LEVELS, PROTECTION_LEVELS, Standard, Template

if TYPE_CHECKING:
    import gitlab
    from gitlab.v4.objects import Project

_PROTECTION_NAMES = {v: k for k, v in PROTECTION_LEVELS.items()}
_MEMBER_NAMES = {v: k for k, v in MEMBER_LEVELS.items()}


@dataclass
class Item:
    """One aspect of the standard: what it wants, what the project has, and what was done."""

    aspect: str
    expected: str
    found: str
    ok: bool
    fix: Callable[[], str] | None = None
    manual: str = ""
    result: str = ""
    level: Level = "ok"

    @property
    def changed(self) -> bool:
        return self.result not in ("ok", "differs", "missing") and not self.result.startswith(("manual", "failed"))


def _is_404(exc: BaseException) -> bool:
    return getattr(exc, "response_code", None) == 404


class Converger:
    """Runs the checks in order against one project; ``apply`` fixes what differs."""

    def __init__(
        self,
        gl: gitlab.Gitlab,
        project: Project,
        standard: Standard,
        template: Template,
        *,
        apply: bool,
        visibility: str | None = None,
    ) -> None:
        self.gl = gl
        self.project = project
        self.std = standard
        self.template = template
        self.apply = apply
        self.visibility = visibility or standard.visibility

    @property
    def attrs(self) -> dict[str, Any]:
        return self.project.attributes

    def run(self) -> list[Item]:
        items: list[Item] = []
        checks = (
            self.check_template,
            self.check_default_branch,
            self.check_visibility,
            self.check_settings,
            self.check_protection,
            self.check_approvals,
            self.check_labels,
            self.check_members,
        )
        for check in checks:
            for item in check():
                self._settle(item)
                items.append(item)
        return items

    def _settle(self, item: Item) -> None:
        if item.result:
            return
        if item.ok:
            item.result, item.level = "ok", "ok"
            return
        if item.fix is None:
            item.result, item.level = (f"manual: {item.manual}" if item.manual else "differs"), "warning"
            return
        if not self.apply:
            item.result, item.level = ("missing" if item.found in ("missing", "none") else "differs"), "warning"
            return
        try:
            item.result, item.level = item.fix(), "ok"
        except gitlab_error() as exc:
            error = translate(exc)
            if error is None or getattr(exc, "response_code", None) == 401:
                raise
            item.result, item.level = f"failed: {error.message}", "critical"

    def _failed(self, aspect: str, expected: str, exc: Exception) -> Item:
        error = translate(exc)
        if error is None or getattr(exc, "response_code", None) == 401:
            raise exc
        return Item(aspect, expected, "unknown", False, result=f"failed: {error.message}", level="critical")

    def _save(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.project, key, value)
        self.project.save()

    # -- the checks -------------------------------------------------------------------
    def check_template(self) -> Iterator[Item]:
        tpl = self.template
        if tpl.project:
            forked = (self.attrs.get("forked_from_project") or {}).get("path_with_namespace")
            yield Item(
                f"template {tpl.name}",
                f"fork of {tpl.project}",
                f"fork of {forked}" if forked else "not a fork",
                forked == tpl.project,
                manual="an existing project cannot be re-forked; compare it by hand",
            )
            return
        branch = self.attrs.get("default_branch") or self.std.default_branch
        files = tpl.render(self.attrs["path_with_namespace"], self.attrs["name"])
        for file_path, content in files.items():
            present = False
            if not self.attrs.get("empty_repo"):
                try:
                    self.project.files.head(file_path, ref=branch)
                    present = True
                except gitlab_error() as exc:
                    if not _is_404(exc):
                        yield self._failed(f"file {file_path}", "present", exc)
                        continue
            yield Item(
                f"file {file_path}",
                "present",
                "present" if present else "missing",
                present,
                fix=self._file_fixer(file_path, content, branch),
            )

    def _file_fixer(self, file_path: str, content: str, branch: str) -> Callable[[], str]:
        def fix() -> str:
            was_empty = bool(self.attrs.get("empty_repo"))
            self.project.files.create(
                {
                    "file_path": file_path,
                    "branch": branch,
                    "content": content,
                    "commit_message": f"Add {file_path} (repository standard)",
                }
            )
            if was_empty:  # the first commit made the branch and the default branch
                self.project = self.gl.projects.get(self.attrs["id"])
            return f"created on {branch}"

        return fix

    def check_default_branch(self) -> Iterator[Item]:
        want = self.std.default_branch
        have = self.attrs.get("default_branch")
        fix: Callable[[], str] | None = None
        manual = ""
        if have:

            def fix() -> str:
                try:
                    self.project.branches.get(want)
                    made = ""
                except gitlab_error() as exc:
                    if not _is_404(exc):
                        raise
                    self.project.branches.create({"branch": want, "ref": have})
                    made = f"created from {have}, "
                self._save(default_branch=want)
                return f"{made}set as default"

        else:
            manual = "the repository is empty; push a first commit"
        yield Item("default branch", want, have or "none (empty repository)", have == want, fix=fix, manual=manual)

    def check_visibility(self) -> Iterator[Item]:
        have = self.attrs.get("visibility", "")
        allowed = " or ".join(self.std.allowed_visibility)

        def fix() -> str:
            self._save(visibility=self.visibility)
            return f"set to {self.visibility}"

        yield Item("visibility", allowed, have, have in self.std.allowed_visibility, fix=fix)

    def check_settings(self) -> Iterator[Item]:
        for key, want in self.std.settings.items():
            have = self.attrs.get(key)

            def fix(key: str = key, want: Any = want) -> str:
                self._save(**{key: want})
                return "set"

            yield Item(key.replace("_", " "), _show(want), _show(have), have == want, fix=fix)

    def check_protection(self) -> Iterator[Item]:
        branch = self.std.default_branch
        want = (self.std.push_level, self.std.merge_level, self.std.allow_force_push)
        expected = _protection_text(*want)
        try:
            current: Any = self.project.protectedbranches.get(branch)
        except gitlab_error() as exc:
            if not _is_404(exc):
                yield self._failed(f"protected {branch}", expected, exc)
                return
            current = None
        have = None
        if current is not None:
            attrs = current.attributes

            def first(key: str) -> int:
                levels = attrs.get(key) or [{}]
                return int(levels[0].get("access_level", -1))

            have = (first("push_access_levels"), first("merge_access_levels"), bool(attrs.get("allow_force_push")))

        def fix() -> str:
            if current is not None:
                self.project.protectedbranches.delete(branch)
            self.project.protectedbranches.create(
                {
                    "name": branch,
                    "push_access_level": want[0],
                    "merge_access_level": want[1],
                    "allow_force_push": want[2],
                }
            )
            return "re-protected" if current is not None else "protected"

        found = _protection_text(*have) if have else "not protected"
        yield Item(f"protected {branch}", expected, found, have == want, fix=fix)

    def check_approvals(self) -> Iterator[Item]:
        want, name = self.std.approvals_required, self.std.approval_rule
        expected = f"rule {name!r}: {want} approval{'s' if want != 1 else ''}"
        try:
            rules = self.project.approvalrules.list(get_all=True)
        except gitlab_error() as exc:
            yield self._failed("approvals", expected, exc)
            return
        rule = next((r for r in rules if r.attributes.get("name") == name), None)
        have = int(rule.attributes.get("approvals_required", 0)) if rule is not None else None

        def fix() -> str:
            if rule is None:
                self.project.approvalrules.create({"name": name, "approvals_required": want})
                return "created"
            self.project.approvalrules.update(rule.get_id(), {"name": name, "approvals_required": want})
            return "updated"

        found = f"rule {name!r}: {have} approval{'s' if have != 1 else ''}" if have is not None else "missing"
        yield Item("approvals", expected, found, have == want, fix=fix)

    def check_labels(self) -> Iterator[Item]:
        if not self.std.labels:
            return
        try:
            existing = {lb.attributes["name"]: lb.attributes for lb in self.project.labels.list(get_all=True)}
        except gitlab_error() as exc:
            yield self._failed("labels", "present", exc)
            return
        for label in self.std.labels:
            have = existing.get(label.name)
            found = str(have["color"]) if have else "missing"
            ok = have is not None and str(have["color"]).lower() == label.color.lower()
            manual = ""
            fix: Callable[[], str] | None
            if have is None:

                def fix(label: Any = label) -> str:
                    self.project.labels.create(
                        {"name": label.name, "color": label.color, "description": label.description}
                    )
                    return "created"

            elif have.get("is_project_label", True):

                def fix(label: Any = label, have: Any = have) -> str:
                    self.project.labels.update(label.name, {"color": label.color})
                    return "recoloured"

            else:
                fix, manual = None, "inherited from the group; change it there"
            yield Item(f"label {label.name}", label.color, found, ok, fix=fix, manual=manual)

    def check_members(self) -> Iterator[Item]:
        path = self.std.members_group
        if not path:
            return
        level = self.std.members_access
        expected = f"shared with {path} as {_MEMBER_NAMES.get(level, level)}"
        try:
            group = self.gl.groups.get(path)
        except gitlab_error() as exc:
            yield self._failed("members", expected, exc)
            return
        gid = group.get_id()
        assert isinstance(gid, int)
        share = next((s for s in self.attrs.get("shared_with_groups") or [] if s.get("group_id") == gid), None)
        have = int(share["group_access_level"]) if share else None

        def fix() -> str:
            if share is not None:
                self.project.unshare(gid)
            self.project.share(gid, level)
            return "re-shared" if share is not None else "shared"

        found = f"shared with {path} as {_MEMBER_NAMES.get(have, have)}" if have is not None else "not shared"
        yield Item("members", expected, found, have == level, fix=fix)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "unset" if value is None else str(value)


def _protection_text(push: int, merge: int, force: bool) -> str:
    def name(level: int) -> str:
        return _PROTECTION_NAMES.get(level, str(level))

    return f"push {name(push)}, merge {name(merge)}, {'force push allowed' if force else 'no force push'}"
