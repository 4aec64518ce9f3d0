// Running real Python/numpy beside the tests: checkpoint interoperability is
// checked against what numpy itself reads and writes.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HAVE_NUMPY = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
export const SKIP_PY = HAVE_NUMPY ? false : 'python3 with numpy is not available';

let stubDir = null;
/**
 * A temp dir with stand-ins for the two Trax modules a checkpoint pickle
 * names (trax.shapes.ShapeDtype, trax.supervised.history.History), so plain
 * numpy can unpickle it.
 */
export function pythonStubs() {
  if (stubDir) return stubDir;
  stubDir = mkdtempSync(join(tmpdir(), 'trax-ts-pystubs-'));
  process.on('exit', () => rmSync(stubDir, { recursive: true, force: true }));
  mkdirSync(join(stubDir, 'trax', 'supervised'), { recursive: true });
  writeFileSync(join(stubDir, 'trax', '__init__.py'), '');
  writeFileSync(join(stubDir, 'trax', 'shapes.py'), 'class ShapeDtype:\n  __slots__ = ["shape", "dtype"]\n');
  writeFileSync(join(stubDir, 'trax', 'supervised', '__init__.py'), '');
  writeFileSync(join(stubDir, 'trax', 'supervised', 'history.py'),
    'class History:\n  def __init__(self):\n    self._values = {}\n');
  return stubDir;
}

/** Runs Python code with the stubs on its path; returns stdout as a Buffer. */
export function runPython(code, input) {
  const r = spawnSync('python3', ['-c', code], {
    input: input ?? Buffer.alloc(0), maxBuffer: 64 << 20,
    env: { ...process.env, PYTHONPATH: pythonStubs(), PYTHONWARNINGS: 'ignore' },
  });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr?.toString()}`);
  return r.stdout;
}
