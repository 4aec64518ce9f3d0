// Regression tests for hostile files: each class of small file that once
// crashed, hung or bloated a loader now fails fast with an error naming the
// file (and the field), in a child process limited to 256 MB and 2 s a file.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as trax from '../dist/src/index.js';
import '../dist/src/io/model_io.js';
import { ShapeDtype } from '../dist/src/shapes.js';
import { unpickle } from '../dist/src/io/pickle.js';
import { readTraxCheckpointSync } from '../dist/src/io/trax_checkpoint.js';
import { SentencePieceProcessor } from '../dist/src/data/tokenizers/index.js';
import { MEMORY_MB, runLoadChild } from './helpers/hostile_child.mjs';

const HOSTILE = new URL('./fixtures/hostile/', import.meta.url).pathname;
const CLI = new URL('../dist/src/apps/cli/main.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'trax-ts-hostile-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

// --- pickle builders (protocol 2 opcodes written by hand) ---
const PROTO2 = [0x80, 0x02];
const str = (s) => [0x8c, s.length, ...Buffer.from(s)];
const binput = (i) => [0x71, i];
const binget = (i) => [0x68, i];

/** {'flat_weights': L40} where L(k) = [L(k-1), L(k-1)] shares one list through the memo: 2**levels leaves. */
function memoDoubling(levels) {
  const b = [...PROTO2, 0x7d, ...str('flat_weights'), 0x5d, 0x4e, 0x61, ...binput(0)];
  for (let k = 1; k <= levels; k++) b.push(0x30, 0x28, ...binget(k - 1), ...binget(k - 1), 0x6c, ...binput(k));
  b.push(0x73, 0x2e);
  return Buffer.from(b);
}

/** A LONG1/LONG4 integer of n bytes. */
function longPickle(n, fill = 0x5a) {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(n);
  return Buffer.from([...PROTO2, 0x8b, ...len, ...Buffer.alloc(n, fill), 0x2e]);
}

/** @param {import('../dist/src/layers/base.js').Mode} [mode] */
function tinyModel(mode = 'predict') {
  return trax.models.TransformerLM({ vocabSize: 8, dModel: 4, dFF: 8, nLayers: 1, nHeads: 1, maxLen: 8, mode });
}

test('item 1: memo sharing 40 levels deep is refused before anything is expanded, naming the file', () => {
  const p = join(work, 'memo40.pkl.gz');
  writeFileSync(p, gzipSync(memoDoubling(40)));
  assert.ok(statSync(p).size < 1000);
  const t0 = performance.now();
  assert.throws(() => readTraxCheckpointSync(p), (/** @type {Error} */ e) => e.message.includes(p) && /flat_weights.*shared references.*limit/.test(e.message));
  assert.throws(() => tinyModel().initFromFile(p), (/** @type {Error} */ e) => e.message.includes(p));
  assert.throws(() => readTraxCheckpointSync(join(HOSTILE, 'memo_doubling_24.pkl.gz')), /memo_doubling_24\.pkl\.gz: flat_weights/);
  assert.ok(performance.now() - t0 < 2000);
  // Shared references stay shared: a small sharing tree within the limits loads as references.
  const shared = /** @type {any} */ (unpickle(memoDoubling(3)));
  assert.equal(shared.flat_weights[0], shared.flat_weights[1]);
});

test('item 2: big integers decode in linear time and are capped', () => {
  const t0 = performance.now();
  const v = unpickle(longPickle(1000, 0x11));
  assert.equal(typeof v, 'bigint');
  assert.equal(v, BigInt('0x' + '11'.repeat(1000)));
  assert.equal(unpickle(Buffer.from([...PROTO2, 0x8a, 2, 0xff, 0xff, 0x2e])), -1);
  assert.equal(unpickle(Buffer.from([...PROTO2, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x2e])), 2n ** 64n);
  assert.throws(() => unpickle(longPickle(100_000)), /integer of 100000 bytes .*at most 1024/);
  assert.throws(() => readTraxCheckpointSync(join(HOSTILE, 'long4_100000.pkl.gz')), /long4_100000\.pkl\.gz: integer of 100000 bytes/);
  assert.ok(performance.now() - t0 < 1000);
});

test('item 3: a pickle object that contains itself is refused, naming the file and where', () => {
  const p = join(HOSTILE, 'cycle_flat_weights.pkl.gz');
  assert.throws(() => readTraxCheckpointSync(p), (/** @type {Error} */ e) => e.message.includes(p) && /flat_weights\[0\] contains itself/.test(e.message));
  // A dict that holds itself, elsewhere in the checkpoint.
  const withMark = Buffer.from([...PROTO2, 0x7d, ...binput(0), 0x28, ...str('flat_weights'), 0x5d, ...str('history'), ...binget(0), 0x75, 0x2e]);
  const q = join(work, 'cycle_dict.pkl.gz');
  writeFileSync(q, gzipSync(withMark));
  assert.throws(() => readTraxCheckpointSync(q), (/** @type {Error} */ e) => e.message.includes(q) && /checkpoint\.history contains itself/.test(e.message));
});

test('item 4: gzip bombs stop at the decompression cap; maxBytes raises it', () => {
  const p = join(work, 'bomb.pkl.gz');
  writeFileSync(p, gzipSync(Buffer.alloc(200 * 2 ** 20), { level: 9 }));
  assert.ok(statSync(p).size < 1 << 20);
  assert.throws(() => readTraxCheckpointSync(p), (/** @type {Error} */ e) => e.message.includes(p) && /decompressed data exceeds the load limit of 33554432 bytes/.test(e.message));
  // A trusted file may be larger: the option lets it through to the next check.
  assert.throws(() => readTraxCheckpointSync(p, { maxBytes: 300 * 2 ** 20 }), /pickle|opcode/);
});

test('item 5: stored signature and config are checked against the weights before anything is built', () => {
  const sig = join(HOSTILE, 'tiny_input_signature_4096x2048.safetensors');
  assert.throws(() => tinyModel().initFromFile(sig), (/** @type {Error} */ e) => e.message.includes(sig) && /input_signature\.shape \[4096, 2048\]/.test(e.message));
  const bad = join(HOSTILE, 'tiny_bad_config_json.safetensors');
  assert.throws(() => tinyModel().initFromFile(bad, { inputSignature: new ShapeDtype([1, 1], 'int32') }),
    (/** @type {Error} */ e) => e.message.includes(bad) && /metadata field config is not valid JSON/.test(e.message));
  // The CLI: a config that would build a huge model, a name off the registry, malformed JSON.
  const m = tinyModel();
  m.init(new ShapeDtype([1, 1], 'int32'));
  /** @type {Array<[Record<string, unknown>, RegExp]>} */
  const cases = [
    [{ model: 'TransformerLM', vocabSize: 8, dModel: 4, dFF: 8, nLayers: 100000, nHeads: 1, maxLen: 8 }, /config\.nLayers is 100000/],
    [{ model: 'TransformerLM', vocabSize: 1000000, dModel: 512, dFF: 8, nLayers: 1, nHeads: 1, maxLen: 8 }, /needs an embedding of 512000000 values/],
    [{ model: 'constructor', vocabSize: 8 }, /config\.model "constructor" is not a model/],
    [{ model: 'TransformerLM', vocabSize: 8, dModel: 4, dFF: 8, nLayers: 1, nHeads: 1, maxLen: 8, __proto__x: 1 }, /config\.__proto__x is not a model setting/],
  ];
  for (const [i, [config, re]] of cases.entries()) {
    const p = join(work, `cfg${i}.safetensors`);
    m.saveToFile(p, { config, inputSignature: new ShapeDtype([1, 1], 'int32') });
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [`--max-old-space-size=${MEMORY_MB}`, CLI, 'predict', '--checkpoint', p, '--prompt', '1,2'], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.ok(r.stderr.includes(p), r.stderr);
    assert.ok(performance.now() - t0 < 15000);
  }
  for (const f of ['cfg_vocab_1e6_d512.safetensors', 'tiny_bad_config_json.safetensors', 'tiny_input_signature_4096x2048.safetensors']) {
    const r = spawnSync(process.execPath, [`--max-old-space-size=${MEMORY_MB}`, CLI, 'predict', '--checkpoint', join(HOSTILE, f), '--prompt', '1,2'], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
    assert.ok(r.stderr.includes(f) && !/TypeError|SyntaxError|\n\s+at /.test(r.stderr), r.stderr);
  }
});

test('item 6: SentencePiece models that would loop are refused at load; encode always ends', () => {
  const p = join(HOSTILE, 'empty_user_defined_piece_22B.model');
  assert.throws(() => SentencePieceProcessor.load(p), (/** @type {Error} */ e) => e.message.includes(p) && /piece 1 is empty/.test(e.message));
  const tok = trax.data.Tokenize({ vocabType: 'sentencepiece', vocabFile: p });
  assert.throws(() => [...tok([['a']])], (/** @type {Error} */ e) => e.message.includes(p));
  // The real model still loads and encodes.
  const real = SentencePieceProcessor.load(new URL('./fixtures/trax/sentencepiece.model', import.meta.url).pathname);
  assert.ok(real.encode('a').length > 0);
});

test('every hostile fixture, and any file under 1 MB, loads or fails within 2 s and 256 MB', async () => {
  const args = [];
  for (const f of readdirSync(HOSTILE)) {
    if (f.endsWith('.md')) continue;
    assert.ok(statSync(join(HOSTILE, f)).size < 1 << 20);
    const loader = f.endsWith('.model') ? 'sentencepiece' : f.endsWith('.safetensors') ? 'safetensors' : 'pickle';
    args.push(loader, join(HOSTILE, f));
  }
  const bomb = join(work, 'bomb2.pkl.gz');
  writeFileSync(bomb, gzipSync(Buffer.alloc(100 * 2 ** 20, 0x4e), { level: 9 }));
  const memo = join(work, 'memo40b.pkl.gz');
  writeFileSync(memo, gzipSync(memoDoubling(40)));
  const long = join(work, 'long.pkl');
  writeFileSync(long, longPickle(900_000));
  args.push('pickle', bomb, 'pickle', memo, 'pickle', long);
  const { results, maxRss } = await runLoadChild(['files', ...args]);
  assert.equal(results.length, args.length / 2);
  for (const r of results) {
    assert.equal(r.outcome, 'error', `${args[2 * r.i + 1]}: ${r.outcome}`);
    assert.ok(r.ms < 2000, `${args[2 * r.i + 1]} took ${r.ms} ms`);
  }
  assert.ok(maxRss < MEMORY_MB * 2 ** 20, `peak RSS ${(maxRss / 2 ** 20).toFixed(0)} MB`);
});
