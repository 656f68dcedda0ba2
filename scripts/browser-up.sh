#!/usr/bin/env bash
# Headless Chromium for the browser test (tests/browser/). Debian's package only:
# never `playwright install` (no browser download is possible here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "browser-up: /usr/bin/chromium missing and not root; the browser test will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
