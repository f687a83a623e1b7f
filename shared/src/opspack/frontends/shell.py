"""``opspack shell``: an interactive chat console, like Hubot's shell adapter.

Type commands as in chat; ``help`` lists them; destructive commands ask for
confirmation (through the :class:`~opspack.frontends.gateway.Gateway`, like every
front-end); ``exit`` or end-of-input leaves. With a terminal it keeps a history
file (``~/.opspack_history``) and completes command words.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import IO, Any

from opspack.context import Caller
from opspack.frontends.gateway import Gateway
from opspack.registry import Registry
from opspack.renderers import render
from opspack.results import Progress, Reply
from opspack.runtime import Runtime

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
    if interactive:
        try:
            return input(prompt)
        except EOFError:
            return None
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
    roles: tuple[str, ...] = (),
) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    save_history = _setup_readline(registry) if interactive else None
    gateway = Gateway(Runtime(registry, timeouts="signal"))
    out = sys.stdout
    out.write(BANNER + "\n")
    if registry.broken:
        for b in registry.broken:
            out.write(f"(pack {b.name} is installed but unreadable: {b.reason})\n")
    stream = sys.stdin.buffer
    streamed: list[Progress] = []

    def show_progress(item: Progress) -> None:
        """Show a running command's progress at once (text format only)."""
        streamed.append(item)
        if fmt == "text":
            out.write(render(Reply(ok=True, command=None, results=[item]), fmt))
            out.flush()

    try:
        while True:
            line = _read_line(stream, interactive, PROMPT)
            if line is None:
                break
            if not interactive:
                out.write(PROMPT + line.encode("utf-8", "replace").decode("utf-8") + "\n")
            text = line.strip()
            if not text:
                continue
            if text in ("exit", "quit", "bye"):
                break
            streamed.clear()
            caller = Caller(
                user=user, roles=roles, frontend="shell", format=fmt, profile=profile, on_progress=show_progress
            )
            reply = gateway.chat(text, caller)
            confirm = reply.error.confirm if reply.error is not None else None
            if confirm is not None and confirm.token and not confirm.approvers:
                out.write(f"{confirm.prompt} [y/N] ")
                out.flush()
                answer = _read_line(stream, interactive, "")
                if not interactive:
                    out.write((answer or "") + "\n")
                if (answer or "").strip().lower() in ("y", "yes"):
                    reply = gateway.confirm(confirm.token, caller)
                else:
                    gateway.confirmations.discard(confirm.token)
                    out.write("Cancelled.\n")
                    continue
            if fmt == "text":
                reply.results = [r for r in reply.results if not any(r is s for s in streamed)]
            rendered = render(reply, fmt, color=interactive and fmt == "text")
            if not isinstance(rendered, str):
                import json

                rendered = json.dumps(rendered, ensure_ascii=False, indent=2)
            out.write(rendered if rendered.endswith("\n") else rendered + "\n")
            out.flush()
    except KeyboardInterrupt:
        out.write("\n")
    finally:
        if save_history is not None:
            save_history()
        gateway.close()
    return 0
