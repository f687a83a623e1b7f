"""The ``opspack`` command line: list, help, run, shell, serve, mcp, slack, worker, history,
policy check, registry build|check and completion bash|zsh."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opspack.renderers import FORMATS
from opspack.version import __version__

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
#: a command stopped with Ctrl-C (128 + SIGINT, as shells say)
EXIT_INTERRUPTED = 130


def _registry(args: argparse.Namespace) -> Any:
    from opspack.registry import Registry

    if getattr(args, "registry", None):
        return Registry.from_file(args.registry)
    return Registry.from_installed()


def _registry_file(args: argparse.Namespace) -> Any:
    """The ``--registry`` file's registry, or None: the installed packs, read again on a reload."""
    from opspack.registry import Registry

    return Registry.from_file(args.registry) if getattr(args, "registry", None) else None


def _print(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _emit(reply: Any, fmt: str) -> None:
    from opspack.frontends.terminal import terminal_width, use_color
    from opspack.renderers import render

    text = fmt == "text"
    out = render(reply, fmt, color=text and use_color(sys.stdout), width=terminal_width(sys.stdout) if text else None)
    if isinstance(out, str):
        _print(out)
    else:
        _print(json.dumps(out, ensure_ascii=False, indent=None if fmt == "json" else 2))


def exit_code(reply: Any) -> int:
    """0 ok, 2 a usage error, 130 cancelled (Ctrl-C), 1 any other failure."""
    if reply.ok:
        return EXIT_OK
    kind = reply.error.kind if reply.error is not None else None
    return {"usage": EXIT_USAGE, "cancelled": EXIT_INTERRUPTED}.get(kind or "", EXIT_ERROR)


def _local_user() -> str:
    """Who runs the command line: the operating-system user (recorded in the audit trail)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user database entry, e.g. in a bare container
        return "local"


def _gateway(args: argparse.Namespace, **runtime_options: Any) -> Any:
    """The gateway this command line goes through, for the user it runs as."""
    from opspack.frontends.gateway import Gateway
    from opspack.runtime import Runtime

    return Gateway(Runtime(_registry(args), **runtime_options))


def _caller(args: argparse.Namespace, **fields: Any) -> Any:
    from opspack.context import Caller

    return Caller(user=args.user, groups=tuple(args.group or ()), frontend="cli", **fields)


def cmd_list(args: argparse.Namespace) -> int:
    from opspack.help import overview
    from opspack.renderers import render
    from opspack.results import Reply, Text

    registry = _gateway(args).visible_registry(_caller(args))
    entries = registry.in_pack(args.pack) if args.pack else list(registry)
    if args.pack and registry.pack(args.pack) is None:
        known = ", ".join(p["name"] for p in registry.packs) or "none"
        sys.stderr.write(f"opspack: no pack named {args.pack!r} is installed (installed: {known})\n")
        return EXIT_USAGE
    if args.json:
        _print(json.dumps(entries, ensure_ascii=False, indent=2))
        return EXIT_OK
    results: list[Any] = [overview(registry, entries, title=f"{len(entries)} commands")]
    for b in registry.broken:
        results.append(Text(f"pack {b.name} is installed but unreadable: {b.reason}"))
    from opspack.frontends.terminal import terminal_width

    _print(render(Reply(ok=True, command=None, results=results), "text", width=terminal_width(sys.stdout)))
    return EXIT_OK


def cmd_help(args: argparse.Namespace) -> int:
    reply = _gateway(args).help(args.words, _caller(args))
    _emit(reply, args.format)
    return exit_code(reply)


def chat_text(words: Sequence[str]) -> str:
    """The chat text of ``opspack run``'s arguments: one argument is chat text as typed in
    chat; several are tokens as the shell split them, each kept one token (quoted again)."""
    import shlex

    parts = list(words)
    if parts and parts[0] == "--":
        parts = parts[1:]
    if len(parts) == 1:
        return parts[0]
    return shlex.join(parts)


def cmd_run(args: argparse.Namespace) -> int:
    """Run one command here, in this process. Its progress shows as it comes (text format):
    one live line on a terminal (a spinner while a command past a second reports nothing),
    a line per report elsewhere. Ctrl-C cancels the command
    (its job ends ``cancelled``, exit status 130)."""
    from opspack.frontends.terminal import ProgressDisplay, cancel_on_interrupt
    from opspack.jobs import Cancel
    from opspack.results import Progress

    gateway = _gateway(args, timeouts="signal")
    streamed: list[Progress] = []
    display = ProgressDisplay(sys.stdout)

    def show_progress(item: Progress) -> None:
        streamed.append(item)
        display.report(item)

    caller = _caller(
        args,
        format=args.format,
        profile=args.profile,
        confirmed=args.yes,
        on_progress=show_progress if args.format == "text" else None,
    )
    text = chat_text(args.text)
    display.start(text if args.format == "text" else "")
    try:
        with cancel_on_interrupt():
            reply = gateway.chat(text, caller)
    except Cancel:  # Ctrl-C outside the command itself (before it started, or as its record was written)
        display.finish()
        sys.stderr.write("opspack: cancelled\n")
        return EXIT_INTERRUPTED
    finally:
        display.finish()
        gateway.close()
    reply.results = [r for r in reply.results if not any(r is s for s in streamed)]
    _emit(reply, args.format)
    return exit_code(reply)


def cmd_shell(args: argparse.Namespace) -> int:
    from opspack.frontends.shell import run_shell

    return run_shell(
        _registry(args), fmt=args.format, profile=args.profile, user=args.user, groups=tuple(args.group or ())
    )


def cmd_history(args: argparse.Namespace) -> int:
    from opspack.context import Caller
    from opspack.errors import OpsError
    from opspack.grammar import parse_since
    from opspack.runtime import Runtime

    runtime = Runtime(_registry(args))
    try:
        try:
            audit = runtime.audit
        except OpsError as exc:
            sys.stderr.write(f"opspack: {exc.message}\n" + (f"{exc.hint}\n" if exc.hint else ""))
            return EXIT_ERROR
        if audit is None:
            sys.stderr.write("opspack: the audit trail is turned off (OPSPACK_AUDIT_URL=off)\n")
            return EXIT_ERROR
        if args.json:
            try:
                since = parse_since(args.since)
            except OpsError as exc:
                sys.stderr.write(f"opspack: {exc.message}\n")
                return EXIT_USAGE
            if args.words[:1] == ["stats"]:
                _print(json.dumps(audit.stats(since=since, limit=args.limit), indent=2))
                return EXIT_OK
            commands = None
            if args.words:
                entries, n = runtime.registry.match(args.words)
                found = entries if entries and n == len(args.words) else runtime.registry.with_prefix(args.words)
                commands = [e["id"] for e in found]
            records = audit.history(
                commands=commands, user=args.user, since=since, failed=args.failed, limit=args.limit
            )
            _print(json.dumps([r.to_dict() for r in records], ensure_ascii=False, indent=2))
            return EXIT_OK
        import shlex

        text = " ".join(["history", *(shlex.quote(w) for w in args.words)])
        text += f" --since {shlex.quote(args.since)} --limit {args.limit}"
        if args.words[:1] != ["stats"]:
            text += (f" --user {shlex.quote(args.user)}" if args.user else "") + (" --failed" if args.failed else "")
        reply = runtime.chat(text, Caller(user=args.user_self, frontend="cli"))
        _emit(reply, "text")
        return exit_code(reply)
    finally:
        runtime.close()


def cmd_policy(args: argparse.Namespace) -> int:
    """``opspack policy check [FILE]``: the policy (FILE, else the one in force) against the
    installed registry (or ``--registry``); each problem on a line, exit 1 on any."""
    from opspack.errors import ConfigError
    from opspack.policy import check, policy_path
    from opspack.settings import Config

    try:
        path = Path(args.file) if args.file else policy_path(Config.load().data)
    except ConfigError as exc:
        sys.stderr.write(f"opspack policy: {exc.message}\n")
        return EXIT_ERROR
    if path is None:
        sys.stderr.write(
            "opspack policy: no policy file given, and none is configured (OPSPACK_POLICY or [policy] file)\n"
        )
        return EXIT_USAGE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"opspack policy: {path} cannot be read: {exc.strerror}\n")
        return EXIT_ERROR
    registry = _registry(args)
    problems = check(text, registry.commands, str(path))
    for problem in problems:
        _print(problem)
    if problems:
        sys.stderr.write(f"opspack policy: {len(problems)} problem(s) in {path}\n")
        return EXIT_ERROR
    _print(f"{path}: loads, and every pattern matches one of the {len(registry)} commands")
    return EXIT_OK


def cmd_registry(args: argparse.Namespace) -> int:
    from opspack.devtools import registry_build as build

    try:
        root = Path(args.root) if args.root else build.find_root()
        if args.action == "build":
            changed = build.write(root)
            for path in changed:
                _print(f"wrote {path.relative_to(root)}")
            if not changed:
                _print("registry is up to date")
            return EXIT_OK
        problems = build.check(root)
    except build.BuildError as exc:
        sys.stderr.write(f"opspack registry: {exc}\n")
        return EXIT_ERROR
    if problems:
        for p in problems:
            sys.stderr.write(p + "\n")
        sys.stderr.write(f"Generated files are stale. Regenerate them with: {build.REGENERATE}\n")
        return EXIT_ERROR
    _print("registry is up to date")
    return EXIT_OK


def _frontend(args: argparse.Namespace, extra: str, run: Any) -> int:
    """Run a front-end, turning a missing extra or a config error into one line."""
    from opspack.errors import ConfigError

    try:
        return int(run())
    except ImportError as exc:
        sys.stderr.write(f"opspack {args.cmd}: {exc.name or exc} is not installed; pip install 'opspack[{extra}]'\n")
        return EXIT_ERROR
    except ConfigError as exc:
        sys.stderr.write(f"opspack {args.cmd}: {exc.message}\n" + (f"{exc.hint}\n" if exc.hint else ""))
        return EXIT_ERROR


def cmd_serve(args: argparse.Namespace) -> int:
    def run() -> int:
        from opspack.frontends.serve import serve

        return serve(
            args.host,
            args.port,
            registry=_registry_file(args),
            access_log=not args.no_access_log,
            log_level=args.log_level,
        )

    return _frontend(args, "serve", run)


def cmd_mcp(args: argparse.Namespace) -> int:
    if not args.http and (args.host is not None or args.port is not None):
        sys.stderr.write("opspack mcp: --host and --port need --http (stdio is the default transport)\n")
        return EXIT_USAGE
    packs = None if args.packs is None else [p.strip() for p in args.packs.split(",") if p.strip()]

    def run() -> int:
        from opspack.frontends.mcp import run_http, run_stdio

        options: dict[str, Any] = {
            "group_tools": args.group_tools,
            "user": args.user,
            "profile": args.profile,
            "read_only": args.read_only,
            "packs": packs,
        }
        if args.http:
            host = args.host or "127.0.0.1"
            return run_http(_registry_file(args), host=host, port=8000 if args.port is None else args.port, **options)
        return run_stdio(_registry_file(args), **options)

    return _frontend(args, "mcp", run)


def cmd_slack(args: argparse.Namespace) -> int:
    def run() -> int:
        from opspack.frontends.slack import run_slack

        return run_slack(_registry(args), socket_mode=not args.http, port=args.port)

    return _frontend(args, "slack", run)


def cmd_worker(args: argparse.Namespace) -> int:
    """``opspack worker [--packs a,b] [--concurrency N] [--loglevel L]``: a Celery worker."""

    def run() -> int:
        from opspack.celery_executor import run_worker

        packs = [p.strip() for p in args.packs.split(",") if p.strip()] if args.packs else None
        return run_worker(_registry(args), packs=packs, concurrency=args.concurrency, loglevel=args.loglevel)

    return _frontend(args, "celery", run)


def cmd_whats_new(args: argparse.Namespace) -> int:
    """``opspack whats-new [--since X] [--repo DIR] [--format F]``."""
    from opspack.devtools import registry_build
    from opspack.devtools.whats_new import report
    from opspack.errors import ConfigError, OpsError
    from opspack.results import Reply

    try:
        repo = Path(args.repo or registry_build.find_root())
        reply = Reply(ok=True, command=None, results=[*report(repo, args.since)])
    except registry_build.BuildError as exc:
        reply = Reply.failure(ConfigError(str(exc), "Pass --repo <checkout>.").to_error())
    except OpsError as exc:
        reply = Reply.failure(exc.to_error())
    _emit(reply, args.format)
    sys.stdout.flush()
    return exit_code(reply)


def cmd_completion(args: argparse.Namespace) -> int:
    """``opspack completion bash|zsh``: the script that completes subcommands and chat words."""
    from opspack.frontends.completion import script

    sys.stdout.write(script(args.shell))
    return EXIT_OK


def _lazy(target: str) -> Any:
    """A subcommand implemented by ``module:function`` (imported only when it runs)."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        module, func = target.split(":")
        return int(getattr(importlib.import_module(module), func)(args))

    return run


def no_color(p: argparse.ArgumentParser) -> None:
    """``--no-color``, before or after the subcommand (SUPPRESS: a subcommand's default never
    hides the one given before it)."""
    p.add_argument("--no-color", action="store_true", default=argparse.SUPPRESS, help="no colours (as NO_COLOR=1)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opspack", description="Chat-ops command packs.")
    p.add_argument("--version", action="version", version=f"opspack {__version__}")
    p.add_argument("--registry", help="read commands from this registry.json instead of installed packs")
    no_color(p)
    sub = p.add_subparsers(dest="cmd", required=True)

    def who(s: argparse.ArgumentParser) -> None:
        s.add_argument("--user", default=_local_user(), help="run or look as this user (default: you)")
        s.add_argument(
            "--group",
            "--role",
            dest="group",
            action="append",
            help="a group the user is in, mapped to roles by the policy's [groups] (repeatable)",
        )

    s = sub.add_parser("list", help="list the commands of the installed packs")
    who(s)
    s.add_argument("--pack", help="only this pack")
    s.add_argument("--json", action="store_true", help="print the registry entries as JSON")
    no_color(s)
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("help", help="help for a command, a group or a pack")
    who(s)
    s.add_argument("words", nargs="*")
    s.add_argument("--format", choices=FORMATS, default="text")
    no_color(s)
    s.set_defaults(func=cmd_help)

    s = sub.add_parser("run", help="run one command: opspack run -- vm list --cluster prod")
    s.add_argument("--format", choices=FORMATS, default="text")
    s.add_argument("--profile", help="settings profile ([<pack>.profiles.<name>] in opspack.toml)")
    s.add_argument("--yes", action="store_true", help="confirm a destructive command")
    who(s)
    s.add_argument("text", nargs=argparse.REMAINDER, help="the chat text, after --")
    no_color(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("shell", help="an interactive chat console")
    s.add_argument("--format", choices=FORMATS, default="text")
    s.add_argument("--profile")
    who(s)
    no_color(s)
    s.set_defaults(func=cmd_shell)

    s = sub.add_parser("serve", help="the HTTP runner bots call (needs opspack[serve])")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--no-access-log", action="store_true", help="do not log each request")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("mcp", help="serve the commands as MCP tools over stdio or HTTP (needs opspack[mcp])")
    s.add_argument("--http", action="store_true", help="streamable HTTP at /mcp (bearer tokens as opspack serve's)")
    s.add_argument("--host", help="with --http: the address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="with --http: the port (default 8000)")
    s.add_argument("--read-only", action="store_true", help="only read-only commands")
    s.add_argument("--packs", metavar="A,B", help="only these packs' commands (comma-separated)")
    s.add_argument("--group-tools", action="store_true", help="one tool per pack group instead of per command")
    s.add_argument("--profile", help="settings profile")
    s.add_argument("--user", default="mcp", help="the user commands run as (for confirmations and audit)")
    s.set_defaults(func=cmd_mcp)

    s = sub.add_parser("slack", help="the Slack app: slash command and mentions (needs opspack[slack])")
    s.add_argument("--http", action="store_true", help="serve Slack's HTTP events instead of Socket Mode")
    s.add_argument("--port", type=int, default=3000, help="port for --http")
    s.set_defaults(func=cmd_slack)

    s = sub.add_parser("worker", help="run jobs from the broker: a Celery worker (needs opspack[celery])")
    s.add_argument("--packs", help="only the jobs of these packs, comma-separated (default: every installed pack)")
    s.add_argument("--concurrency", type=int, help="jobs run at once (worker processes; default: one per CPU)")
    s.add_argument("--loglevel", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(func=cmd_worker)

    s = sub.add_parser("history", help="who ran what: history [words] [--user U] [--since 7d] [--failed]")
    s.add_argument("words", nargs="*", help="command words to filter on, or `stats`")
    s.add_argument("--user", help="only this user's invocations")
    s.add_argument("--since", default="30d", help="how far back: 7d, 12h, 30m or a date")
    s.add_argument("--failed", action="store_true", help="only invocations that failed")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true", help="print the records as a JSON list")
    s.add_argument("--as-user", dest="user_self", default=_local_user(), help=argparse.SUPPRESS)
    no_color(s)
    s.set_defaults(func=cmd_history)

    s = sub.add_parser("policy", help="check a permission policy against the installed commands")
    s.add_argument("action", choices=["check"])
    s.add_argument("file", nargs="?", help="the policy file (default: OPSPACK_POLICY or [policy] file)")
    s.set_defaults(func=cmd_policy)

    s = sub.add_parser("registry", help="build or check the generated registry")
    s.add_argument("action", choices=["build", "check"])
    s.add_argument("--root", help="the checkout (default: found from the current folder)")
    s.set_defaults(func=cmd_registry)

    def script_options(s: argparse.ArgumentParser, default_words: str) -> None:
        s.add_argument("--words", help=f'the command\'s chat words, e.g. --words "disk top" (default: {default_words})')
        s.add_argument("--example", help="a chat example with real arguments; the generated test runs it")
        s.add_argument("--timeout", type=float, default=60.0, help="seconds the script may run (default 60)")
        effect = s.add_mutually_exclusive_group()
        effect.add_argument("--read-only", action="store_true", help="the script changes nothing")
        effect.add_argument("--mutating", action="store_true", help="the script changes things (the default)")

    s = sub.add_parser("new-pack", help="create packs/<name>/ from the template (or around a script) and register it")
    s.add_argument("name", help="the pack's name: lower case, digits, underscores (netbox, sql_server)")
    s.add_argument("--summary", help="one line: what the pack's commands do")
    s.add_argument("--from-script", metavar="PATH", help="make the pack around this argparse script (no example)")
    script_options(s, "<name> run")
    s.add_argument("--root", help="the checkout (default: found from the current folder)")
    s.set_defaults(func=_lazy("opspack.devtools.scaffold:cli"))

    s = sub.add_parser("wrap", help="turn an argparse script into a command of a pack")
    s.add_argument("script", help="the Python script (it must build an argparse.ArgumentParser)")
    s.add_argument("--pack", required=True, help="the pack that receives the command")
    script_options(s, "<script name> run")
    s.add_argument("--group", help="the command's group, when --words is not given (default: the script's name)")
    s.add_argument("--verb", help="the command's verb, when --words is not given (default: run)")
    s.add_argument("--force", action="store_true", help="overwrite an existing module of that group")
    s.add_argument("--root", help="the checkout (default: found from the current folder)")
    s.set_defaults(func=_lazy("opspack.devtools.wrap:cli"))

    s = sub.add_parser("completion", help="print a completion script: source <(opspack completion bash)")
    s.add_argument("shell", choices=["bash", "zsh"])
    s.set_defaults(func=cmd_completion)

    s = sub.add_parser("whats-new", help="commands added or changed since a date or version")
    s.add_argument("--since", default="30d", help="a date, 7d/12h, a version (0.1.0, jenkins@0.1.0) or a git ref")
    s.add_argument("--repo", help="the checkout whose registry.json history is read (default: found from here)")
    s.add_argument("--format", choices=FORMATS, default="text")
    no_color(s)
    s.set_defaults(func=cmd_whats_new)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import os

    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["__complete"]:  # what the completion scripts ask; not a subcommand of the help
        from opspack.frontends.completion import complete

        return complete(words[1:], parser())
    args = parser().parse_args(argv)
    if getattr(args, "no_color", False):
        os.environ["NO_COLOR"] = "1"  # read wherever colour is decided (terminal.use_color)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
