#!/usr/bin/env bash
# The load benchmark drives gunicorn with wrk, from Debian's packages.
set -eu
if command -v wrk >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "wrk is missing: install Debian's 'wrk' package (apt-get install wrk) to run the load benchmark" >&2
  exit 1
fi
echo "Installing Debian's wrk for the load benchmark"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
