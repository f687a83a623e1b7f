"""``vault:`` secret references, resolved through hvac (``pip install 'opspack[vault]'``).

Any setting of any pack may be a reference instead of a literal::

    vault:<mount>/<path>#<key>          the key's value in the current version
    vault:<mount>/<path>#<key>@<n>      the key's value in version n (KV v2 only)

``<mount>/<path>`` is written as the ``bao``/``vault kv get`` commands take it
(``secret/app/db``, not ``secret/data/app/db``). Whether the mount is KV v1 or v2,
and where the mount ends when its name has several segments (``kv/team-a/app``),
is asked of the server (``sys/internal/ui/mounts``); when the token may not ask,
the first segment is the mount and KV v2 is assumed.

The module is imported by :mod:`opspack.settings` the first time it meets a
``vault:`` value, and imports hvac only then: a pack whose settings hold no
``vault:`` reference never loads either.

Environment (the invocation's, i.e. the :class:`~opspack.settings.Config`'s):

``VAULT_ADDR``                  the server (required)
``VAULT_TOKEN``                 a token; wins over AppRole when both are set
``VAULT_ROLE_ID`` +
``VAULT_SECRET_ID``             AppRole login (``VAULT_APPROLE_MOUNT``, default ``approle``)
``VAULT_NAMESPACE``             namespace for every request
``VAULT_CACERT``                PEM file of the CA that signed the server's certificate
``VAULT_SKIP_VERIFY``           ``true`` turns TLS verification off (labs only)
``OPSPACK_VAULT_CACHE_TTL``     seconds a read secret is reused (default 60; 0: every time)
``OPSPACK_VAULT_TIMEOUT``       seconds per HTTP request to Vault (default 10)

Every failure is a :class:`~opspack.errors.ConfigError` that names the reference
and what to do, and never contains a secret value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opspack.errors import ConfigError

DEFAULT_CACHE_TTL = 60.0
DEFAULT_TIMEOUT = 10.0
_VERSION = re.compile(r"^(?P<key>.+)@(?P<version>\d+)$")
_SYNTAX = "vault:<mount>/<path>#<key> or vault:<mount>/<path>#<key>@<version>"


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed ``vault:`` reference."""

    path: str  # "<mount>/<path>", no leading/trailing slash
    key: str
    version: int | None = None

    @property
    def text(self) -> str:
        suffix = f"@{self.version}" if self.version is not None else ""
        return f"vault:{self.path}#{self.key}{suffix}"


def parse_reference(rest: str) -> Reference:
    """Parse what follows ``vault:``; a :class:`ConfigError` explains a malformed one."""
    path, sep, key = rest.partition("#")
    path = path.strip("/")
    if not sep or not key or "/" not in path:
        raise ConfigError(
            f"reference vault:{rest} is malformed",
            f"Write {_SYNTAX}, e.g. vault:secret/app#password.",
        )
    version: int | None = None
    m = _VERSION.match(key)
    if m:
        key, version = m["key"], int(m["version"])
        if version < 1:
            raise ConfigError(f"reference vault:{rest} asks for version 0", "Versions count from 1.")
    return Reference(path=path, key=key, version=version)


# -- connection ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    addr: str
    namespace: str | None
    verify: bool | str
    timeout: float
    token: str | None
    role_id: str | None
    secret_id: str | None
    approle_mount: str

    @property
    def key(self) -> str:
        """Identifies the server and credentials without holding them in clear."""
        h = hashlib.sha256()
        for part in (self.addr, self.namespace, self.verify, self.timeout, self.token, self.role_id, self.secret_id):
            h.update(repr(part).encode() + b"\0")
        h.update(self.approle_mount.encode())
        return h.hexdigest()


_TRUE = {"1", "true", "yes", "on", "t", "y"}


def _target(environ: Mapping[str, str], ref: Reference) -> _Target:
    addr = (environ.get("VAULT_ADDR") or "").strip().rstrip("/")
    if not addr:
        raise ConfigError(
            f"reference {ref.text} cannot be resolved: VAULT_ADDR is not set",
            "Set VAULT_ADDR to the Vault server (https://vault.example.com:8200).",
        )
    token = environ.get("VAULT_TOKEN") or None
    role_id = environ.get("VAULT_ROLE_ID") or None
    secret_id = environ.get("VAULT_SECRET_ID") or None
    if token is None and not (role_id and secret_id):
        raise ConfigError(
            f"reference {ref.text} cannot be resolved: no Vault credentials",
            "Set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole.",
        )
    verify: bool | str = True
    if (environ.get("VAULT_SKIP_VERIFY") or "").strip().lower() in _TRUE:
        verify = False
    elif environ.get("VAULT_CACERT"):
        verify = environ["VAULT_CACERT"]
    return _Target(
        addr=addr,
        namespace=environ.get("VAULT_NAMESPACE") or None,
        verify=verify,
        timeout=_float(environ, "OPSPACK_VAULT_TIMEOUT", DEFAULT_TIMEOUT),
        token=token,
        role_id=role_id,
        secret_id=secret_id,
        approle_mount=(environ.get("VAULT_APPROLE_MOUNT") or "approle").strip("/"),
    )


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} is {raw!r}, expected a number of seconds") from None
    if value < 0:
        raise ConfigError(f"{name} is {raw!r}, expected a number of seconds >= 0")
    return value


class _Clients:
    """hvac clients kept per server and credentials (AppRole logs in once, again on expiry)."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, target: _Target, ref: Reference) -> Any:
        with self._lock:
            client = self._clients.get(target.key)
        if client is not None:
            return client
        client = _new_client(target, ref)
        with self._lock:
            self._clients[target.key] = client
        return client

    def drop(self, target: _Target) -> None:
        with self._lock:
            client = self._clients.pop(target.key, None)
        if client is not None:
            _close(client)

    def clear(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            _close(client)


def _close(client: Any) -> None:
    with contextlib.suppress(Exception):  # closing is best effort
        client.adapter.close()


def _hvac() -> Any:
    try:
        import hvac
    except ImportError:
        raise ConfigError(
            "vault: references need hvac, which is not installed",
            "pip install 'opspack[vault]'",
        ) from None
    return hvac


def _new_client(target: _Target, ref: Reference) -> Any:
    hvac = _hvac()
    client = hvac.Client(
        url=target.addr,
        token=target.token,
        namespace=target.namespace,
        verify=target.verify,
        timeout=target.timeout,
    )
    if target.token is None:
        try:
            client.auth.approle.login(
                role_id=target.role_id,
                secret_id=target.secret_id,
                mount_point=target.approle_mount,
            )
        except Exception as exc:
            error = _translate(exc, ref, target, client, login=True)
            if error is None:
                raise
            raise error from None
    return client


# -- errors ------------------------------------------------------------------------------


def _translate(exc: BaseException, ref: Reference, target: _Target, client: Any, login: bool) -> ConfigError | None:
    import requests
    from hvac import exceptions as hx

    what = f"reference {ref.text} cannot be resolved"
    where = f"Vault at {target.addr}"
    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigError(
            f"{what}: the TLS certificate of {where} is not trusted",
            "Set VAULT_CACERT to the PEM file of the CA that signed it.",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return ConfigError(
            f"{what}: {where} did not answer in time", "Check the server, or raise OPSPACK_VAULT_TIMEOUT."
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return ConfigError(f"{what}: {where} is unreachable", "Check VAULT_ADDR and that the server is running.")
    if isinstance(exc, hx.VaultDown):
        return ConfigError(f"{what}: {where} is sealed", "Ask an operator to unseal it (bao operator unseal).")
    if isinstance(exc, hx.VaultNotInitialized):
        return ConfigError(f"{what}: {where} is not initialised", "Initialise and unseal it (bao operator init).")
    if login and isinstance(exc, (hx.Forbidden, hx.InvalidRequest, hx.Unauthorized, hx.InvalidPath)):
        return ConfigError(
            f"{what}: AppRole login at auth/{target.approle_mount} was refused",
            "Check VAULT_ROLE_ID and VAULT_SECRET_ID (the secret id may have expired), and VAULT_APPROLE_MOUNT.",
        )
    if isinstance(exc, (hx.Forbidden, hx.Unauthorized)):
        if _token_invalid(client):
            source = "VAULT_TOKEN" if target.token else "the AppRole login's token"
            return ConfigError(
                f"{what}: {where} refused {source} (invalid, expired or revoked)",
                "Give a valid token (VAULT_TOKEN), or use AppRole (VAULT_ROLE_ID, VAULT_SECRET_ID).",
            )
        return ConfigError(
            f"{what}: permission denied; the token's policies do not allow reading {ref.path}",
            f'Grant read on the path to the token\'s policy (KV v2: path "{_data_path_hint(ref)}").',
        )
    if isinstance(exc, hx.InvalidPath):
        version = f" version {ref.version} of" if ref.version is not None else ""
        return ConfigError(
            f"{what}: there is no{version} secret at {ref.path}",
            "Check the path (as `bao kv get` takes it) and that the secret (version) was not deleted.",
        )
    if isinstance(exc, hx.VaultError):
        status = type(exc).__name__
        return ConfigError(f"{what}: {where} answered with an error ({status})", "See the Vault server's log.")
    return None


def _data_path_hint(ref: Reference) -> str:
    mount, _, rest = ref.path.partition("/")
    return f"{mount}/data/{rest}"


def _token_invalid(client: Any) -> bool:
    try:
        client.auth.token.lookup_self()
    except Exception:  # noqa: BLE001 - any failure: the token is not usable
        return True
    return False


# -- reading ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Mount:
    path: str  # without trailing slash
    version: int


class VaultResolver:
    """Resolves ``vault:`` references with a short-lived cache of the secrets read."""

    def __init__(self) -> None:
        self.clients = _Clients()
        self._secrets: dict[tuple[str, str, int | None], tuple[float, dict[str, Any]]] = {}
        self._mounts: dict[tuple[str, str], _Mount] = {}
        self._lock = threading.Lock()
        self.reads = 0  # round trips that read a secret (for tests and the benchmark)

    def clear(self) -> None:
        """Forget cached secrets, mounts and clients (the next resolution reads Vault)."""
        with self._lock:
            self._secrets.clear()
            self._mounts.clear()
        self.clients.clear()

    def __call__(self, rest: str, environ: Mapping[str, str]) -> str:
        ref = parse_reference(rest)
        target = _target(environ, ref)
        ttl = _float(environ, "OPSPACK_VAULT_CACHE_TTL", DEFAULT_CACHE_TTL)
        cache_key = (target.key, ref.path, ref.version)
        now = time.monotonic()
        data: dict[str, Any] | None = None
        if ttl > 0:
            with self._lock:
                hit = self._secrets.get(cache_key)
            if hit is not None and now - hit[0] < ttl:
                data = hit[1]
        if data is None:
            data = self._read(target, ref)
            if ttl > 0:
                with self._lock:
                    self._secrets[cache_key] = (now, data)
        if ref.key not in data:
            keys = ", ".join(sorted(data)) or "none"
            raise ConfigError(
                f"reference {ref.text} cannot be resolved: the secret at {ref.path} has no key '{ref.key}'",
                f"Its keys are: {keys}.",
            )
        return _as_text(data[ref.key])

    def _read(self, target: _Target, ref: Reference) -> dict[str, Any]:
        from hvac import exceptions as hx

        for attempt in (1, 2):
            client = self.clients.get(target, ref)
            try:
                return self._read_with(client, target, ref)
            except ConfigError:
                raise
            except Exception as exc:
                if attempt == 1 and target.token is None and isinstance(exc, hx.Forbidden):
                    self.clients.drop(target)  # the AppRole token may have expired: log in again
                    continue
                error = _translate(exc, ref, target, client, login=False)
                if error is None:
                    raise
                raise error from None
        raise AssertionError("unreachable")

    def _read_with(self, client: Any, target: _Target, ref: Reference) -> dict[str, Any]:
        mount = self._mount(client, target, ref)
        secret_path = ref.path[len(mount.path) :].strip("/")
        if not secret_path:
            raise ConfigError(
                f"reference {ref.text} names the mount {mount.path}/, not a secret in it",
                f"Write {_SYNTAX}.",
            )
        self.reads += 1
        if mount.version == 1:
            if ref.version is not None:
                raise ConfigError(
                    f"reference {ref.text} asks for a version, but {mount.path}/ is KV version 1",
                    "KV v1 keeps no versions: drop the @<version> suffix.",
                )
            response = client.secrets.kv.v1.read_secret(path=secret_path, mount_point=mount.path)
            data = response.get("data") if isinstance(response, dict) else None
        else:
            response = client.secrets.kv.v2.read_secret_version(
                path=secret_path,
                mount_point=mount.path,
                version=ref.version,
                raise_on_deleted_version=True,
            )
            inner = response.get("data") if isinstance(response, dict) else None
            data = inner.get("data") if isinstance(inner, dict) else None
        if not isinstance(data, dict):
            version = f" version {ref.version} of" if ref.version is not None else ""
            raise ConfigError(
                f"reference {ref.text} cannot be resolved: there is no{version} secret at {ref.path}",
                "It may have been deleted; check `bao kv metadata get`.",
            )
        return data

    def _mount(self, client: Any, target: _Target, ref: Reference) -> _Mount:
        from hvac import exceptions as hx

        first = ref.path.split("/", 1)[0]
        with self._lock:
            for (tkey, mpath), mount in self._mounts.items():
                if tkey == target.key and (ref.path + "/").startswith(mpath + "/"):
                    return mount
        try:
            out = client.adapter.get(f"/v1/sys/internal/ui/mounts/{ref.path}")
        except (hx.Forbidden, hx.InvalidPath, hx.InvalidRequest):
            return _Mount(first, 2)  # not allowed to ask: the common case, no caching
        info = out.get("data", {}) if isinstance(out, dict) else {}
        path = str(info.get("path") or first + "/").rstrip("/")
        if info.get("type") not in (None, "kv", "generic"):
            raise ConfigError(
                f"reference {ref.text} points into {path}/, a {info.get('type')} engine, not a KV store",
                "vault: references read KV version 1 or 2 secrets.",
            )
        options = info.get("options") or {}
        version = 2 if str(options.get("version", "1")) == "2" else 1
        mount = _Mount(path, version)
        with self._lock:
            self._mounts[(target.key, path)] = mount
        return mount


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


#: The resolver in force; ``resolver.clear()`` forgets every cached secret.
resolver = VaultResolver()


def clear_cache() -> None:
    """Forget cached secrets so the next resolution re-reads Vault (after a rotation)."""
    resolver.clear()
