// Loads the C++ kernels: build/Release/trax_native.node when it was built
// from source (scripts/build-addon.cjs), else the N-API binary shipped for
// this platform in prebuilds/<platform>-<arch>/ (node-gyp-build's layout; one
// binary serves every Node version). The addon's functions take the
// Kernels arguments as-is, so they are installed directly as the methods: no
// wrapper closure or per-call allocation on the hot path.
// Environment: TRAX_NUM_THREADS sets the initial thread count (default: all
// hardware threads); TRAX_ISA=avx512|avx2|generic forces a kernel build the
// CPU supports; TRAX_SKIP_NATIVE=1 disables the addon.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package_root.js';
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

/** Where the addon may be, in the order tried: a local build, then the shipped binary for this platform. */
export function addonCandidates(root = PACKAGE_ROOT): string[] {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const libc = process.platform !== 'linux' ? [] : existsSync('/etc/alpine-release') ? ['node.napi.musl.node'] : ['node.napi.glibc.node'];
  return [join(root, 'build', 'Release', 'trax_native.node'), ...[...libc, 'node.napi.node'].map((f) => join(dir, f))];
}

function load(): { kernels: NativeKernels } | { error: string } {
  if (process.env.TRAX_SKIP_NATIVE === '1') return { error: 'disabled by TRAX_SKIP_NATIVE=1' };
  const candidates = addonCandidates();
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    return { error: `no native addon for ${process.platform}-${process.arch} (no ${candidates.join(' or ')}); build it with \`npm rebuild trax-ts\`` };
  }
  let addon: Addon;
  try {
    addon = createRequire(join(PACKAGE_ROOT, 'package.json'))(file) as Addon;
  } catch (e) {
    return { error: `failed to load ${file}: ${(e as Error).message}` };
  }
  for (const m of METHODS) {
    if (typeof addon[m] !== 'function') return { error: `${file} lacks ${m}(); rebuild it (npm rebuild trax-ts)` };
  }
  const kernels = { name: 'native' } as { name: string } & Record<string, unknown>;
  for (const m of METHODS) kernels[m] = addon[m];
  return { kernels: kernels as unknown as NativeKernels };
}

/** The native kernels, or why they are unavailable. Never throws; loads once. */
export function loadNativeKernels(): { kernels: NativeKernels } | { error: string } {
  return cached ?? (cached = load());
}
