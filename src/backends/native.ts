// Loads the C++ kernels (build/Release/trax_native.node, built by
// scripts/build-addon.cjs at install time). The addon's functions take the
// Kernels arguments as-is, so they are installed directly as the methods: no
// wrapper closure or per-call allocation on the hot path.
// Environment: TRAX_NUM_THREADS sets the initial thread count (default: all
// hardware threads); TRAX_ISA=avx512|avx2|generic forces a kernel build the
// CPU supports; TRAX_SKIP_NATIVE=1 disables the addon.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './kernels.js';

/** Native kernels plus introspection of the instruction set in use. */
export interface NativeKernels extends Kernels {
  /** Instruction set of the active kernel table: 'avx512', 'avx2' or 'generic'. */
  isa(): string;
  /** Switch to another instruction set the CPU supports (tests); false if unavailable. */
  setIsa(name: 'avx512' | 'avx2' | 'generic'): boolean;
}

type Addon = Omit<NativeKernels, 'name'>;

const METHODS = [
  'threads', 'setThreads', 'matmul', 'unary', 'binary', 'reduce', 'softmax', 'softmaxBackward',
  'layerNorm', 'layerNormBackward', 'crossEntropy', 'crossEntropyBackward', 'attention',
  'attentionBackward', 'gatherRows', 'scatterAddRows', 'adam', 'adafactor', 'sumSquares', 'dropoutMask', 'dropoutApply', 'permute', 'isa', 'setIsa',
] as const;

let cached: { kernels: NativeKernels } | { error: string } | null = null;

/** Package root: this file compiles to dist/src/backends/native.js (or runs from src/backends/). */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../..', '../..']) {
    const root = join(here, up);
    if (existsSync(join(root, 'package.json'))) return root;
  }
  return join(here, '../../..');
}

function load(): { kernels: NativeKernels } | { error: string } {
  if (process.env.TRAX_SKIP_NATIVE === '1') return { error: 'disabled by TRAX_SKIP_NATIVE=1' };
  const file = join(packageRoot(), 'build', 'Release', 'trax_native.node');
  if (!existsSync(file)) return { error: `${file} not found (the addon was not built)` };
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(file) as Addon;
  } catch (e) {
    return { error: `failed to load ${file}: ${(e as Error).message}` };
  }
  for (const m of METHODS) {
    if (typeof addon[m] !== 'function') return { error: `${file} lacks ${m}(); rebuild it (npm run install)` };
  }
  const kernels = { name: 'native' } as { name: string } & Record<string, unknown>;
  for (const m of METHODS) kernels[m] = addon[m];
  // The plan executor (fastmath.jit replays); an older build may lack it.
  for (const m of ['planCreate', 'planRun']) {
    const f = (addon as unknown as Record<string, unknown>)[m];
    if (typeof f === 'function') kernels[m] = f;
  }
  return { kernels: kernels as unknown as NativeKernels };
}

/** The native kernels, or why they are unavailable. Never throws; loads once. */
export function loadNativeKernels(): { kernels: NativeKernels } | { error: string } {
  return cached ?? (cached = load());
}
