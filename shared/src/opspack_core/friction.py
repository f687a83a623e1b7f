"""``friction``: note what slowed you down (a missing permission, a manual step) to fix it later."""

from __future__ import annotations

import datetime as dt

from opspack import Context, NotFound, Status, Table, UsageError, command
from opspack.grammar import parse_since

from opspack_core._store import audit_of


@command(
    group="friction",
    verb="add",
    mutating=True,
    settings=[],
    examples=['friction add "had to ssh to restart nginx" --tag manual'],
)
def add(ctx: Context, text: list[str], *, tag: list[str] | None = None) -> Status:
    """Log something that slowed you down, so it can be prioritised later.

    Args:
        text: what happened, in your words
        tag: tags to group it by (comma-separated)
    """
    note = " ".join(text).strip()
    if not note:
        raise UsageError("friction add needs a text", 'Example: friction add "no permission to restart jobs"')
    # what looks like a secret (a token pasted by mistake, PASSWORD=...) is masked before it is stored
    item = audit_of(ctx).friction_add(
        ctx.user, ctx.caller.channel, ctx.masker(note), [ctx.masker(t) for t in tag or []]
    )
    return Status("ok", f"Logged as #{item}. Thank you: `friction list` shows what is open.")


@command(group="friction", verb="list", examples=["friction list --tag manual"], settings=[])
def list_(ctx: Context, *, tag: str | None = None, since: str | None = None, done: bool = False) -> Table:
    """List logged friction, newest first.

    Args:
        tag: only items with this tag
        since: only items logged since: 7d, 12h or a date
        done: include items marked done
    """
    rows = audit_of(ctx).friction_list(tag=tag, since=parse_since(since) if since else None, include_done=done)
    return Table(
        columns=["#", "when (UTC)", "user", "text", "tags", "done"],
        rows=[
            [
                r["id"],
                dt.datetime.fromtimestamp(r["at"], dt.UTC).strftime("%Y-%m-%d %H:%M"),
                r["user"],
                r["text"],
                r["tags"],
                f"by {r['done_by']}" if r["done_at"] else "",
            ]
            for r in rows
        ],
        title="Friction log",
    )


@command(group="friction", verb="done", mutating=True, idempotent=True, examples=["friction done 12"], settings=[])
def done(ctx: Context, item: int) -> Status:
    """Mark a friction item as dealt with.

    Args:
        item: the item's number (from friction list)
    """
    if not audit_of(ctx).friction_done(item, ctx.user):
        raise NotFound(f"friction item #{item} not found or already done", "See `friction list`.")
    return Status("ok", f"#{item} marked done.")
