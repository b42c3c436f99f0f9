#!/usr/bin/env bash
# The report tests render run reports in headless Chromium (Debian's package). Installs it when it is missing and
# this is a Debian machine where we may (root, apt-get); elsewhere says what to install, and the tests say it again.
set -u
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "installing Debian's chromium for the report tests (apt-get install chromium)"
  (apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }) ||
    echo "could not install chromium; the report tests need it at $CHROMIUM"
else
  echo "the report tests need headless Chromium at $CHROMIUM (Debian: apt-get install chromium; or set CHROMIUM)"
fi
exit 0
