#!/usr/bin/env python3
"""diskreport: the biggest files under a folder, as a table for people or JSON for tools.

A script as operators write them: argparse, a --format option whose default is a table for
the terminal, and exit code 1 when the folder cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Show the biggest files under a folder. Walks the tree once.")
    parser.add_argument("--path", default=".", help="folder to scan (default: the current folder)")
    parser.add_argument("--top", type=int, default=10, help="show at most this many files (default: %(default)s)")
    parser.add_argument("--min-size", type=int, default=0, help="ignore files smaller than this many bytes")
    parser.add_argument("--format", choices=["table", "json"], default="table", help="table for people, json for tools")
    return parser


def scan(path: str, min_size: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for folder, _dirs, names in os.walk(path, onerror=_fail):
        for name in names:
            full = os.path.join(folder, name)
            try:
                size = os.path.getsize(full)
            except OSError:
                continue
            if size >= min_size:
                found.append({"file": os.path.relpath(full, path), "bytes": size})
    found.sort(key=lambda r: (-int(str(r["bytes"])), str(r["file"])))
    return found


def _fail(error: OSError) -> None:
    raise error


def show_table(rows: list[dict[str, object]]) -> None:
    width = max([len(str(r["file"])) for r in rows] + [4])
    print(f"{'file':<{width}}  {'bytes':>12}")
    for r in rows:
        print(f"{r['file']!s:<{width}}  {r['bytes']!s:>12}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not os.path.isdir(args.path):
        print(f"diskreport: {args.path}: no such folder", file=sys.stderr)
        return 1
    try:
        rows = scan(args.path, args.min_size)[: args.top]
    except OSError as exc:
        print(f"diskreport: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(rows))
    else:
        show_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
