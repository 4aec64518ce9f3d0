#!/usr/bin/env bash
# One measuring run on the GPU machine (prepared by scripts/gpu-device-pack.sh):
#   bash .device/on-device.sh bash scripts/gpu-device-run.sh
# Runs bench:gpu's measurements and the PyTorch GPU reference in the same run, each step in its own
# process with its own time limit, so one hang costs only its step. Everything goes under $OUT
# (default ./gpu-out): STEP.jsonl (results), STEP.err (stderr and exit code), summary.jsonl (all
# results). Limits add up to 7.7 minutes; a normal run takes 3 to 5. TRAX_GPU_STEPS="gemm A C G gen torch" picks steps.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
t0=$(date +%s)

# The optional webgpu package travels slim in .device/ when node_modules does not.
if [ ! -f node_modules/webgpu/index.js ] && [ -d .device/node_modules/webgpu ]; then
  mkdir -p node_modules/webgpu/dist/linux-x64
  cp .device/node_modules/webgpu/index.js .device/node_modules/webgpu/package.json node_modules/webgpu/
  python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" \
    .device/node_modules/webgpu/dist/linux-x64/dawn.node.xz node_modules/webgpu/dist/linux-x64/dawn.node
fi

{
  echo "{\"run\":\"gpu-device-run\",\"date\":\"$(date -u +%FT%TZ)\",\"host\":\"$(hostname)\",\"gpu\":\"$(nvidia-smi -L 2>/dev/null | head -1 | sed 's/"//g')\",\"node\":\"$(node --version 2>/dev/null)\",\"commit\":\"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\"}"
} > "$OUT/summary.jsonl"

step() {  # step NAME LIMIT_S CMD...
  local name=$1 limit=$2; shift 2
  case " ${TRAX_GPU_STEPS:-gemm A C G gen torch} " in *" $name "*) ;; *) return 0 ;; esac
  local s=$(date +%s)
  echo "== $name (limit ${limit}s, $(( s - t0 ))s into the run)"
  timeout -k 5 "$limit" "$@" > "$OUT/$name.jsonl" 2> "$OUT/$name.err"
  local rc=$?
  echo "exit $rc after $(( $(date +%s) - s ))s" >> "$OUT/$name.err"
  [ $rc -eq 124 ] && echo "{\"step\":\"$name\",\"timed_out_after_s\":$limit}" >> "$OUT/$name.jsonl"
  cat "$OUT/$name.jsonl" | tee -a "$OUT/summary.jsonl"
  [ $rc -ne 0 ] && tail -5 "$OUT/$name.err"
  return 0
}

bench="node dist/bench/gpu.js"
# GEMM: a few tile configurations; the fastest is kept for the model runs below.
step gemm 60 $bench --only gemm --gemm 4096,8192 --tiles "${TRAX_GPU_TILES:-large=128x128x8/8x8v;large=128x128x16/8x8v;large=128x64x16/8x4v;large=64x128x16/4x8v;large=128x128x8/8x8}"
best=$(node -e '
  const fs = require("fs"); let best = null;
  for (const l of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
    try { const o = JSON.parse(l); if (o.what === "matmul f32 4096^3" && (!best || o.tflops > best.tflops)) best = o; } catch {}
  }
  if (best) process.stdout.write(best.tiles);' "$OUT/gemm.jsonl" 2>/dev/null)
[ -n "$best" ] && export TRAX_WEBGPU_TILES="$best" && echo "using tiles $best"
step A 40 $bench --only A
step C 50 $bench --only C
step G 120 $bench --only G --g-batch "${TRAX_G_BATCH:-16}" --g-seq "${TRAX_G_SEQ:-1024}"
step gen 40 $bench --only gen
step torch 150 python3 .device/anchor/gpu_bench.py
echo "done in $(( $(date +%s) - t0 ))s; results in $OUT/summary.jsonl"
