"""Pack settings: environment, opspack.toml, named profiles and secret references.

Precedence, lowest first: the setting's default, the ``[<pack>]`` table of the
config file, ``OPSPACK_<PACK>_<SETTING>`` in the environment, and the chosen
``[<pack>.profiles.<name>]`` table. Any value may be a reference:
``env:NAME``, ``file:/path`` or ``vault:<mount>/<path>#<key>``; references are
resolved only when a command needs the value, and resolved secret values are
registered with the :class:`~opspack.masking.Masker` so they never reach a reply.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opspack.errors import ConfigError
from opspack.masking import Masker
from opspack.pack import Setting

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}

#: Resolvers for ``<scheme>:`` references beyond env: and file:, by scheme; each is
#: called with what follows ``<scheme>:`` and the invocation's environment.
REFERENCE_RESOLVERS: dict[str, Callable[[str, Mapping[str, str]], str]] = {}


#: the config file every user of the machine shares, the last place looked at
SYSTEM_CONFIG = Path("/etc/opspack/opspack.toml")


def user_config(environ: Mapping[str, str] | None = None) -> Path | None:
    """``opspack/opspack.toml`` in the user's config folder: ``$XDG_CONFIG_HOME``, else
    ``~/.config`` (None when there is no home folder to look in)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME")
    if base and Path(base).is_absolute():  # the XDG rule: a relative value is ignored
        return Path(base) / "opspack" / "opspack.toml"
    home = env.get("HOME")
    if not home:
        try:
            home = str(Path.home())
        except RuntimeError:
            return None
    return Path(home).expanduser() / ".config" / "opspack" / "opspack.toml"


def config_candidates(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a config file is looked for, in order (without ``$OPSPACK_CONFIG``, which wins
    when set): ``./opspack.toml``, the user's config folder, ``/etc/opspack/opspack.toml``."""
    found = user_config(environ)
    return [Path("opspack.toml"), *([found] if found is not None else []), SYSTEM_CONFIG]


def config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file in force: ``$OPSPACK_CONFIG`` (which must exist), else the first of
    ``./opspack.toml``, ``$XDG_CONFIG_HOME/opspack/opspack.toml`` (``~/.config/opspack/opspack.toml``)
    and ``/etc/opspack/opspack.toml`` that exists, else None (no file: the environment and
    defaults only). Every command reads its settings through this one lookup, so a process
    started from any folder (an MCP host starts ``opspack mcp`` from ``/``) finds the same file."""
    env = os.environ if environ is None else environ
    if env.get("OPSPACK_CONFIG"):
        return Path(env["OPSPACK_CONFIG"]).expanduser()
    for candidate in config_candidates(env):
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # a folder we may not look into: as if the file were not there
            continue
    return None


@dataclass
class Config:
    """The parsed config file (or none) plus the environment it was read with."""

    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        path = path or config_path(env)
        data: dict[str, Any] = {}
        if path is not None:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(
                    f"config file {path} does not exist",
                    "Create it or unset OPSPACK_CONFIG.",
                ) from None
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        return cls(data=data, path=path, environ=env)

    def table(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    def profiles(self, pack: str) -> list[str]:
        return sorted(self.table(pack).get("profiles", {}) or {})

    def raw_values(self, pack: str, profile: str | None) -> dict[str, tuple[Any, str]]:
        """Unresolved values for a pack, each with where it came from."""
        out: dict[str, tuple[Any, str]] = {}
        where = str(self.path) if self.path else "opspack.toml"
        for key, value in self.table(pack).items():
            if key != "profiles":
                out[key] = (value, f"[{pack}] in {where}")
        prefix = f"OPSPACK_{pack.upper()}_"
        for key, value in self.environ.items():
            if key.startswith(prefix):
                out[key[len(prefix) :].lower()] = (value, key)
        if profile:
            profiles = self.table(pack).get("profiles", {}) or {}
            if profile not in profiles:
                known = ", ".join(sorted(profiles)) or "none"
                raise ConfigError(
                    f"profile '{profile}' is not defined for pack {pack}",
                    f"Known profiles: {known}. Add [{pack}.profiles.{profile}] to {where}.",
                )
            for key, value in profiles[profile].items():
                out[key] = (value, f"[{pack}.profiles.{profile}] in {where}")
        return out


def resolve_reference(value: str, environ: Mapping[str, str]) -> tuple[str, bool]:
    """Resolve ``env:``, ``file:`` and registered schemes; return (value, was_reference)."""
    scheme, sep, rest = value.partition(":")
    if not sep:
        return value, False
    if scheme == "env":
        if rest not in environ:
            raise ConfigError(f"reference env:{rest} names an unset environment variable")
        return environ[rest], True
    if scheme == "file":
        try:
            return Path(rest).expanduser().read_text(encoding="utf-8").strip(), True
        except OSError as exc:
            raise ConfigError(f"reference file:{rest} cannot be read: {exc.strerror}") from None
    if scheme in REFERENCE_RESOLVERS:
        return REFERENCE_RESOLVERS[scheme](rest, environ), True
    if scheme == "vault":
        _load_vault_resolver()
        if scheme in REFERENCE_RESOLVERS:
            return REFERENCE_RESOLVERS[scheme](rest, environ), True
        raise ConfigError(
            f"reference vault:{rest} cannot be resolved: Vault support is not installed",
            "pip install 'opspack[vault]'",
        )
    return value, False


def _load_vault_resolver() -> None:
    """Register ``vault:`` references (:mod:`opspack.vault`, which imports hvac only when used)."""
    try:
        from opspack.vault import resolver
    except ImportError:
        return
    REFERENCE_RESOLVERS.setdefault("vault", resolver)


def _convert(setting: Setting, value: Any, source: str, hide: bool = False) -> Any:
    if setting.type == "str":
        return str(value)
    text = str(value).strip().lower()
    try:
        if setting.type == "bool":
            if isinstance(value, bool):
                return value
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if setting.type == "int":
            return int(value)
        if setting.type == "float":
            return float(value)
    except (TypeError, ValueError):
        pass
    shown = "(secret)" if setting.secret or hide else repr(value)
    raise ConfigError(
        f"setting {setting.name} from {source} is {shown}, expected {setting.type}",
    )


class Settings(Mapping[str, Any]):
    """Resolved, typed settings of one pack for one invocation."""

    def __init__(
        self,
        pack: str,
        declared: list[Setting],
        config: Config,
        profile: str | None,
        masker: Masker,
    ) -> None:
        self.pack = pack
        self.profile = profile
        self._declared = {s.name: s for s in declared}
        self._config = config
        self._masker = masker
        self._raw = config.raw_values(pack, profile)
        self._cache: dict[str, Any] = {}

    def resolve(self, value: str) -> str:
        """``value`` with an ``env:``, ``file:`` or ``vault:`` reference resolved against this
        invocation's environment (a literal is returned as it is)."""
        return resolve_reference(value, self._config.environ)[0]

    def profiles(self) -> list[str]:
        """The names of this pack's profiles in the config file."""
        return self._config.profiles(self.pack)

    def for_profile(self, profile: str | None) -> Settings:
        """The same pack's settings resolved for another profile (a command naming one)."""
        return Settings(self.pack, list(self._declared.values()), self._config, profile, self._masker)

    def missing(self, names: list[str] | None = None) -> list[Setting]:
        """Required settings (of ``names``, default all) that have no value."""
        wanted = names if names is not None else list(self._declared)
        return [s for n in wanted if (s := self._declared.get(n)) is not None and s.is_required and n not in self._raw]

    def require(self, names: list[str] | None = None) -> None:
        """Raise a ``config`` error naming every missing required setting."""
        missing = self.missing(names)
        if not missing:
            return
        envs = ", ".join(s.env_var(self.pack) for s in missing)
        where = f"[{self.pack}.profiles.{self.profile}]" if self.profile else f"[{self.pack}]"
        raise ConfigError(
            f"pack {self.pack} is not configured: missing {', '.join(s.name for s in missing)}",
            f"Set {envs}, or add them to {where} in opspack.toml (values may be env:, file: or vault: references).",
        )

    def __getitem__(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        setting = self._declared.get(name)
        if setting is None:
            raise KeyError(name)
        if name not in self._raw:
            if setting.is_required:
                self.require([name])
            value = setting.default
        else:
            raw, source = self._raw[name]
            from_vault = isinstance(raw, str) and raw.startswith("vault:")
            if isinstance(raw, str):
                try:
                    raw, _ = resolve_reference(raw, self._config.environ)
                except ConfigError as exc:
                    raise ConfigError(f"setting {name} ({source}): {exc.message}", exc.hint) from None
            # A value read from Vault is masked even when the setting is not declared
            # secret, unless it is a plain number or boolean that a typed setting holds.
            if setting.secret or (from_vault and setting.type == "str"):
                self._masker.add(str(raw))
            value = _convert(setting, raw, source, hide=from_vault)
        self._cache[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._declared)

    def __len__(self) -> int:
        return len(self._declared)

    def fingerprint(self, names: list[str] | None = None) -> str:
        """A hash of the resolved values, to key cached connections (rotation → new key)."""
        import hashlib

        h = hashlib.sha256(self.pack.encode())
        for name in names if names is not None else sorted(self._declared):
            h.update(b"\0" + name.encode() + b"=" + repr(self[name]).encode())
        return h.hexdigest()[:16]
