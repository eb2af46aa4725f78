#!/usr/bin/env bash
# Check PostgreSQL and Redis on their default local ports; start them if they are installed but down.
# Usage: scripts/services.sh ensure   (exit 1 if either stays unreachable)
#        scripts/services.sh check    (exit 1 if either is unreachable; starts nothing)
set -u
mode=${1:-ensure}
PGHOST=${LIQ_PGHOST:-127.0.0.1}
PGPORT=${LIQ_PGPORT:-5432}
REDIS_PORT=${LIQ_REDIS_PORT:-6379}

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null || (exec 3<>"/dev/tcp/$PGHOST/$PGPORT") 2>/dev/null; }
redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
  else (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; fi
}
wait_for() { for _ in $(seq 1 30); do "$1" && return 0; sleep 0.5; done; return 1; }

status=0
if ! pg_up; then
  if [ "$mode" = ensure ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is down; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -n | tail -1)" main start || true
    wait_for pg_up || { echo "PostgreSQL did not come up on $PGHOST:$PGPORT" >&2; status=1; }
  else
    echo "PostgreSQL is not reachable on $PGHOST:$PGPORT" >&2; status=1
  fi
fi
if ! redis_up; then
  if [ "$mode" = ensure ] && command -v redis-server >/dev/null 2>&1; then
    echo "Redis is down; starting it"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    wait_for redis_up || { echo "Redis did not come up on 127.0.0.1:$REDIS_PORT" >&2; status=1; }
  else
    echo "Redis is not reachable on 127.0.0.1:$REDIS_PORT" >&2; status=1
  fi
fi
exit $status
