#!/usr/bin/env bash
# Installs the headless browser used by test/report-browser.test.mjs.
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "setup-browser: /usr/bin/chromium already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-browser: not root and no sudo; cannot install chromium" >&2
    exit 1
  fi
fi

echo "setup-browser: installing Debian's chromium package with apt-get"
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg run instead of failing on its lock.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium
echo "setup-browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
