// How much does the choice of the 20 fixed validation batches move a
// measured validation loss? Evaluates one trained char model (a trainLM
// directory) on several window sets drawn the anchor's way (numpy
// default_rng(seed)) and on the set trax-ts drew before it used numpy's
// generator (xoshiro128** seeded 1000), against a large reference set.
//
//   node dist/bench/lm-eval-windows.js --checkpoint DIR [--sets 10] [--large 200]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CharVocab, lmFixedBatches, lmWindowWeights, loadText, splitIds, type LMBatch } from '../src/data/text.js';
import { Rng } from '../src/data/rng.js';
import { Serial } from '../src/layers/combinators.js';
import { CrossEntropyLoss } from '../src/layers/metrics.js';
import type { Weights } from '../src/layers/base.js';
import { TransformerLM } from '../src/models/transformer_lm.js';
import { initFromFile } from '../src/io/model_io.js';
import { withBufferScope } from '../src/engine/pool.js';
import * as random from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { ShapeDtype } from '../src/shapes.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

/** The windows lmWindows drew before it used numpy's generator. */
function xoshiroBatches(ids: Int32Array, seqLen: number, batchSize: number, seed: number, n: number): LMBatch[] {
  const rng = new Rng(seed);
  const w = lmWindowWeights(batchSize, seqLen);
  const out: LMBatch[] = [];
  for (let b = 0; b < n; b++) {
    const x = new Int32Array(batchSize * (seqLen + 1));
    for (let r = 0; r < batchSize; r++) {
      const s = rng.below(ids.length - seqLen);
      x.set(ids.subarray(s, s + seqLen + 1), r * (seqLen + 1));
    }
    const t = new Tensor(x, [batchSize, seqLen + 1], 'int32');
    out.push([t, t, w]);
  }
  return out;
}

function main(): void {
  const dir = arg('checkpoint', '');
  if (!dir) throw new Error('--checkpoint DIR (a trainLM output directory) is required');
  const sets = Number(arg('sets', '10'));
  const large = Number(arg('large', '200'));
  const f = JSON.parse(readFileSync(join(dir, 'lm.json'), 'utf8'));
  const cfg = f.config;
  if (cfg.tokenizer !== 'char') throw new Error('this check reads char models');
  const text = loadText(f.data.source === 'moby-dick' ? undefined : f.data.source);
  const val = splitIds(new CharVocab(f.vocab).encode(text)).validation;
  const model = Serial(TransformerLM({ vocabSize: cfg.vocabSize, dModel: cfg.dModel, dFF: cfg.dFF, nLayers: cfg.nLayers, nHeads: cfg.nHeads,
    maxLen: cfg.maxLen, dropout: 0, mode: 'eval' }), CrossEntropyLoss());
  const B = cfg.batchSize, T = cfg.seqLen;
  const sig = [new ShapeDtype([B, T + 1], 'int32'), new ShapeDtype([B, T + 1], 'int32'), new ShapeDtype([B, T + 1], 'float32')];
  const [w0, s0] = model.init(sig);
  const inner = TransformerLM({ vocabSize: cfg.vocabSize, dModel: cfg.dModel, dFF: cfg.dFF, nLayers: cfg.nLayers, nHeads: cfg.nHeads,
    maxLen: cfg.maxLen, dropout: 0, mode: 'eval' });
  const [mw] = initFromFile(inner, join(dir, 'model.pkl.gz'), { weightsOnly: true, inputSignature: sig[0] });
  const weights = [mw, (w0 as Weights[])[1]] as Weights;
  const loss = (batches: LMBatch[]): number => {
    let s = 0;
    for (const b of batches) s += withBufferScope(() => ((model.pureFn(b, weights, s0, random.key(0))[0]) as Tensor).dataSync()[0], () => null);
    return s / batches.length;
  };
  const ref = loss(lmFixedBatches(val, { seqLen: T, batchSize: B, seed: 999_999, nBatches: large }));
  console.log(`${dir}: step ${f.config.steps}; validation loss on ${large} batches (reference): ${ref.toFixed(4)}`);
  const numpy1000 = loss(lmFixedBatches(val, { seqLen: T, batchSize: B, seed: 1000, nBatches: cfg.evalBatches }));
  const old = loss(xoshiroBatches(val, T, B, 1000, cfg.evalBatches));
  console.log(`${cfg.evalBatches} batches, numpy default_rng(1000) (the anchor's set, now also trax-ts's): ${numpy1000.toFixed(4)} (${(numpy1000 - ref >= 0 ? '+' : '') + (numpy1000 - ref).toFixed(4)})`);
  console.log(`${cfg.evalBatches} batches, xoshiro128** seed 1000 (trax-ts's former set): ${old.toFixed(4)} (${(old - ref >= 0 ? '+' : '') + (old - ref).toFixed(4)})`);
  console.log(`offset between the two sets: ${(old - numpy1000).toFixed(4)} nats/char`);
  const others: number[] = [];
  for (let s = 0; s < sets; s++) others.push(loss(lmFixedBatches(val, { seqLen: T, batchSize: B, seed: 2000 + s, nBatches: cfg.evalBatches })) - ref);
  const m = others.reduce((a, b) => a + b, 0) / others.length;
  const sd = Math.sqrt(others.reduce((a, b) => a + (b - m) ** 2, 0) / (others.length - 1));
  console.log(`${sets} other ${cfg.evalBatches}-batch sets (seeds 2000..): offsets from the reference sd ${sd.toFixed(4)}, range ${Math.min(...others).toFixed(4)} .. ${Math.max(...others).toFixed(4)}`);
}

main();
