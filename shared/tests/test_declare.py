"""Declaring commands: ids, words, usage, effects and the JSON Schema of arguments."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from opspack.declare import command, spec_of
from opspack.registry import Registry
from opspack_testkit.validate import validate_registry


def test_registry_entries_validate_against_the_shipped_schema(registry: Registry) -> None:
    validate_registry(registry.to_data())
    for entry in registry:
        jsonschema.Draft202012Validator.check_schema(entry["args_schema"])


def test_ids_words_usage_and_positional(registry: Registry) -> None:
    entry = registry.get("sample.thing.power_off")
    assert entry is not None
    assert entry["chat"]["words"] == ["thing", "power-off"]
    assert entry["chat"]["positional"] == ["thing"]
    assert entry["chat"]["usage"] == "thing power-off <thing> [--force]"
    assert entry["chat"]["aliases"] == ["thing stop"]
    assert entry["entry_point"] == "opspack_sample.thing:power_off"
    assert entry["pack"] == {"name": "sample", "distribution": "opspack-sample", "version": "1.2.3"}
    assert entry["install"] == "pip install opspack-sample==1.2.3"
    assert entry["permission"] == "sample.thing.power"
    assert entry["summary"] == "Power off a thing"


def test_effects(registry: Registry) -> None:
    off = registry.get("sample.thing.power_off")
    listing = registry.get("sample.thing.list")
    assert off is not None and listing is not None
    assert off["effects"] == {"read_only": False, "destructive": True, "idempotent": True, "confirm": True}
    assert listing["effects"] == {"read_only": True, "destructive": False, "idempotent": True, "confirm": False}


def test_schema_types_from_signature(registry: Registry) -> None:
    entry = registry.get("sample.thing.list")
    assert entry is not None
    props = entry["args_schema"]["properties"]
    assert props["power"] == {
        "type": "string",
        "description": "only things in this power state",
        "enum": ["on", "off", "suspended"],
    }
    assert props["limit"] == {"type": "integer", "description": "at most this many rows", "default": 10}
    assert entry["args_schema"]["required"] == []
    assert entry["args_schema"]["additionalProperties"] is False


def test_mapping_argument_and_variadic_positional(registry: Registry) -> None:
    build = registry.get("sample.thing.build")
    config = registry.get("sample.thing.config")
    assert build is not None and config is not None
    assert build["chat"]["mapping"] == "params"
    assert build["args_schema"]["properties"]["params"]["additionalProperties"] == {"type": "string"}
    assert config["chat"]["usage"] == "thing config <device> <lines...> [--color red|blue] [--ratio RATIO]"
    assert config["args_schema"]["properties"]["lines"]["items"] == {"type": "string"}


def test_result_kinds_from_return_annotation(registry: Registry) -> None:
    entry = registry.get("sample.thing.list")
    assert entry is not None and entry["result_kinds"] == ["table"]


def test_description_excludes_args_section(registry: Registry) -> None:
    entry = registry.get("sample.thing.list")
    assert entry is not None
    assert entry["description"] == "A longer description of listing things."


def _declare(fn: Any) -> Any:
    fn.__module__ = "opspack_sample.extra"
    return command()(fn)


def test_unsupported_argument_types_are_refused() -> None:
    def bad(x: set[str]) -> None:
        """Bad.

        Args:
            x: a set
        """

    spec = spec_of(_declare(bad))
    with pytest.raises(TypeError, match="argument 'x'"):
        spec.args_schema()


def test_a_docstring_is_required() -> None:
    def nodoc() -> None:
        pass

    with pytest.raises(ValueError, match="docstring"):
        command()(nodoc)


def test_commands_outside_a_pack_package_are_refused() -> None:
    def f() -> None:
        """Doc."""

    f.__module__ = "somewhere.else"
    spec = spec_of(command()(f))
    with pytest.raises(ValueError, match="opspack_<pack>"):
        _ = spec.id
