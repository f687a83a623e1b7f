"""Echo commands: each shape a front-end must carry (text, list args, images, tables,
confirmation, and results bigger than any chat message)."""

from __future__ import annotations

import base64
import time

from opspack import Context, Image, Menu, MenuOption, Status, Table, Text, command

# A 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@command(group="msg", verb="say", words=["echo"], examples=["echo hello --times 2"], settings=[])
def say(text: str, *, times: int = 1) -> Text:
    """Say something back.

    Args:
        text: what to say
        times: how many times
    """
    return Text(" ".join([text] * times))


@command(group="msg", verb="join", words=["echo", "join"], settings=[])
def join(items: list[str], *, sep: str = "+") -> Text:
    """Join items.

    Args:
        items: the items
        sep: the separator
    """
    return Text(sep.join(items))


@command(group="msg", verb="slow", words=["echo", "slow"], settings=[], timeout=5)
def slow(*, seconds: float = 1.0) -> Text:
    """Answer after a while.

    Args:
        seconds: how long to wait
    """
    time.sleep(seconds)
    return Text(f"slept {seconds:g} s")


@command(group="msg", verb="steps", words=["echo", "steps"], settings=[], timeout=120)
def steps(ctx: Context, *, count: int = 5, pause: float = 0.2) -> Text:
    """Count steps slowly, reporting each (long work that shows its progress).

    Args:
        count: how many steps
        pause: seconds per step
    """
    for i in range(count):
        ctx.progress(f"step {i + 1} of {count}", percent=round(100.0 * (i + 1) / count, 1))
        time.sleep(pause)
    return Text(f"{count} steps done")


@command(group="msg", verb="hang", words=["echo", "hang"], settings=[], timeout=2)
def hang(*, seconds: float = 60.0) -> Text:
    """Hang like a backend that never answers, swallowing every interruption.

    Args:
        seconds: how long to hang
    """
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except BaseException:  # noqa: BLE001, S112 - the point: only killing the process stops it
            continue
    return Text("woke up")


@command(group="msg", verb="pixel", words=["echo", "pixel"], settings=[])
def pixel() -> Image:
    """Show a one-pixel image."""
    return Image(PIXEL, "image/png", alt="one pixel", filename="pixel.png")


@command(group="msg", verb="menu", words=["echo", "menu"], settings=[])
def menu(text: str) -> Menu:
    """Offer follow-up commands about a text.

    Args:
        text: what the follow-ups are about
    """
    return Menu(
        [
            MenuOption(f"Say {text} twice", "echo.msg.say", {"text": text, "times": 2}),
            MenuOption(f"Wipe {text}", "echo.disk.wipe", {"disk": text}),
        ],
        title=f"What next for {text}?",
    )


@command(group="rows", verb="list", words=["echo", "rows"], settings=[])
def rows(*, count: int = 3) -> Table:
    """List numbered rows and their squares (a table).

    Args:
        count: how many rows
    """
    return Table(["n", "square"], [[i, i * i] for i in range(1, count + 1)], title=f"{count} rows")


@command(group="disk", verb="wipe", words=["disk", "wipe"], destructive=True, idempotent=True, settings=[])
def wipe(disk: str, *, force: bool = False) -> Status:
    """Wipe a disk.

    Args:
        disk: the disk's name
        force: skip the clean unmount
    """
    return Status("ok", f"{disk} wiped" + (" (forced)" if force else ""))


@command(group="lock", verb="open", words=["lock", "open"], destructive=True, settings=[], secret=["combination"])
def open_(door: str, combination: str) -> Status:
    """Open a lock with its combination (an argument the command declares secret).

    Args:
        door: the door's name
        combination: the combination that opens it
    """
    return Status("ok", f"{door} opened with a combination of {len(combination)} characters")


@command(group="big", verb="table", words=["echo", "table"], settings=[])
def table(*, rows: int = 1200) -> Table:
    """A table shaped like `vm list` (1,200 VMs by default): more than any chat message carries.

    Args:
        rows: how many rows
    """
    from opspack_testkit.samples import vm_list_table

    return vm_list_table(rows)


@command(group="big", verb="picture", words=["echo", "picture"], settings=[])
def picture(*, size: int = 90_000) -> Image:
    """A PNG the size of a typical Grafana panel (90 KB by default).

    Args:
        size: its size in bytes
    """
    from opspack_testkit.samples import panel_image

    return panel_image(size)
