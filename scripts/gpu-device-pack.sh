#!/usr/bin/env bash
# Prepares the git-ignored .device/ folder for scripts/gpu-device-run.sh on the GPU machine
# (which has no Node and no network): a Node binary (xz), the Vulkan loader packages, on-device.sh
# and the PyTorch GPU reference (from the shared gpu/ and anchors/torch/ folders), plus a slim copy of
# the optional `webgpu` package (only this platform's dawn.node, xz-compressed), so node_modules need
# not travel. Run from the checkout after `npm run build`. Then send `.device` and `dist` (about
# 40 MiB together; `build` and `node_modules` are not needed) and run there:
#   bash .device/on-device.sh bash scripts/gpu-device-run.sh
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
shared=${TRAX_SHARED:-}
for c in "$root/../shared" "$root/../../shared" /work/shared; do
  [ -z "$shared" ] && [ -f "$c/gpu/on-device.sh" ] && shared=$(cd "$c" && pwd)
done
[ -n "$shared" ] || { echo "gpu-device-pack: shared folder not found (set TRAX_SHARED)" >&2; exit 1; }
[ -f dist/bench/gpu.js ] || { echo "gpu-device-pack: dist/bench/gpu.js missing; run npm run build first" >&2; exit 1; }
[ -f node_modules/webgpu/index.js ] || { echo "gpu-device-pack: node_modules/webgpu missing; run npm install webgpu" >&2; exit 1; }

mkdir -p .device/debs .device/anchor .device/node_modules/webgpu/dist/linux-x64
if [ ! -s .device/node.xz ] || [ "$(cat .device/node.version 2>/dev/null)" != "$(node --version)" ]; then
  echo "compressing $(command -v node) ($(node --version)) ..."
  xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > .device/node.xz
  node --version > .device/node.version
fi
if ! ls .device/debs/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d); mkdir -p "$lists/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  apt-get $o update >/dev/null
  (cd .device/debs && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1)
  rm -rf "$lists"
fi
cp "$shared/gpu/on-device.sh" .device/on-device.sh
cp "$shared/anchors/torch/trax_lm.py" "$shared/anchors/torch/gpu_bench.py" .device/anchor/
w=.device/node_modules/webgpu
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$w/"
if [ ! -s "$w/dist/linux-x64/dawn.node.xz" ] || [ node_modules/webgpu/dist/linux-x64/dawn.node -nt "$w/dist/linux-x64/dawn.node.xz" ]; then
  xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$w/dist/linux-x64/dawn.node.xz"
fi
du -sh .device dist
echo "ready: carry .device and dist; on the GPU machine run: bash .device/on-device.sh bash scripts/gpu-device-run.sh"
