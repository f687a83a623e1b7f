"""gitlab pack: `gitlab mr list` on a project with 2,000 merge requests, showing 20.

The pack asks GitLab for the one page it shows (``per_page=20``, GitLab filters by state,
author and label, ``X-Total`` gives the count). The naive way lists every merge request
with python-gitlab's ``list(all=True)`` and keeps the first 20. Both talk real HTTP to the
fake GitLab (opspack_testkit.fakes.gitlab) on loopback, in this one run; the figures are
requests made and wall time (median of several runs).

    python benchmarks/bench_gitlab.py [--mrs 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import gitlab
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit.fakes.gitlab import FakeGitLab


def measure(fake: FakeGitLab, fn: Callable[[], Any], repeat: int) -> tuple[int, float, Any]:
    times, requests, out = [], 0, None
    for _ in range(repeat):
        before = len(fake.requests)
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
        requests = len(fake.requests) - before
    return requests, statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with FakeGitLab() as fake:
        project = fake.add_project("platform/monolith", files={"README.md": "x"})
        fake.add_merge_requests(project, args.mrs)
        opened = sum(1 for m in project.merge_requests if m["state"] == "opened")
        env = {"OPSPACK_GITLAB_URL": fake.url, "OPSPACK_GITLAB_TOKEN": fake.token}
        runtime = Runtime(registry_from_package("opspack_gitlab"), config=Config.load(environ=env))
        caller = Caller(user="bench", frontend="bench")
        runtime.chat("gitlab mr list platform/monolith", caller)  # warm: import python-gitlab, open the session

        def pack() -> int:
            reply = runtime.chat("gitlab mr list platform/monolith", caller)
            assert reply.ok, reply.error
            return len(reply.results[0].rows)  # type: ignore[attr-defined]

        gl = gitlab.Gitlab(fake.url, private_token=fake.token)
        naive_project = gl.projects.get("platform/monolith", lazy=True)

        def naive(per_page: int | None) -> int:
            kwargs: dict[str, Any] = {"per_page": per_page} if per_page else {}
            mrs = naive_project.mergerequests.list(all=True, state="opened", **kwargs)
            return len(mrs[:20])

        rows = [
            ("pack: gitlab mr list (one page of 20)", *measure(fake, pack, args.repeat)),
            ("naive: list(all=True), default per_page 20", *measure(fake, lambda: naive(None), args.repeat)),
            ("naive: list(all=True, per_page=100)", *measure(fake, lambda: naive(100), args.repeat)),
        ]
        runtime.close()

    print(f"gitlab mr list on a project with {args.mrs} merge requests ({opened} open), showing 20")
    print(f"median of {args.repeat} runs, python-gitlab over HTTP to the fake GitLab on loopback\n")
    print(f"{'way':<46} {'requests':>9} {'time ms':>9} {'rows':>5}")
    for name, requests, seconds, shown in rows:
        print(f"{name:<46} {requests:>9} {seconds * 1000:>9.1f} {shown:>5}")
    pack_ms, naive_ms = rows[0][2], rows[1][2]
    print(f"\npack vs naive: {rows[1][1] / rows[0][1]:.0f}x fewer requests, {naive_ms / pack_ms:.0f}x less time")


if __name__ == "__main__":
    main()
