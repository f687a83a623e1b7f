#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine: nox (and uv to make
# its virtualenvs fast), the servers and simulators the packs' tests start, and the npm
# package the Teams card validator uses. Run as root for system packages; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --upgrade "nox>=2024.4" "uv>=0.4"

apt_install() {
    [ -n "${OPSPACK_APT_UPDATED:-}" ] || { apt-get update -qq; export OPSPACK_APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# sql pack: real PostgreSQL 15 and MariaDB servers (tests start private instances on
# free loopback ports); as root they run as the unprivileged user opspack-test.
if ! { [ -x /usr/lib/postgresql/15/bin/initdb ] && command -v mariadbd >/dev/null && command -v psql >/dev/null; }; then
    apt_install postgresql postgresql-contrib mariadb-server mariadb-client
fi
# core: jobs on Celery workers over a real Redis (tests start private instances on free ports)
if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
fi
if [ "$(id -u)" = 0 ] && ! id opspack-test >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin opspack-test
fi

# vmware pack: vcsim (govmomi's vCenter simulator) is built from Debian's govmomi sources
# with Go, then cached under ${OPSPACK_CACHE:-$HOME/.cache/opspack} so the tests start it at once.
if ! command -v go >/dev/null 2>&1 || [ ! -f /usr/share/gocode/src/github.com/vmware/govmomi/simulator/simulator.go ]; then
    apt_install golang-go golang-github-vmware-govmomi-dev
fi
PYTHONPATH=shared/src:shared/testkit/src python3 -c 'from opspack_testkit.servers.vcsim import build_vcsim; print("vcsim:", build_vcsim())'

# core and front-ends: the adaptivecards npm parser checks Teams cards, and the front-end
# tests run real Hubot 14 (npm installs are cached under ${OPSPACK_CACHE:-$HOME/.cache/opspack}).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
PYTHONPATH=shared/src:shared/testkit/src python3 -c 'from opspack_testkit.cards import ensure_adaptivecards; ensure_adaptivecards()'

# publishing tests (tests/frontends/test_publish.py): verdaccio 6.8, the npm registry on
# loopback, cached under ${OPSPACK_CACHE:-$HOME/.cache/opspack}; pypiserver is pip-installed
# into the integration session's virtualenv by the noxfile.
PYTHONPATH=shared/src:shared/testkit/src python3 -c 'from opspack_testkit.servers.registries import ensure_verdaccio; print("verdaccio:", ensure_verdaccio())'
