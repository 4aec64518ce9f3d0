#!/usr/bin/env node
// Reproduces pretrained/sort-transformer.pkl.gz, the model the quick-start's
// first cell loads: TransformerLM(vocab 32, d_model 32, d_ff 128, 2 layers,
// 8 heads, max_len 2048) trained with trax-ts's Trainer on the sort task
// ([0, a1..a4, 0, sorted], four integers in 1..30, loss on the sorted half).
//
// Usage (after `npm run build`):
//   node scripts/train-sort-model.mjs [--out pretrained/sort-transformer.pkl.gz]
//     [--seed 1] [--batch 64] [--steps-per-epoch 500] [--max-epochs 40] [--target 0.999]
//
// Training stops once greedy decoding sorts at least --target of 1000 fresh
// random lists (a separate seed from training); the weights are then saved in
// Trax's Layer.save_to_file layout (gzip + pickle, weights only).
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as trax from '../dist/src/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'pretrained', 'sort-transformer.pkl.gz') },
    seed: { type: 'string', default: '1' },
    batch: { type: 'string', default: '64' },
    'steps-per-epoch': { type: 'string', default: '500' },
    'max-epochs': { type: 'string', default: '40' },
    target: { type: 'string', default: '0.999' },
    lr: { type: 'string', default: '0.002' },
    warmup: { type: 'string', default: '500' },
  },
  strict: true,
});
const seed = Number(values.seed);
const batch = Number(values.batch);
const stepsPerEpoch = Number(values['steps-per-epoch']);
const maxEpochs = Number(values['max-epochs']);
const target = Number(values.target);
const lr = Number(values.lr);
const warmup = Number(values.warmup);

// The quick-start's configuration, defaults included (8 heads, max_len 2048).
const CONFIG = { vocabSize: 32, dModel: 32, dFF: 128, nLayers: 2, nHeads: 8, maxLen: 2048 };
const sortModel = (mode) => trax.models.TransformerLM({ ...CONFIG, mode });

/** Fresh lists of four integers in 1..30 from their own seed, and how many decode sorted. */
async function sortAccuracy(weights, { n = 1000, seed: evalSeed = 12345, batch: b = 250 } = {}) {
  const rng = new trax.data.Rng(evalSeed);
  let correct = 0;
  const model = sortModel('predict');
  model.init(new trax.shapes.ShapeDtype([b, 1], 'int32'));
  model.weights = weights;
  const fresh = model.state;
  for (let done = 0; done < n; done += b) {
    const rows = [];
    for (let r = 0; r < b; r++) rows.push([0, ...Array.from({ length: 4 }, () => rng.int(1, 31)), 0]);
    model.state = fresh;
    const out = await (await trax.supervised.autoregressiveSample(model, rows, { temperature: 0, maxLength: 4 })).data();
    for (let r = 0; r < b && done + r < n; r++) {
      const want = rows[r].slice(1, 5).sort((x, y) => x - y);
      const got = Array.from(out.subarray(r * 4, r * 4 + 4));
      if (got.every((v, i) => v === want[i])) correct++;
    }
  }
  return correct / n;
}

const dir = mkdtempSync(join(tmpdir(), 'trax-sort-'));
console.log(`backend: ${trax.backendName()}; training in ${dir}`);
const trainer = new trax.supervised.Trainer({
  model: sortModel,
  lossFn: trax.layers.CrossEntropyLoss(),
  optimizer: trax.optimizers.Adam,
  lrSchedule: trax.lr.warmupAndRsqrtDecay(warmup, lr),
  inputs: trax.data.Inputs(() => trax.data.sortIntsTask(batch, { seed })),
  outputDir: dir,
  randomSeed: seed,
  shouldSaveCheckpoints: false,
});
let acc = 0;
const t0 = performance.now();
for (let epoch = 1; epoch <= maxEpochs; epoch++) {
  await trainer.trainEpoch(stepsPerEpoch, 1);
  acc = await sortAccuracy(trainer.evalModel.weights);
  console.log(`epoch ${epoch}: sorted ${(acc * 100).toFixed(1)}% of 1000 fresh lists ` +
    `(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  if (acc >= target) break;
}
if (acc < target) {
  console.error(`did not reach ${target} sequence accuracy after ${maxEpochs} epochs (got ${acc}); not saving`);
  process.exit(1);
}
mkdirSync(dirname(values.out), { recursive: true });
trainer.evalModel.saveToFile(values.out, {
  weightsOnly: true,
  inputSignature: new trax.shapes.ShapeDtype([1, 1], 'int32'),
});
rmSync(dir, { recursive: true, force: true });
console.log(`saved ${values.out} at step ${trainer.step} (sequence accuracy ${(acc * 100).toFixed(1)}%)`);
