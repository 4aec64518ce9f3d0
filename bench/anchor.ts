// The PyTorch reference the training benchmarks compare against.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/bench/anchor.js -> repository root is two levels up.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The PyTorch anchor folder: $TRAX_TORCH_ANCHOR, else the first of
 * <repo>/../shared/anchors/torch and <repo>/../../shared/anchors/torch (a
 * worktree one level deeper) that exists.
 */
export function torchAnchorDir(): string {
  const env = process.env['TRAX_TORCH_ANCHOR'];
  if (env) return env;
  const near = resolve(repoRoot, '..', 'shared', 'anchors', 'torch');
  const far = resolve(repoRoot, '..', '..', 'shared', 'anchors', 'torch');
  return existsSync(near) || !existsSync(far) ? near : far;
}

/** The torch version, or null when neither python3 nor /usr/bin/python3 has torch. */
export function torchVersion(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return r.stdout.trim();
  }
  return null;
}

/** Runs bench.py with these arguments and thread count; returns its JSON result. */
export function runAnchor(args: string[], threads: number): Record<string, unknown> {
  const script = join(torchAnchorDir(), 'bench.py');
  if (!existsSync(script)) throw new Error(`PyTorch anchor not found at ${script} (set TRAX_TORCH_ANCHOR)`);
  const out = mkdtempSync(join(tmpdir(), 'trax-anchor-'));
  const r = spawnSync('python3', [script, ...args, '--threads', String(threads), '--out', out],
    { encoding: 'utf8', maxBuffer: 64 << 20, cwd: repoRoot });
  if (r.status !== 0) throw new Error(`bench.py ${args.join(' ')} exited with ${r.status}: ${(r.stderr ?? '').slice(-1500)}`);
  const file = readdirSync(out).find((f) => f.endsWith('.json'));
  if (!file) throw new Error(`bench.py ${args.join(' ')} wrote no JSON result`);
  return JSON.parse(readFileSync(join(out, file), 'utf8')) as Record<string, unknown>;
}

/** Cores other processes used over the last minute: the load average minus what this process used. */
export function foreignLoad(): string {
  return (Math.round(loadavg1() * 10) / 10).toFixed(1);
}

function loadavg1(): number {
  try { return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]); } catch { return NaN; }
}
