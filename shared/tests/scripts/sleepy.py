"""Sleeps: for the wrapper's timeout."""

import argparse
import time

parser = argparse.ArgumentParser(description="Sleep a while")
parser.add_argument("--seconds", type=float, default=30.0, help="how long")
args = parser.parse_args()
print("starting", flush=True)
time.sleep(args.seconds)
print("done")
