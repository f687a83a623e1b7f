"""``packs``: the packs of the runner, and new commands without a restart.

``packs reload`` asks the runner to read its installed packs again (it also does so on
SIGHUP, ``POST /admin/reload`` and every ``[serve] reload_s`` seconds). The command itself
only answers; the runtime that ran it reloads once it answered
(:data:`opspack.runtime.RELOAD_COMMANDS`), in the runner's own process, and adds what
changed to the reply.
"""

from __future__ import annotations

from opspack import Context, Status, command


@command(
    group="packs",
    verb="reload",
    words=["packs", "reload"],
    mutating=True,
    idempotent=True,
    permission="core.admin.reload",
    examples=["packs reload"],
    settings=[],
)
def reload(ctx: Context) -> Status:
    """Read the installed packs again: new, upgraded and removed packs take effect without a restart.

    Commands running now finish on the code they started with.
    """
    return Status("ok", "Reading the installed packs again.", title="packs reload")
