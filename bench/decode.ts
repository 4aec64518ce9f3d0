// Greedy decoding speed: tokens per second with the predict-mode key/value
// cache versus re-running an eval-mode model on the whole sequence, for the
// quick-start TransformerLM and a larger one, on the current backend.
import { fileURLToPath } from 'node:url';
import { backendName } from '../src/backends/index.js';
import type { Layer } from '../src/layers/base.js';
import { TransformerLM, type TransformerLMOptions } from '../src/models/transformer_lm.js';
import { ShapeDtype } from '../src/shapes.js';
import { autoregressiveSample, autoregressiveSampleStream } from '../src/decoding/decoding.js';
import * as random from '../src/engine/random.js';
import { cpus } from 'node:os';
import { setNumThreads, numThreads } from '../src/backends/index.js';
import { reverseIntsTask } from '../src/data/tasks.js';
import { foreignLoad, runAnchor, torchVersion } from './anchor.js';
import { Tensor } from '../src/engine/tensor.js';

interface Case {
  label: string;
  config: TransformerLMOptions;
  tokens: number;
}

const CASES: Case[] = [
  { label: 'quick-start (vocab 32, d 32, ff 128, 2 layers, 8 heads)', config: { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 }, tokens: 256 },
  { label: 'd 256, ff 1024, 4 layers, 4 heads, vocab 256', config: { vocabSize: 256, dModel: 256, dFF: 1024, nLayers: 4, nHeads: 4 }, tokens: 256 },
];

// Re-running the whole sequence grows quadratically; stop a run that would
// blow the overall budget and report the rate over the tokens it made.
const TIME_BUDGET_MS = 12_000;
const PROMPT = [[1, 2, 3, 4, 5, 6, 7, 8]];

function build(config: TransformerLMOptions, mode: 'predict' | 'eval'): Layer {
  const m = TransformerLM({ ...config, mode });
  // Same seed for both modes, so both decode the same tokens.
  m.init(new ShapeDtype([1, mode === 'predict' ? 1 : PROMPT[0].length], 'int32'), { rng: random.key(0) });
  return m;
}

async function timeDecode(model: Layer, tokens: number, evalMode: boolean): Promise<{ n: number; ms: number; tokens: number[] }> {
  const out: number[] = [];
  const t0 = performance.now();
  // Without jit: this section compares the cache with re-running, eagerly (jit rows are below).
  for await (const s of autoregressiveSampleStream(model, PROMPT, { temperature: 0, evalMode, jit: false })) {
    out.push(s[0]);
    if (out.length >= tokens || performance.now() - t0 > TIME_BUDGET_MS) break;
  }
  return { n: out.length, ms: performance.now() - t0, tokens: out };
}

function rate(n: number, ms: number): string {
  return `${(n / (ms / 1000)).toFixed(1).padStart(8)} tokens/s (${n} tokens in ${(ms / 1000).toFixed(2)} s)`;
}

/** Prints greedy decoding tokens/s with and without the predict-mode cache. */
export async function benchDecode(): Promise<void> {
  console.log(`greedy decoding, batch 1, random init, backend: ${backendName()} (eager steps; the jit rows are in the PyTorch comparison)`);
  for (const c of CASES) {
    console.log(`  ${c.label}, ${c.tokens} tokens`);
    const predictModel = build(c.config, 'predict');
    await timeDecode(predictModel, 32, false); // warm-up: compiles the hot paths; the state is restored after
    const cached = await timeDecode(predictModel, c.tokens, false);
    console.log(`    predict-mode cache: ${rate(cached.n, cached.ms)}`);
    const full = await timeDecode(build(c.config, 'eval'), c.tokens, true);
    const note = full.n < c.tokens ? ` [stopped at the ${TIME_BUDGET_MS / 1000} s budget]` : '';
    console.log(`    eval mode, re-run:  ${rate(full.n, full.ms)}${note}`);
    const same = full.tokens.every((t, i) => t === cached.tokens[i]);
    if (!same) console.log('    warning: the two modes decoded different tokens');
    if (full.n > 0) console.log(`    cache speed-up: ${((cached.n / cached.ms) / (full.n / full.ms)).toFixed(1)}x`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const MODEL_A: TransformerLMOptions = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2 };
const MODEL_C: TransformerLMOptions = { vocabSize: 256, dModel: 256, dFF: 1024, nLayers: 4, nHeads: 4 };

function predictModel(config: TransformerLMOptions): Layer {
  const m = TransformerLM({ ...config, mode: 'predict' });
  m.init(new ShapeDtype([1, 1], 'int32'), { rng: random.key(0) });
  return m;
}

/** Task B: 6-token prefixes of reverse-task examples, 4 new tokens each; 4 / median call time. */
async function taskB(jit: boolean, calls: number): Promise<number> {
  const model = predictModel(MODEL_A);
  const it = reverseIntsTask(1, { seed: 5 });
  const prefixes: Tensor[] = [];
  for (let i = 0; i < calls; i++) {
    const [x] = it.next().value as Tensor[];
    prefixes.push(new Tensor(Int32Array.from((x.dataSync() as Int32Array).subarray(0, 6)), [1, 6], 'int32'));
  }
  const opts = { temperature: 0, maxLength: 4, eosId: -1, jit };
  for (const p of prefixes.slice(0, 50)) await autoregressiveSample(model, p, opts);
  const ts: number[] = [];
  for (const p of prefixes) {
    const t0 = performance.now();
    await autoregressiveSample(model, p, opts);
    ts.push(performance.now() - t0);
  }
  return 4 / (median(ts) / 1000);
}

/** Task D: 256 greedy tokens from the start symbol with the char model; 256 / median run time. */
async function taskD(jit: boolean, runs: number): Promise<number> {
  const model = predictModel(MODEL_C);
  const opts = { temperature: 0, maxLength: 256, eosId: -1, jit };
  // The 2nd and 3rd runs trace every position's step; later runs replay them.
  for (let i = 0; i < 4; i++) await autoregressiveSample(model, null, opts);
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await autoregressiveSample(model, null, opts);
    ts.push(performance.now() - t0);
  }
  return 256 / (median(ts) / 1000);
}

/** Greedy decoding with the cache beside PyTorch's (tasks B and D of the anchor), on 1 thread and all cores. */
export async function benchDecodeVsTorch(): Promise<void> {
  const tv = process.env['TRAX_BENCH_TORCH'] !== '0' ? torchVersion() : null;
  console.log(`\n== greedy decoding with the cache vs PyTorch ${tv ?? '(not installed)'} (anchor tasks B and D)`);
  console.log('load: the 1-minute load average when the row was measured');
  const rows: string[] = [];
  const before = numThreads();
  const all = cpus().length;
  try {
    for (const threads of all > 1 ? [1, all] : [1]) {
      setNumThreads(threads);
      let b: number | null = null, d: number | null = null;
      if (tv) {
        try { b = ((runAnchor(['--task', 'B', '--repeats', '300'], threads).decode as Record<string, { tokens_per_s: number }>).kv_cache.tokens_per_s); } catch (e) { console.log(`PyTorch task B failed: ${(e as Error).message}`); }
        try { d = ((runAnchor(['--task', 'D', '--repeats', '5'], threads).generate as Record<string, { tokens_per_s: number }>).kv_cache.tokens_per_s); } catch (e) { console.log(`PyTorch task D failed: ${(e as Error).message}`); }
      }
      const row = (label: string, ours: number, ref: number | null, target: string) => {
        rows.push(`${label.padEnd(40)} ${String(threads).padStart(7)} ${ours.toFixed(0).padStart(9)} ${(ref === null ? '-' : ref.toFixed(0)).padStart(9)} ` +
          `${(ref ? (ours / ref).toFixed(2) + 'x' : '-').padStart(7)} ${target.padEnd(6)} ${foreignLoad()}`);
        console.log(rows.at(-1));
      };
      row('task B tokens/s (quick-start, jit)', await taskB(true, 300), b, '>= 3x');
      row('  without jit', await taskB(false, 300), b, '');
      row('task D tokens/s (char model, jit)', await taskD(true, 5), d, '>= 3x');
      row('  without jit', await taskD(false, 3), d, '');
    }
  } finally {
    setNumThreads(before);
  }
  console.log(`\n${'workload'.padEnd(40)} ${'threads'.padStart(7)} ${'ours'.padStart(9)} ${'pytorch'.padStart(9)} ${'ratio'.padStart(7)} target load\n${rows.join('\n')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  (process.argv.includes('--torch') ? benchDecodeVsTorch() : benchDecode()).catch((e) => { console.error(e); process.exitCode = 1; });
}
