"""``grafana annotate``: mark a deploy or an incident on graphs."""

from __future__ import annotations

import time

from opspack import Context, Link, Result, Status, command
from opspack.errors import UsageError

from opspack_grafana.connection import grafana
from opspack_grafana.lookup import find_dashboard


@command(
    group="annotation",
    verb="create",
    words=["grafana", "annotate"],
    examples=[
        "grafana annotate deployed checkout v2.4.1 --tags deploy,checkout",
        "grafana annotate 'incident 1234 started' --dashboard checkout --tags incident",
    ],
    mutating=True,
    idempotent=False,
)
def annotate(
    ctx: Context,
    text: list[str],
    *,
    dashboard: str | None = None,
    tags: list[str] | None = None,
) -> list[Result]:
    """Mark a deploy or incident on graphs: an annotation at this moment, on one dashboard or all.

    Without --dashboard the annotation belongs to the organization and shows on every
    dashboard that queries annotations by its tags.

    Args:
        text: the annotation's text
        dashboard: only on this dashboard (uid or words of its title)
        tags: tags to find it by (comma-separated), e.g. deploy,checkout
    """
    message = " ".join(text).strip()
    if not message:
        raise UsageError("text is empty", "Example: grafana annotate deployed checkout v2.4.1 --tags deploy")
    client = grafana(ctx)
    body: dict[str, object] = {
        "time": int(time.time() * 1000),
        "text": f"{message}\n(by {ctx.user} via opspack)",
        "tags": [t for t in (tags or []) if t],
    }
    board = None
    if dashboard:
        board = find_dashboard(client, dashboard)
        body["dashboardUID"] = board.uid
    annotation_id = client.create_annotation(body)
    where = f"dashboard '{board.title}'" if board else "the organization (every dashboard showing its tags)"
    tags_text = f" tagged {', '.join(body['tags'])}" if body["tags"] else ""  # type: ignore[arg-type]
    results: list[Result] = [Status("ok", f"Annotation {annotation_id} added on {where}{tags_text}: {message}")]
    if board is not None:
        results.append(Link(url=f"{client.base}{board.url}", text=f"Open {board.title}"))
    return results
