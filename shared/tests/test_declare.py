"""Declaring commands: ids, words, usage, effects and the JSON Schema of arguments."""

from __future__ import annotations

from typing import Annotated, Any

import jsonschema
import pytest
from opspack.declare import MaxItems, command, spec_of
from opspack.errors import UsageError
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


def test_a_list_argument_declares_its_most_values() -> None:
    def scan(host: str, *, ports: Annotated[list[int] | None, MaxItems(3)] = None) -> None:
        """Scan.

        Args:
            host: where
            ports: which ports
        """

    def names(items: Annotated[list[str], MaxItems(2)] | None = None) -> None:
        """Names.

        Args:
            items: the names
        """

    spec = spec_of(_declare(scan))
    prop = spec.args_schema()["properties"]["ports"]
    assert prop["type"] == "array" and prop["maxItems"] == 3 and prop["items"] == {"type": "integer"}
    assert spec.validate({"host": "h", "ports": ["1", "2", "3"]})["ports"] == [1, 2, 3]
    assert spec.validate({"host": "h"})["ports"] is None
    with pytest.raises(
        UsageError, match=r"ports: got \[1, 2, 3, 4\], expected a comma-separated list of whole numbers \(at most 3\)"
    ):
        spec.validate({"host": "h", "ports": [1, 2, 3, 4]})
    other = spec_of(_declare(names))
    assert other.args_schema()["properties"]["items"]["maxItems"] == 2
    with pytest.raises(UsageError, match="at most 2"):
        other.validate({"items": ["a", "b", "c"]})


def test_max_items_is_for_list_arguments_only() -> None:
    def wrong(host: Annotated[str, MaxItems(3)]) -> None:
        """Wrong.

        Args:
            host: where
        """

    def other(host: Annotated[list[str], "a note"]) -> None:
        """Other.

        Args:
            host: where
        """

    with pytest.raises(TypeError, match="MaxItems is for list arguments"):
        _ = spec_of(_declare(wrong)).args
    with pytest.raises(TypeError, match="one MaxItems"):
        _ = spec_of(_declare(other)).args
    with pytest.raises(ValueError, match="at least 1"):
        MaxItems(0)
