"""Echo commands: each shape a front-end must carry (text, list args, images, confirmation)."""

from __future__ import annotations

import base64
import time

from opspack import Image, Menu, MenuOption, Status, Text, command

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


@command(group="disk", verb="wipe", words=["disk", "wipe"], destructive=True, idempotent=True, settings=[])
def wipe(disk: str, *, force: bool = False) -> Status:
    """Wipe a disk.

    Args:
        disk: the disk's name
        force: skip the clean unmount
    """
    return Status("ok", f"{disk} wiped" + (" (forced)" if force else ""))
