#!/usr/bin/env bash
# Installs the Debian packages the project uses beyond Python: ffmpeg (ffmpeg and ffprobe, which Gradio's
# streaming video output runs) and, with --browser, chromium for the browser tests (tests/test_browser.py
# drives it with Playwright; Playwright's own browser download is never used). On Hugging Face Spaces,
# packages.txt lists the same. Needs root (CI runs as root); a no-op for what is present.
set -euo pipefail
wanted=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || wanted+=(ffmpeg)
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
    wanted+=(chromium)
fi
if [ ${#wanted[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install_system_packages.sh: missing ${wanted[*]}; run as root (apt-get install -y ${wanted[*]})" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}"
