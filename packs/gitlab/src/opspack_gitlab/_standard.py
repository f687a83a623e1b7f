"""The standard a repository is made to: a TOML file named by the ``standard`` setting.

Every key is optional; what a file leaves out comes from the built-in standard below.
Change the file and every repository `gitlab repo new` makes (or re-runs on) follows it::

    default_branch = "main"
    visibility = "private"                  # for new repositories; --visibility overrides
    allowed_visibility = ["private", "internal"]
    template = "service"                    # the template used without --template

    [protection]                            # the default branch
    push = "maintainer"                     # no_one | developer | maintainer | admin (or 0/30/40/60)
    merge = "developer"
    allow_force_push = false

    [approvals]
    required = 1
    rule = "Standard"                       # the approval rule's name

    [settings]                              # project attributes, named as the Projects API names them
    only_allow_merge_if_pipeline_succeeds = true
    only_allow_merge_if_all_discussions_are_resolved = true
    remove_source_branch_after_merge = true

    [members]                               # the project is shared with this group
    group = "platform/engineers"
    access = "developer"                    # guest | reporter | developer | maintainer

    [[labels]]
    name = "bug"
    color = "#d9534f"
    description = "Something is broken"

    [templates.service.files]               # a template made of files ({name}, {path},
    "README.md" = "# {name}\\n"              #  {namespace}, {project} are filled in)

    [templates.skeleton]                    # a template that is a project to fork
    project = "platform/templates/skeleton"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opspack.errors import ConfigError

PROTECTION_LEVELS = {"no_one": 0, "developer": 30, "maintainer": 40, "admin": 60}
MEMBER_LEVELS = {"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}

DEFAULT_CI = """\
# The standard pipeline: replace the jobs, keep the stages.
stages: [build, test, deploy]

build:
  stage: build
  script: [make build]

test:
  stage: test
  script: [make test]
"""


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    color: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Template:
    """A project to fork (``project``) or files to commit (``files``)."""

    name: str
    project: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    def render(self, path_with_namespace: str, name: str) -> dict[str, str]:
        namespace, _, path = path_with_namespace.rpartition("/")
        values = {"{name}": name, "{path}": path, "{namespace}": namespace, "{project}": path_with_namespace}
        out = {}
        for file_path, content in self.files.items():
            for key, value in values.items():
                content = content.replace(key, value)
            out[file_path] = content
        return out


@dataclass(frozen=True, slots=True)
class Standard:
    source: str
    default_branch: str = "main"
    visibility: str = "private"
    allowed_visibility: tuple[str, ...] = ("private", "internal")
    template: str = "service"
    templates: dict[str, Template] = field(default_factory=dict)
    push_level: int = 40
    merge_level: int = 30
    allow_force_push: bool = False
    approvals_required: int = 1
    approval_rule: str = "Standard"
    settings: dict[str, Any] = field(default_factory=dict)
    members_group: str | None = None
    members_access: int = 30
    labels: tuple[Label, ...] = ()

    def pick_template(self, name: str | None) -> Template:
        chosen = name or self.template
        if chosen not in self.templates:
            from opspack.errors import UsageError

            known = ", ".join(sorted(self.templates)) or "none"
            raise UsageError(
                f"template '{chosen}' is not in the standard ({self.source})",
                f"Known templates: {known}. Add [templates.{chosen}] to the standard file.",
            )
        return self.templates[chosen]


BUILTIN: dict[str, Any] = {
    "default_branch": "main",
    "visibility": "private",
    "allowed_visibility": ["private", "internal"],
    "template": "service",
    "protection": {"push": "maintainer", "merge": "developer", "allow_force_push": False},
    "approvals": {"required": 1, "rule": "Standard"},
    "settings": {
        "only_allow_merge_if_pipeline_succeeds": True,
        "only_allow_merge_if_all_discussions_are_resolved": True,
        "remove_source_branch_after_merge": True,
    },
    "members": {},
    "labels": [
        {"name": "bug", "color": "#d9534f", "description": "Something is broken"},
        {"name": "feature", "color": "#5cb85c", "description": "New behaviour"},
        {"name": "security", "color": "#8e44ad", "description": "Security relevant"},
        {"name": "tech-debt", "color": "#f0ad4e", "description": "Cleanup that pays back later"},
    ],
    "templates": {
        "service": {
            "files": {
                "README.md": "# {name}\n\nPart of {namespace}. Owners: see CODEOWNERS.\n",
                ".gitlab-ci.yml": DEFAULT_CI,
                "CODEOWNERS": "* @{namespace}\n",
            }
        }
    },
}


def load(path: str) -> Standard:
    """The standard from ``path`` (TOML) over the built-in one; empty path: built-in."""
    data: dict[str, Any] = {}
    source = "built-in standard"
    if path:
        file = Path(path).expanduser()
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"standard file {file} does not exist",
                "Point the gitlab `standard` setting at the team's standard TOML file, or unset it.",
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"standard file {file} is not valid TOML: {exc}") from None
        source = str(file)
    try:
        return _build(data, source)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"standard {source} is invalid: {exc}", "See the gitlab pack's README for the format."
        ) from None


def _merged(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, BUILTIN[key])
    if not isinstance(value, dict):
        raise TypeError(f"[{key}] must be a table")
    return {**BUILTIN[key], **value} if key in ("protection", "approvals") else value


def _level(value: Any, names: dict[str, int], what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower().replace("-", "_").replace(" ", "_") in names:
        return names[value.lower().replace("-", "_").replace(" ", "_")]
    raise ValueError(f"{what} = {value!r}; expected one of {', '.join(names)}")


def _build(data: dict[str, Any], source: str) -> Standard:
    known = set(BUILTIN)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    protection = _merged(data, "protection")
    approvals = _merged(data, "approvals")
    members = _merged(data, "members")
    templates = {}
    for name, spec in data.get("templates", BUILTIN["templates"]).items():
        if not isinstance(spec, dict) or not (spec.get("project") or spec.get("files")):
            raise ValueError(f"[templates.{name}] needs `project` (a project to fork) or a `files` table")
        templates[name] = Template(
            name, spec.get("project"), {str(k): str(v) for k, v in spec.get("files", {}).items()}
        )
    labels = tuple(
        Label(str(lb["name"]), str(lb["color"]), str(lb.get("description", "")))
        for lb in data.get("labels", BUILTIN["labels"])
    )
    visibility = str(data.get("visibility", BUILTIN["visibility"]))
    allowed = tuple(str(v) for v in data.get("allowed_visibility", BUILTIN["allowed_visibility"]))
    if visibility not in allowed:
        raise ValueError(f"visibility {visibility!r} is not in allowed_visibility {list(allowed)}")
    approvals_required = int(approvals["required"])
    if approvals_required < 0:
        raise ValueError("approvals.required must be 0 or more")
    return Standard(
        source=source,
        default_branch=str(data.get("default_branch", BUILTIN["default_branch"])),
        visibility=visibility,
        allowed_visibility=allowed,
        template=str(data.get("template", BUILTIN["template"])),
        templates=templates,
        push_level=_level(protection["push"], PROTECTION_LEVELS, "protection.push"),
        merge_level=_level(protection["merge"], PROTECTION_LEVELS, "protection.merge"),
        allow_force_push=bool(protection.get("allow_force_push", False)),
        approvals_required=approvals_required,
        approval_rule=str(approvals.get("rule", "Standard")),
        settings=dict(_merged(data, "settings")),
        members_group=str(members["group"]) if members.get("group") else None,
        members_access=_level(members.get("access", "developer"), MEMBER_LEVELS, "members.access"),
        labels=labels,
    )
