#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine: nox (and uv to make
# its virtualenvs fast), the servers and simulators the packs' tests start, and the npm
# package the Teams card validator uses. Idempotent. System packages are installed with
# apt-get, through sudo when not run as root.
#
# --demo: only what the demo's services need (`nox -s demo` runs it so): PostgreSQL, Go and
# govmomi (vcsim is built into this user's cache) and Redis. What cannot be installed here is
# said and skipped; the demo then names the service that could not start, and why.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=""
if [ "${1:-}" = "--demo" ]; then
    DEMO=1
fi
if [ -z "$DEMO" ]; then
    python3 -m pip install -q --upgrade "nox>=2024.4" "uv>=0.4"
fi

apt_install() {
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then
            echo "install-test-deps: installing $* with sudo" >&2
            sudo=(sudo)
        else
            echo "install-test-deps: cannot install $*: not root and no sudo here;" \
                "as root: bash scripts/install-test-deps.sh${DEMO:+ --demo}" >&2
            return 1
        fi
    fi
    [ -n "${OPSPACK_APT_UPDATED:-}" ] || { "${sudo[@]}" apt-get update -qq; export OPSPACK_APT_UPDATED=1; }
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# for the demo, a part that cannot be installed is skipped (the demo says which service is missing)
step() {
    if [ -n "$DEMO" ]; then
        "$@" || echo "install-test-deps: skipped: $* (the demo starts without what it provides)" >&2
    else
        "$@"
    fi
}

# sql pack: real PostgreSQL 15 and MariaDB servers (tests start private instances on
# free loopback ports); as root they run as the unprivileged user opspack-test.
if [ -n "$DEMO" ]; then
    if ! { [ -x /usr/lib/postgresql/15/bin/initdb ] && command -v psql >/dev/null; }; then
        step apt_install postgresql postgresql-contrib
    fi
elif ! { [ -x /usr/lib/postgresql/15/bin/initdb ] && command -v mariadbd >/dev/null && command -v psql >/dev/null; }; then
    apt_install postgresql postgresql-contrib mariadb-server mariadb-client
fi
# core: jobs on Celery workers over a real Redis (tests start private instances on free ports)
if ! command -v redis-server >/dev/null 2>&1; then
    step apt_install redis-server
fi
# core: the completion scripts (`opspack completion bash|zsh`) are tested in a real zsh
if [ -z "$DEMO" ] && ! command -v zsh >/dev/null 2>&1; then
    apt_install zsh
fi
# prometheus pack: real Prometheus 2.42 and Alertmanager 0.25 (tests start private instances on
# free loopback ports; promtool, from the prometheus package, writes a benchmark's history)
if ! { command -v prometheus >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 \
        && command -v promtool >/dev/null 2>&1; }; then
    step apt_install prometheus prometheus-alertmanager
fi
if [ "$(id -u)" = 0 ] && ! id opspack-test >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin opspack-test
fi

# directory pack: a real Samba 4 AD domain controller (tests provision a domain into a temp folder and
# run it on its own 127.0.0.N address) and OpenLDAP's slapd (tests run their own from a config they
# write, on a free port). Debian's slapd package configures a system instance; it is left alone.
if ! { command -v samba >/dev/null 2>&1 && command -v samba-tool >/dev/null 2>&1 && [ -d /usr/share/samba/setup ]; }; then
    step apt_install samba samba-ad-dc samba-ad-provision
fi
if [ -z "$DEMO" ] && ! { [ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null 2>&1; }; then
    # no debconf questions: the package's own instance gets a throwaway configuration
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections 2>/dev/null || true
    apt_install slapd ldap-utils
fi

# vmware pack: vcsim (govmomi's vCenter simulator) is built from Debian's govmomi sources
# with Go, then cached under ${OPSPACK_CACHE:-$HOME/.cache/opspack} so the tests start it at once.
if ! command -v go >/dev/null 2>&1 || [ ! -f /usr/share/gocode/src/github.com/vmware/govmomi/simulator/simulator.go ]; then
    step apt_install golang-go golang-github-vmware-govmomi-dev
fi
step env PYTHONPATH=shared/src:shared/testkit/src python3 -c \
    'from opspack_testkit.servers.vcsim import build_vcsim; print("vcsim:", build_vcsim())'
if [ -n "$DEMO" ]; then
    exit 0
fi

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
