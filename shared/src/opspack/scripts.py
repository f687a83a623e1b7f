"""Running a script as a command (what ``opspack wrap`` generates calls): the script runs
in a subprocess under a timeout, and its output becomes results.

Output mapping (:func:`parse_output`), first that fits:

- JSON on stdout: a list of objects (or JSON lines, one object a line) → a table; an object
  holding a single list of objects → that table, titled with the key; an object whose
  ``status`` (or ``level``) is ok, warning, critical or unknown → a status (its ``message``
  or ``summary`` the text; any other fields key-values before it); another object →
  key-values; a list of plain values → a one-column table; anything else → text.
- CSV (comma, semicolon or tab separated; a header of short names without surrounding spaces
  and at least one row, every row as wide as the header) → a table.
- Anything else → text.

Exit code 0 is success: the results above (a status ``ok`` when the script printed nothing).
Any other exit code is a failure: :class:`~opspack.errors.BackendError` whose message is the
end of stderr, shown once (the reply is an error, ``opspack run`` exits 1).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opspack.errors import BackendError, CommandTimeout
from opspack.results import KV, LEVELS, Status, Table, Text

ScriptResult = Table | KV | Text | Status
#: at most this much of stderr is shown when a script fails
STDERR_TAIL_LINES = 15


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _table_from_objects(objects: Sequence[Mapping[str, Any]], title: str | None = None) -> Table:
    columns: list[str] = []
    for obj in objects:
        columns.extend(k for k in obj if k not in columns)
    rows = [[_cell(obj.get(c)) for c in columns] for obj in objects]
    return Table(columns=columns, rows=rows, title=title)


def _status(data: dict[str, Any]) -> list[ScriptResult] | None:
    """A status (after key-values of the other fields) when the object's shape says it is one."""
    key = next((k for k in ("status", "level") if isinstance(data.get(k), str)), None)
    if key is None or str(data[key]).lower() not in LEVELS:
        return None
    text_key = next((k for k in ("message", "summary") if isinstance(data.get(k), str)), None)
    message = str(data[text_key]) if text_key else f"status {data[key].lower()}"
    rest = {k: v for k, v in data.items() if k not in (key, text_key)}
    out: list[ScriptResult] = [_from_json(rest)[0]] if rest else []
    out.append(Status(data[key].lower(), message))
    return out


def _from_json(data: Any) -> list[ScriptResult]:
    if isinstance(data, dict) and (status := _status(data)) is not None:
        return status
    return [_one_from_json(data)]


def _one_from_json(data: Any) -> ScriptResult:
    if isinstance(data, list):
        if data and all(isinstance(x, dict) for x in data):
            return _table_from_objects(data)
        if all(not isinstance(x, dict | list) for x in data):
            return Table(columns=["value"], rows=[[x] for x in data])
        return Text(json.dumps(data, indent=2, ensure_ascii=False), mono=True)
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(data) == 1 and lists:
            return _table_from_objects(data[lists[0]], title=lists[0])
        return KV(
            {
                str(k): (v if isinstance(v, list) and all(not isinstance(x, dict | list) for x in v) else _cell(v))
                for k, v in data.items()
            }
        )
    return Text(str(data))


def _json_lines(text: str) -> list[dict[str, Any]] | None:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    out = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        out.append(obj)
    return out


def _csv(text: str) -> Table | None:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    for delimiter in (",", "\t", ";"):
        if delimiter not in lines[0]:
            continue
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
        header = rows[0]
        width = len(header)
        if width < 2 or any(len(r) != width for r in rows):
            continue
        # a header names columns: short, non-empty, unique cells without surrounding spaces
        # (which tells "name,port" from prose such as "Hello, world")
        if any(not h.strip() or h != h.strip() or len(h) > 60 for h in header) or len(set(header)) != width:
            continue
        return Table(columns=[h.strip() for h in header], rows=[[_number(v) for v in r] for r in rows[1:]])
    return None


def _number(value: str) -> Any:
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return value


def parse_output(stdout: str) -> list[ScriptResult]:
    """Results for a script's standard output (see the module's docstring)."""
    text = stdout.strip()
    if not text:
        return []
    try:
        return _from_json(json.loads(text))
    except ValueError:
        pass
    objects = _json_lines(text)
    if objects is not None:
        return [_table_from_objects(objects)]
    table = _csv(text)
    if table is not None:
        return [table]
    return [Text(stdout.rstrip(), mono=True)]


def script_results(stdout: str, stderr: str, returncode: int, *, name: str = "the script") -> list[ScriptResult]:
    """Results for a finished script: its output when it exited 0 (a status ``ok`` when it
    printed nothing); otherwise :class:`~opspack.errors.BackendError` with the end of its
    stderr, once."""
    if returncode == 0:
        return parse_output(stdout) or [Status("ok", f"{name} finished (exit 0) and printed nothing")]
    tail = [line.rstrip() for line in stderr.rstrip().splitlines() if line.strip()][-STDERR_TAIL_LINES:]
    why = f"was killed by signal {-returncode}" if returncode < 0 else f"failed (exit code {returncode})"
    if len(tail) == 1:
        message = f"{name} {why}: {tail[0].strip()}"
    elif tail:
        message = f"{name} {why}:\n" + "\n".join(tail)
    else:
        message = f"{name} {why} and wrote nothing on stderr"
    raise BackendError(message, "Check the arguments; the message ends with what the script wrote on stderr.")


def run_script(
    script: str | Path,
    argv: Sequence[str],
    *,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> list[ScriptResult]:
    """Run ``python <script> <argv...>`` with this interpreter; its output as results.

    Raises :class:`~opspack.errors.CommandTimeout` after ``timeout`` seconds (the script and
    any processes it started are killed) and :class:`~opspack.errors.BackendError` when it
    cannot be started.
    """
    path = Path(script)
    cmd = [sys.executable, str(path), *[str(a) for a in argv]]
    environ = {**os.environ, **(env or {}), "PYTHONIOENCODING": "utf-8"}
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=environ,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise BackendError(
            f"cannot start {path.name}: {exc}", "Check that the script exists and is readable."
        ) from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise CommandTimeout(
            f"{path.name} did not finish within {timeout:g} s and was stopped",
            "Try again with narrower arguments, or raise the timeout in the command's module.",
        ) from None
    return script_results(stdout, stderr, proc.returncode, name=path.name)


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.communicate()
