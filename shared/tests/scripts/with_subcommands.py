"""A script with subcommands (not wrappable as one command)."""

import argparse

parser = argparse.ArgumentParser()
sub = parser.add_subparsers(dest="cmd")
sub.add_parser("start")
sub.add_parser("stop")
parser.parse_args()
