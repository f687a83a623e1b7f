#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: nox (and uv to make
# its virtualenvs fast). Run as root for system packages; idempotent.
set -euo pipefail
python3 -m pip install -q --upgrade "nox>=2024.4" "uv>=0.4"

# sql pack: real PostgreSQL 15 and MariaDB servers (tests start private instances on
# free loopback ports); as root they run as the unprivileged user opspack-test.
if ! { [ -x /usr/lib/postgresql/15/bin/initdb ] && command -v mariadbd >/dev/null && command -v psql >/dev/null; }; then
    [ -n "${OPSPACK_APT_UPDATED:-}" ] || { apt-get update -qq; export OPSPACK_APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        postgresql postgresql-contrib mariadb-server mariadb-client >/dev/null
fi
if [ "$(id -u)" = 0 ] && ! id opspack-test >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin opspack-test
fi
