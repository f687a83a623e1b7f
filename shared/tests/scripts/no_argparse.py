"""A script without argparse."""

import sys

print("hello", sys.argv[1:])
