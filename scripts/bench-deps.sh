#!/usr/bin/env bash
# The load benchmark drives gunicorn with wrk (flat out: capacity) and hey (a fixed rate: latency at
# that rate), both from Debian's packages.
set -eu
missing=()
for tool in wrk hey; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "${missing[*]} missing: install Debian's '${missing[*]}' package(s) (apt-get install ${missing[*]}) to run the load benchmark" >&2
  exit 1
fi
echo "Installing Debian's ${missing[*]} for the load benchmark"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
