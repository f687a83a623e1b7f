"""Real servers and simulators for tests, benchmarks and the demo.

Each runs as a child process on a free loopback port for the length of a ``with`` block:

- :mod:`~opspack_testkit.servers.vcsim`: govmomi's vCenter simulator (built with Go).
- :mod:`~opspack_testkit.servers.openbao`: OpenBao, the HashiCorp Vault API.
- :mod:`~opspack_testkit.servers.postgres`, :mod:`~opspack_testkit.servers.mariadb`: private database servers.
- :mod:`~opspack_testkit.servers.redis`: a private Redis (a Celery broker).
- :mod:`~opspack_testkit.servers.prometheus`: Prometheus and Alertmanager, and a tiny exporter.
- :mod:`~opspack_testkit.servers.switches`: simulated network switches over SSH (fake-switches).
- :mod:`~opspack_testkit.servers.samba`: a Samba 4 Active Directory domain controller on its own loopback address.
- :mod:`~opspack_testkit.servers.slapd`: a private OpenLDAP with the memberof and ppolicy overlays.
- :mod:`~opspack_testkit.servers.registries`: package indexes (pypiserver, verdaccio) for publishing tests.
"""
