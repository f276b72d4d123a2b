#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (tests/test_browser.py drives it with Playwright).
# Playwright's own browser download is never used. Needs root (CI runs as root); a no-op when present.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install_browser.sh: /usr/bin/chromium is missing; run as root (apt-get install -y chromium)" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
