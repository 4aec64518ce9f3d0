// npm run bench:gpu: the WebGPU backend's speed on whatever adapter Dawn (or
// VK_ICD_FILENAMES) gives: fp32 GEMM TFLOP/s, TransformerLM training (task A
// reverse, task C char model, model G GPT-2-small-sized) and cached greedy
// generation. One JSON line per measurement; the PyTorch reference
// (gpu_bench.py) prints the same names in the same run on the GPU machine.
//
// Options:
//   --only gemm,A,C,G,gen       which measurements (default: all)
//   --gemm 4096,8192            GEMM sizes (square)
//   --tiles "large=128x128x8/8x8,medium=64x64x16/4x4;large=128x128x16/8x8"
//                               tile configurations to try, ';' between configurations (the best one is kept
//                               for the training runs)
//   --g-batch 16 --g-seq 1024   model G's batch and sequence length
//   --steps-scale 1             multiplies the timed step counts
//   --attention probs|flash     attention path of the training runs (default: probs where the
//                               probabilities fit one binding, else flash, which has no attention dropout)
//   --small                     tiny shapes (checks the whole script on a CPU adapter)
import { webgpuBackend, parseTiles, type WebGpuBackend, type GpuStore } from '../src/backends/webgpu/index.js';
import { DeviceLM, type LMShape } from './gpu_lm.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const small = process.argv.includes('--small');
const only = new Set(arg('only', 'gemm,A,C,G,gen').split(',').map((s) => s.trim()));
const stepsScale = Number(arg('steps-scale', '1'));

function emit(o: Record<string, unknown>): void { console.log(JSON.stringify(o)); }

async function gemm(be: WebGpuBackend): Promise<void> {
  const K = be.kernels;
  const sizes = arg('gemm', small ? '128' : '4096,8192').split(',').map(Number);
  const configs = arg('tiles', '').split(';').map((s) => s.trim());
  let best = { tflops: 0, tiles: K.gemmTiles() };
  for (const n of sizes) {
    const a = be.fromHost(Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
    const b = be.fromHost(Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5));
    const c = be.runtime.alloc(n * n);
    for (const spec of configs) {
      if (spec) K.setGemmTiles(parseTiles(spec));
      const reps = small ? 2 : n >= 8192 ? 5 : 10;
      for (let i = 0; i < 2; i++) K.matmul(a, b, c, 1, n, n, n, false, false, 0, 0, false);
      await be.sync();
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) K.matmul(a, b, c, 1, n, n, n, false, false, 0, 0, false);
      await be.sync();
      const ms = (performance.now() - t0) / reps;
      const tflops = 2 * n ** 3 / ms / 1e9;
      const t = K.gemmTiles();
      emit({ what: `matmul f32 ${n}^3`, backend: 'webgpu', tiles: `large=${tileStr(t.large)},medium=${tileStr(t.medium)}`, ms: +ms.toFixed(3), tflops: +tflops.toFixed(1) });
      if (n === sizes[0] && tflops > best.tflops) best = { tflops, tiles: K.gemmTiles() };
    }
    be.release(a); be.release(b); be.release(c);
  }
  K.setGemmTiles(best.tiles);
}

function tileStr(t: { bm: number; bn: number; bk: number; tm: number; tn: number; vec?: boolean }): string {
  return `${t.bm}x${t.bn}x${t.bk}/${t.tm}x${t.tn}${t.vec ? 'v' : ''}`;
}

interface Batch { shifted: GpuStore; targets: GpuStore[]; weights: GpuStore[]; loss: GpuStore[] }

function makeBatch(be: WebGpuBackend, lm: DeviceLM, s: LMShape, seed: number): Batch {
  const BL = s.batch * s.seq;
  let r = seed >>> 0;
  const x = new Int32Array(BL);
  for (let i = 0; i < BL; i++) { r = (r * 1664525 + 1013904223) >>> 0; x[i] = 1 + (r % (s.vocab - 1)); }
  const shifted = new Int32Array(BL);
  for (let b = 0; b < s.batch; b++) for (let t = 1; t < s.seq; t++) shifted[b * s.seq + t] = x[b * s.seq + t - 1];
  const chunk = lm.headRows();
  const targets: GpuStore[] = [], weights: GpuStore[] = [], loss: GpuStore[] = [];
  for (let r0 = 0; r0 < BL; r0 += chunk) {
    const rows = Math.min(chunk, BL - r0);
    targets.push(be.fromHost(x.subarray(r0, r0 + rows)));
    weights.push(be.fromHost(new Float32Array(rows).fill(1)));
    loss.push(be.runtime.alloc(rows));
  }
  return { shifted: be.fromHost(shifted), targets, weights, loss };
}

async function meanLoss(be: WebGpuBackend, batch: Batch): Promise<number> {
  let s = 0, n = 0;
  for (const l of batch.loss) {
    const v = await be.read(l, 'float32');
    for (const x of v) { s += x; n++; }
  }
  return s / n;
}

async function train(be: WebGpuBackend, name: string, shape: LMShape, steps: number): Promise<void> {
  const att = arg('attention', '');
  const s: LMShape = att === 'probs' || att === 'flash' ? { ...shape, attention: att } : shape;
  const lm = new DeviceLM(be, s);
  const batch = makeBatch(be, lm, s, 7);
  lm.trainStep(batch.shifted, batch.targets, batch.weights, batch.loss);
  const first = await meanLoss(be, batch);
  for (let i = 0; i < 2; i++) lm.trainStep(batch.shifted, batch.targets, batch.weights, batch.loss);
  await be.sync();
  const st0 = be.stats();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) lm.trainStep(batch.shifted, batch.targets, batch.weights, batch.loss);
  await be.sync();
  const dt = (performance.now() - t0) / 1000 / steps;
  const st1 = be.stats();
  const last = await meanLoss(be, batch);
  emit({
    what: `train ${name}`, backend: 'webgpu', attention: lm.attentionPath(), params: lm.paramCount, ms_per_step: +(dt * 1e3).toFixed(3),
    steps_per_s: +(1 / dt).toFixed(1), tokens_per_s: Math.round(s.batch * s.seq / dt),
    first_loss: +first.toFixed(4), last_loss: +last.toFixed(4),
    dispatches_per_step: Math.round((st1.dispatches - st0.dispatches) / steps),
    submits_per_step: +((st1.submits - st0.submits) / steps).toFixed(2),
    uploads_per_step: (st1.uploads - st0.uploads) / steps, reads_per_step: (st1.reads - st0.reads) / steps,
  });
  for (const p of lm.params) { be.release(p.w); be.release(p.g); be.release(p.m); be.release(p.v); }
  be.runtime.trim();
}

async function generate(be: WebGpuBackend, name: string, s: LMShape, n: number): Promise<void> {
  const lm = new DeviceLM(be, { ...s, dropout: 0 });
  await lm.generate(Math.min(n, 8));
  const st0 = be.stats();
  const t0 = performance.now();
  const toks = await lm.generate(n);
  const dt = (performance.now() - t0) / 1000;
  const st1 = be.stats();
  emit({
    what: `generate ${name}`, backend: 'webgpu', tokens_per_s: Math.round(n / dt),
    reads: st1.reads - st0.reads, dispatches_per_token: Math.round((st1.dispatches - st0.dispatches) / n),
    first_tokens: Array.from(toks.subarray(0, 8)),
  });
  be.runtime.trim();
}

async function main(): Promise<void> {
  const be = await webgpuBackend();
  const a = be.adapter;
  emit({ backend: 'webgpu', adapter: `${a.vendor} ${a.architecture} ${a.device}`.trim(), description: a.description,
    subgroups: a.subgroups, maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize, node: process.version });
  const steps = (n: number) => Math.max(1, Math.round(n * stepsScale));
  if (only.has('gemm')) await gemm(be);
  if (only.has('A')) {
    await train(be, 'A reverse (d32 2L, 16x10)', { vocab: 32, d: 32, ff: 128, layers: 2, heads: 8, batch: 16, seq: 10, dropout: 0.1 },
      steps(small ? 5 : 300));
  }
  if (only.has('C')) {
    await train(be, 'C char (d256 4L, 16x256)',
      small ? { vocab: 256, d: 32, ff: 64, layers: 1, heads: 4, batch: 2, seq: 16, dropout: 0.1 }
        : { vocab: 256, d: 256, ff: 1024, layers: 4, heads: 4, batch: 16, seq: 256, dropout: 0.1 },
      steps(small ? 2 : 50));
  }
  if (only.has('G')) {
    const batch = Number(arg('g-batch', small ? '1' : '16')), seq = Number(arg('g-seq', small ? '32' : '1024'));
    await train(be, `G gpt2-small-ish (d768 12L 12H, ${batch}x${seq})`,
      small ? { vocab: 50304, d: 64, ff: 128, layers: 1, heads: 2, batch, seq, dropout: 0.1 }
        : { vocab: 50304, d: 768, ff: 3072, layers: 12, heads: 12, batch, seq, dropout: 0.1 },
      steps(small ? 1 : 5));
  }
  if (only.has('gen')) {
    await generate(be, 'C char d256 4L, 256 tokens',
      { vocab: 256, d: small ? 32 : 256, ff: small ? 64 : 1024, layers: small ? 1 : 4, heads: 4, batch: 1, seq: 1, dropout: 0 },
      small ? 16 : 256);
  }
  const st = be.stats();
  emit({ what: 'runtime totals', ...st });
}

main().then(() => process.exit(0), (e) => { console.error(`bench:gpu: ${(e as Error).stack ?? e}`); process.exit(1); });
