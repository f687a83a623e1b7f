"""Progress on a terminal: `opspack run` and `opspack shell` on a real pseudo-terminal draw one
live line redrawn in place; without a terminal, one plain line per report; Ctrl-C cancels
the running command (its job ends cancelled) and the shell goes on."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from opspack.frontends.terminal import elapsed_text, progress_line
from opspack.registry import Registry
from opspack.renderers.common import display_width
from opspack.results import Progress

SAMPLE = Path(__file__).parent / "sample_pack"
_CSI = re.compile(rb"\x1b\[[0-9;?]*([A-Za-z])")


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    path = tmp_path_factory.mktemp("reg") / "registry.json"
    path.write_text(json.dumps(registry.to_data()))
    return path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSPACK_") and k not in ("NO_COLOR", "COLUMNS")}
    env.update(
        PYTHONPATH=str(SAMPLE),
        OPSPACK_AUDIT_URL=f"sqlite:///{tmp_path / 'audit.db'}",
        OPSPACK_HISTORY=str(tmp_path / "history"),
        TERM="xterm-256color",
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        PYTHONIOENCODING="utf-8",
    )
    env.update(extra)
    return env


def _take_terminal() -> None:
    """In the child: the pseudo-terminal on its standard input becomes its controlling terminal,
    so that Ctrl-C typed there is a SIGINT to it."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A process on a pseudo-terminal of ``columns`` columns: what it wrote, and keys to type."""

    def __init__(self, args: list[str], env: dict[str, str], columns: int = 60) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        os.close(slave)
        self.output = b""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the other side closed
            return False
        self.output += chunk
        return bool(chunk)

    def wait_for(self, needle: bytes, timeout: float = 60, start: int = 0) -> int:
        """Read until ``needle`` appears after offset ``start``; its offset."""
        deadline = time.monotonic() + timeout
        while needle not in self.output[start:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} did not appear; the terminal shows:\n{self.output.decode()}")
            if not self._read(0.2) and self.proc.poll() is not None:
                raise AssertionError(f"the process ended before {needle!r}:\n{self.output.decode()}")
        return self.output.index(needle, start)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self, timeout: float = 30) -> int:
        """Read to the end; the exit status."""
        deadline = time.monotonic() + timeout
        while self._read(0.2) or self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("the process did not end:\n" + self.output.decode())
        os.close(self.master)
        return self.proc.wait()


def opspack(registry_file: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "opspack.frontends.cli", "--registry", str(registry_file), *args]


def screen(raw: bytes) -> list[str]:
    """The lines a terminal shows for ``raw``: carriage returns, newlines and clear-to-end-of-line
    applied, colours dropped."""
    lines: list[str] = []
    line = ""
    col = 0
    pos = 0
    text = raw
    while pos < len(text):
        m = _CSI.match(text, pos)
        if m:
            if m.group(1) == b"K":
                line = line[:col]
            pos = m.end()
            continue
        if text[pos : pos + 1] == b"\x1b":  # another escape sequence: skip its next byte
            pos += 2
            continue
        end = pos
        while end < len(text) and text[end : end + 1] not in (b"\r", b"\n", b"\x1b"):
            end += 1
        if end > pos:
            chunk = text[pos:end].decode("utf-8", "replace")
            line = line[:col] + chunk + line[col + len(chunk) :]
            col += len(chunk)
            pos = end
            continue
        ch = text[pos : pos + 1]
        if ch == b"\r":
            col = 0
        elif ch == b"\n":
            lines.append(line)
            line, col = "", 0
        pos += 1
    if line:
        lines.append(line)
    return lines


def test_run_on_a_terminal_draws_one_line_redrawn_in_place(registry_file: Path, tmp_path: Path) -> None:
    columns = 60
    term = Terminal(
        opspack(registry_file, "run", "--", "thing", "change-slowly", "--seconds", "1.5", "--key", "copying"),
        _env(tmp_path),
        columns=columns,
    )
    assert term.finish() == 0
    raw = term.output
    before_result = raw[: raw.index(b"copying changed")]
    # each report rewrote the line: carriage return, the line, clear to its end; no newline
    # until the command ended
    draws = before_result.split(b"\r")[1:]
    assert len(draws) >= 10, raw
    assert all(d.endswith(b"\x1b[K") for d in draws[:-1]), raw
    assert before_result.count(b"\n") == 1 and before_result.endswith(b"\x1b[K\r\n"), raw
    for draw in draws:
        shown = _CSI.sub(b"", draw).decode().rstrip("\n")
        assert display_width(shown) < columns, shown  # never wraps
    assert b"\x1b[36m" in raw  # the bar in colour on a terminal
    lines = screen(raw)
    progress = [line for line in lines if "step" in line]
    assert len(progress) == 1, lines
    assert re.fullmatch(r"copying: step 10 of 10 \[█{20}\] 100% 0:0[0-9]", progress[0]), progress
    assert lines[-1] == "copying changed"


def test_no_color_keeps_the_line_live_without_colour(registry_file: Path, tmp_path: Path) -> None:
    term = Terminal(
        opspack(registry_file, "run", "--", "thing", "change-slowly", "--seconds", "0.3"),
        _env(tmp_path, NO_COLOR="1"),
    )
    assert term.finish() == 0
    assert b"\r" in term.output and b"\x1b[K" in term.output
    assert not re.search(rb"\x1b\[[0-9;]*m", term.output), term.output


def test_without_a_terminal_each_report_is_a_plain_line(registry_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        opspack(registry_file, "run", "--", "thing", "change-slowly", "--seconds", "0.3"),
        env=_env(tmp_path),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "\r" not in out and "\x1b" not in out
    assert out.splitlines() == [f"... c: step {i} of 10 ({i * 10}%)" for i in range(1, 11)] + ["c changed"]


def test_ctrl_c_cancels_the_command_and_the_shell_goes_on(registry_file: Path, tmp_path: Path) -> None:
    term = Terminal(opspack(registry_file, "shell"), _env(tmp_path))
    term.wait_for(b"opspack> ")
    term.type(b"thing change-slowly --seconds 20\r")
    term.wait_for(b"step 1 of 10")
    term.type(b"\x03")  # Ctrl-C, as typed
    at = term.wait_for(b"was cancelled")
    found = re.search(rb"Job (\d+) \(sample\.thing\.change_slowly\) was cancelled", term.output)
    assert found, term.output
    term.wait_for(b"opspack> ", start=at)
    mark = len(term.output)
    term.type(b"half typed\x03")  # Ctrl-C at the prompt: a fresh prompt, the shell stays
    term.wait_for(b"opspack> ", start=mark)
    job = found.group(1).decode()
    mark = len(term.output)
    term.type(f"job {job}\r".encode())
    term.wait_for(b"took:", start=mark)
    term.type(b"thing list --limit 1\r")
    term.wait_for(b"thing0", start=mark)
    term.type(b"exit\r")
    assert term.finish() == 0
    shown = term.output[mark:].decode()
    assert re.search(rf"Job {job}\r\n=+\r\nstate: +cancelled\r\n", shown), shown
    assert "Traceback" not in term.output.decode()


def test_ctrl_c_in_run_cancels_the_job_and_exits_130(registry_file: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    term = Terminal(opspack(registry_file, "run", "--", "thing", "change-slowly", "--seconds", "20"), env)
    term.wait_for(b"step 1 of 10")
    term.type(b"\x03")
    assert term.finish() == 130
    assert b"was cancelled" in term.output and b"Traceback" not in term.output
    history = subprocess.run(
        opspack(registry_file, "run", "--format", "json", "--", "jobs", "--state", "cancelled"),
        env={**env, "NO_COLOR": "1"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    rows = json.loads(history.stdout)["results"][0]["rows"]
    assert [r[2] for r in rows] == ["thing change-slowly --seconds 20"], rows


@pytest.mark.parametrize("columns", [120, 60, 30, 12, 4, 1])
def test_the_live_line_fits_the_terminal(columns: int) -> None:
    item = Progress("copying a file with a long name 漢字 to its new home", percent=37.5)
    text, width = progress_line(item, 3725, columns, color=True)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert display_width(shown) == width and width < max(columns, 2)
    if columns >= 60:
        assert shown.endswith("]  38% 1:02:05") and "█" in shown
    if 12 <= columns < 60:
        assert "[" not in shown  # no room for the bar: the figures only


def test_elapsed_text() -> None:
    assert [elapsed_text(s) for s in (0, 7.9, 61, 3600, 3725)] == ["0:00", "0:07", "1:01", "1:00:00", "1:02:05"]


def test_a_silent_command_shows_a_spinner_on_a_terminal_then_erases_it(registry_file: Path, tmp_path: Path) -> None:
    """Over a second without a progress report: a spinner line (what runs, the elapsed time),
    redrawn in place and erased before the answer; without a terminal, nothing of it."""
    term = Terminal(opspack(registry_file, "run", "--", "thing", "wait", "--seconds", "2.5"), _env(tmp_path))
    assert term.finish() == 0
    raw = term.output
    before = raw[: raw.index(b"waited 2.5 s")]
    frames = [_CSI.sub(b"", d).decode() for d in before.split(b"\r")[1:] if d.strip(b"\x1b[K")]
    assert len(frames) >= 5, raw
    bad = [f for f in frames if not re.fullmatch(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] thing wait --seconds 2\.5 0:0[1-9]", f)]
    assert not bad, frames
    assert before.endswith(b"\r\x1b[K"), raw  # erased: the answer starts on a clean line
    assert screen(raw) == ["waited 2.5 s"]
    piped = subprocess.run(
        opspack(registry_file, "run", "--", "thing", "wait", "--seconds", "1.5"),
        env=_env(tmp_path),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert piped.stdout == b"waited 1.5 s\n", piped


def test_tables_fit_the_terminal_and_json_keeps_every_value(registry_file: Path, tmp_path: Path) -> None:
    """Cells far wider than the terminal: the table fits COLUMNS, its cells cut with an ellipsis;
    `--format json` has every value whole."""
    env = _env(tmp_path, COLUMNS="40")
    words = ["thing", "big", "--rows", "2", "--cols", "3", "--width", "500"]
    proc = subprocess.run(opspack(registry_file, "run", "--", *words), env=env, capture_output=True, timeout=60)
    lines = proc.stdout.decode().splitlines()
    assert lines and max(display_width(line) for line in lines) <= 40, lines
    assert lines[2].startswith("c0  ") or "r0c0xx" in lines[4], lines
    assert sum("…" in line for line in lines) == 2, lines  # each row's cells, cut
    as_json = subprocess.run(
        opspack(registry_file, "run", "--format", "json", "--", *words), env=env, capture_output=True, timeout=60
    )
    rows = json.loads(as_json.stdout)["results"][0]["rows"]
    assert rows[0][0] == "r0c0".ljust(500, "x")


@pytest.mark.parametrize("how", ["--no-color", "NO_COLOR"])
def test_no_color_flag_and_variable_turn_colours_off(registry_file: Path, tmp_path: Path, how: str) -> None:
    coloured = Terminal(opspack(registry_file, "run", "--", "thing", "everything"), _env(tmp_path))
    assert coloured.finish() == 0
    assert b"\x1b[31m" in coloured.output, coloured.output  # a critical row, in red on a terminal
    args = (
        ["run", "--no-color", "--", "thing", "everything"]
        if how == "--no-color"
        else ["run", "--", "thing", "everything"]
    )
    env = _env(tmp_path, NO_COLOR="1") if how == "NO_COLOR" else _env(tmp_path)
    plain = Terminal(opspack(registry_file, *args), env)
    assert plain.finish() == 0
    assert not re.search(rb"\x1b\[[0-9;]*m", plain.output), plain.output
    assert b"critical" in plain.output


def test_fit_widths_narrows_the_widest_columns_first() -> None:
    from opspack.renderers.common import cut_text, fit_widths

    assert fit_widths([10, 20], 40) == [10, 20]  # fits: unchanged
    assert fit_widths([10, 100, 50], 80) == [10, 33, 33]  # 80 - 2 gaps of 2: the two wide ones share
    assert fit_widths([4, 100], 30) == [4, 24]
    assert sum(fit_widths([7, 300, 12, 90], 60)) + 6 == 60
    assert fit_widths([30, 30, 30], 10) == [6, 6, 6]  # floors: wider than asked, never narrower
    assert cut_text("abcdefgh", 5) == "abcd…" and cut_text("漢字漢字", 5) == "漢字…" and cut_text("abc", 5) == "abc"
