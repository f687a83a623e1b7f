"""``whats-new``: commands added or changed since a date or a version, so people find them."""

from __future__ import annotations

from pathlib import Path

from opspack import Context, Table, Text, command


@command(
    group="whats_new",
    verb="show",
    words=["whats-new"],
    aliases=["whats new"],
    examples=["whats-new", "whats-new --since 7d", "whats-new --since last-reload", "whats-new --since jenkins@0.1.0"],
    settings=["repo"],
)
def show(ctx: Context, *, since: str = "30d", pack: str | None = None) -> list[Table | Text]:
    """List commands added, changed or removed since a date, a version or the last reload.

    Read from the snapshots of its commands that the runner keeps in its database each time
    they change; or, with the setting `repo` (or without snapshots, inside a checkout), from
    the git history of registry.json in the packs repository. Commands you may not run are
    left out.

    Args:
        since: a date (2025-06-01), an age (7d), a version (jenkins@0.2.0), last-reload, or a git revision
        pack: only this pack's commands
    """
    from opspack.devtools.registry_build import BuildError, find_root
    from opspack.devtools.whats_new import report, snapshot_report
    from opspack.errors import ConfigError

    hidden: set[str] = set()
    if ctx.registry is not None:  # commands the policy hides from this caller are not advertised
        hidden = {c["id"] for c in ctx.registry} - {c["id"] for c in ctx.visible_commands()}
    configured = str(ctx.settings["repo"] or "")
    snapshots = ctx.audit.snapshots() if not configured and ctx.audit is not None else []
    if snapshots:
        return snapshot_report(snapshots, since, pack, hidden)
    try:
        repo = Path(configured) if configured else find_root()
    except BuildError:
        raise ConfigError(
            "whats-new has no snapshots of the runner's commands, and no checkout of the packs repository",
            "Ask it of `opspack serve` (it keeps a snapshot in its database at start and at each reload), "
            "or set OPSPACK_CORE_REPO (or `repo` under [core] in opspack.toml) to a checkout.",
        ) from None
    return report(repo, since, pack, hidden)
