"""Fake vendor servers on loopback, for the vendors that cannot run on the test machines.

Real client libraries (python-jenkins, python-gitlab, requests, pynetbox, slack_sdk) talk
real HTTP to them. Each fake keeps the state a sequence of calls needs, answers with
payloads shaped like the vendor's documented responses (each module cites its sources)
and fails the way the real server fails.

- :mod:`~opspack_testkit.fakes.http`: :class:`FakeHTTPServer`, the routed server they are built on.
- :mod:`~opspack_testkit.fakes.gitlab`: GitLab's REST API v4.
"""
