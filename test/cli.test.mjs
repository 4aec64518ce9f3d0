// The trax-ts command: help, flag validation (exit code 2), train with resume
// in a temporary directory, predict/sample from pickle and safetensors, show,
// attention, report, the quick-start (short) and language-model training.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(root, 'dist', 'src', 'apps', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'trax-ts-cli-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function cli(...args) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function ok(r) {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.out}\nstderr:\n${r.err}`);
  return r.out;
}

function usage(r, pattern) {
  assert.equal(r.code, 2, `expected exit 2, got ${r.code}\nstdout:\n${r.out}\nstderr:\n${r.err}`);
  assert.match(r.err, pattern);
  assert.match(r.err, /Run 'trax-ts( \w+)? --help' for usage\./);
}

test('the bin entry points at the compiled main, which starts with a shebang', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.bin['trax-ts'], './dist/src/apps/cli/main.js');
  assert.match(readFileSync(MAIN, 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

test('--help lists the commands; each command has its own help', () => {
  const out = ok(cli('--help'));
  for (const c of ['quickstart', 'train', 'predict', 'sample', 'show', 'attention', 'report']) assert.match(out, new RegExp(`\\n  ${c} `));
  assert.equal(ok(cli()), out);
  const train = ok(cli('train', '--help'));
  for (const f of ['--task', '--d-model', '--d-ff', '--n-layers', '--n-heads', '--optimizer', '--lr', '--schedule', '--steps', '--eval-every', '--output-dir', '--seed']) {
    assert.ok(train.includes(f), `train --help lacks ${f}`);
  }
  assert.match(ok(cli('help', 'predict')), /Usage: trax-ts predict --checkpoint PATH/);
  assert.match(ok(cli('sample', '-h')), /--temperature X/);
  assert.match(ok(cli('show', '--help')), /--summary/);
  assert.match(ok(cli('quickstart', '--help')), /--steps-per-epoch N/);
  assert.match(ok(cli('--version')), /^\d+\.\d+\.\d+\n$/);
});

test('unknown commands and flags, and bad values, exit 2 saying what was expected', () => {
  usage(cli('trian'), /unknown command 'trian' \(did you mean 'train'\?\)/);
  usage(cli('train', '--stepz', '3'), /trax-ts train: error: unknown flag --stepz \(did you mean --steps\?\)/);
  usage(cli('train', '--steps', 'abc'), /--steps expects a non-negative integer, got "abc"/);
  usage(cli('train', '--steps'), /--steps expects a non-negative integer, but no value was given/);
  usage(cli('train', '--lr', '0'), /--lr expects a number > 0, got "0"/);
  usage(cli('train', '--optimizer', 'adamw'), /--optimizer expects one of adafactor, adam, sgd, momentum, rmsprop, sm3, got "adamw"/);
  usage(cli('train', '--task', 'translate'), /--task expects one of reverse, sort, copy, lm/);
  usage(cli('train', '--d-model', '30', '--n-heads', '8', '--output-dir', join(tmp, 'never')), /--d-model 30 must be divisible by --n-heads 8/);
  usage(cli('train', 'extra'), /unexpected argument "extra"/);
  usage(cli('train', '--fresh=maybe'), /--fresh is a switch/);
  usage(cli('sample', '--checkpoint', 'sort-transformer', '--temperature', '-1'), /--temperature expects a number >= 0, got "-1"/);
  usage(cli('sample', '--checkpoint', 'sort-transformer', '--top-p', '1.5'), /--top-p expects a number in 0\.\.1, got "1\.5"/);
  usage(cli('predict', '--prompt', '0,1'), /--checkpoint is required/);
  usage(cli('predict', '--checkpoint', 'sort-transformer', '--prompt', '0,x,2'), /--prompt expects integers separated by commas or spaces/);
  usage(cli('predict', '--checkpoint', 'sort-transformer', '--prompt', '0,40,2'), /token 40 is outside the model's vocabulary \(0\.\.31\)/);
  usage(cli('predict', '--checkpoint', join(tmp, 'missing-dir')), /no such file or directory/);
  usage(cli('quickstart', '--acts', '1,4'), /--acts expects act numbers 1, 2, 3/);
  usage(cli('--bogus'), /expected a command before flags/);
});

test('predict with the shipped sort model', () => {
  assert.equal(ok(cli('predict', '--checkpoint', 'sort-transformer', '--prompt', '0,3,14,15,9,0')), '[3, 9, 14, 15]\n');
  assert.equal(ok(cli('predict', '--checkpoint', 'pretrained:sort-transformer', '--prompt', '[0, 30, 1, 22, 7, 0]', '--json')),
    '{"prompt":"[0, 30, 1, 22, 7, 0]","tokens":[1,7,22,30]}\n');
  const beams = ok(cli('sample', '--checkpoint', 'sort-transformer', '--prompt', '0,3,14,15,9,0', '--beam-size', '3'));
  assert.match(beams, /beam 1: \[3, 9, 14, 15\]  \(log-prob -\d+\.\d+\)/);
  assert.match(beams, /beam 3: /);
});

test('train, resume, and decode from the checkpoint (pickle and safetensors)', () => {
  const dir = join(tmp, 'reverse');
  const first = ok(cli('train', '--task', 'reverse', '--output-dir', dir, '--steps', '20', '--eval-every', '10', '--eval-steps', '1', '--log-every', '5'));
  assert.match(first, /Step     10: Ran 10 train steps in [\d.]+ secs\n/);
  assert.match(first, /Step     20: eval                    accuracy \| /);
  assert.match(first, /Step     20: Finished evaluation/);
  assert.match(first, /train step 15\/20 \| [\d.]+ steps\/s \| loss \d+\.\d+ \| ETA \S+/);
  assert.match(first, /Trained 20 steps/);
  assert.match(first, /loss \d+\.\d+ \S+ \d+\.\d+\n/); // the sparkline
  for (const f of ['model.pkl.gz', 'model.safetensors', 'config.json', 'metrics.jsonl']) assert.ok(existsSync(join(dir, f)), f);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(config.task, 'reverse');
  assert.equal(config.config.dModel, 32);

  // Resume: continues from step 20 to 30 with the same data position.
  const second = ok(cli('train', '--task', 'reverse', '--output-dir', dir, '--steps', '30', '--eval-every', '10', '--eval-steps', '1'));
  assert.match(second, /resuming from step 20/);
  assert.match(second, /Step     30: Ran 10 train steps/);
  assert.doesNotMatch(second, /Step     10:/);
  assert.match(ok(cli('train', '--output-dir', dir, '--steps', '30')), /Already at step 30 \(--steps 30\): nothing to train/);
  usage(cli('train', '--output-dir', dir, '--steps', '40', '--d-model', '64'), /--d-model 64 does not match the checkpoint being resumed \(--d-model 32\); use --fresh/);
  usage(cli('train', '--output-dir', dir, '--steps', '40', '--task', 'sort'), /--task sort does not match/);
  const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual([...new Set(metrics.filter((m) => m.metric === 'training/loss').map((m) => m.step))], [10, 20, 30]);

  const fromDir = ok(cli('predict', '--checkpoint', dir, '--prompt', '0,4,6,8,10,0'));
  assert.match(fromDir, /^\[\d+, \d+, \d+, \d+\]\n$/);
  assert.equal(ok(cli('predict', '--checkpoint', join(dir, 'model.pkl.gz'), '--prompt', '0,4,6,8,10,0')), fromDir);
  assert.equal(ok(cli('predict', '--checkpoint', join(dir, 'model.safetensors'), '--prompt', '0,4,6,8,10,0')), fromDir);
  const s1 = ok(cli('sample', '--checkpoint', dir, '--prompt', '0,4,6,8,10,0', '--prompt', '0,1,2,3,4,0', '--seed', '7', '--temperature', '1', '--top-k', '8'));
  assert.equal(ok(cli('sample', '--checkpoint', join(dir, 'model.safetensors'), '--prompt', '0,4,6,8,10,0', '--prompt', '0,1,2,3,4,0', '--seed', '7', '--temperature', '1', '--top-k', '8')), s1);
  assert.match(s1, /^0,4,6,8,10,0 -> \[\d+, \d+, \d+, \d+\]\n0,1,2,3,4,0 -> \[/);

  // --fresh starts over.
  const fresh = ok(cli('train', '--output-dir', dir, '--steps', '5', '--eval-every', '5', '--eval-steps', '0', '--fresh', '-q'));
  assert.doesNotMatch(fresh, /resuming/);
  assert.match(fresh, /Step      5: Ran 5 train steps/);
  assert.doesNotMatch(fresh, /Evaluation/);
});

test('train other tasks, optimizers and schedules', () => {
  const dir = join(tmp, 'sort-adam');
  const out = ok(cli('train', '--task', 'sort', '--optimizer', 'adam', '--lr', '0.002', '--schedule', 'rsqrt', '--warmup-steps', '5',
    '--batch-size', '8', '--d-model', '16', '--n-heads', '4', '--d-ff', '32', '--n-layers', '1', '--max-len', '64', '--length', '3',
    '--steps', '6', '--eval-every', '3', '--eval-steps', '1', '--output-dir', dir, '--clip-grad-norm', '1', '-q'));
  assert.match(out, /TransformerLM on the sort task .*n=3/);
  assert.match(out, /adam, lr 0\.002 \(rsqrt\), batch 8/);
  assert.match(out, /Step      6: Finished evaluation/);
  const shown = ok(cli('show', '--checkpoint', dir, '--no-tree'));
  assert.match(shown, /dModel=16, dFF=32, nLayers=1, nHeads=4, maxLen=64/);
  assert.match(shown, /weights: model\.pkl\.gz in .*, step 6/);
  assert.match(ok(cli('predict', '--checkpoint', dir, '--prompt', '0,5,2,9,0')), /^\[\d+, \d+, \d+\]\n$/);
  usage(cli('train', '--task', 'copy', '--length', '20', '--max-len', '16', '--output-dir', join(tmp, 'x')), /--max-len 16 is shorter than the task's sequences \(42 tokens/);
});

test('show: the tree, weights and counts, summary, svg, json', () => {
  const out = ok(cli('show'));
  assert.match(out, /^TransformerLM\(vocabSize=32, dModel=32, dFF=128, nLayers=2, nHeads=8, maxLen=2048, dropout=0\.1\), mode 'train'\n/);
  assert.match(out, /\nSerial\[\n  ShiftRight\(1\)\n  Embedding_32_32\n/);
  assert.match(out, /  1  3 PositionalEncoding\.positions\s+\(2048, 32\)\s+65,536\n/);
  assert.match(out, /Total number of trainable weights: 93,088 in 38 arrays\n$/);
  const big = ok(cli('show', '--d-model', '512', '--d-ff', '2048', '--n-layers', '6', '--vocab-size', '33000', '--no-tree', '--no-weights'));
  assert.match(big, /Total number of trainable weights: 53,788,904 in 102 arrays/);
  const summary = ok(cli('show', '--checkpoint', 'sort-transformer', '--summary', '--no-tree', '--no-weights'));
  assert.match(summary, /weights: pretrained model sort-transformer/);
  assert.match(summary, /PositionalEncoding\s.*65,536/);
  const svg = join(tmp, 'model.svg');
  assert.match(ok(cli('show', '--svg', svg, '--no-tree', '--no-weights')), /Wrote .*model\.svg/);
  assert.match(readFileSync(svg, 'utf8'), /<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const json = JSON.parse(ok(cli('show', '--json', '--mode', 'predict')));
  assert.equal(json.total, 93088);
  assert.equal(json.weights.length, 38);
});

test('attention maps and the report', () => {
  const svg = join(tmp, 'attention.svg');
  assert.match(ok(cli('attention', '--checkpoint', 'sort-transformer', '--input', '0,3,14,15,9,0,3,9,14,15', '--svg', svg)),
    /Wrote .*attention\.svg: 2 attention layers x 8 heads over 10 tokens/);
  assert.match(readFileSync(svg, 'utf8'), /<svg/);
  usage(cli('attention', '--checkpoint', 'sort-transformer'), /--input is required/);
  const dir = join(tmp, 'report-run');
  ok(cli('train', '--output-dir', dir, '--steps', '4', '--eval-every', '2', '--eval-steps', '1', '-q'));
  const out = ok(cli('report', '--output-dir', dir, '--samples', '2'));
  assert.match(out, /Wrote .*report\.html/);
  assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /<html/i);
  usage(cli('report'), /--output-dir is required/);
  usage(cli('report', '--output-dir', join(tmp, 'nothing-here')), /no such directory/);
});

test('quickstart (shortened) runs all three acts', () => {
  const out = ok(cli('quickstart', '--epochs', '1', '--steps-per-epoch', '10', '--output-dir', join(tmp, 'qs')));
  assert.match(out, /=== Act 1: a pre-trained model sorts four numbers/);
  assert.match(out, /output: \[\[3, 9, 14, 15\]\]/);
  assert.match(out, /=== Act 2: train a model to reverse four numbers/);
  assert.match(out, /Step     10: Ran 10 train steps in [\d.]+ secs/);
  assert.match(out, /input:  \[\[0, 4, 6, 8, 10, 0\]\]\noutput: \[\[\d+, \d+, \d+, \d+\]\]/);
  assert.match(out, /=== Act 3: inside the model/);
  assert.match(out, /Total number of trainable weights: 93,088\n/);
  assert.ok(existsSync(join(tmp, 'qs', 'model.pkl.gz')));
  assert.match(ok(cli('quickstart', '--acts', '1')), /Done in/);
});

test('train --task lm on a text file, then sample text from it', () => {
  const words = 'the whale ship sea call me ishmael captain ahab white'.split(' ');
  let text = '';
  for (let i = 0; i < 2000; i++) text += words[(i * 7 + (i >> 3)) % words.length] + ' ';
  const file = join(tmp, 'tiny.txt');
  writeFileSync(file, text);
  const dir = join(tmp, 'lm');
  const out = ok(cli('train', '--task', 'lm', '--text', file, '--steps', '4', '--eval-every', '2', '--eval-steps', '1', '--seq-len', '16',
    '--batch-size', '4', '--d-model', '16', '--d-ff', '32', '--n-layers', '1', '--n-heads', '2', '--output-dir', dir, '-q'));
  assert.match(out, /Done: step 4, validation loss \d/);
  assert.ok(existsSync(join(dir, 'lm.json')));
  const s1 = ok(cli('sample', '--checkpoint', dir, '--prompt', 'the wh', '--length', '20', '--temperature', '0.8', '--top-k', '5', '--seed', '1'));
  assert.match(s1, /^the wh[a-z ]{20}\n$/);
  assert.equal(ok(cli('sample', '--checkpoint', dir, '--prompt', 'the wh', '--length', '20', '--temperature', '0.8', '--top-k', '5', '--seed', '1')), s1);
  const bad = cli('sample', '--checkpoint', dir, '--prompt', 'Call me');
  assert.equal(bad.code, 1);
  assert.equal(bad.out, '');
  assert.match(bad.err, /outside the model's 14-character vocabulary/);
  usage(cli('train', '--task', 'lm', '--output-dir', dir), /--task lm needs --text FILE or --corpus moby-dick/);
  usage(cli('train', '--task', 'lm', '--text', file, '--optimizer', 'sgd', '--output-dir', dir), /--task lm trains with adam or adafactor/);
});
