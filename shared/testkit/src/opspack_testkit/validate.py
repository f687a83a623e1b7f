"""Validators for rendered output: the contract's JSON Schemas and Slack's block models."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from opspack.renderers.slack import (
    ACTIONS,
    FIELD_TEXT,
    MAX_BLOCKS,
    MAX_FIELDS,
    MESSAGE_CHARS,
    SECTION_TEXT,
    TABLE_CELLS,
    TABLE_ROWS,
)


@cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped with the core (``registry``, ``reply``)."""
    text = files("opspack").joinpath("schemas", f"{name}.schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _validator(name: str) -> Any:
    import jsonschema

    s = schema(name)
    cls = jsonschema.validators.validator_for(s)
    cls.check_schema(s)
    return cls(s)


def validate_reply_json(data: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``data`` is a valid reply object."""
    _validator("reply").validate(data)


def validate_registry(data: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``data`` is a valid registry.json."""
    _validator("registry").validate(data)


def validate_slack_messages(messages: list[dict[str, Any]]) -> None:
    """Check Slack payloads with slack_sdk's block models and the platform's limits."""
    from slack_sdk.models.blocks import Block

    for msg in messages:
        if "upload" in msg:
            up = msg["upload"]
            assert up["filename"] and up["content_base64"] is not None
            continue
        assert set(msg) <= {"text", "blocks"}, msg.keys()
        blocks = msg["blocks"]
        assert 0 < len(blocks) <= MAX_BLOCKS
        assert sum(1 for b in blocks if b["type"] == "table") <= 1, "one table block per message"
        assert len(json.dumps(blocks, ensure_ascii=False)) <= MESSAGE_CHARS + 2000
        for raw in blocks:
            block = Block.parse(raw)
            assert block is not None, f"unknown block {raw['type']}"
            block.validate_json()
            if raw["type"] == "section":
                if "text" in raw:
                    assert len(raw["text"]["text"]) <= SECTION_TEXT
                for f in raw.get("fields", []):
                    assert len(f["text"]) <= FIELD_TEXT
                assert len(raw.get("fields", [])) <= MAX_FIELDS
            if raw["type"] == "table":
                assert len(raw["rows"]) <= TABLE_ROWS
                assert all(len(r) <= TABLE_CELLS for r in raw["rows"])
            if raw["type"] == "actions":
                assert len(raw["elements"]) <= ACTIONS
