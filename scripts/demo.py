"""The demo: the chat console with every pack of the repo installed.

``nox -s demo`` installs the core and every pack, then runs this. It starts the
local services the packs' demos need (as later packs add them), points those packs'
settings at them, and opens ``opspack shell``. A pack whose settings are not given
answers with a clear ``config`` error naming them. Pass chat lines on stdin to run
it without a terminal: ``printf 'help\\n' | nox -s demo``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def services() -> Iterator[dict[str, str]]:
    """Start the demo's local services; yield the environment that points packs at them."""
    env: dict[str, str] = {}
    yield env


def main() -> int:
    from opspack.registry import Registry
    from opspack.shell import run_shell

    with services() as env:
        os.environ.update(env)
        registry = Registry.from_installed()
        sys.stdout.write(
            f"opspack demo: {len(registry)} commands from {len(registry.packs)} packs "
            f"({', '.join(p['name'] for p in registry.packs)}).\n"
            "Try: help | server test localhost --ports 22,80 | server cert example.org\n"
        )
        return run_shell(registry)


if __name__ == "__main__":
    sys.exit(main())
