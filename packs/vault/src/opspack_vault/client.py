"""The hvac client a command uses: made from the pack's settings, kept between commands.

Imported by the command modules inside their functions, so listing commands never
imports hvac. Settings fall back to the Vault CLI's variables (``VAULT_ADDR``,
``VAULT_TOKEN``, ``VAULT_ROLE_ID``/``VAULT_SECRET_ID``, ``VAULT_NAMESPACE``,
``VAULT_CACERT``) from the process environment when they are empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import hvac
from opspack import ConfigError, Context, UsageError

_SETTINGS = ["addr", "token", "role_id", "secret_id", "approle_mount", "namespace", "ca_cert", "verify_tls", "timeout"]


def _setting(ctx: Context, name: str, env: str) -> str:
    value = str(ctx.settings[name] or "").strip()
    return value or os.environ.get(env, "").strip()


def _make(ctx: Context) -> hvac.Client:
    addr = _setting(ctx, "addr", "VAULT_ADDR").rstrip("/")
    if not addr:
        raise ConfigError(
            "pack vault is not configured: no server address",
            "Set OPSPACK_VAULT_ADDR (or VAULT_ADDR) to the server's URL.",
        )
    token = _setting(ctx, "token", "VAULT_TOKEN")
    role_id = _setting(ctx, "role_id", "VAULT_ROLE_ID")
    secret_id = _setting(ctx, "secret_id", "VAULT_SECRET_ID")
    ctx.secret(token)
    ctx.secret(secret_id)
    if not token and not (role_id and secret_id):
        raise ConfigError(
            "pack vault is not configured: no credentials",
            "Set OPSPACK_VAULT_TOKEN (or VAULT_TOKEN), or role_id and secret_id for AppRole.",
        )
    verify: bool | str = bool(ctx.settings["verify_tls"])
    ca_cert = _setting(ctx, "ca_cert", "VAULT_CACERT")
    if verify and ca_cert:
        verify = ca_cert
    client = hvac.Client(
        url=addr,
        token=token or None,
        namespace=_setting(ctx, "namespace", "VAULT_NAMESPACE") or None,
        verify=verify,
        timeout=float(ctx.settings["timeout"]),
    )
    if not token:
        client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=ctx.settings["approle_mount"])
        ctx.secret(client.token)
    return client


def _close(client: hvac.Client) -> None:
    client.adapter.close()


def connect(ctx: Context) -> hvac.Client:
    """The kept client for this pack and profile (a new one when the settings change)."""
    return ctx.connection(lambda: _make(ctx), close=_close, settings=_SETTINGS)


def _expired(exc: BaseException) -> bool:
    return isinstance(exc, hvac.exceptions.Forbidden)


def call(ctx: Context, use: Any) -> Any:
    """Run ``use(client)``; with AppRole, log in again once if the token was refused."""
    if _setting(ctx, "token", "VAULT_TOKEN"):
        return use(connect(ctx))
    return ctx.with_connection(lambda: _make(ctx), use, expired=_expired, close=_close, settings=_SETTINGS)


@dataclass(frozen=True, slots=True)
class KVPath:
    """Where a ``<mount>/<path>`` lives: the mount, its KV version, the path inside it."""

    mount: str
    version: int
    path: str

    @property
    def full(self) -> str:
        return f"{self.mount}/{self.path}".rstrip("/")

    @property
    def data_path(self) -> str:
        """The API path a read of this secret needs (what policies name)."""
        return f"{self.mount}/data/{self.path}" if self.version == 2 else self.full


def kv_path(client: hvac.Client, text: str) -> KVPath:
    """Split ``secret/app/db`` into mount and path, asking the server where the mount ends."""
    text = text.strip().strip("/")
    if not text:
        raise UsageError("path: give <mount>/<path>, e.g. secret/app")
    first = text.split("/", 1)[0]
    try:
        out = client.adapter.get(f"/v1/sys/internal/ui/mounts/{text}")
    except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
        return KVPath(first, 2, text[len(first) :].strip("/"))
    info = out.get("data", {}) if isinstance(out, dict) else {}
    mount = str(info.get("path") or first + "/").rstrip("/")
    if info.get("type") not in (None, "kv", "generic"):
        raise UsageError(f"{mount}/ is a {info.get('type')} secrets engine, not a KV store")
    version = 2 if str((info.get("options") or {}).get("version", "1")) == "2" else 1
    return KVPath(mount, version, text[len(mount) :].strip("/"))
