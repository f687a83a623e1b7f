#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: nox (and uv to make
# its virtualenvs fast). Run as root for system packages; idempotent.
set -euo pipefail
python3 -m pip install -q --upgrade "nox>=2024.4" "uv>=0.4"

# vmware pack: vcsim (govmomi's vCenter simulator) is built from Debian's govmomi sources
# with Go, then cached under ${OPSPACK_CACHE:-$HOME/.cache/opspack} so the tests start it at once.
if ! command -v go >/dev/null 2>&1 || [ ! -f /usr/share/gocode/src/github.com/vmware/govmomi/simulator/simulator.go ]; then
    apt-get update
    apt-get install -y golang-go golang-github-vmware-govmomi-dev
fi
PYTHONPATH="$(dirname "$0")/../shared/src" python3 -c \
    'from opspack.testing.vcsim import build_vcsim; print("vcsim:", build_vcsim())'
