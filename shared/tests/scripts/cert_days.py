#!/usr/bin/env python3
"""Days left on certificates listed in a PEM-ish inventory file (a made-up ops script).

The parser is built by a helper from an option table, with a parent parser: an AST reader
would not see these arguments; argparse does.
"""

from __future__ import annotations

import argparse
import json
import sys

COMMON = argparse.ArgumentParser(add_help=False)
COMMON.add_argument("--env", choices=["prod", "staging", "dev"], default="prod", help="which environment")

OPTIONS = [
    ("--warn-days", {"type": int, "default": 30, "help": "warn below this many days (default %(default)s)"}),
    ("--critical-days", {"type": float, "default": 7.0, "help": "critical below this many days"}),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Check certificate expiry for hosts.", parents=[COMMON])
    parser.add_argument("hosts", nargs="+", help="host names to check")
    for flag, kwargs in OPTIONS:
        parser.add_argument(flag, **kwargs)
    parser.add_argument("--color", action=argparse.BooleanOptionalAction, default=None, help="colored output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output")
    parser.add_argument("--summary", action="store_true", help="one object instead of a list")
    parser.add_argument("--debug-internal", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    days = {h: 40 - 11 * i for i, h in enumerate(args.hosts)}
    rows = [{"host": h, "days": d, "env": args.env} for h, d in days.items()]
    worst = min(days.values())
    if args.summary:
        print(json.dumps({"hosts": len(rows), "worst_days": worst, "env": args.env, "color": args.color}))
    else:
        print(json.dumps(rows))
    if worst < args.critical_days:
        print(f"critical: a certificate expires in {worst} days", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
