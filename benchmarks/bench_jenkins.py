"""`jenkins jobs` on a fake controller with 2,000 jobs in 3 folder levels: HTTP requests and time.

Compares the pack (tree= queries, one request for `tree_depth` folder levels) with the
plain python-jenkins way: `get_all_jobs()` then `get_job_info()` for every job.
Both use the real python-jenkins client over real HTTP to the test kit's fake
controller (opspack_testkit.fakes.jenkins). Run: python benchmarks/bench_jenkins.py
"""

from __future__ import annotations

import time

from opspack_testkit.fakes.jenkins import FakeJenkins, big_controller

JOBS, LEVELS = 2000, 3
USER, TOKEN = "alice", "alice-api-token-0123"


def main() -> None:
    import jenkins
    from opspack.devtools.registry_build import registry_from_package
    from opspack_testkit import run_command

    fake = big_controller(FakeJenkins(), jobs=JOBS, levels=LEVELS).start()
    try:
        env = {"OPSPACK_JENKINS_URL": fake.url, "OPSPACK_JENKINS_USER": USER, "OPSPACK_JENKINS_TOKEN": TOKEN}
        registry = registry_from_package("opspack_jenkins")

        fake.requests.clear()
        t0 = time.perf_counter()
        reply = run_command("jenkins jobs --limit 5000", registry=registry, environ=env)
        pack_s = time.perf_counter() - t0
        assert reply.ok, reply.error
        pack_rows = len(reply.results[0].rows)
        pack_requests = len(fake.requests)

        fake.requests.clear()
        t0 = time.perf_counter()
        server = jenkins.Jenkins(fake.url, username=USER, password=TOKEN)
        listed = server.get_all_jobs()
        infos = [server.get_job_info(j["fullname"]) for j in listed if "jobs" not in j]
        naive_s = time.perf_counter() - t0
        naive_requests = len(fake.requests)
    finally:
        fake.stop()

    folders = sum(1 for j in fake.jobs.values() if j.cls.endswith("Folder"))
    print(f"fake controller: {JOBS} jobs in {LEVELS} folder levels ({folders} folders)")
    rows = [
        ("way", "jobs", "HTTP requests", "seconds"),
        ("opspack-jenkins `jenkins jobs` (tree= query)", pack_rows, pack_requests, f"{pack_s:.2f}"),
        ("python-jenkins get_all_jobs + get_job_info each", len(infos), naive_requests, f"{naive_s:.2f}"),
    ]
    for way, jobs, requests, seconds in rows:
        print(f"{way:<48} {jobs!s:>6} {requests!s:>14} {seconds!s:>8}")
    fewer = naive_requests / max(1, pack_requests)
    print(f"requests: {fewer:.0f}x fewer; time: {naive_s / max(pack_s, 1e-9):.1f}x faster")


if __name__ == "__main__":
    main()
