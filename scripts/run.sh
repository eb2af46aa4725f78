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
# Offline (or LIQ_REPLAY=on), the sample is replayed as a live market by a Binance stand-in on
# 127.0.0.1, and every process reads the market from it instead of failing to reach the exchanges.
replay="${LIQ_REPLAY:-auto}"
if [ "${LIQ_EMBEDDED:-0}" != 1 ] && [ "$replay" != off ] && [ "$replay" != 0 ]; then
  if [ "$replay" = auto ] && python manage.py replay_market --probe; then
    replay=off
  elif python manage.py replay_market --prepare; then
    [ "$replay" = auto ] && echo "*** Binance cannot be reached: replaying the bundled sample as a live market instead."
    port=${LIQ_REPLAY_PORT:-8790}
    export LIQ_REPLAY=1 LIQ_BINANCE_FAPI_URL="http://127.0.0.1:$port" LIQ_BINANCE_OI_POLL_SECONDS=1
    export LIQ_BINANCE_MARKET_WS_URL="ws://127.0.0.1:$port/market/stream"
    export LIQ_BINANCE_WS_URL="ws://127.0.0.1:$port/market/ws/!forceOrder@arr"
    echo "*** Replay of sample data: a 5-minute bar every $((300 / ${LIQ_REPLAY_SPEED:-60})) s until it has caught up with now (LIQ_REPLAY_SPEED, LIQ_REPLAY=off to stop)."
    procfile=Procfile.replay
  else
    replay=off
  fi
fi
if [ "$procfile" != Procfile.replay ]; then
  export LIQ_REPLAY=0
  python manage.py load_sample_data   # also computes the sample assets' heat maps
fi
python manage.py ensure_demo_admin
python manage.py ensure_demo_user
echo "Open http://127.0.0.1:${LIQ_PORT:-8000}/  (admin: http://127.0.0.1:${LIQ_PORT:-8000}/admin/)"
exec honcho -f "$procfile" start
