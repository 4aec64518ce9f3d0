// training.Loop with TrainTask / EvalTask: Trax master's log lines, 1-based
// steps, Loop checkpoint layout, exact resume and clear errors.
import test from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as trax from '../dist/src/index.js';
import { readTraxCheckpointSync } from '../dist/src/io/trax_checkpoint.js';

const { Loop, TrainTask, EvalTask } = trax.supervised;
const L = trax.layers;
const tmp = (p) => mkdtempSync(join(tmpdir(), `trax-loop-${p}-`));
const small = (mode = 'train') => trax.models.TransformerLM({ vocabSize: 32, dModel: 16, dFF: 32, nLayers: 1, nHeads: 2, mode });
const bytesOf = (nd) => Buffer.from(nd.data.buffer, nd.data.byteOffset, nd.data.byteLength);

function makeLoop(dir, extra = {}) {
  const task = TrainTask({
    labeledData: trax.data.reverseIntsTask(8, { seed: 0 }), lossLayer: L.WeightedCategoryCrossEntropy(),
    optimizer: trax.optimizers.Adam(0.01), lrSchedule: trax.lr.constant(0.01), nStepsPerCheckpoint: 5,
  });
  const evalTask = EvalTask({
    labeledData: trax.data.reverseIntsTask(8, { seed: 1 }),
    metrics: [L.WeightedCategoryCrossEntropy(), L.WeightedCategoryAccuracy(), L.SequenceAccuracy()],
    metricNames: ['loss', 'accuracy', 'sequence_accuracy'], nEvalBatches: 2,
  });
  return new Loop(small(), task, { evalModel: small('eval'), evalTasks: [evalTask], outputDir: dir, randomSeed: 0, log: () => {}, ...extra });
}

test('Loop logs Trax master\'s lines at step 1 and every nStepsPerCheckpoint', async () => {
  const lines = [];
  const loop = makeLoop(null, { log: (l) => lines.push(l) });
  await loop.run(10);
  assert.equal(loop.step, 10);
  const n = loop.flatModelWeights.reduce((s, t) => s + t.size, 0);
  const num = /^[ -]\d+\.\d{8}$/;
  const block = (step, k, first) => {
    const s = String(step).padStart(6);
    const want = [
      '',
      ...(first ? [`Step ${s}: Total number of trainable weights: ${n}`] : []),
      new RegExp(`^Step ${s}: Ran ${k} train steps in \\d+\\.\\d\\d secs$`),
      new RegExp(`^Step ${s}: train WeightedCategoryCrossEntropy \\| `),
      new RegExp(`^Step ${s}: eval  ${'loss'.padStart(28)} \\| `),
      new RegExp(`^Step ${s}: eval  ${'accuracy'.padStart(28)} \\| `),
      new RegExp(`^Step ${s}: eval  ${'sequence_accuracy'.padStart(28)} \\| `),
    ];
    return want;
  };
  const want = [...block(1, 1, true), ...block(5, 4, false), ...block(10, 5, false)];
  assert.equal(lines.length, want.length, lines.join('\n'));
  want.forEach((w, i) => {
    if (typeof w === 'string') assert.equal(lines[i], w);
    else {
      assert.match(lines[i], w);
      if (/ \| /.test(lines[i])) assert.match(lines[i].split(' | ')[1], num);
    }
  });
});

test('TrainTask and EvalTask take Trax\'s positional arguments too', () => {
  const data = trax.data.reverseIntsTask(4, { seed: 0 });
  const opt = trax.optimizers.Adafactor(0.001);
  const t = TrainTask(data, L.CrossEntropyLoss(), opt, trax.lr.constant(0.001), 7, 21, 'xent');
  assert.ok(t instanceof TrainTask);
  assert.equal(t.nStepsPerCheckpoint, 7);
  assert.equal(t.nStepsPerPermanentCheckpoint, 21);
  assert.equal(t.lossName, 'xent');
  assert.equal(new TrainTask(data, L.CrossEntropyLoss(), opt).lossName, 'CrossEntropyLoss');
  assert.equal(new TrainTask(data, L.CrossEntropyLoss(), opt).learningRate(3), 0.001);
  const e = EvalTask(data, [L.Accuracy(), L.SequenceAccuracy()]);
  assert.deepEqual(e.metricNames, ['Accuracy', 'SequenceAccuracy']);
  assert.equal(e.nEvalBatches, 1);
  assert.equal(EvalTask(data, [L.Accuracy()], ['acc'], 3).nEvalBatches, 3);
  assert.throws(() => TrainTask(data, L.CrossEntropyLoss(), trax.optimizers.Adam), /optimizer must be an optimizer instance/);
  assert.throws(() => EvalTask(data, [L.Accuracy()], ['a', 'b']), /2 metric names for 1 metrics/);
  assert.equal(trax.supervised.training.Loop, Loop);
});

test('Loop checkpoints in Loop layout, permanent ones too, and loads for predict', async () => {
  const dir = tmp('layout');
  try {
    const loop = makeLoop(dir, { permanentCheckpointAt: (s) => s === 10 });
    await loop.run(12);
    const files = readdirSync(dir).sort();
    for (const f of ['model.pkl.gz', 'model.weights.npy.gz', 'model.opt_slots0.npy.gz',
      'model_10.pkl.gz', 'model_10.weights.npy.gz', 'model_10.opt_slots0.npy.gz', 'metrics.jsonl']) {
      assert.ok(files.includes(f), `${f} missing from ${files}`);
    }
    assert.ok(!files.some((f) => f.endsWith('._tmp_')));
    const ck = readTraxCheckpointSync(join(dir, 'model.pkl.gz'));
    assert.equal(ck.format, 'loop');
    assert.equal(ck.raw.flat_weights, 2);
    assert.equal(ck.versionTimestamp, 'Mar-10-2021');
    assert.equal(ck.step, 10); // saved at 1, 5, 10; step 12 is not a checkpoint step
    assert.equal(ck.flatWeights.length, loop.flatModelWeights.length);
    assert.equal(ck.slots.length, 1);
    assert.equal(ck.slots[0].length, 2 * ck.flatWeights.length); // Adam: m and v per weight
    assert.deepEqual(Object.keys(ck.raw).slice(0, 8),
      ['step', 'flat_weights', 'flat_state', 'flat_eval_state', 'history', 'slots_per_task', 'input_signature', 'version_timestamp']);
    assert.equal(readTraxCheckpointSync(join(dir, 'model_10.pkl.gz')).step, 10);
    const recs = Loop.readMetricsHistory(dir);
    assert.ok(recs.some((r) => r.step === 10 && r.mode === 'eval' && r.metric === 'metrics/sequence_accuracy'));
    assert.ok(recs.some((r) => r.step === 1 && r.mode === 'train' && r.metric === 'metrics/WeightedCategoryCrossEntropy'));
    const predict = small('predict');
    predict.initFromFile(join(dir, 'model_10.pkl.gz'), { weightsOnly: true, inputSignature: new trax.shapes.ShapeDtype([1, 1], 'int32') });
    const out = predict.apply(new trax.Tensor(new Int32Array([0]), [1, 1], 'int32'));
    assert.deepEqual(out.shape, [1, 1, 32]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Loop resumes exactly: 20 steps straight equals 10 + restart + 10', async () => {
  const a = tmp('straight'), b = tmp('resumed');
  try {
    const la = makeLoop(a);
    await la.run(20);
    const lb = makeLoop(b);
    await lb.run(10);
    const lb2 = makeLoop(b);
    await lb2.run(10);
    assert.equal(lb2.step, 20);
    la.flatModelWeights.forEach((w, i) => assert.ok(Buffer.from(w.dataSync().buffer).equals(Buffer.from(lb2.flatModelWeights[i].dataSync().buffer)), `weight ${i} differs`));
    const ca = readTraxCheckpointSync(join(a, 'model.pkl.gz')), cb = readTraxCheckpointSync(join(b, 'model.pkl.gz'));
    ca.slots[0].forEach((s, i) => assert.ok(bytesOf(s).equals(bytesOf(cb.slots[0][i])), `slot ${i} differs`));
    assert.deepEqual(lb2.historyValues.eval['metrics/loss'].map(([s]) => s), [1, 5, 10, 15, 20]);
    // The eval stream resumes where it was too, so the metrics match.
    assert.deepEqual(lb2.historyValues.eval, la.historyValues.eval);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('Loop takes async labeled data and several train tasks', async () => {
  async function* gen(seed) { yield* trax.data.reverseIntsTask(4, { seed }); }
  const model = small();
  const t1 = TrainTask(gen(0), L.CrossEntropyLoss(), trax.optimizers.Adafactor(0.01), null, 4);
  const t2 = TrainTask(gen(1), L.WeightedCategoryCrossEntropy(), trax.optimizers.Adam(0.01));
  const lines = [];
  const loop = new Loop(model, [t1, t2], { evalTasks: EvalTask(gen(2), [L.Accuracy()]), log: (l) => lines.push(l), randomSeed: 1 });
  await loop.run(8);
  assert.equal(loop.step, 8);
  // Step 8 is run by task 0 (8 % 2); its loss name is logged.
  assert.match(lines.find((l) => l.startsWith('Step      8: train')), /CrossEntropyLoss \| /);
});

function stream(batches) { return batches[Symbol.iterator](); }
function batch(n = 4, len = 10, dtype = 'int32') {
  const x = dtype === 'int32'
    ? new trax.Tensor(new Int32Array(n * len).fill(3), [n, len], 'int32')
    : new trax.Tensor(new Float32Array(n * len).fill(3), [n, len], 'float32');
  const w = new trax.Tensor(new Float32Array(n * len).fill(1), [n, len], 'float32');
  return [x, dtype === 'int32' ? x : batch(n, len)[1], w];
}
function runOn(batches, opt = trax.optimizers.Adam(0.01), nSteps = batches.length) {
  const loop = new Loop(small(), TrainTask(stream(batches), L.CrossEntropyLoss(), opt), { log: () => {}, randomSeed: 0 });
  return loop.run(nSteps);
}

test('Loop: bad batches and divergence give clear errors', async () => {
  const x3 = new trax.Tensor(new Int32Array(40), [4, 10, 1], 'int32');
  await assert.rejects(runOn([batch(), [x3, batch()[1], batch()[2]]]), /batch 1 of TrainTask 0's labeledData: field 0 has shape \[4,10,1\], but the first batch had rank 2/);
  await assert.rejects(runOn([batch(), batch(4, 10, 'float32')]), /batch 1 of TrainTask 0's labeledData: field 0 has dtype float32, but the first batch had int32/);
  await assert.rejects(runOn([batch(), [batch(4)[0], batch(3)[1], batch(4)[2]]]), /field 1 has batch size 3, field 0 has 4/);
  const nanW = new trax.Tensor(new Float32Array(40).fill(NaN), [4, 10], 'float32');
  await assert.rejects(runOn([batch(), batch(), [batch()[0], batch()[1], nanW]]), /Loop: CrossEntropyLoss became NaN at step 3/);
  await assert.rejects(runOn(Array.from({ length: 40 }, () => batch()), trax.optimizers.SGD(1e30)), /became (NaN|-?Infinity) at step \d+; lower the learning rate/);
  await assert.rejects(runOn([batch()], trax.optimizers.Adam(0.01), 2),
    /Loop: TrainTask 0's labeledData ran out of batches after 1 \(step 2\)/);
  const base = tmp('unwritable');
  try {
    writeFileSync(join(base, 'f'), 'x');
    assert.throws(() => makeLoop(join(base, 'f', 'out')), /Loop: cannot write to output directory .*\/f\/out/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('Loop refuses a weights file that does not belong to model.pkl.gz', async () => {
  const dir = tmp('mismatch');
  try {
    const loop = makeLoop(dir);
    await loop.run(5);
    loop.saveCheckpoint('other');
    await loop.run(5);
    // Simulate a crash between renames: new weights, old model.pkl.gz.
    copyFileSync(join(dir, 'other.weights.npy.gz'), join(dir, 'model.weights.npy.gz'));
    await assert.rejects(makeLoop(dir).run(1), /model\.weights\.npy\.gz does not belong to .*model\.pkl\.gz \(a save was interrupted\)/);
    assert.ok(existsSync(join(dir, 'other.pkl.gz')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
