"""Where the config file is found: ``$OPSPACK_CONFIG``, ``./opspack.toml``, the user's config
folder, ``/etc/opspack/opspack.toml``; the one lookup every command goes through, so a
process started from ``/`` (an MCP host starting ``opspack mcp``) finds the user's file."""

from __future__ import annotations

from pathlib import Path

import pytest
from opspack import settings
from opspack.settings import Config, config_path


def _toml(path: Path, text: str = "[x]\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, and a system config path under tmp_path (not /etc)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(settings, "SYSTEM_CONFIG", tmp_path / "etc" / "opspack" / "opspack.toml")
    return tmp_path


def test_the_lookup_order(elsewhere: Path) -> None:
    home = elsewhere / "home"
    env = {"HOME": str(home)}
    assert config_path(env) is None
    system = _toml(settings.SYSTEM_CONFIG)
    assert config_path(env) == system
    user = _toml(home / ".config" / "opspack" / "opspack.toml")
    assert config_path(env) == user
    xdg = _toml(elsewhere / "xdg" / "opspack" / "opspack.toml")
    assert config_path({**env, "XDG_CONFIG_HOME": str(elsewhere / "xdg")}) == xdg
    assert config_path({**env, "XDG_CONFIG_HOME": "relative/xdg"}) == user  # XDG: relative is ignored
    local = _toml(Path("opspack.toml"))
    assert config_path(env) == local
    chosen = elsewhere / "chosen.toml"
    assert config_path({**env, "OPSPACK_CONFIG": str(chosen)}) == chosen  # wins, even before it exists


def test_config_load_reads_the_users_file_from_any_folder(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = elsewhere / "home"
    _toml(home / ".config" / "opspack" / "opspack.toml", '[serve]\ntokens = ["from-home"]\n')
    monkeypatch.chdir("/")
    config = Config.load(environ={"HOME": str(home)})
    assert config.path == home / ".config" / "opspack" / "opspack.toml"
    assert config.table("serve") == {"tokens": ["from-home"]}
