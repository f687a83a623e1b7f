"""``opspack shell``: an interactive chat console, like Hubot's shell adapter.

Type commands as in chat; ``help`` lists them; destructive commands ask for
confirmation (through the :class:`~opspack.frontends.gateway.Gateway`, like every
front-end); ``exit`` or end-of-input (Ctrl-D) leaves. With a terminal it keeps a history
file (``~/.opspack_history``) and completes command words.

Commands run here, in the shell's process. A running command's progress shows as one
live line on a terminal, and a command silent for over a second shows a spinner there (a
line per report otherwise, see
:class:`~opspack.frontends.terminal.ProgressDisplay`); Ctrl-C while it runs cancels it
(its job ends ``cancelled``) and the shell goes on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from opspack.context import Caller
from opspack.frontends.gateway import Gateway
from opspack.frontends.terminal import ProgressDisplay, cancel_on_interrupt, terminal_width, use_color
from opspack.jobs import Cancel
from opspack.registry import Registry
from opspack.renderers import render
from opspack.results import Progress, Reply
from opspack.runtime import Gate, Runtime

PROMPT = "opspack> "
BANNER = "opspack shell: type a command as in chat (`help` lists them, `exit` leaves)."


def _setup_readline(registry: Registry) -> Any:
    try:
        import readline
    except ImportError:  # pragma: no cover - not on every platform
        return None
    history = Path(os.environ.get("OPSPACK_HISTORY", "~/.opspack_history")).expanduser()
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(1000)
    forms = sorted(set(registry.chat_forms()) | {"help", "exit"})

    def complete(text: str, state: int) -> str | None:
        line = readline.get_line_buffer()
        matches = [f[len(line) - len(text) :] for f in forms if f.startswith(line)]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_completer_delims("")
    readline.parse_and_bind("tab: complete")
    return lambda: readline.write_history_file(history)


def _read_line(stream: IO[bytes], interactive: bool, prompt: str) -> str | None:
    """The next line typed (None: end of input). On a terminal, Ctrl-C drops what was typed
    (an empty line: a fresh prompt, or "no" to a question), as in other shells."""
    if interactive:
        try:
            return input(prompt)
        except EOFError:
            return None
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            return ""
    raw = stream.readline()
    if not raw:
        return None
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return "\udcff"  # reported as invalid text by the grammar


def run_shell(
    registry: Registry,
    *,
    fmt: str = "text",
    profile: str | None = None,
    user: str = "local",
    groups: tuple[str, ...] = (),
    executor: Any = None,
    gates: Iterable[Gate] = (),
) -> int:
    """The console; ``executor``: where commands run (default: in this process; the demo's
    ``--celery`` passes the runner's choice, Celery workers); ``gates``: the runtime's gates
    (the demo's answers for a pack whose local service is not running)."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    save_history = _setup_readline(registry) if interactive else None
    gateway = Gateway(Runtime(registry, timeouts="signal", executor=executor, gates=gates))
    out = sys.stdout
    out.write(BANNER + "\n")
    if registry.broken:
        for b in registry.broken:
            out.write(f"(pack {b.name} is installed but unreadable: {b.reason})\n")
    stream = sys.stdin.buffer
    streamed: list[Progress] = []
    display = ProgressDisplay(out)

    def show_progress(item: Progress) -> None:
        """Show a running command's progress at once (text format only)."""
        streamed.append(item)
        if fmt == "text":
            display.report(item)

    def run(call: Callable[[], Reply], text: str) -> Reply | None:
        """Run a call of the gateway (``text``: what the spinner shows); Ctrl-C cancels it
        (None: nothing ran to answer)."""
        display.start(text if fmt == "text" else "")
        try:
            with cancel_on_interrupt():
                return call()
        except Cancel:
            display.finish()
            out.write("Cancelled.\n")
            return None
        finally:
            display.finish()

    def respond(text: str) -> None:
        """Run one typed line and show its answer."""
        streamed.clear()
        caller = Caller(
            user=user, groups=groups, frontend="shell", format=fmt, profile=profile, on_progress=show_progress
        )
        reply = run(functools.partial(gateway.chat, text, caller), text)
        if reply is None:
            return
        confirm = reply.error.confirm if reply.error is not None else None
        if confirm is not None and confirm.token and not confirm.approvers:
            out.write(f"{confirm.prompt} [y/N] ")
            out.flush()
            answer = _read_line(stream, interactive, "")
            if not interactive:
                out.write((answer or "") + "\n")
            if (answer or "").strip().lower() not in ("y", "yes"):
                gateway.decline(confirm.token, caller)
                out.write("Cancelled.\n")
                return
            reply = run(functools.partial(gateway.confirm, confirm.token, caller), text)
            if reply is None:
                return
        if fmt == "text":
            reply.results = [r for r in reply.results if not any(r is s for s in streamed)]
        text_out = fmt == "text"
        rendered = render(
            reply,
            fmt,
            color=interactive and text_out and use_color(out),
            width=terminal_width(out) if text_out else None,
        )
        if not isinstance(rendered, str):
            import json

            rendered = json.dumps(rendered, ensure_ascii=False, indent=2)
        out.write(rendered if rendered.endswith("\n") else rendered + "\n")
        out.flush()

    try:
        while True:
            try:
                line = _read_line(stream, interactive, PROMPT)
                if line is None:
                    break
                if not interactive:
                    out.write(PROMPT + line.encode("utf-8", "replace").decode("utf-8") + "\n")
                text = line.strip()
                if text in ("exit", "quit", "bye"):
                    break
                if text:
                    respond(text)
            except KeyboardInterrupt:  # Ctrl-C between commands: a fresh prompt on a terminal
                if not interactive:
                    raise
                out.write("\n")
    except KeyboardInterrupt:
        out.write("\n")
    finally:
        if save_history is not None:
            save_history()
        gateway.close()
    return 0
