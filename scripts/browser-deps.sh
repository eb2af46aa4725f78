#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (never Playwright's own browser download).
set -eu
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing: install Debian's 'chromium' package (apt-get install chromium) to run the browser tests" >&2
  exit 1
fi
echo "Installing Debian's chromium for the browser tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
