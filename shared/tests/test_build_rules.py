"""The registry build teaches its rules: a module-level client import names the import and the
lazy-import rule; a missing module names the import that needs it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opspack.devtools import registry_build as build
from opspack.devtools import scaffold
from opspack.frontends import cli


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "shared").mkdir()
    (tmp_path / "packs").mkdir()
    scaffold.new_pack(tmp_path, "lazyx")
    _forget()
    yield tmp_path
    _forget()


def _forget() -> None:
    """Let the next build import the pack's modules again (as a new process would)."""
    for name in [m for m in sys.modules if m.startswith("opspack_lazyx")]:
        del sys.modules[name]


def _example(root: Path) -> Path:
    return root / "packs/lazyx/src/opspack_lazyx/example.py"


def _prepend(path: Path, text: str) -> None:
    source = path.read_text()
    head, _, rest = source.partition("from opspack import")
    path.write_text(head + text + "from opspack import" + rest)


def test_a_client_import_at_module_level_names_the_import_and_the_rule(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _prepend(_example(root), "import psutil\n")
    with pytest.raises(build.BuildError) as caught:
        build.build(root)
    message = str(caught.value)
    assert message.startswith("packs/lazyx/src/opspack_lazyx/example.py, line 9: `import psutil` at module level")
    assert "the lazy-import rule (docs/packs.md)" in message and "move the import into the function" in message
    assert cli.main(["registry", "check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "`import psutil`" in err and "Traceback" not in err


def test_a_private_module_imported_at_the_top_counts_and_type_checking_does_not(root: Path) -> None:
    package = root / "packs/lazyx/src/opspack_lazyx"
    (package / "client.py").write_text("from requests import Session\n\nSESSION = Session\n")
    _prepend(_example(root), "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import psutil\n")
    assert build.check(root) == []  # under TYPE_CHECKING it is never imported
    _prepend(_example(root), "from opspack_lazyx import client\n")
    with pytest.raises(build.BuildError, match=r"client.py, line 1: `from requests import Session` at module"):
        build.build(root)


def test_a_module_missing_at_import_names_the_import(root: Path) -> None:
    _prepend(_example(root), "import importlib\n\nimportlib.import_module('no_such_client_lib')\n")
    with pytest.raises(build.BuildError) as caught:
        build.build(root)
    message = str(caught.value)
    assert message.startswith("pack lazyx: importing opspack_lazyx.example needs no_such_client_lib")
    assert "example.py, line 11: `importlib.import_module(" in message and "lazy-import rule" in message


def test_an_undeclared_dependency_is_reported_to_the_contributor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opspack_testkit import run_command

    package = tmp_path / "opspack_ghost"
    package.mkdir()
    (package / "__init__.py").write_text(
        'from opspack.pack import Pack\n\npack = Pack(name="ghost", summary="Ghosts", modules=["opspack_ghost.cmd"])\n'
    )
    (package / "cmd.py").write_text(
        "from opspack import Text, command\n\n\n"
        '@command(group="ghost", verb="run")\n'
        "def run() -> Text:\n"
        '    """Run a ghost."""\n'
        "    import no_such_client_lib\n\n"
        "    return Text(str(no_such_client_lib))\n"
    )
    meta = tmp_path / "opspack_ghost-0.1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: opspack-ghost\nVersion: 0.1.0\nRequires-Dist: opspack\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = build.registry_from_package("opspack_ghost", "0.1.0")
    reply = run_command("ghost run", registry=registry, environ={})
    assert reply.error is not None and reply.error.kind == "config"
    assert reply.error.hint is not None
    assert "declare no_such_client_lib (the distribution that provides it) in packs/ghost/pyproject.toml" in (
        reply.error.hint
    )
    # declared but not installed: the user's fix, installing the pack
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: opspack-ghost\nVersion: 0.1.0\nRequires-Dist: opspack\n"
        "Requires-Dist: no-such-client-lib>=1\n"
    )
    reply = run_command("ghost run", registry=registry, environ={})
    assert (
        reply.error is not None
        and reply.error.hint == "Install the pack with its dependencies: pip install opspack-ghost==0.1.0"
    )
    for name in [m for m in sys.modules if m.startswith("opspack_ghost")]:
        del sys.modules[name]
