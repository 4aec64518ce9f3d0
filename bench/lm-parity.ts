// Same weights, same batches: trax-ts's TransformerLM against the PyTorch
// anchor's (bench/lm_parity.py), to tell initialization from training
// dynamics. Compares the first batch's loss and gradients weight by weight,
// then trains both sides on identical windows and prints the loss curves.
//
//   node dist/bench/lm-parity.js --text FILE [--seed 0] [--steps 200] [--init torch|ours]
//
// --init torch (default): both sides start from the anchor's initial weights.
// --init ours: both sides start from trax-ts's initial weights (seed --seed).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { setNumThreads } from '../src/backends/index.js';
import { flattenWeightsAndState, unflattenWeightsAndState, type Weights } from '../src/layers/base.js';
import { Serial } from '../src/layers/combinators.js';
import { CrossEntropyLoss } from '../src/layers/metrics.js';
import { TransformerLM } from '../src/models/transformer_lm.js';
import { AdamOptimizer } from '../src/optimizers/adam.js';
import { readNpy, readNpyRecords, writeNpyRecords } from '../src/io/npy.js';
import { ndToTensor, tensorToNd } from '../src/io/model_io.js';
import { valueAndGrad } from '../src/engine/tape.js';
import { withBufferScope } from '../src/engine/pool.js';
import * as random from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { ShapeDtype } from '../src/shapes.js';
import { CharVocab, lmFixedBatches, lmWindowWeights, loadText, splitIds } from '../src/data/text.js';
import { torchAnchorDir } from './anchor.js';

const here = dirname(fileURLToPath(import.meta.url));

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

function runPython(args: string[]): void {
  const script = join(here, '..', '..', 'bench', 'lm_parity.py');
  const r = spawnSync('/usr/bin/python3', [script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`lm_parity.py exited with ${r.status}: ${(r.stderr ?? '').slice(-3000)}`);
}

function stats(a: Float32Array): { norm: number } {
  let s = 0;
  for (const v of a) s += v * v;
  return { norm: Math.sqrt(s) };
}

async function main(): Promise<void> {
  const text = arg('text', '');
  if (!text) throw new Error('--text FILE is required');
  const seed = Number(arg('seed', '0'));
  const steps = Number(arg('steps', '200'));
  const init = arg('init', 'torch');
  setNumThreads(Number(arg('threads', '1')));
  const dir = mkdtempSync(join(tmpdir(), 'trax-lm-parity-'));
  const common = ['--text', text, '--seed', String(seed), '--steps', String(steps), '--out', dir, '--anchor', torchAnchorDir()];

  // The vocabulary size comes from a zero-step anchor run (same text, same rule).
  runPython([...common.slice(0, 4), '--steps', '0', '--out', dir, '--anchor', torchAnchorDir()]);
  const vocab = JSON.parse(readFileSync(join(dir, 'torch.json'), 'utf8')).vocab_size as number;
  const B = 12, T = 64;
  const model = TransformerLM({ vocabSize: vocab, dModel: 128, dFF: 512, nLayers: 4, nHeads: 4, dropout: 0, mode: 'train' });
  const withLoss = Serial(model, CrossEntropyLoss());
  const [w0, s0] = withLoss.init([new ShapeDtype([B, T + 1], 'int32'), new ShapeDtype([B, T + 1], 'int32'), new ShapeDtype([B, T + 1], 'float32')],
    { rng: random.foldIn(random.key(seed), 0x696e6974) });
  const [modelW0] = w0 as Weights[];
  const [ourFlat] = flattenWeightsAndState(modelW0, []);
  if (init === 'ours') {
    writeFileSync(join(dir, 'ours-init.npy'), writeNpyRecords(ourFlat.map((t) => tensorToNd(t))));
    runPython([...common, '--init', `npy:${join(dir, 'ours-init.npy')}`]);
  } else {
    runPython(common);
  }
  const ref = JSON.parse(readFileSync(join(dir, 'torch.json'), 'utf8')) as { losses: number[]; val0: number; val_end: number };
  const flat = readNpyRecords(readFileSync(join(dir, 'weights.npy'))).map((a, i) => ndToTensor(a, ourFlat[i]));
  const grads = readNpyRecords(readFileSync(join(dir, 'grads.npy')));
  const batchesNd = readNpy(readFileSync(join(dir, 'batches.npy')));
  const valNd = readNpy(readFileSync(join(dir, 'val.npy')));
  const bw = lmWindowWeights(B, T);
  const batchAt = (nd: typeof batchesNd, i: number): Tensor => {
    const n = B * (T + 1);
    return new Tensor(Int32Array.from((nd.data as Int32Array).subarray(i * n, (i + 1) * n)), [B, T + 1], 'int32');
  };
  const [mw] = unflattenWeightsAndState(flat, null, [modelW0, s0], true) as [Weights, unknown];
  let weights = flattenWeightsAndState(mw, [])[0];
  const lossW = (w0 as Weights[])[1];
  const state = s0;
  const treeOf = (f: Tensor[]): Weights => (unflattenWeightsAndState(f, null, [modelW0, s0], true) as [Weights, unknown])[0];
  const lossAndGrad = (x: Tensor): [number, Tensor[]] => {
    const [[loss], g] = valueAndGrad((f: Tensor[]) => {
      const [out, s] = withLoss.pureFn([x, x, bw], [treeOf(f), lossW], state, random.key(0));
      return [out as Tensor, s];
    }, { hasAux: true })(weights);
    return [(loss as Tensor).dataSync()[0], g];
  };
  const evalModel = TransformerLM({ vocabSize: vocab, dModel: 128, dFF: 512, nLayers: 4, nHeads: 4, dropout: 0, mode: 'eval' });
  const evalWithLoss = Serial(evalModel, CrossEntropyLoss());
  const [ew0, es0] = evalWithLoss.init([new ShapeDtype([B, T + 1], 'int32'), new ShapeDtype([B, T + 1], 'int32'), new ShapeDtype([B, T + 1], 'float32')]);
  const valLoss = (): number => {
    let s = 0;
    const n = valNd.shape[0];
    for (let i = 0; i < n; i++) {
      const x = batchAt(valNd, i);
      const [out] = evalWithLoss.pureFn([x, x, bw], [treeOf(weights), (ew0 as Weights[])[1]], es0, random.key(0));
      s += (out as Tensor).dataSync()[0];
    }
    return s / n;
  };

  // trainLM's own windows (lmWindows) must be the anchor's, batch for batch.
  const ids = splitIds(CharVocab.fromText(loadText(text)).encode(loadText(text)));
  const same = (ours: Tensor[], nd: typeof batchesNd, n: number): boolean =>
    ours.length === n && ours.every((t, i) => (t.dataSync() as Int32Array).every((v, j) => v === (batchAt(nd, i).dataSync() as Int32Array)[j]));
  if (steps > 0) {
    const ourTrain = lmFixedBatches(ids.train, { seqLen: T, batchSize: B, seed, nBatches: steps }).map((b) => b[0]);
    const ourVal = lmFixedBatches(ids.validation, { seqLen: T, batchSize: B, seed: 1000, nBatches: valNd.shape[0] }).map((b) => b[0]);
    console.log(`windows: training ${same(ourTrain, batchesNd, steps) ? 'identical to' : 'DIFFERENT from'} the anchor's; ` +
      `validation ${same(ourVal, valNd, valNd.shape[0]) ? 'identical' : 'DIFFERENT'}`);
  }
  console.log(`parity: vocab ${vocab}, seed ${seed}, init from ${init === 'ours' ? 'trax-ts' : 'the anchor'}, ${steps} steps`);
  console.log(`val loss at step 0: trax-ts ${valLoss().toFixed(5)}  torch ${ref.val0.toFixed(5)}`);
  const [l0, g0] = lossAndGrad(batchAt(batchesNd, 0));
  console.log(`batch 0 loss: trax-ts ${l0.toFixed(6)}  torch ${ref.losses[0]?.toFixed(6)}`);
  let worst = 0;
  for (let i = 0; i < g0.length; i++) {
    const a = g0[i].dataSync() as Float32Array, b = grads[i].data as Float32Array;
    let d = 0;
    for (let j = 0; j < a.length; j++) d += (a[j] - b[j]) ** 2;
    const rel = Math.sqrt(d) / Math.max(1e-30, stats(b).norm);
    // Attention key biases get no gradient in exact arithmetic (a per-query constant leaves the
    // softmax unchanged); both sides give float noise near 1e-9 there, so they are left out.
    if (stats(b).norm > 1e-6) worst = Math.max(worst, rel);
    console.log(`  grad ${String(i).padStart(2)} [${g0[i].shape}]: |g| ours ${stats(a).norm.toExponential(4)} torch ${stats(b).norm.toExponential(4)} rel diff ${rel.toExponential(2)}`);
  }
  console.log(`largest relative gradient difference (weights with |g| > 1e-6): ${worst.toExponential(2)}`);

  const opt = new AdamOptimizer({ learning_rate: 1e-3, b1: 0.9, b2: 0.99, eps: 1e-8, weightDecayRate: 0, inPlace: true });
  opt.computeStats = false;
  let slots = opt.treeInit(weights);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const x = batchAt(batchesNd, s);
    const l = withBufferScope(() => {
      const [loss, g] = lossAndGrad(x);
      const r = opt.treeUpdate(s, g, weights, slots, { learning_rate: 1e-3 });
      weights = r.weights;
      slots = r.slots;
      return loss;
    }, () => [weights, slots]);
    losses.push(l);
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log('steps     trax-ts   torch     (mean training-batch loss)');
  for (let a = 0; a < steps; a += Math.max(1, Math.floor(steps / 10))) {
    const b = Math.min(steps, a + Math.max(1, Math.floor(steps / 10)));
    console.log(`${String(a).padStart(5)}-${String(b - 1).padEnd(5)} ${mean(losses.slice(a, b)).toFixed(4)}    ${mean(ref.losses.slice(a, b)).toFixed(4)}`);
  }
  console.log(`val loss after ${steps} steps: trax-ts ${valLoss().toFixed(5)}  torch ${ref.val_end.toFixed(5)}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
