"""``vault kv list`` and ``vault kv info``: what is stored where, and its history; never the values.

``kv info`` reads a KV v2 secret's *metadata* endpoint only (versions and times);
the secret's data is never requested. Which policies may read the secret is worked
out from the policies' rules (see :mod:`opspack_vault.rules`) when the bot's token
may read them.
"""

from __future__ import annotations

from typing import Any

from opspack import KV, Context, NotFound, Result, Table, command


@command(
    group="kv",
    verb="list",
    words=["vault", "kv", "list"],
    examples=["vault kv list secret/", "vault kv list secret/app"],
)
def list_(ctx: Context, path: str) -> Table:
    """List the keys under a KV path (names only, never values); folders end with /.

    Args:
        path: <mount>/<path> as `bao kv list` takes it, e.g. secret/app
    """
    import hvac

    from opspack_vault.client import call, kv_path

    def run(client: Any) -> tuple[Any, list[str]]:
        where = kv_path(client, path)
        try:
            if where.version == 2:
                out = client.secrets.kv.v2.list_secrets(path=where.path, mount_point=where.mount)
            else:
                out = client.secrets.kv.v1.list_secrets(path=where.path, mount_point=where.mount)
        except hvac.exceptions.InvalidPath:
            raise NotFound(
                f"nothing under {where.full}/", "Check the path; list its parent to see what exists."
            ) from None
        return where, sorted(str(k) for k in (out.get("data") or {}).get("keys") or [])

    where, keys = call(ctx, run)
    rows: list[list[Any]] = [[k, "folder" if k.endswith("/") else "secret"] for k in keys]
    return Table(columns=["key", "type"], rows=rows, title=f"{where.full}/ (KV v{where.version})", total=len(rows))


@command(
    group="kv",
    verb="info",
    words=["vault", "kv", "info"],
    examples=["vault kv info secret/app"],
)
def info(ctx: Context, path: str, *, versions: int = 10) -> list[Result]:
    """Show a secret's versions, created and updated times, and who may read it; never its values.

    Args:
        path: <mount>/<path> of one secret, e.g. secret/app
        versions: show at most this many of the newest versions
    """
    import hvac

    from opspack_vault.client import call, kv_path
    from opspack_vault.rules import readers

    def run(client: Any) -> list[Result]:
        where = kv_path(client, path)
        results: list[Result] = []
        items: dict[str, Any] = {"path": where.full, "mount": f"{where.mount}/", "KV version": where.version}
        if where.version == 2:
            try:
                out = client.secrets.kv.v2.read_secret_metadata(path=where.path, mount_point=where.mount)
            except hvac.exceptions.InvalidPath:
                raise NotFound(
                    f"no secret at {where.full}", f"`vault kv list {where.mount}/` shows what exists."
                ) from None
            meta = out.get("data") or {}
            all_versions: dict[str, Any] = meta.get("versions") or {}
            items.update(
                {
                    "current version": meta.get("current_version"),
                    "oldest version": meta.get("oldest_version"),
                    "versions kept": len(all_versions),
                    "max versions": meta.get("max_versions") or "engine default",
                    "created": _time(meta.get("created_time")),
                    "updated": _time(meta.get("updated_time")),
                    "delete after": meta.get("delete_version_after") or "never",
                    "check-and-set required": bool(meta.get("cas_required")),
                }
            )
            custom = meta.get("custom_metadata") or {}
            if custom:
                items["custom metadata keys"] = sorted(custom)
            newest = sorted(all_versions, key=int, reverse=True)[: max(versions, 1)]
            rows: list[list[Any]] = []
            levels: list[Any] = []
            for number in newest:
                v = all_versions[number]
                state = "destroyed" if v.get("destroyed") else ("deleted" if v.get("deletion_time") else "live")
                rows.append([int(number), _time(v.get("created_time")), _time(v.get("deletion_time")) or "", state])
                levels.append("ok" if state == "live" else "warning")
            results.append(
                Table(
                    columns=["version", "created", "deleted", "state"],
                    rows=rows,
                    row_status=levels,
                    title=f"versions of {where.full}",
                    total=len(all_versions),
                )
            )
        else:
            parent, _, name = where.path.rpartition("/")
            try:
                out = client.secrets.kv.v1.list_secrets(path=parent, mount_point=where.mount)
                keys = (out.get("data") or {}).get("keys") or []
            except hvac.exceptions.InvalidPath:
                keys = []
            if name not in keys:
                raise NotFound(f"no secret at {where.full}", f"`vault kv list {where.mount}/` shows what exists.")
            items["versions"] = "KV v1 keeps no versions or times"
        items["readable by this bot"] = _self_can_read(client, where.data_path)
        items["policies that grant read"] = readers(client, where.data_path)
        results.insert(0, KV(items, title=f"secret {where.full}"))
        return results

    out: list[Result] = call(ctx, run)
    return out


def _self_can_read(client: Any, api_path: str) -> str:
    try:
        out = client.sys.get_capabilities(paths=[api_path])
    except Exception:  # noqa: BLE001 - an answer we cannot get is "unknown", not a failure
        return "unknown"
    caps = (out.get("data") or out).get(api_path) or out.get("capabilities") or []
    if "deny" in caps:
        return "no"
    return "yes" if {"read", "root", "sudo"} & set(caps) else "no"


def _time(value: Any) -> str:
    text = str(value or "")
    if not text:
        return ""
    return text.replace("T", " ")[:19] + " UTC"
