#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: nox (and uv to make
# its virtualenvs fast). Run as root for system packages; idempotent.
set -euo pipefail
python3 -m pip install -q --upgrade "nox>=2024.4" "uv>=0.4"
