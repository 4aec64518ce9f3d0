// The examples in examples/ run to completion (training ones with short step
// counts) and print what the quick-start shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const example = (name) => join(root, 'dist', 'examples', `${name}.js`);

test('examples/sort-pretrained: the quick-start\'s first cell gives [[3, 9, 14, 15]]', async () => {
  const { stdout } = await run(process.execPath, [example('sort-pretrained')], { cwd: root });
  assert.match(stdout, /output: \[\[3, 9, 14, 15\]\]/);
  assert.match(stdout, /\[30, 1, 22, 7\] -> \[1, 7, 22, 30\]/);
});

test('examples/reverse-train: trains with Trainer (short) and decodes from the saved checkpoint', async () => {
  const { stdout } = await run(process.execPath, [example('reverse-train'), '20'], { cwd: root, timeout: 300_000 });
  assert.match(stdout, /Step     20: Ran 20 train steps in [\d.]+ secs/);
  assert.match(stdout, /Step     60: eval  weights_per_batch_per_core \|  64\.00000000/);
  assert.match(stdout, /output: \[\[\d+, \d+, \d+, \d+\]\]/);
});

test('examples/reverse-train: the step count can come from TRAX_EXAMPLE_STEPS', async () => {
  const { stdout } = await run(process.execPath, [example('reverse-train')], {
    cwd: root, timeout: 300_000, env: { ...process.env, TRAX_EXAMPLE_STEPS: '5' },
  });
  assert.match(stdout, /Step     15: Finished evaluation/);
});

test('examples/inside-the-model: the tree, 38 weight arrays and 93,088 weights', async () => {
  const { stdout } = await run(process.execPath, [example('inside-the-model')], { cwd: root });
  assert.match(stdout, /^Serial\[\n  ShiftRight\(1\)\n  Embedding_32_32/);
  assert.match(stdout, /DotProductCausalAttention_in3/);
  assert.match(stdout, /\n  1  PositionalEncoding\s+\(2048, 32\)\s+65536\n/);
  assert.match(stdout, /Total number of trainable weights: 93,088 in 38 arrays/);
});
