#!/usr/bin/env bash
# Set up and start liqplatform with the sample data: web server, Celery worker and beat, liquidation
# recorder and market-data streams — one Ctrl-C stops them all. Falls back to the embedded mode (SQLite
# in var/, Celery tasks in-process) when PostgreSQL or Redis cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export DEBUG=${DEBUG:-1}
mkdir -p var

if [ "${LIQ_EMBEDDED:-0}" != 1 ]; then
  scripts/services.sh ensure >/dev/null 2>&1 || true
  reason=""
  if ! python manage.py ensure_database 2>var/ensure_database.log; then
    reason="PostgreSQL: $(tail -n 1 var/ensure_database.log)"
  elif ! python -c "import os, redis; redis.Redis.from_url(os.environ.get('REDIS_URL', 'redis://127.0.0.1:6379/0'), socket_timeout=2).ping()" 2>/dev/null; then
    reason="Redis at ${REDIS_URL:-redis://127.0.0.1:6379/0} does not answer"
  fi
  if [ -n "$reason" ]; then
    export LIQ_EMBEDDED=1
    unset DATABASE_URL
    echo "*** Not reachable: $reason."
    echo "*** Falling back to the embedded default: SQLite in var/liqplatform.sqlite3, Celery tasks run in-process."
  fi
fi
if [ "${LIQ_EMBEDDED:-0}" = 1 ]; then
  echo "Mode: embedded (SQLite, tasks in-process; no periodic ingest)"
  procfile=Procfile.embedded
else
  echo "Mode: PostgreSQL + Redis + Celery"
  procfile=Procfile
fi

python manage.py migrate --no-input -v 0
python manage.py load_sample_data   # also computes the sample assets' heat maps
python manage.py ensure_demo_admin
python manage.py ensure_demo_user
echo "Open http://127.0.0.1:${LIQ_PORT:-8000}/  (admin: http://127.0.0.1:${LIQ_PORT:-8000}/admin/)"
exec honcho -f "$procfile" start
