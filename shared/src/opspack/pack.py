"""A pack's own metadata: its name, summary, settings and command modules.

Every pack declares one :class:`Pack` in its package ``__init__``::

    pack = Pack(
        name="vmware",
        summary="vSphere inventory and VM operations",
        modules=["opspack_vmware.vm", "opspack_vmware.host"],
        settings=[Setting("url", "SDK endpoint"), Setting("password", "...", secret=True)],
    )

The registry builder reads it; at run time the core reads the generated
``opspack-pack.json`` beside it instead, so listing never imports pack code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from opspack.errors import OpsError

SettingType = Literal["str", "bool", "int", "float"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of a pack, read from ``OPSPACK_<PACK>_<NAME>`` or opspack.toml."""

    name: str
    description: str = ""
    secret: bool = False
    default: str | bool | int | float | None = None
    type: SettingType = "str"
    required: bool | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"setting name {self.name!r} must be lower_snake_case")

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return self.default is None

    def env_var(self, pack: str) -> str:
        return f"OPSPACK_{pack.upper()}_{self.name.upper()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "secret": self.secret,
            "type": self.type,
            "default": self.default,
            "required": self.is_required,
        }


Translator = Callable[[BaseException], OpsError | None]


@dataclass(slots=True)
class Pack:
    """A pack's metadata; ``translate`` maps backend exceptions to error results."""

    name: str
    summary: str
    modules: Sequence[str]
    settings: Sequence[Setting] = ()
    translate: Translator | None = None
    docs_url: str | None = None
    _settings_by_name: dict[str, Setting] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"pack name {self.name!r} must be lower_snake_case")
        self._settings_by_name = {s.name: s for s in self.settings}

    @property
    def distribution(self) -> str:
        return f"opspack-{self.name.replace('_', '-')}"

    @property
    def package(self) -> str:
        return f"opspack_{self.name}"

    def setting(self, name: str) -> Setting:
        return self._settings_by_name[name]
