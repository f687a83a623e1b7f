#!/usr/bin/env python3
"""Report the biggest files under a folder."""

import argparse
import csv
import json
import os
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description="Report the biggest files under a folder. Walks the tree once.")
    parser.add_argument("path", help="folder to scan")
    parser.add_argument("--min-kb", type=int, default=0, help="ignore files smaller than this (default: %(default)s)")
    parser.add_argument("--format", choices=["json", "csv", "text"], default="json", help="output format")
    parser.add_argument("--top", type=int, help="at most this many files")
    parser.add_argument("-x", "--exclude", action="append", help="skip names ending with this")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="say how many files on stderr")
    parser.add_argument("--no-follow", dest="follow", action="store_false", help="do not follow symlinks")
    args = parser.parse_args()
    if os.environ.get("WRAP_MARKER"):  # proves that `opspack wrap` stops before this
        Path(os.environ["WRAP_MARKER"]).write_text("ran")
    rows = []
    for folder, _, names in os.walk(args.path, followlinks=args.follow):
        for n in names:
            if any(n.endswith(e) for e in args.exclude or []):
                continue
            size = os.path.getsize(os.path.join(folder, n)) // 1024
            if size >= args.min_kb:
                rows.append({"file": os.path.relpath(os.path.join(folder, n), args.path), "kb": size})
    rows.sort(key=lambda r: (-r["kb"], r["file"]))
    rows = rows[: args.top] if args.top else rows
    if args.format == "json":
        print(json.dumps(rows))
    elif args.format == "csv":
        w = csv.DictWriter(sys.stdout, ["file", "kb"])
        w.writeheader()
        w.writerows(rows)
    else:
        for r in rows:
            print(f"{r['kb']:>8} KB  {r['file']}")
    if args.verbose:
        print(f"{len(rows)} files", file=sys.stderr)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
