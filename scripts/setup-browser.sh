#!/usr/bin/env bash
# Installs the headless browser used by test/report-browser.test.mjs, and the Vulkan loader
# with which its SwiftShader driver serves the webgpu backend's tests.
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

# libvulkan1 (the system Vulkan loader) lets Node's WebGPU (npm `webgpu`) use Chromium's
# SwiftShader driver as a CPU adapter for the webgpu backend's tests.
if [ -x /usr/bin/chromium ] && ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
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
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium libvulkan1
echo "setup-browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
