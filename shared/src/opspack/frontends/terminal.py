"""What the command line and the shell draw on a terminal while a command runs.

:class:`ProgressDisplay` shows a running command's progress reports. On a terminal, a
command that has reported nothing after a second shows a spinner (the command's text and
the elapsed time), erased when it ends; a report replaces it with ONE live line (the
message, a bar and the percentage when known, the elapsed time) rewritten in place
(``\\r`` and clear-to-end-of-line), within the terminal's width, once a second and at each
report; :meth:`ProgressDisplay.finish` ends it with a newline when the command ends.
Anywhere else (a pipe, a file, ``TERM=dumb``) each report is one plain line, so logs and
tests stay readable. Colour follows :func:`use_color` (off under ``NO_COLOR``).

:func:`cancel_on_interrupt`: while a command runs in the calling (main) thread, Ctrl-C
raises :class:`~opspack.jobs.Cancel`, which ends the job ``cancelled`` instead of
killing the process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from opspack.renderers.common import cut_text, display_width
from opspack.results import Progress
from opspack.threads import start_thread

#: the bar's width in columns (it is left out when the terminal is too narrow for it)
BAR_WIDTH = 20
#: how often the live line is redrawn between reports (its elapsed time moves)
TICK_S = 1.0
#: the least room kept for the message before the bar is left out
MIN_MESSAGE = 12
#: a command silent for this long shows the spinner (on a terminal only)
SPINNER_AFTER_S = 1.0
#: the spinner's frame time
SPIN_S = 0.1
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_SPINNER_ASCII = "|/-\\"

_CLEAR = "\x1b[K"
_BAR_COLOR = "\x1b[36m"
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal that understands ``\\r`` and clear-to-end-of-line."""
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def use_color(stream: Any) -> bool:
    """Whether to colour what goes to ``stream``: a terminal, and ``NO_COLOR`` unset or empty
    (https://no-color.org)."""
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


def terminal_width(stream: Any) -> int | None:
    """The columns text for ``stream`` should fit: ``COLUMNS`` when set (a positive number),
    else the terminal's width when ``stream`` is one; None (no limit) for a pipe or a file."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, ValueError, OSError):
        pass
    return None


def elapsed_text(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _unicode(stream: Any) -> bool:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return encoding in ("utf8", "utf8sig")


def progress_line(
    item: Progress, elapsed: float, columns: int, *, color: bool = False, unicode: bool = True
) -> tuple[str, int]:
    """The live line for ``item`` after ``elapsed`` seconds, in fewer than ``columns`` columns
    (the last column is left free so the terminal never wraps it): the text to write and its width."""
    limit = max(1, columns - 1)
    message = " ".join(_CONTROL.sub(" ", item.message).split()) or "working"
    clock = elapsed_text(elapsed)
    ellipsis = "…" if unicode else "..."
    if item.percent is None:
        tail_plain = tail = f" {clock}"
    else:
        pct = max(0.0, min(100.0, float(item.percent)))
        figure = f"{pct:3.0f}%"
        if limit - len(f" [{'x' * BAR_WIDTH}] {figure} {clock}") >= MIN_MESSAGE:
            filled = round(BAR_WIDTH * pct / 100)
            full, empty = ("█", "░") if unicode else ("#", ".")
            bar = full * filled + empty * (BAR_WIDTH - filled)
            tail_plain = f" [{bar}] {figure} {clock}"
            tail = f" [{_BAR_COLOR}{bar}{_RESET}] {figure} {_DIM}{clock}{_RESET}" if color else tail_plain
        else:
            tail_plain = tail = f" {figure} {clock}"
    room = limit - len(tail_plain)
    if room < 1:  # not even the figures fit: the message alone
        text = cut_text(message, limit, ellipsis)
        return text, display_width(text)
    text = cut_text(message, room, ellipsis)
    return text + tail, display_width(text) + len(tail_plain)


class ProgressDisplay:
    """Shows a running command's progress on ``stream`` (see the module's docstring).

    Call :meth:`start` as a command starts, :meth:`report` with each :class:`Progress`
    (from any thread) and :meth:`finish` when it has ended."""

    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool | None = None,
        color: bool | None = None,
        tick_s: float = TICK_S,
        spinner_after_s: float = SPINNER_AFTER_S,
    ) -> None:
        """``live``, ``color``: forced on or off; by default from the stream (:func:`is_terminal`,
        :func:`use_color`). ``spinner_after_s``: how long a command may be silent before the
        spinner shows."""
        self.stream = stream
        self.live = is_terminal(stream) if live is None else live
        self.color = use_color(stream) if color is None else color
        self.tick_s = tick_s
        self.spinner_after_s = spinner_after_s
        self._label = ""
        self._spinning = False
        self._unicode = _unicode(stream)
        self._lock = threading.Lock()
        self._began = time.monotonic()
        self._last: Progress | None = None
        self._drawn = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self, label: str = "") -> None:
        """A command starts: the elapsed time counts from now. On a terminal, a spinner with
        ``label`` (what runs) shows if it stays silent past ``spinner_after_s``."""
        self.finish()
        self._began = time.monotonic()
        self._label = " ".join(_CONTROL.sub(" ", label).split())
        if self.live:
            with self._lock:
                self._start_ticker()

    def _start_ticker(self) -> None:
        """Start the thread that redraws the line (the lock held)."""
        if self._ticker is None:
            # each ticker has its own stop: one whose start was interrupted (Ctrl-C) still stops
            self._stop = threading.Event()
            self._ticker = start_thread(self._tick, self._stop, name="opspack-progress")

    def report(self, item: Progress) -> None:
        """Show one progress report."""
        if not self.live:
            from opspack.renderers import render
            from opspack.results import Reply

            with self._lock:
                self.stream.write(render(Reply(ok=True, command=None, results=[item]), "text"))
                self.stream.flush()
            return
        with self._lock:
            self._last = item
            self._spinning = False
            self._draw()
            self._start_ticker()

    def finish(self) -> None:
        """The command has ended: the live line stays as it was last drawn, ended with a newline;
        a spinner is erased."""
        ticker = self._ticker
        if ticker is not None:
            self._stop.set()
            if ticker.ident is not None and ticker is not threading.current_thread():
                ticker.join(timeout=2 * self.tick_s + 1)
            self._ticker = None
        with self._lock:
            if self._spinning:
                self._write("\r" + _CLEAR)
            elif self._drawn:
                self.stream.write("\n")
                self.stream.flush()
            self._drawn = self._spinning = False
            self._last = None

    def _tick(self, stop: threading.Event) -> None:
        drawn_at = time.monotonic()
        frame = 0
        while not stop.wait(min(SPIN_S, self.tick_s)):
            with self._lock:
                if stop.is_set():
                    return
                now = time.monotonic()
                if self._last is not None:
                    if now - drawn_at >= self.tick_s:
                        self._draw()
                        drawn_at = now
                elif now - self._began >= self.spinner_after_s:
                    self._spin(frame)
                    frame += 1

    def _spin(self, frame: int) -> None:
        """Draw the spinner line (the lock held): a frame, what runs, the elapsed time."""
        frames = _SPINNER if self._unicode else _SPINNER_ASCII
        columns = shutil.get_terminal_size((80, 24)).columns
        clock = elapsed_text(time.monotonic() - self._began)
        head = frames[frame % len(frames)] + " "
        room = max(1, columns - 1 - len(head) - len(clock) - 1)
        label = cut_text(self._label or "working", room, "…" if self._unicode else "...")
        tail = f"{_DIM}{clock}{_RESET}" if self.color else clock
        if self._write("\r" + head + label + " " + tail + _CLEAR):
            self._spinning = True

    def _write(self, text: str) -> bool:
        """Write to the terminal; False (and the ticker stops) when it went away."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: nothing more to draw on
            self._stop.set()
            return False
        return True

    def _draw(self) -> None:
        """Rewrite the live line (the lock held)."""
        if self._last is None:
            return
        columns = shutil.get_terminal_size((80, 24)).columns
        text, _ = progress_line(
            self._last, time.monotonic() - self._began, columns, color=self.color, unicode=self._unicode
        )
        try:
            self.stream.write("\r" + text + _CLEAR)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: nothing more to draw on
            self._stop.set()
            return
        self._drawn = True


@contextlib.contextmanager
def cancel_on_interrupt() -> Iterator[None]:
    """While the block runs, Ctrl-C (SIGINT) raises :class:`~opspack.jobs.Cancel` in the main
    thread: a command running inline there ends ``cancelled`` and the caller gets its reply.
    Outside the main thread the block runs unchanged."""
    from opspack.jobs import Cancel

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise Cancel

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


__all__ = [
    "ProgressDisplay",
    "cancel_on_interrupt",
    "elapsed_text",
    "is_terminal",
    "progress_line",
    "terminal_width",
    "use_color",
]
