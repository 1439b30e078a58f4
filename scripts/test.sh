#!/usr/bin/env bash
# Sets up Conclave with its test tools (and Chromium and axe-core for the browser tests) and runs the tests.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not browser"` or `scripts/test.sh -k invite`.
# TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test runs the suite on PostgreSQL.
# CHROMIUM=/path/to/chromium uses a browser that is already installed instead of Debian's package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt

browser_tests_wanted() {
  # `-m "not browser"` (the only way the browser tests are left out) needs neither Chromium nor Node.
  local previous=""
  for argument in "$@"; do
    if [ "$previous" = "-m" ] && [[ "$argument" == *"not browser"* ]]; then return 1; fi
    previous="$argument"
  done
  return 0
}

find_chromium() {
  if [ -n "${CHROMIUM:-}" ]; then
    if [ -x "$CHROMIUM" ]; then echo "$CHROMIUM"; return 0; fi
    echo "CHROMIUM=$CHROMIUM is not an executable file." >&2
    return 2
  fi
  local candidate
  for candidate in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome \
                   /usr/bin/google-chrome-stable "/Applications/Chromium.app/Contents/MacOS/Chromium" \
                   "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
    if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then command -v "$candidate"; return 0; fi
  done
  return 1
}

if browser_tests_wanted "$@"; then
  status=0
  found=$(find_chromium) || status=$?
  if [ "$status" = 2 ]; then exit 2; fi
  if [ "$status" != 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
      echo "Installing Chromium for the browser tests (Debian package, needs root: apt-get)..."
      if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
      if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; }; then
        echo "Could not install Chromium with apt-get." >&2
      fi
    fi
    found=$(find_chromium) || {
      cat >&2 <<'MSG'
The browser tests need Chromium and none was found or could be installed.
  - set CHROMIUM=/path/to/chromium (or Chrome) to use one you have, or
  - install Debian's package as root: apt-get install chromium, or
  - leave the browser tests out: scripts/test.sh -m "not browser"
MSG
      exit 2
    }
  fi
  export CHROMIUM="$found"
  if [ ! -f node_modules/axe-core/axe.min.js ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo 'The accessibility test needs axe-core from npm, and npm (Node.js) is not installed: install Node.js, or leave the browser tests out with scripts/test.sh -m "not browser".' >&2
      exit 2
    fi
    echo "Installing axe-core for the accessibility test (npm, from package-lock.json)..."
    npm ci --no-audit --no-fund
  fi
fi
exec .venv/bin/python -m pytest "$@"
