#!/usr/bin/env node
// Reproduces pretrained/moby-dick-char/ (lm.json + model.pkl.gz), the small
// character-level language model of Moby-Dick that the package ships for the
// browser playground and `trax.pretrained.path('moby-dick-char')`:
// TransformerLM(vocab 83, d_model 128, d_ff 512, 2 layers, 4 heads,
// max_len 256), trained with trainLM on the first 90% of the text (context
// 64, batch 16, Adam 2e-3), evaluated on the last 10%. Small enough for the
// package (under 2 MB) and to train in a few minutes on two CPU cores.
//
// Usage (after `npm run build`): node scripts/train-char-lm.mjs [--steps 3000] [--out pretrained/moby-dick-char]
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as trax from '../dist/src/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'pretrained', 'moby-dick-char') },
    steps: { type: 'string', default: '3000' },
  },
  strict: true,
});
const work = mkdtempSync(join(tmpdir(), 'trax-char-lm-'));
try {
  const steps = Number(values.steps);
  const res = await trax.supervised.trainLM({
    corpus: 'moby-dick', tokenizer: 'char', dModel: 128, dFF: 512, nLayers: 2, nHeads: 4, maxLen: 256,
    seqLen: 64, batchSize: 16, dropout: 0, lr: 2e-3, optimizer: 'adam', steps, evalEvery: Math.min(1000, steps),
    evalBatches: 20, seed: 0, sampleLength: 120, samplePrompt: 'Call me', outputDir: work,
  });
  // Ship the weights only (Layer.save_to_file layout): the Trainer's checkpoint also holds Adam's slots.
  mkdirSync(values.out, { recursive: true });
  copyFileSync(join(work, 'lm.json'), join(values.out, 'lm.json'));
  trax.supervised.loadLM(work).model.saveToFile(join(values.out, 'model.pkl.gz'), {
    weightsOnly: true, inputSignature: trax.shapes.ShapeDtype([1, 1], 'int32'),
  });
  const bytes = ['lm.json', 'model.pkl.gz'].reduce((n, f) => n + statSync(join(values.out, f)).size, 0);
  console.log(`moby-dick-char: ${res.params} parameters, vocabulary ${res.vocabSize}, ${res.step} steps in ${res.wallS.toFixed(0)} s; ` +
    `validation loss ${res.valLoss.toFixed(3)} nats/char (${res.valBpc.toFixed(3)} bits/char); ${(bytes / 1e6).toFixed(2)} MB in ${values.out}`);
  console.log(`sample: ${JSON.stringify(res.sample)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
