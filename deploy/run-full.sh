#!/usr/bin/env bash
# `make run-full`: web, Celery workers and Celery beat as separate processes against
# DATABASE_URL and REDIS_URL, sharing one Prometheus multiprocess directory. Ctrl-C (or
# any one process exiting) stops them all.
set -eu
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/metrics}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

stop() {
  trap - INT TERM EXIT  # once: kill 0 signals this shell too
  kill 0 2>/dev/null || true
}
trap stop INT TERM EXIT

"$PY" -m celery -A genesis_site worker --loglevel=INFO --concurrency=2 -Q celery,urgent &
# The kill switch's queue (CELERY_TASK_ROUTES): its cancels never wait behind other tasks.
"$PY" -m celery -A genesis_site worker --loglevel=INFO --concurrency=1 -Q urgent -n urgent@%h &
"$PY" -m celery -A genesis_site beat --loglevel=INFO --schedule=var/celerybeat-schedule &
"$PY" manage.py serve --no-seed --port "$PORT" &
wait -n  # the first process to exit ends the run; the EXIT trap stops the others
