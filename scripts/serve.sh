#!/usr/bin/env bash
# The production stack on this machine: DEBUG off, static files collected and compressed, migrations,
# gunicorn, a Celery worker, beat and the liquidation recorder under honcho. Needs PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export DEBUG=0
mkdir -p var
if [ -z "${SECRET_KEY:-}" ]; then
  # A real key kept in var/ so sessions survive restarts; production sets SECRET_KEY itself.
  [ -s var/secret_key ] || python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
  SECRET_KEY=$(cat var/secret_key)
  export SECRET_KEY
  echo "SECRET_KEY not set: using the one kept in var/secret_key"
fi
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

scripts/services.sh ensure
python manage.py ensure_database
python manage.py migrate --no-input -v 0
python manage.py collectstatic --no-input -v 0
python manage.py check --deploy --fail-level ERROR
echo "Serving http://${LIQ_BIND:-127.0.0.1:${LIQ_PORT:-8000}}/ with gunicorn (DEBUG=0); /readyz says whether it is ready"
echo "New code without a stall: scripts/reload.sh (replaces the web workers one at a time)"
exec honcho -f Procfile.production start
