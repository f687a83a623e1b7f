"""The docs site's command reference, generated from registry data."""

from __future__ import annotations

from pathlib import Path

from opspack.devtools import docsgen
from opspack.registry import Registry


def test_reference_pages(registry: Registry, tmp_path: Path) -> None:
    pages = docsgen.generate(registry.to_data())
    assert set(pages) == {"index.md", "sample.md"}
    assert "| [sample](sample.md) | 1.2.3 |" in pages["index.md"]
    page = pages["sample.md"]
    assert page.startswith(docsgen.HEADER)
    assert "| `password` | `OPSPACK_SAMPLE_PASSWORD` |" in page  # settings, with the secret marked
    assert "### `thing power-off <thing> [--force]` {#sample-thing-power-off}" in page
    assert "effects: destructive, idempotent, asks for confirmation" in page
    assert "| `--power` | on \\| off \\| suspended | no |" in page  # choices of an argument
    assert "- [`thing list" in page and "](#sample-thing-list)" in page
    assert "Examples:" in page
    registry_file = tmp_path / "registry.json"
    import json

    registry_file.write_text(json.dumps(registry.to_data()))
    assert docsgen.main([str(registry_file), str(tmp_path / "ref")]) == 0
    assert sorted(p.name for p in (tmp_path / "ref").iterdir()) == ["index.md", "sample.md"]
