// Run folders survive kills and concurrent writers: atomic config.json with
// the checkpoint's copy as fallback, one writer at a time (the second is
// refused naming the holder's pid; a dead holder's lock is taken over),
// unique temp names, metrics cut back on resume, chunked writes for large
// checkpoints, bounded resume counters; and kill -9 at random moments always
// leaves a folder that `train` resumes and `predict` reads.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  LOCK_FILE, lockRunFolder, releaseRunFolder, tempPathFor, trimMetrics, writeFileAtomicSync,
} from '../dist/src/io/run_folder.js';
import { readTraxCheckpointSync } from '../dist/src/io/trax_checkpoint.js';
import { writePickle } from '../dist/src/io/pickle_writer.js';
import { checkDataCounters } from '../dist/src/training/resume.js';
import { rng } from './helpers/fuzz_mutate.mjs';

const CLI = new URL('../dist/src/apps/cli/main.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'trax-ts-runfolder-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const TINY = ['--task', 'reverse', '--length', '2', '--vocab-size', '8', '--d-model', '8', '--d-ff', '16', '--n-layers', '1',
  '--n-heads', '2', '--max-len', '8', '--batch-size', '4', '--eval-steps', '1', '--quiet', '--no-safetensors'];

function cli(args, opts = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120000, ...opts });
}

/** A process that has exited: its pid is free (for a stale lock). */
function deadPid() {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('item 9: temp names are unique per process and write', () => {
  const a = tempPathFor('/x/model.pkl.gz'), b = tempPathFor('/x/model.pkl.gz');
  assert.notEqual(a, b);
  assert.ok(a.includes(`.${process.pid}-`) && a.endsWith('._tmp_'));
});

test('item 10: writes go out in chunks (as for checkpoints of 2 GiB and more); a failed write keeps the old file', () => {
  const p = join(work, 'chunked.bin');
  const data = Buffer.alloc(10_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  writeFileAtomicSync(p, data, { chunkBytes: 999 });
  assert.deepEqual(readFileSync(p), data);
  // A write that fails after its first chunk (a full disk): the previous file stays, no temp file is left.
  class FailingAfterFirstChunk extends Uint8Array {
    subarray(a, b) { if (a > 0) throw new Error('no space left on device'); return super.subarray(a, b); }
  }
  assert.throws(() => writeFileAtomicSync(p, new FailingAfterFirstChunk(4096), { chunkBytes: 1000 }), /no space left/);
  assert.deepEqual(readFileSync(p), data);
  assert.deepEqual(readdirSync(work).filter((f) => f.endsWith('._tmp_')), []);
});

test('item 9: the folder lock is re-entrant in a process, refuses another process naming the pid, and a dead holder\'s lock is taken over', () => {
  const dir = join(work, 'locked');
  lockRunFolder(dir, 'test');
  lockRunFolder(dir, 'test');
  assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  const code = `import('${new URL('../dist/src/io/run_folder.js', import.meta.url).href}').then((m) => m.lockRunFolder(process.argv[1], 'second'))`;
  const r = spawnSync(process.execPath, ['-e', code, dir], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`second: .*locked is in use by process ${process.pid}`));
  releaseRunFolder(dir);
  assert.ok(existsSync(join(dir, LOCK_FILE)), 'still held once');
  releaseRunFolder(dir);
  assert.ok(!existsSync(join(dir, LOCK_FILE)));
  // A stale lock and a stale temp file from a killed process.
  const dead = deadPid();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, host: hostname(), since: 'then' }));
  writeFileSync(join(dir, `model.pkl.gz.${dead}-3._tmp_`), 'partial');
  lockRunFolder(dir, 'test');
  assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('._tmp_')), []);
  releaseRunFolder(dir);
});

test('item 9: metrics are cut back to the resumed step (and a torn last line dropped)', () => {
  const dir = join(work, 'metrics');
  lockRunFolder(dir);
  const line = (step) => JSON.stringify({ step, mode: 'train', metric: 'training/loss', value: 1 });
  writeFileSync(join(dir, 'metrics.jsonl'), [line(1), line(2), line(3), line(4)].join('\n') + '\n{"step": 5, "mo');
  trimMetrics(dir, 2);
  assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), `${line(1)}\n${line(2)}\n`);
  releaseRunFolder(dir);
});

test('item 7: resume counters are bounded by the step; a checkpoint claiming 10^12 batches is refused at once', () => {
  assert.deepEqual(checkDataCounters({ train: 11, eval: 4, trainEval: 4 }, 10, 'f'), { train: 11, eval: 4, trainEval: 4 });
  assert.throws(() => checkDataCounters({ train: 1e12, eval: 0, trainEval: 0 }, 10, 'x.pkl.gz'), /x\.pkl\.gz: trax_ts\.data_counters\.train is 1000000000000/);
  assert.throws(() => checkDataCounters({ train: 1, eval: -1 }, 10, 'f'), /data_counters\.eval is -1/);
  assert.throws(() => checkDataCounters({ train: 1 }, 1e12, 'f'), /step 1000000000000 is beyond/);
  // Through the command line: a real run's checkpoint with its counters forged.
  const dir = join(work, 'counters');
  let r = cli(['train', ...TINY, '--steps', '2', '--eval-every', '2', '--output-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  const ck = readTraxCheckpointSync(join(dir, 'model.pkl.gz'));
  /** @type {any} */ (ck.raw).trax_ts.data_counters.train = 1e12;
  writeFileSync(join(dir, 'model.pkl.gz'), gzipSync(writePickle(ck.raw)));
  const t0 = performance.now();
  r = cli(['train', ...TINY, '--steps', '4', '--eval-every', '2', '--output-dir', dir]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /model\.pkl\.gz: trax_ts\.data_counters\.train is 1000000000000/);
  assert.ok(performance.now() - t0 < 60000);
});

test('item 8: config.json is written atomically; when it is unreadable the checkpoint\'s copy is used with a warning', () => {
  const dir = join(work, 'config');
  let r = cli(['train', ...TINY, '--steps', '2', '--eval-every', '1', '--output-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readdirSync(dir).every((f) => !f.endsWith('._tmp_')));
  const good = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), '');
  r = cli(['predict', '--checkpoint', dir, '--prompt', '0,1,2,0']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: .*config\.json is not valid JSON.*using the run configuration stored in model\.pkl\.gz/);
  r = cli(['train', ...TINY, '--steps', '3', '--eval-every', '1', '--output-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /resuming from step 2/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), good);
});

function startTrain(dir, steps, extra = []) {
  /** @typedef {{ out: string, err: string, done: Promise<{ code: number | null, signal: NodeJS.Signals | null }> }} TrainExtras */
  const child = /** @type {import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, import('node:stream').Readable> & TrainExtras} */ (
    spawn(process.execPath, [CLI, 'train', ...TINY, '--steps', String(steps), '--eval-every', '1', '--output-dir', dir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] }));
  child.out = '';
  child.err = '';
  child.stdout.on('data', (d) => { child.out += d; });
  child.stderr.on('data', (d) => { child.err += d; });
  child.done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return child;
}

async function waitFor(child, re, ms = 60000) {
  const t0 = Date.now();
  while (!re.test(child.out)) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re}: ${child.out} ${child.err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('two writers: the second `train` on a folder is refused naming the first one\'s pid; after a kill -9 the folder is taken over', async () => {
  const dir = join(work, 'two');
  const first = startTrain(dir, 100000);
  try {
    await waitFor(first, /Step\s+\d+: Ran/);
    const second = cli(['train', ...TINY, '--steps', '10', '--eval-every', '1', '--output-dir', dir]);
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`trax-ts train: error: trax-ts train: .*two is in use by process ${first.pid}`));
    const pred = cli(['predict', '--checkpoint', dir, '--prompt', '0,1,2,0']);
    assert.equal(pred.status, 0, 'readers are not refused: ' + pred.stderr);
  } finally {
    first.kill('SIGKILL');
    await first.done;
  }
  const third = cli(['train', ...TINY, '--steps', '3', '--eval-every', '1', '--output-dir', dir]);
  assert.equal(third.status, 0, third.stderr);
  assert.ok(!existsSync(join(dir, LOCK_FILE)), 'released at exit');
});

test('kill -9 at random moments (start-up and saves included) always leaves a folder that train resumes and predict reads', async () => {
  const dir = join(work, 'kills');
  const r = rng(20261204);
  const STEPS = 60;
  let lastStep = -1;
  for (let i = 0; i < 10; i++) {
    const child = startTrain(dir, STEPS);
    // Half the kills land in start-up (before or while the first files are written), half while training and saving.
    const delay = i % 2 === 0 ? Math.floor(r() * 1500) : null;
    if (delay === null) await waitFor(child, /resuming from step|output dir/).catch(() => {});
    await new Promise((res) => setTimeout(res, delay ?? Math.floor(r() * 800)));
    child.kill('SIGKILL');
    await child.done;
    assert.equal(child.err.replace(/warning: [^\n]*\n/g, ''), '', `run ${i} wrote errors`);
    if (existsSync(join(dir, 'model.pkl.gz'))) {
      const step = readTraxCheckpointSync(join(dir, 'model.pkl.gz')).step;
      assert.ok(step >= lastStep, `step went back from ${lastStep} to ${step}`);
      lastStep = step;
      const p = cli(['predict', '--checkpoint', dir, '--prompt', '0,1,2,0']);
      assert.equal(p.status, 0, `predict after kill ${i}: ${p.stderr}`);
    }
  }
  const fin = cli(['train', ...TINY, '--steps', String(STEPS), '--eval-every', '1', '--output-dir', dir]);
  assert.equal(fin.status, 0, fin.stderr);
  assert.equal(readTraxCheckpointSync(join(dir, 'model.pkl.gz')).step, STEPS);
  assert.equal(cli(['predict', '--checkpoint', dir, '--prompt', '0,1,2,0']).status, 0);
  // Every metric of every step is recorded once.
  const seen = new Set();
  for (const line of readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const o = JSON.parse(line);
    const key = `${o.step} ${o.mode} ${o.metric}`;
    assert.ok(!seen.has(key), `duplicate metrics line ${key}`);
    seen.add(key);
  }
  assert.ok(seen.has(`${STEPS} train training/loss`));
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('._tmp_') || f.startsWith('.lock')), []);
});

test('item 5: a run folder whose config.json does not fit its checkpoint is refused before any model is built', () => {
  const dir = join(work, 'badconfig');
  let r = cli(['train', ...TINY, '--steps', '1', '--eval-every', '1', '--output-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  for (const [key, value, re] of /** @type {Array<[string, number, RegExp]>} */ ([['nLayers', 1000, /needs 16006 weight arrays/], ['dModel', 65536, /needs an embedding of 524288 values/], ['nLayers', 100000, /config\.nLayers is 100000/]])) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, config: { ...cfg.config, [key]: value, nHeads: 1 } }));
    for (const args of [['train', ...TINY.filter((a, i, all) => !['--n-layers', '--d-model', '--n-heads'].includes(a) && !['--n-layers', '--d-model', '--n-heads'].includes(all[i - 1])), '--steps', '2', '--output-dir', dir],
      ['predict', '--checkpoint', dir, '--prompt', '0,1,2,0'], ['report', dir]]) {
      const t0 = performance.now();
      r = cli(args);
      assert.notEqual(r.status, 0, `${args[0]} accepted ${key} ${value}`);
      assert.match(r.stderr, re, `${args[0]}: ${r.stderr}`);
      assert.ok(r.stderr.includes('config.json'), r.stderr);
      assert.ok(performance.now() - t0 < 30000);
    }
  }
});

test('item 5: a language-model folder whose lm.json does not fit its weights is refused before any model is built', () => {
  const dir = join(work, 'lm');
  const text = join(work, 'text.txt');
  writeFileSync(text, 'the cat sat on the mat. '.repeat(40));
  let r = cli(['train', '--task', 'lm', '--text', text, '--steps', '1', '--eval-every', '1', '--eval-steps', '1', '--seq-len', '8', '--batch-size', '2',
    '--d-model', '8', '--d-ff', '16', '--n-layers', '1', '--n-heads', '2', '--max-len', '16', '--quiet', '--output-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  const f = JSON.parse(readFileSync(join(dir, 'lm.json'), 'utf8'));
  for (const [key, value, re] of /** @type {Array<[string, number, RegExp]>} */ ([['nLayers', 1000, /config\.nLayers 1000 does not fit/], ['maxLen', 1e9, /config\.maxLen 1000000000 does not fit/]])) {
    writeFileSync(join(dir, 'lm.json'), JSON.stringify({ ...f, config: { ...f.config, [key]: value } }));
    const t0 = performance.now();
    r = cli(['sample', '--checkpoint', dir, '--prompt', 'the', '--length', '4', '--seed', '1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, re);
    assert.ok(r.stderr.includes('lm.json'), r.stderr);
    assert.ok(performance.now() - t0 < 30000);
  }
});
