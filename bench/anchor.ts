// The PyTorch reference the training benchmarks compare against.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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
