// Rough edges of the command line, each a one-line error (or the documented
// output) instead of a raw Node error, a silent default or a nested trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(root, 'dist', 'src', 'apps', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'trax-ts-edges-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function cli(args, env = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Exit code 2 with exactly one error line (plus the help pointer) matching pattern, and no Node error codes. */
function oneLine(r, pattern) {
  assert.equal(r.code, 2, `exit ${r.code}\nstdout:\n${r.out}\nstderr:\n${r.err}`);
  const lines = r.err.trim().split('\n').filter((l) => !/^Run 'trax-ts/.test(l));
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.err, /EEXIST|ENOENT|ENOTDIR|LayerError|Exception passing through/);
}

test('--output-dir that is a file, or below one, is named; no EEXIST', () => {
  const f = join(tmp, 'a-file');
  writeFileSync(f, 'x');
  oneLine(cli(['train', '--output-dir', f, '--steps', '1']), /--output-dir .*a-file is a file, not a folder/);
  oneLine(cli(['train', '--output-dir', join(f, 'sub'), '--steps', '1']), /--output-dir .*a-file is a file, not a folder/);
  oneLine(cli(['train', '--task', 'lm', '--corpus', 'moby-dick', '--output-dir', f, '--steps', '1']), /is a file, not a folder/);
  oneLine(cli(['quickstart', '--output-dir', f]), /is a file, not a folder/);
});

test('an SVG path in a missing folder is an error before anything prints; no ENOENT', () => {
  const r = cli(['show', '--svg', join(tmp, 'missing', 'x.svg')]);
  oneLine(r, /--svg .*x\.svg: folder .*missing does not exist/);
  assert.equal(r.out, '', 'nothing printed before the error');
  oneLine(cli(['attention', '--checkpoint', 'sort-transformer', '--input', '0,1,2,0', '--svg', join(tmp, 'missing', 'a.svg')]), /folder .*missing does not exist/);
  oneLine(cli(['show', '--svg', tmp]), /is a folder; give a file name/);
});

test('show --svg draws repeated blocks once with "× n"; --expand draws each', () => {
  const svg = join(tmp, 'model.svg');
  assert.equal(cli(['show', '--svg', svg, '--no-tree', '--no-weights']).code, 0);
  assert.match(readFileSync(svg, 'utf8'), /× 2/);
  assert.equal(cli(['show', '--svg', svg, '--expand', '--no-tree', '--no-weights']).code, 0);
  assert.doesNotMatch(readFileSync(svg, 'utf8'), /× 2/);
  oneLine(cli(['show', '--expand']), /--expand goes with --svg/);
});

test('a truncated checkpoint is reported without the model-flags hint', () => {
  const bytes = readFileSync(join(root, 'pretrained', 'sort-transformer.pkl.gz'));
  const cut = join(tmp, 'cut.pkl.gz');
  writeFileSync(cut, bytes.subarray(0, 3000));
  const r = cli(['predict', '--checkpoint', cut, '--prompt', '0,1,2,3,4,0']);
  assert.equal(r.code, 1);
  assert.match(r.err, /truncated gzip: .*cut\.pkl\.gz ends before the compressed stream does/);
  assert.doesNotMatch(r.err, /give the model flags/);
  assert.equal(r.err.trim().split('\n').length, 1, r.err);
});

test('TRAX_BACKEND and TRAX_NUM_THREADS are checked: one line, for the CLI and the library', async () => {
  oneLine(cli(['show'], { TRAX_BACKEND: 'bogus' }), /^trax-ts: error: TRAX_BACKEND must be 'native', 'js' or 'webgpu', got 'bogus'$/);
  oneLine(cli(['show'], { TRAX_NUM_THREADS: 'abc' }), /^trax-ts: error: TRAX_NUM_THREADS must be a whole number of threads from 1 to 9999, got 'abc'$/);
  oneLine(cli(['show'], { TRAX_NUM_THREADS: '0' }), /TRAX_NUM_THREADS/);
  assert.equal(cli(['show', '--no-tree', '--no-weights'], { TRAX_NUM_THREADS: '1' }).code, 0);
  const lib = spawnSync(process.execPath, ['--input-type=module', '-e',
    `import * as t from ${JSON.stringify(join(root, 'dist', 'src', 'index.js'))};
     try { t.models.TransformerLM({ vocabSize: 8, mode: 'eval' }).init(new t.shapes.ShapeDtype([1, 1], 'int32')); }
     catch (e) { console.log(e.name + ': ' + e.message); }`], { encoding: 'utf8', env: { ...process.env, TRAX_BACKEND: 'bogus' } });
  assert.equal(lib.stdout.trim(), "BackendConfigError: TRAX_BACKEND must be 'native', 'js' or 'webgpu', got 'bogus'");
});

test('predict needs --prompt', () => {
  oneLine(cli(['predict', '--checkpoint', 'sort-transformer']), /--prompt is required/);
  assert.ok(!existsSync(join(tmp, 'train_dir')));
});
