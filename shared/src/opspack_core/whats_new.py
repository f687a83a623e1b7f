"""``whats-new``: commands added or changed since a date or a version, so people find them."""

from __future__ import annotations

from pathlib import Path

from opspack import Context, Table, Text, command


@command(
    group="whats_new",
    verb="show",
    words=["whats-new"],
    aliases=["whats new"],
    examples=["whats-new", "whats-new --since 7d", "whats-new --since jenkins@0.1.0"],
    settings=["repo"],
)
def show(ctx: Context, *, since: str = "30d", pack: str | None = None) -> list[Table | Text]:
    """List commands added, changed or removed since a date or a version.

    Read from the history of registry.json in the packs repository (setting `repo`; by
    default the checkout the bot runs in). Commands you may not run are left out.

    Args:
        since: a date (2025-06-01), an age (7d, 12h), a version (0.2.0, jenkins@0.2.0) or a git revision
        pack: only this pack's commands
    """
    from opspack.devtools.registry_build import BuildError, find_root
    from opspack.devtools.whats_new import report
    from opspack.errors import ConfigError

    configured = str(ctx.settings["repo"] or "")
    try:
        repo = Path(configured) if configured else find_root()
    except BuildError:
        raise ConfigError(
            "whats-new needs a checkout of the packs repository",
            "Set OPSPACK_CORE_REPO (or `repo` under [core] in opspack.toml) to its folder.",
        ) from None
    hidden: set[str] = set()
    if ctx.registry is not None:  # commands the policy hides from this caller are not advertised
        hidden = {c["id"] for c in ctx.registry} - {c["id"] for c in ctx.visible_commands()}
    return report(repo, since, pack, hidden)
