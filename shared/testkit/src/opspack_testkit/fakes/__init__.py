"""Fake vendor servers on loopback, for the vendors that cannot run on the test machines.

Real client libraries (python-jenkins, python-gitlab, requests, pynetbox, slack_sdk) talk
real HTTP to them. Each fake keeps the state a sequence of calls needs, answers with
payloads shaped like the vendor's documented responses (each module cites its sources)
and fails the way the real server fails.

- :mod:`~opspack_testkit.fakes.http`: ``FakeHTTPServer``, the routed server they are built on.
- :mod:`~opspack_testkit.fakes.gitlab`: GitLab's REST API v4 (python-gitlab).
- :mod:`~opspack_testkit.fakes.jenkins`: a Jenkins controller's remote API (python-jenkins).
- :mod:`~opspack_testkit.fakes.grafana`: Grafana's HTTP API and image renderer (requests).
- :mod:`~opspack_testkit.fakes.netscaler`: NetScaler's NITRO API (requests).
- :mod:`~opspack_testkit.fakes.netbox`: NetBox's DCIM devices API (pynetbox).
- :mod:`~opspack_testkit.fakes.slack`: Slack's Web API and response URLs (slack_sdk, Bolt).
"""
