#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: nox (and uv to make
# its virtualenvs fast). Run as root for system packages; idempotent.
set -euo pipefail
python3 -m pip install -q --upgrade "nox>=2024.4" "uv>=0.4"
# Front-end tests (tests/frontends): Node.js and npm run real Hubot 14 and the adaptivecards
# parser; npm installs are cached under ${OPSPACK_CACHE:-$HOME/.cache/opspack}.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt-get update && apt-get install -y --no-install-recommends nodejs npm
fi
