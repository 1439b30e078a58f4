#!/usr/bin/env bash
# Sets up Conclave and serves it with a demo event on SQLite at http://127.0.0.1:5000, together with
# the worker that sends its email (printed here) and runs its periodic tasks. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
export CONCLAVE_ENV=${CONCLAVE_ENV:-development}
export FLASK_APP=app
export BASE_URL=${BASE_URL:-http://127.0.0.1:${PORT:-5000}}
.venv/bin/flask db upgrade
.venv/bin/flask demo --keep-existing

# The task queue is a SQLite file in instance/ (TASK_QUEUE_URL to change it): no service to start.
.venv/bin/flask worker &
worker=$!
.venv/bin/flask run --host 127.0.0.1 --port "${PORT:-5000}" &
web=$!

stop() {
  trap - INT TERM EXIT
  # Background jobs of a script ignore SIGINT, so each gets the signal it acts on: the worker
  # finishes the task under way on SIGINT, the web server stops on SIGTERM.
  kill -INT "$worker" 2>/dev/null || true
  kill -TERM "$web" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$worker" 2>/dev/null || kill -0 "$web" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$worker" "$web" 2>/dev/null || true  # still there after 15 s: a send that hangs
  wait "$worker" "$web" 2>/dev/null || true
  echo "Conclave stopped."
}
trap stop INT TERM EXIT
# Whichever ends first (Ctrl-C, or one of them failing), both stop.
wait -n "$worker" "$web" || true
