// The PyTorch reference the training benchmarks compare against.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/bench/anchor.js -> repository root is two levels up.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The PyTorch anchor folder: $TRAX_TORCH_ANCHOR or <repo>/../shared/anchors/torch. */
export function torchAnchorDir(): string {
  return process.env['TRAX_TORCH_ANCHOR'] ?? resolve(repoRoot, '..', 'shared', 'anchors', 'torch');
}

/** The torch version, or null when neither python3 nor /usr/bin/python3 has torch. */
export function torchVersion(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return r.stdout.trim();
  }
  return null;
}
