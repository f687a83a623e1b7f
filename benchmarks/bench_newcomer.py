"""The newcomer's path from a script to a chat command, timed step by step on a fresh clone.

Target (issue: a script becomes a chat command in five minutes): under 5 minutes of wall time
with no hand edits, from `git clone` to `whats-new` listing the command. The steps are the
ones docs/first-pack.md gives: new-pack --from-script, the gates (the pack's tests, registry,
command_tests, lint, typecheck of the new pack, release_check), `opspack run --format markdown`,
`whats-new`. The first gate run includes making the pack's virtualenv (uv), as on a
contributor's machine; the command time a person spends typing is not counted.
Run: ``nox -s benchmarks`` or ``python benchmarks/bench_newcomer.py`` (needs git, nox and uv).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "shared" / "tests" / "scripts" / "diskreport.py"
TARGET_S = 300.0


def _env(clone: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "OPSPACK_CHANGED_SINCE")}
    env["PYTHONPATH"] = str(clone / "packs" / "disk" / "src")
    env["OPSPACK_AUDIT_URL"] = "off"
    return env


def _step(steps: list[tuple[str, float]], name: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=900, check=False)
    steps.append((name, time.perf_counter() - start))
    if proc.returncode != 0:
        raise SystemExit(f"step {name!r} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout + proc.stderr


def main() -> int:
    nox = shutil.which("nox")
    nox_cmd = [nox] if nox else [sys.executable, "-m", "nox"]
    opspack = [sys.executable, "-m", "opspack.frontends.cli"]
    steps: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="opspack-newcomer-") as tmp:
        clone = Path(tmp) / "repo"
        env = _env(clone)
        _step(steps, "git clone", ["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], Path(tmp), env)
        # the checkout's working files, as a merged main would have them (not timed as a step)
        for rel in ("shared", "noxfile.py", "registry.json", "ruff.toml", "mypy.ini"):
            src = ROOT / rel
            if src.is_dir():
                shutil.copytree(src, clone / rel, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, clone / rel)
        git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=dev"]
        subprocess.run([*git, "add", "-A"], cwd=clone, check=True, capture_output=True)
        subprocess.run([*git, "commit", "-qm", "main", "--allow-empty"], cwd=clone, check=True, capture_output=True)
        script = Path(tmp) / "diskreport.py"
        shutil.copy2(SCRIPT, script)
        data = Path(tmp) / "data"
        data.mkdir()
        (data / "big.bin").write_bytes(b"x" * 5000)

        new_pack = [*opspack, "new-pack", "disk", "--from-script", str(script), "--words", "disk top", "--read-only"]
        _step(steps, "new-pack --from-script", new_pack, clone, env)
        gates = ["-s", "tests(disk)", "registry", "command_tests", "lint"]
        _step(steps, "gates: tests(disk) registry command_tests lint", [*nox_cmd, *gates], clone, env)
        mypy = shutil.which("mypy")
        if mypy:  # the typecheck session installs every pack; the new pack alone is what changed
            _step(steps, "mypy --strict packs/disk/src", [mypy, "packs/disk/src"], clone, env)
        out = _step(steps, "release_check", [*nox_cmd, "-s", "release_check", "--", "HEAD"], clone, env)
        assert "new pack: no bump needed" in out, out
        run = [*opspack, "--registry", "registry.json", "run", "--format", "markdown", "--", "disk", "top"]
        out = _step(steps, "opspack run --format markdown -- disk top", [*run, "--path", str(data)], clone, env)
        assert "| big.bin | 5000 |" in out, out
        out = _step(steps, "whats-new", [*opspack, "whats-new", "--since", "HEAD", "--repo", str(clone)], clone, env)
        assert "disk top" in out, out
    total = sum(s for _, s in steps)
    width = max(len(n) for n, _ in steps)
    print("newcomer path: a script to a chat command (fresh clone, no hand edits)")
    for name, seconds in steps:
        print(f"  {name:<{width}}  {seconds:7.1f} s")
    print(
        f"  {'total':<{width}}  {total:7.1f} s  (target < {TARGET_S:.0f} s: {'met' if total < TARGET_S else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
