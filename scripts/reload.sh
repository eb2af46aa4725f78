#!/usr/bin/env bash
# Graceful reload of the web server: new code, no stall. gunicorn's own HUP replaces every worker at
# once, and until the new ones have booted nobody answers (≈ 5 s on 2 cores). Here the workers are
# replaced one at a time: TTIN starts one more, and once it has booted and warmed up
# (liqplatform/gunicorn.conf.py leaves a file for it) TTOU retires the oldest, which finishes the
# requests it has. The master keeps its pid and its socket, so honcho or systemd notice nothing.
# New workers import the code afresh; a change to gunicorn.conf.py itself still needs HUP or a restart.
#
#   scripts/reload.sh            the server on LIQ_BIND (default 127.0.0.1:${LIQ_PORT:-8000})
#   LIQ_RELOAD_BOOT_TIMEOUT=60   seconds to wait for each new worker before giving up
set -euo pipefail
cd "$(dirname "$0")/.."
bind=${LIQ_BIND:-127.0.0.1:${LIQ_PORT:-8000}}
name="gunicorn-$(printf '%s' "$bind" | sed -E 's/[^A-Za-z0-9]+/-/g; s/^-+//; s/-+$//')"
run_dir=${LIQ_RUN_DIR:-var/run}
ready="$run_dir/$name-ready"
timeout=${LIQ_RELOAD_BOOT_TIMEOUT:-60}

master=$(cat "$run_dir/$name.pid" 2>/dev/null) || { echo "reload: no gunicorn pidfile $run_dir/$name.pid" >&2; exit 1; }
kill -0 "$master" 2>/dev/null || { echo "reload: gunicorn master $master is not running" >&2; exit 1; }

ready_pids() { ls "$ready" 2>/dev/null | sort; }

old=$(ready_pids)
[ -n "$old" ] || { echo "reload: no ready workers in $ready" >&2; exit 1; }
count=$(printf '%s\n' "$old" | wc -l)
started=$(date +%s)
for _ in $old; do
  before=$(ready_pids)
  kill -TTIN "$master"
  deadline=$(($(date +%s) + timeout))
  until [ -n "$(comm -13 <(printf '%s\n' "$before") <(ready_pids))" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      kill -TTOU "$master"  # back to the old count; the old workers keep serving
      echo "reload: a new worker did not boot within ${timeout}s; the old code is still serving" >&2
      exit 1
    fi
    sleep 0.1
  done
  kill -TTOU "$master"  # gunicorn retires its oldest worker
  deadline=$(($(date +%s) + timeout))
  # Until it has gone, gunicorn counts it as one of its workers and would not start the next one.
  until [ "$(ready_pids | wc -l)" -le "$count" ] || [ "$(date +%s)" -ge "$deadline" ]; do
    sleep 0.1
  done
done
# Wait for the retired workers to finish their requests and go, so the reload is over when this returns.
deadline=$(($(date +%s) + timeout))
while [ -n "$(comm -12 <(printf '%s\n' "$old") <(ready_pids))" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 0.1
done
echo "reload: $count workers replaced one at a time in $(($(date +%s) - started)) s (master $master)"
