// A language-model run folder (train --task lm / trainLM) works with every
// command, or gets an exact reason: show builds the model its lm.json
// records, attention reads text with the folder's tokenizer, train refuses
// to mix toy-task and language-model runs, and report shows text as text with
// attention maps scaled to long inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as trax from '../dist/src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(root, 'dist', 'src', 'apps', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'trax-ts-lmdir-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function cli(...args) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function ok(r) {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.out}\n${r.err}`);
  return r.out;
}

const lmDir = join(tmp, 'lm');
const LONG = 'Call me Ishmael. Some years ago, never mind how long precisely, having little';
let nParams = 0;

test('setup: a small character model with four heads', async () => {
  const text = join(tmp, 'text.txt');
  writeFileSync(text, `${LONG}\n`.repeat(60));
  const r = await trax.supervised.trainLM({ text, outputDir: lmDir, dModel: 16, dFF: 32, nLayers: 1, nHeads: 4, seqLen: 16, batchSize: 2,
    steps: 4, evalEvery: 4, evalBatches: 1, sampleLength: 0, log: () => {} });
  nParams = r.params;
});

test('show builds the model lm.json records and loads its weights', () => {
  const out = ok(cli('show', '--checkpoint', lmDir, '--no-tree'));
  assert.match(out, /dModel=16, dFF=32, nLayers=1, nHeads=4/);
  assert.match(out, /weights: language model in .*, step 4/);
  assert.match(out, new RegExp(`Total number of trainable weights: ${nParams.toLocaleString('en-US')} in`));
  for (const f of ['model.pkl.gz', 'model.safetensors']) {
    const file = join(lmDir, f);
    if (f === 'model.safetensors') ok(cli('train', '--task', 'lm', '--text', join(tmp, 'text.txt'), '--output-dir', lmDir, '--steps', '4', '--seed', '0', '-q'));
    assert.match(ok(cli('show', '--checkpoint', file, '--no-tree', '--no-weights')), /dModel=16, dFF=32, nLayers=1, nHeads=4/, f);
  }
});

test('attention reads --input as text with the folder\'s tokenizer; long inputs fit and label every n-th token', () => {
  const svgFile = join(tmp, 'att.svg');
  const out = ok(cli('attention', '--checkpoint', lmDir, '--input', LONG, '--svg', svgFile));
  assert.match(out, new RegExp(`1 attention layers x 4 heads over ${LONG.length} tokens`));
  const svg = readFileSync(svgFile, 'utf8');
  const width = Number(svg.match(/<svg[^>]*width="([\d.]+)"/)[1]);
  assert.ok(width <= 1600, `drawing is ${width} px wide`);
  assert.match(svg, /Ishmael|I\)/);
  const ticks = (svg.match(/font-size="7"[^>]*fill="#475569"/g) ?? []).length;
  assert.ok(ticks > 0 && ticks < 2 * LONG.length * 4, `${ticks} tick labels for ${LONG.length} tokens x 4 heads`);
  const r = cli('attention', '--checkpoint', lmDir, '--input', 'Zebra!', '--svg', svgFile);
  assert.equal(r.code, 1);
  assert.match(r.err, /--input has 3 characters outside the model's/);
  assert.equal(cli('attention', '--checkpoint', lmDir, '--input', 'Call', '--tokenizer', 'char').code, 2);
});

test('train refuses to mix a language-model folder and a toy-task folder', () => {
  const r = cli('train', '--task', 'reverse', '--output-dir', lmDir, '--steps', '10');
  assert.equal(r.code, 2);
  assert.match(r.err, /holds a language model \(--task lm\); train it with --task lm or use another --output-dir/);
  const rv = join(tmp, 'rv');
  ok(cli('train', '--task', 'reverse', '--output-dir', rv, '--steps', '2', '--eval-every', '2', '-q', '--no-safetensors'));
  const r2 = cli('train', '--task', 'lm', '--text', join(tmp, 'text.txt'), '--output-dir', rv, '--steps', '2');
  assert.equal(r2.code, 2);
  assert.match(r2.err, /holds a reverse-task model, not a language model/);
});

test('report shows character text as text, and attention maps no wider than the page', () => {
  ok(cli('report', lmDir, '--prompt', 'Call me Ishmael. Some years ago'));
  const html = readFileSync(join(lmDir, 'report.html'), 'utf8');
  assert.match(html, /<span class="text">Call me Ishmael\. Some years ago<\/span>/);
  assert.doesNotMatch(html, /C a l l/);
  const att = html.slice(html.indexOf('id="attention"'));
  const width = Number(att.match(/<svg[^>]*width="([\d.]+)"/)[1]);
  assert.ok(width <= 1290, `attention figure is ${width} px wide`);
  assert.match(att, /␣/, 'spaces are visible in the axis labels');
});
