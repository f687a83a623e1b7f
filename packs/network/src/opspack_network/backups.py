"""Where running configs are kept: one ``<device>.cfg`` per device in the backup folder.

With ``backup_git`` the folder is a git repository (made on first use) and each backup
run that changed something is one commit, so ``git log -p sw1.cfg`` is a device's history.
Configs are normalised first: the lines a device changes on every read (``Building
configuration...``, ``Current configuration : N bytes``, ``! Last configuration change
at ...``, ``ntp clock-period``) are dropped, so an unchanged device shows no change.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from opspack import ConfigError, NotFound, UsageError

_VOLATILE = re.compile(
    r"^(Building configuration|Current configuration\s*:|Using \d+ out of \d+ bytes|"
    r"! (Last configuration change|NVRAM config last updated)|ntp clock-period|!Time:|## Last commit:)"
)


def normalise(text: str) -> str:
    """The config without the lines that change on every read, trailing spaces trimmed."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    kept = [line for line in lines if not _VOLATILE.match(line)]
    while kept and not kept[0]:
        kept.pop(0)
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept) + "\n"


@dataclass(slots=True)
class Saved:
    device: str
    state: str  # new | changed | unchanged
    before: str
    after: str
    path: Path


class Store:
    """The backup folder (optionally a git repository)."""

    def __init__(self, folder: str, git: bool) -> None:
        if not folder.strip():
            raise ConfigError(
                "no backup folder is set", "Set OPSPACK_NETWORK_BACKUP_DIR to a folder the bot may write."
            )
        self.folder = Path(folder).expanduser()
        self.git = git

    def path(self, device: str) -> Path:
        return self.folder / f"{device}.cfg"

    def last(self, device: str) -> str | None:
        try:
            return self.path(device).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def file(self, name: str) -> tuple[str, Path]:
        """A file inside the backup folder, by a relative name (no way out of the folder)."""
        candidate = (self.folder / name).resolve()
        root = self.folder.resolve()
        if root not in candidate.parents:
            raise UsageError(
                f"'{name}' is not a file in the backup folder",
                "Give a file name relative to the backup folder (e.g. sw1-before-change.cfg).",
            )
        try:
            return candidate.read_text(encoding="utf-8"), candidate
        except (FileNotFoundError, IsADirectoryError):
            names = [p.name for p in sorted(root.glob("*.cfg"))] if root.is_dir() else []
            raise NotFound.with_matches("backup file", name, names) from None

    def save(self, configs: dict[str, str]) -> list[Saved]:
        """Write each device's normalised config; say what changed since the last backup."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"the backup folder {self.folder} cannot be made ({exc.strerror})") from None
        out: list[Saved] = []
        for device, text in configs.items():
            after = normalise(text)
            before = self.last(device)
            state = "new" if before is None else ("unchanged" if before == after else "changed")
            if state != "unchanged":
                self.path(device).write_text(after, encoding="utf-8")
            out.append(Saved(device, state, before or "", after, self.path(device)))
        return out

    def commit(self, message: str) -> str | None:
        """Commit the folder's changes (git mode); the new commit's short id, or None if nothing changed."""
        if not self.git:
            return None
        if not (self.folder / ".git").exists():
            self._git("init", "-q")
        self._git("add", "-A")
        if not self._git("status", "--porcelain").strip():
            return None
        self._git("commit", "-q", "-m", message)
        return self._git("rev-parse", "--short", "HEAD").strip()

    def _git(self, *args: str) -> str:
        cmd = ["git", "-c", "user.name=opspack", "-c", "user.email=opspack@localhost", "-C", str(self.folder), *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        except FileNotFoundError:
            raise ConfigError(
                "backup_git is on but git is not installed", "Install git, or turn backup_git off."
            ) from None
        if done.returncode != 0:
            raise ConfigError(f"git {args[0]} failed in the backup folder: {done.stderr.strip()[:300]}")
        return done.stdout
