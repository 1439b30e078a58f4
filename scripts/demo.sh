#!/usr/bin/env bash
# Sets up Conclave and serves it with a demo event on SQLite at http://127.0.0.1:5000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
export CONCLAVE_ENV=${CONCLAVE_ENV:-development}
export FLASK_APP=app
export BASE_URL=${BASE_URL:-http://127.0.0.1:${PORT:-5000}}
.venv/bin/flask db upgrade
.venv/bin/flask demo --keep-existing
exec .venv/bin/flask run --host 127.0.0.1 --port "${PORT:-5000}"
