#!/usr/bin/env bash
# Sets up Conclave with its test tools (and Chromium and axe-core for the browser tests) and runs the tests.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not browser"` or `scripts/test.sh -k invite`.
# TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test runs the suite on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Chromium for the browser tests (Debian package)..."
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  echo "Installing axe-core for the accessibility test (npm, from package-lock.json)..."
  npm ci --no-audit --no-fund
fi
exec .venv/bin/python -m pytest "$@"
