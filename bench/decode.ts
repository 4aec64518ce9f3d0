// Greedy decoding speed: tokens per second with the predict-mode key/value
// cache versus re-running an eval-mode model on the whole sequence, for the
// quick-start TransformerLM and a larger one, on the current backend.
import { fileURLToPath } from 'node:url';
import { backendName } from '../src/backends/index.js';
import type { Layer } from '../src/layers/base.js';
import { TransformerLM, type TransformerLMOptions } from '../src/models/transformer_lm.js';
import { ShapeDtype } from '../src/shapes.js';
import { autoregressiveSampleStream } from '../src/decoding/decoding.js';
import * as random from '../src/engine/random.js';

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
  for await (const s of autoregressiveSampleStream(model, PROMPT, { temperature: 0, evalMode })) {
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
  console.log(`greedy decoding, batch 1, random init, backend: ${backendName()}`);
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

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchDecode().catch((e) => { console.error(e); process.exitCode = 1; });
}
