// Trainer: Trax's log lines, exact resume, crash-safe checkpoints, clear
// errors on bad input, metrics history and checkpoints usable for predict.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as trax from '../dist/src/index.js';
import { readTraxCheckpointSync } from '../dist/src/io/trax_checkpoint.js';

const INDEX = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
const tmp = (p) => mkdtempSync(join(tmpdir(), `trax-trainer-${p}-`));
const small = (mode) => trax.models.TransformerLM({ vocabSize: 32, dModel: 16, dFF: 32, nLayers: 1, nHeads: 2, mode });

function makeTrainer(dir, extra = {}) {
  return new trax.supervised.Trainer({
    model: small,
    lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adafactor,
    lrSchedule: trax.lr.constant(0.01),
    inputs: trax.data.Inputs(() => trax.data.reverseIntsTask(16, { seed: 0 })),
    outputDir: dir, randomSeed: 0, log: () => {}, ...extra,
  });
}

const bytesOf = (nd) => Buffer.from(nd.data.buffer, nd.data.byteOffset, nd.data.byteLength);

test('stepLine and formatMetric follow Python\'s "Step % 6d" and "% .8f"', () => {
  const { stepLine, formatMetric } = trax.supervised;
  assert.equal(stepLine(800, 'Ran 800 train steps in 56.55 secs'), 'Step    800: Ran 800 train steps in 56.55 secs');
  assert.equal(stepLine(1, 'x'), 'Step      1: x');
  assert.equal(stepLine(123456, 'x'), 'Step  123456: x');
  assert.equal(stepLine(1234567, 'x'), 'Step  1234567: x');
  assert.equal(formatMetric(0.046875), ' 0.04687500');
  assert.equal(formatMetric(-6.36618853), '-6.36618853');
  assert.equal(formatMetric(513812), ' 513812.00000000');
});

test('trainEpoch prints Trax\'s log lines', async () => {
  const lines = [];
  const t = makeTrainer(null, { log: (l) => lines.push(l) });
  await t.trainEpoch(3, 1);
  assert.equal(lines[0], '');
  assert.match(lines[1], /^Step      3: Ran 3 train steps in \d+\.\d\d secs$/);
  assert.equal(lines[2], 'Step      3: Evaluation');
  const names = ['accuracy', 'loss', 'neg_log_perplexity', 'sequence_accuracy', 'weights_per_batch_per_core'];
  const metricLines = lines.slice(3, 13);
  names.forEach((n, i) => {
    assert.match(metricLines[i], new RegExp(`^Step      3: train ${n.padStart(26)} \\| [ -]\\d+\\.\\d{8}$`));
    assert.match(metricLines[i + 5], new RegExp(`^Step      3: eval  ${n.padStart(26)} \\| [ -]\\d+\\.\\d{8}$`));
  });
  assert.equal(metricLines[4], 'Step      3: train weights_per_batch_per_core |  64.00000000');
  assert.equal(lines[13], 'Step      3: Finished evaluation');
  const n = t.printNWeights();
  assert.equal(lines.at(-1), `Step      3: Total number of trainable weights: ${n}`);
});

test('resume: 1600 steps straight equals 800 + restart + 800, bitwise', async () => {
  const a = tmp('straight'), b = tmp('resumed');
  try {
    const ta = makeTrainer(a);
    await ta.trainEpoch(800, 1);
    await ta.trainEpoch(800, 1);
    const tb = makeTrainer(b);
    await tb.trainEpoch(800, 1);
    const tb2 = makeTrainer(b);
    await tb2.trainEpoch(800, 1);
    assert.equal(tb2.step, 1600);
    const ca = readTraxCheckpointSync(join(a, 'model.pkl.gz'));
    const cb = readTraxCheckpointSync(join(b, 'model.pkl.gz'));
    assert.equal(ca.step, 1600);
    assert.equal(cb.step, 1600);
    assert.equal(ca.flatWeights.length, cb.flatWeights.length);
    ca.flatWeights.forEach((w, i) => assert.ok(bytesOf(w).equals(bytesOf(cb.flatWeights[i])), `weight ${i} differs after resume`));
    // Slots and history survive too.
    const slotsA = JSON.stringify(ca.slots, (k, v) => (v && v.data ? Array.from(v.data) : v));
    const slotsB = JSON.stringify(cb.slots, (k, v) => (v && v.data ? Array.from(v.data) : v));
    assert.equal(slotsA, slotsB);
    assert.deepEqual(tb2.historyValues.eval['metrics/loss'].map(([s]) => s), [800, 1600]);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

// A child that resumes from dir (if a checkpoint is there), then trains and
// saves over and over. fs.writeSync is slowed down (a slow disk) so that
// kills often land in the middle of writing a file.
const CHILD = `
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const write = fs.writeSync;
const pause = new Int32Array(new SharedArrayBuffer(4));
fs.writeSync = (fd, buf, ...rest) => {
  if (rest.length || !(buf instanceof Uint8Array)) return write(fd, buf, ...rest);
  if (fd <= 2) return write(fd, buf);
  write(1, 'writing\\n');
  let n = 0;
  for (let o = 0; o < buf.length; o += 16384) { n += write(fd, buf.subarray(o, o + 16384)); Atomics.wait(pause, 0, 0, 1); }
  return n;
};
syncBuiltinESMExports();
const trax = await import(${JSON.stringify(INDEX)});
const dir = process.argv[1];
const t = new trax.supervised.Trainer({
  model: (mode) => trax.models.TransformerLM({ vocabSize: 256, dModel: 128, dFF: 512, nLayers: 2, mode }),
  lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam, lrSchedule: trax.lr.constant(0.001),
  inputs: trax.data.Inputs(() => trax.data.reverseIntsTask(2, { seed: 0, vocab: 256 })), outputDir: dir, randomSeed: 0, log: () => {} });
await t.trainEpoch(0, 0);
process.stdout.write('ready ' + t.step + '\\n');
for (;;) { await t.trainStep(); t.saveState(); process.stdout.write('saved ' + t.step + '\\n'); }
`;

const KILLS = 8;

function runChildAndKill(dir, delayMs, duringWrite) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', all = '', err = '', armed = false, fired = false;
    child.stdout.on('data', (d) => {
      out += d;
      all += d;
      // Once a trained step is saved: half of the kills wait for a write to
      // start, the others land anywhere in the train/save cycle.
      if (!armed && out.includes('saved')) {
        armed = true;
        if (!duringWrite) setTimeout(() => child.kill('SIGKILL'), delayMs);
        else out = '';
      }
      if (armed && duringWrite && !fired && out.includes('writing')) { fired = true; setTimeout(() => child.kill('SIGKILL'), delayMs); }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(all);
      else reject(new Error(`child exited with ${code}: ${err}`));
    });
  });
}

test('SIGKILL while checkpoints are written leaves a loadable model.pkl.gz', async () => {
  const dir = tmp('kill');
  try {
    let lastStep = -1, hitWrite = 0;
    for (let i = 0; i < KILLS; i++) {
      const out = await runChildAndKill(dir, Math.floor(Math.random() * (i % 2 ? 1500 : 300)), i % 2 === 0);
      const resumedAt = Number(/ready (\d+)/.exec(out)[1]);
      assert.ok(resumedAt >= lastStep, `resumed at step ${resumedAt}, but an earlier run had saved step ${lastStep}`);
      const ck = readTraxCheckpointSync(join(dir, 'model.pkl.gz'));
      assert.equal(ck.format, 'trainer_lib');
      assert.ok(Number.isInteger(ck.step) && ck.step >= resumedAt);
      assert.equal(ck.flatWeights.length, 38);
      if (existsSync(join(dir, "model.pkl.gz._tmp_"))) hitWrite++;
      lastStep = ck.step;
    }
    assert.ok(lastStep > 0, 'the child never saved a trained step');
    assert.ok(hitWrite > 0, 'no kill landed while a checkpoint was being written');
    if (process.env.TRAX_TEST_VERBOSE) console.log(`kills that left a partial temp file: ${hitWrite} of ${KILLS}`);
    // Whatever the kills left behind is only ever a temp file.
    for (const f of readdirSync(dir)) assert.ok(['model.pkl.gz', 'model.pkl.gz._tmp_', 'metrics.jsonl'].includes(f), `unexpected file ${f}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function badInputs(batches) {
  return trax.data.Inputs(function* () { yield* batches; });
}

function goodBatch(n = 4, len = 10) {
  const x = new trax.Tensor(new Int32Array(n * len).fill(3), [n, len], 'int32');
  const w = new trax.Tensor(new Float32Array(n * len).fill(1), [n, len], 'float32');
  return [x, x, w];
}

async function trainOn(batches, extra = {}) {
  const t = new trax.supervised.Trainer({
    model: small, lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adafactor,
    lrSchedule: trax.lr.constant(0.01), inputs: badInputs(batches), randomSeed: 0, log: () => {}, ...extra,
  });
  await t.trainEpoch(batches.length, 0);
  return t;
}

test('bad input: a rank change names the batch and the shapes', async () => {
  const [x, , w] = goodBatch();
  const x3 = new trax.Tensor(new Int32Array(40).fill(1), [4, 10, 1], 'int32');
  await assert.rejects(trainOn([goodBatch(), [x3, x, w]]), /batch 1 from the train stream: field 0 has shape \[4,10,1\], but the first batch had rank 2/);
});

test('bad input: a dtype change is named', async () => {
  const [x, , w] = goodBatch();
  const xf = new trax.Tensor(new Float32Array(40).fill(1), [4, 10], 'float32');
  await assert.rejects(trainOn([goodBatch(), [xf, x, w]]), /batch 1 from the train stream: field 0 has dtype float32, but the first batch had int32/);
});

test('bad input: fields with different batch sizes', async () => {
  const [x] = goodBatch(4);
  const [, y, w] = goodBatch(3);
  await assert.rejects(trainOn([goodBatch(), [x, y, w]]), /batch 1 from the train stream: field 1 has batch size 3, field 0 has 4/);
});

test('bad input: NaN in the data stops training with the step named', async () => {
  const [x] = goodBatch();
  const wNaN = new trax.Tensor(new Float32Array(40).fill(NaN), [4, 10], 'float32');
  await assert.rejects(trainOn([goodBatch(), goodBatch(), [x, x, wNaN]]), /loss became NaN at step 2/);
});

test('bad input: a huge learning rate that diverges stops with a clear message', async () => {
  const batches = Array.from({ length: 40 }, () => goodBatch());
  await assert.rejects(
    trainOn(batches, { optimizer: trax.optimizers.SGD, lrSchedule: trax.lr.constant(1e30) }),
    /Trainer: loss became (NaN|Infinity|-Infinity) at step \d+; lower the learning rate/);
});

test('bad input: an unwritable outputDir is reported', () => {
  const base = tmp('unwritable');
  try {
    const file = join(base, 'a-file');
    writeFileSync(file, 'not a directory');
    assert.throws(() => makeTrainer(join(file, 'out')), /Trainer: cannot write to output directory .*a-file\/out/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('metrics.jsonl, checkpointsAt and loading into a predict-mode model', async () => {
  const dir = tmp('files');
  try {
    const t = makeTrainer(dir, { checkpointsAt: [5, 10] });
    await t.trainEpoch(10, 1);
    for (const s of [5, 10]) assert.ok(existsSync(join(dir, `model_${s}.pkl.gz`)), `model_${s}.pkl.gz missing`);
    assert.equal(readTraxCheckpointSync(join(dir, 'model_5.pkl.gz')).step, 5);
    const recs = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(recs.length >= 10);
    for (const r of recs) {
      assert.deepEqual(Object.keys(r).sort(), ['metric', 'mode', 'step', 'value']);
      assert.equal(typeof r.value, 'number');
    }
    assert.ok(recs.some((r) => r.step === 10 && r.mode === 'eval' && r.metric === 'metrics/sequence_accuracy'));
    assert.deepEqual(trax.supervised.Trainer.readMetricsHistory(dir), recs);
    for (const f of ['model.pkl.gz', 'model_5.pkl.gz']) {
      const predict = small('predict');
      predict.initFromFile(join(dir, f), { weightsOnly: true, inputSignature: new trax.shapes.ShapeDtype([1, 1], 'int32') });
      const out = predict.apply(new trax.Tensor(new Int32Array([0]), [1, 1], 'int32'));
      assert.deepEqual(out.shape, [1, 1, 32]);
      assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
