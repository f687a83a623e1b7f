"""Shell completion: `opspack completion bash|zsh` loaded in a real bash and a real zsh
completes subcommands, options and the chat words of `opspack run` from the registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from opspack.frontends.cli import parser
from opspack.frontends.completion import candidates
from opspack.registry import Registry

SAMPLE = Path(__file__).parent / "sample_pack"


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    path = tmp_path_factory.mktemp("reg") / "registry.json"
    path.write_text(json.dumps(registry.to_data()))
    return path


def test_candidates(registry: Registry) -> None:
    p = parser()
    assert {"run", "help", "list", "shell", "completion"} <= set(candidates([""], p, registry))
    assert candidates(["he"], p, registry) == ["help"]
    assert candidates(["--no"], p, registry) == ["--no-color"]
    assert candidates(["run", "--", "thing", "po"], p, registry) == ["power-off"]
    assert candidates(["run", "thing", "po"], p, registry) == ["power-off"]  # without --
    assert candidates(["run", "--yes", "--", "sample", "thing", "li"], p, registry) == ["list"]
    assert candidates(["run", "--", "thing", "list", "--"], p, registry) == ["--limit", "--name", "--power"]
    assert candidates(["run", "--", "thing", "list", "--name", ""], p, registry) == []  # a value
    assert candidates(["run", "--fo"], p, registry) == ["--format"]
    assert candidates(["run", "--format", "ma"], p, registry) == ["markdown", "mattermost"]
    assert candidates(["help", "thing", "power-o"], p, registry) == ["power-off"]
    assert candidates(["completion", ""], p, registry) == ["bash", "zsh"]
    assert candidates(["list", "--j"], p, registry) == ["--json"]
    assert candidates(["nosuch", ""], p, registry) == []


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # this opspack
    env["PYTHONPATH"] = str(SAMPLE)
    return env


def _script(shell: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "opspack.frontends.cli", "completion", shell],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    return proc.stdout


def test_bash_completes_chat_words(registry_file: Path) -> None:
    bash = shutil.which("bash")
    assert bash, "bash is needed (scripts/install-test-deps.sh)"

    def complete(*words: str) -> list[str]:
        line = " ".join(["opspack", "--registry", str(registry_file), *words])
        program = (
            _script("bash")
            + f"COMP_WORDS=({line}); COMP_CWORD={len(words) + 2}; _opspack_complete;"
            + ' printf "%s\\n" "${COMPREPLY[@]}"'
        )
        out = subprocess.run([bash, "-c", program], capture_output=True, text=True, env=_env(), timeout=60)
        return [w for w in out.stdout.splitlines() if w]

    assert complete("run", "--", "thing", "po") == ["power-off"]
    assert "list" in complete("run", "--", "thing", "''")
    assert complete("ru") == ["run"]


def test_zsh_completes_chat_words(registry_file: Path) -> None:
    zsh = shutil.which("zsh")
    assert zsh, "zsh is needed (scripts/install-test-deps.sh)"

    def complete(*words: str) -> list[str]:
        # compadd and compdef as zsh's completion system calls them; words/CURRENT as it sets them
        program = (
            "compdef() { : }; compadd() { while [[ $1 == -* ]]; do [[ $1 == -- ]] && { shift; break }; shift; done;"
            ' print -l -- "$@" }\n'
            + _script("zsh")
            + f"\nwords=(opspack --registry {registry_file} {' '.join(words)}); CURRENT={len(words) + 3}; _opspack\n"
        )
        out = subprocess.run([zsh, "-f", "-c", program], capture_output=True, text=True, env=_env(), timeout=60)
        assert out.returncode == 0, out.stderr
        return [w for w in out.stdout.splitlines() if w]

    assert complete("run", "--", "thing", "po") == ["power-off"]
    assert "list" in complete("run", "--", "thing", "''")
    assert complete("he") == ["help"]
