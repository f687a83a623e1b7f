"""opspack: declare chat-ops commands, render their results anywhere, run them from any bot.

The names below are imported lazily, so ``import opspack`` stays cheap for a bot that
only lists commands. Typical pack code::

    from opspack import Context, Table, command
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from opspack.version import __version__

_EXPORTS = {
    "command": "opspack.declare",
    "spec_of": "opspack.declare",
    "MaxItems": "opspack.declare",
    "Context": "opspack.context",
    "Caller": "opspack.context",
    "Pack": "opspack.pack",
    "Setting": "opspack.pack",
    "Registry": "opspack.registry",
    "Runtime": "opspack.runtime",
    "render": "opspack.renderers",
    "Text": "opspack.results",
    "Table": "opspack.results",
    "KV": "opspack.results",
    "Status": "opspack.results",
    "Image": "opspack.results",
    "Link": "opspack.results",
    "Menu": "opspack.results",
    "MenuOption": "opspack.results",
    "Diff": "opspack.results",
    "Progress": "opspack.results",
    "Error": "opspack.results",
    "Reply": "opspack.results",
    "Result": "opspack.results",
    "worst": "opspack.results",
    "OpsError": "opspack.errors",
    "UsageError": "opspack.errors",
    "NotFound": "opspack.errors",
    "Denied": "opspack.errors",
    "ConfigError": "opspack.errors",
    "BackendError": "opspack.errors",
    "CommandTimeout": "opspack.errors",
    "Ambiguous": "opspack.errors",
}

__all__ = [
    "KV",
    "Ambiguous",
    "BackendError",
    "Caller",
    "CommandTimeout",
    "ConfigError",
    "Context",
    "Denied",
    "Diff",
    "Error",
    "Image",
    "Link",
    "MaxItems",
    "Menu",
    "MenuOption",
    "NotFound",
    "OpsError",
    "Pack",
    "Progress",
    "Registry",
    "Reply",
    "Result",
    "Runtime",
    "Setting",
    "Status",
    "Table",
    "Text",
    "UsageError",
    "__version__",
    "command",
    "render",
    "spec_of",
    "worst",
]

if TYPE_CHECKING:
    from opspack.context import Caller, Context
    from opspack.declare import MaxItems, command, spec_of
    from opspack.errors import (
        Ambiguous,
        BackendError,
        CommandTimeout,
        ConfigError,
        Denied,
        NotFound,
        OpsError,
        UsageError,
    )
    from opspack.pack import Pack, Setting
    from opspack.registry import Registry
    from opspack.renderers import render
    from opspack.results import (
        KV,
        Diff,
        Error,
        Image,
        Link,
        Menu,
        MenuOption,
        Progress,
        Reply,
        Result,
        Status,
        Table,
        Text,
        worst,
    )
    from opspack.runtime import Runtime


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'opspack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
