// Stopping training: the event loop runs while a model trains (timers fire,
// an AbortSignal stops trainEpoch, Loop.run and trainLM, keeping a checkpoint),
// and Ctrl-C (SIGINT) stops `trax-ts train`, saving a checkpoint that the
// same command then resumes from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as trax from '../dist/src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(root, 'dist', 'src', 'apps', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'trax-ts-interrupt-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const tiny = (mode) => trax.models.TransformerLM({ vocabSize: 16, dModel: 16, dFF: 32, nLayers: 1, nHeads: 2, mode });

function trainer(outputDir) {
  return new trax.supervised.Trainer({
    model: tiny, lossFn: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam, lrSchedule: trax.lr.constant(0.001),
    inputs: trax.data.Inputs(() => trax.data.reverseIntsTask(4, { length: 3, vocab: 16, seed: 0 })),
    outputDir, randomSeed: 0, log: () => {},
  });
}

test('timers run while trainEpoch trains, and an AbortSignal stops it after a step, saving the checkpoint', async () => {
  const dir = join(tmp, 'epoch');
  const t = trainer(dir);
  await t.trainStep();
  // The abort comes from a timer: it can only fire if training lets the event loop run.
  let ticks = 0;
  const ac = new AbortController();
  const tick = setInterval(() => { if (++ticks === 5) ac.abort(); }, 1);
  const huge = 1_000_000;
  await assert.rejects(t.trainEpoch(huge, 1, { signal: ac.signal }), (e) => e.name === 'AbortError');
  clearInterval(tick);
  assert.equal(ticks, 5);
  assert.ok(t.step > 1 && t.step < huge, `step ${t.step}`);
  // The saved checkpoint holds the step reached; a new Trainer resumes there.
  const t2 = trainer(dir);
  await t2.trainStep();
  assert.equal(t2.step, t.step + 1);
  // An already aborted signal trains nothing.
  const before = t2.step;
  await assert.rejects(t2.trainEpoch(5, 0, { signal: AbortSignal.abort() }), (e) => e.name === 'AbortError');
  assert.equal(t2.step, before);
});

test('Loop.run stops on an AbortSignal and saves model.pkl.gz at the step reached', async () => {
  const dir = join(tmp, 'loop');
  const make = () => {
    const task = trax.supervised.training.TrainTask({
      labeledData: trax.data.reverseIntsTask(4, { length: 3, vocab: 16, seed: 0 }),
      lossLayer: trax.layers.CrossEntropyLoss(), optimizer: trax.optimizers.Adam(0.001), nStepsPerCheckpoint: 1_000_000,
    });
    return new trax.supervised.training.Loop(tiny('train'), [task], { outputDir: dir, randomSeed: 0, log: () => {} });
  };
  const loop = make();
  await loop.whenReady();
  const ac = new AbortController();
  let ticks = 0;
  const tick = setInterval(() => { if (++ticks === 5) ac.abort(); }, 1);
  await assert.rejects(loop.run(1_000_000, { signal: ac.signal }), (e) => e.name === 'AbortError');
  clearInterval(tick);
  assert.ok(loop.step > 1 && loop.step < 1_000_000, `step ${loop.step}`);
  const again = make();
  await again.whenReady();
  assert.equal(again.step, loop.step);
});

test('trainLM stops on an AbortSignal, keeps its steps, and resumes from them', async () => {
  const dir = join(tmp, 'lm');
  const text = join(tmp, 'text.txt');
  writeFileSync(text, 'the quick brown fox jumps over the lazy dog. '.repeat(200));
  const opts = { text, outputDir: dir, dModel: 16, dFF: 32, nLayers: 1, nHeads: 2, seqLen: 16, batchSize: 2, evalEvery: 1_000_000,
    evalBatches: 1, sampleLength: 0, log: () => {} };
  const ac = new AbortController();
  let steps = 0;
  await assert.rejects(trax.supervised.trainLM({ ...opts, steps: 1_000_000, signal: ac.signal,
    onStep: (s) => { steps = s; if (s === 7) ac.abort(); } }), (e) => e.name === 'AbortError');
  assert.equal(steps, 7);
  const r = await trax.supervised.trainLM({ ...opts, steps: 9 });
  assert.equal(r.resumed, true);
  assert.equal(r.evals[0].step, 7, 'resumed from the step reached when stopped');
  assert.equal(r.step, 9);
});

/** Runs the CLI, sends SIGINT once `ready` matches its output (count times, 50 ms apart), and collects the result. */
function interruptCli(args, ready, count = 1) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', sent = false;
    const kill = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no exit after SIGINT\n${out}\n${err}`)); }, 120_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (!sent && ready.test(out)) {
        sent = true;
        for (let i = 0; i < count; i++) setTimeout(() => child.kill('SIGINT'), 50 * i);
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, signal) => { clearTimeout(kill); resolve({ code, signal, out, err }); });
  });
}

test('Ctrl-C stops trax-ts train: it saves the step reached, exits 130, and the same command resumes there', async () => {
  const dir = join(tmp, 'cli-int');
  const args = ['train', '--task', 'reverse', '--output-dir', dir, '--eval-every', '100000', '--log-every', '5', '--no-safetensors'];
  const r = await interruptCli([...args, '--steps', '1000000'], /train step +\d+\//);
  assert.equal(r.code, 130, `exit ${r.code} ${r.signal}\n${r.out}\n${r.err}`);
  assert.match(r.err, /Interrupted: saving a checkpoint after this step/);
  const m = r.out.match(/Interrupted: saved step (\d+) to .*model\.pkl\.gz; run the same command again to resume\./);
  assert.ok(m, r.out);
  const step = Number(m[1]);
  assert.ok(step >= 5, `step ${step}`);
  const again = spawnSync(process.execPath, [MAIN, ...args, '--steps', String(step + 3)], { cwd: tmp, encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`resuming from step ${step} in`));
  assert.match(again.stdout, new RegExp(`Trained 3 steps .*; step ${step + 3}\\.`));
});

test('a second Ctrl-C exits at once; --task lm saves on the first one too', async () => {
  const dir = join(tmp, 'cli-int2');
  const r = await interruptCli(['train', '--task', 'copy', '--output-dir', dir, '--steps', '1000000', '--log-every', '5'], /train step +\d+\//, 2);
  assert.equal(r.code, 130, `exit ${r.code} ${r.signal}\n${r.out}\n${r.err}`);
  assert.doesNotMatch(r.err, /at .*\.js:\d+/, 'no stack trace');

  const text = join(tmp, 'text2.txt');
  writeFileSync(text, 'a small text to learn from, over and over. '.repeat(300));
  const lmDir = join(tmp, 'cli-lm');
  const lmArgs = ['train', '--task', 'lm', '--text', text, '--output-dir', lmDir, '--d-model', '16', '--d-ff', '32', '--n-layers', '1',
    '--n-heads', '2', '--seq-len', '16', '--batch-size', '2', '--eval-every', '100000', '--eval-steps', '1', '--log-every', '5', '-q'];
  const l = await interruptCli([...lmArgs.filter((a) => a !== '-q'), '--steps', '1000000'], /train step +\d+\/1000000 \| [\d.]+ steps\/s \| [\d,]+ tokens\/s \| loss [\d.]+ \| ETA/);
  assert.equal(l.code, 130, `exit ${l.code}\n${l.out}\n${l.err}`);
  const m = l.out.match(/Interrupted: saved step (\d+) to /);
  assert.ok(m, l.out);
  assert.ok(existsSync(join(lmDir, 'model.pkl.gz')));
  const again = spawnSync(process.execPath, [MAIN, ...lmArgs, '--steps', String(Number(m[1]) + 2)], { cwd: tmp, encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`Done: step ${Number(m[1]) + 2},.*\\(resumed\\)`));
});
