"""Sample commands exercising every argument shape and result kind."""

from __future__ import annotations

import enum
import time
from typing import Literal

from opspack import KV, Context, Diff, Image, Link, Menu, MenuOption, Progress, Status, Table, Text, command
from opspack.errors import BackendError, NotFound
from opspack.results import Result

from opspack_sample import FlakyBackendError

CALLS: list[str] = []


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@command(examples=["thing list --power on --limit 5"], settings=[])
def list_(
    *,
    power: Literal["on", "off", "suspended"] | None = None,
    limit: int = 10,
    name: str | None = None,
) -> Table:
    """List things.

    A longer description of listing things.

    Args:
        power: only things in this power state
        limit: at most this many rows
        name: a glob on the name
    """
    rows = [[f"thing{i}", "on" if i % 2 else "off", i] for i in range(limit)]
    if power:
        rows = [r for r in rows if r[1] == power]
    return Table(columns=["name", "power", "cpu"], rows=rows, title="Things")


def _check_retire(thing: str) -> None:
    CALLS.append(f"check retire {thing}")
    if not thing.startswith("thing"):
        raise NotFound.with_matches("thing", thing, [f"thing{i}" for i in range(3)])


@command(words=["thing", "retire"], destructive=True, settings=[], check=_check_retire)
def retire(thing: str) -> Status:
    """Retire a thing for good.

    Args:
        thing: the thing's name
    """
    CALLS.append(f"retire {thing}")
    return Status("ok", f"{thing} retired")


@command(words=["thing", "unlock"], destructive=True, settings=[], secret=["combination"])
def unlock(thing: str, combination: str, *, tries: int = 1) -> Status:
    """Unlock a thing with its combination (a secret the command declares, whatever its name).

    Args:
        thing: the thing's name
        combination: the combination that opens it
        tries: how many tries it may take
    """
    CALLS.append(f"unlock {thing} with {combination}")
    return Status("ok", f"{thing} unlocked in {tries} tries")


@command(
    words=["thing", "power-off"],
    aliases=["thing stop"],
    destructive=True,
    idempotent=True,
    permission="sample.thing.power",
    settings=[],
)
def power_off(ctx: Context, thing: str, *, force: bool = False) -> Status:
    """Power off a thing.

    Args:
        thing: the thing's name
        force: do not wait for a clean shutdown
    """
    CALLS.append(f"power_off {thing} force={force}")
    return Status("ok", f"{thing} is off" + (" (forced)" if force else ""))


@command(settings=["url", "password"])
def connect(ctx: Context) -> KV:
    """Connect with the configured settings and report them.

    The password is echoed on purpose: the runtime must mask it.
    """
    client = ctx.connection(lambda: {"made": time.monotonic(), "url": ctx.settings["url"]})
    return KV({"url": ctx.settings["url"], "password": ctx.settings["password"], "client": id(client)})


@command(settings=[])
def build(job: str, params: dict[str, str] | None = None, *, wait: bool = False) -> Text:
    """Start a job with parameters.

    Args:
        job: the job name
        params: build parameters as KEY=value
        wait: follow the build to the end
    """
    return Text(f"{job} {sorted((params or {}).items())} wait={wait}")


@command(settings=[])
def config(device: str, lines: list[str], *, color: Color = Color.RED, ratio: float = 0.5) -> Text:
    """Apply config lines to a device.

    Args:
        device: the device
        lines: config lines, one per argument
        color: a color
        ratio: a ratio
    """
    return Text(f"{device}: {' | '.join(lines)} color={color.value} ratio={ratio}")


@command(settings=[], timeout=0.2)
def slow(*, seconds: float = 5.0) -> Text:
    """Sleep longer than the timeout.

    Args:
        seconds: how long to sleep
    """
    time.sleep(seconds)
    return Text("done")


@command(settings=[], timeout=30.0)
def wait(*, seconds: float = 2.0) -> Text:
    """Wait without a word of progress (a terminal shows a spinner meanwhile).

    Args:
        seconds: how long to wait
    """
    time.sleep(seconds)
    return Text(f"waited {seconds:g} s")


@command(settings=[], timeout=1.0)
def hang(*, seconds: float = 60.0) -> Text:
    """Hang like a client library that swallows every interruption (only killing stops it).

    Args:
        seconds: how long to hang
    """
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except BaseException:  # noqa: BLE001, S112 - the point: a timeout's exception is swallowed
            continue
    return Text("woke up")


@command(settings=[], mutating=True, timeout=30.0)
def change_slowly(ctx: Context, *, seconds: float = 5.0, key: str = "c") -> Text:
    """A change that takes a while and reports progress (not idempotent: never run twice).

    Args:
        seconds: how long it takes
        key: a name for the change
    """
    steps = 10
    for i in range(steps):
        ctx.progress(f"{key}: step {i + 1} of {steps}", percent=100.0 * (i + 1) / steps)
        time.sleep(seconds / steps)
    return Text(f"{key} changed")


def _log_run(path: str, seconds: float, ctx: Context, key: str) -> None:
    """Append this run (its process id) to ``path``, then take ``seconds`` reporting progress."""
    import os

    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()}\n")
    steps = 10
    for i in range(steps):
        ctx.progress(f"{key}: step {i + 1} of {steps}", percent=100.0 * (i + 1) / steps)
        time.sleep(seconds / steps)


@command(settings=[], mutating=True, timeout=30.0)
def append(ctx: Context, log: str, *, seconds: float = 5.0) -> Text:
    """Append a line to a file, then take a while: a change that must never run twice.

    Args:
        log: the file each run appends its process id to
        seconds: how long it takes
    """
    _log_run(log, seconds, ctx, "append")
    return Text(f"appended to {log}")


@command(settings=[], timeout=30.0)
def probe(ctx: Context, log: str, *, seconds: float = 5.0) -> Text:
    """Look at things slowly: a read, safe to run again (each run is logged for the tests).

    Args:
        log: the file each run appends its process id to
        seconds: how long it takes
    """
    _log_run(log, seconds, ctx, "probe")
    return Text(f"probed, logged in {log}")


@command(settings=[])
def broken(*, how: Literal["bug", "backend", "missing"] = "bug") -> Text:
    """Fail in several ways.

    Args:
        how: which failure
    """
    if how == "backend":
        raise FlakyBackendError("503 Service Unavailable")
    if how == "missing":
        raise NotFound.with_matches("thing", "web0l", ["web01", "web02", "db01"])
    raise RuntimeError("oops: a bug with password hunter2 inside")


FLAKY: dict[str, int] = {}


@command(settings=[])
def flaky(*, fail_times: int = 1, key: str = "a") -> Text:
    """Fail transiently a number of times, then answer (a read that may be retried).

    Args:
        fail_times: how many calls fail before one succeeds
        key: a counter name, so tests do not share state
    """
    FLAKY[key] = FLAKY.get(key, 0) + 1
    if FLAKY[key] <= fail_times:
        raise BackendError("connection reset by peer", retryable=True)
    return Text(f"answered after {FLAKY[key]} attempts")


@command(settings=[], mutating=True)
def flaky_change(*, key: str = "m") -> Text:
    """A change that fails transiently; it is never retried.

    Args:
        key: a counter name
    """
    FLAKY[key] = FLAKY.get(key, 0) + 1
    raise BackendError("connection reset by peer", retryable=True)


@command(settings=[])
def everything() -> list[Result]:
    """Return one result of every kind."""
    return [
        Text("plain text", title="A text"),
        Table(columns=["a", "b"], rows=[[1, "x"], [2, None]], row_status=["ok", "critical"], title="T"),
        KV({"k": "v", "n": 3, "list": ["a", "b"]}, title="KV"),
        Status("warning", "almost full", title="disk"),
        Image(b"\x89PNG\r\n\x1a\nfake", "image/png", "a picture", filename="p.png"),
        Link("https://example.com/x", "Example"),
        Menu([MenuOption("Stop thing1", "sample.thing.power_off", {"thing": "thing1"})], title="Next"),
        Diff("a\nb\n", "a\nc\n", title="config"),
        Progress("copying", percent=42.0),
    ]


@command(settings=[])
def big(*, rows: int = 1000, cols: int = 4, width: int = 10) -> Table:
    """A big table, for renderer limits.

    Args:
        rows: number of rows
        cols: number of columns
        width: characters per cell
    """
    return Table(
        columns=[f"c{j}" for j in range(cols)],
        rows=[[f"r{i}c{j}".ljust(width, "x") for j in range(cols)] for i in range(rows)],
        title="Big table",
    )
