// Loads the C++ kernels: build/Release/trax_native.node when it was built
// from source (scripts/build-addon.cjs), else the N-API binary shipped for
// this platform in prebuilds/<platform>-<arch>/ (node-gyp-build's layout; one
// binary serves every Node version). The addon's functions take the kernel
// arguments as-is, so they are installed directly into the kernel table: no
// wrapper closure or per-call allocation on the hot path. Kernels the addon
// does not implement (cheap data movement, random numbers) are the
// TypeScript ones, which work on the same host storage.
// Environment: TRAX_NUM_THREADS sets the initial thread count (default: all
// hardware threads); TRAX_ISA=avx512|avx2|generic forces a kernel build the
// CPU supports; TRAX_SKIP_NATIVE=1 disables the addon.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package_root.js';
import type { Backend, PlanExecutorApi } from './backend.js';
import { hostStorage } from './host.js';
import { jsKernels } from './js.js';
import type { Kernels } from './kernels.js';
import type { KernelName } from '../engine/registry.js';

/** Native kernels plus thread and instruction-set control. */
export interface NativeKernels extends Kernels {
  readonly name: 'native';
  threads(): number;
  setThreads(n: number): void;
  /** Instruction set of the active kernel table: 'avx512', 'avx2' or 'generic'. */
  isa(): string;
  /** Switch to another instruction set the CPU supports (tests); false if unavailable. */
  setIsa(name: 'avx512' | 'avx2' | 'generic'): boolean;
}

/** The raw addon: its N-API functions (native/addon.cc's table). */
export type NativeAddon = Record<string, (...args: never[]) => unknown>;

/** Kernels implemented in C++ (each a function of native/addon.cc's table). */
export const NATIVE_KERNELS = [
  'matmul', 'unary', 'binary', 'reduce', 'softmax', 'softmaxBackward', 'layerNorm', 'layerNormBackward',
  'crossEntropy', 'crossEntropyBackward', 'attention', 'attentionBackward', 'gatherRows', 'scatterAddRows',
  'adam', 'adafactor', 'sumSquares', 'dropoutMask', 'dropoutApply', 'permute',
] as const satisfies readonly KernelName[];

/** Addon functions that are not kernels. */
export const NATIVE_CONTROL = ['threads', 'setThreads', 'isa', 'setIsa'] as const;

/** The plan executor's entry points (native/plan.cc) and the kernels it runs, in its id order. */
export const NATIVE_PLAN = ['planCreate', 'planRun'] as const;
export const NATIVE_PLAN_KERNELS = [
  'matmul', 'unary', 'binary', 'reduce', 'softmax', 'softmaxBackward', 'layerNorm', 'layerNormBackward',
  'crossEntropy', 'crossEntropyBackward', 'attention', 'attentionBackward', 'gatherRows', 'scatterAddRows',
  'adam', 'adafactor', 'dropoutMask', 'dropoutApply', 'permute', 'sumSquares', 'fill', 'copyStrided', 'cast', 'oneHot',
] as const satisfies readonly KernelName[];

const SMALL_BINARY = 64;

type Loaded = { kernels: NativeKernels; backend: Backend; addon: NativeAddon } | { error: string };
let cached: Loaded | null = null;

/** Where the addon may be, in the order tried: a local build, then the shipped binary for this platform. */
export function addonCandidates(root = PACKAGE_ROOT): string[] {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const libc = process.platform !== 'linux' ? [] : existsSync('/etc/alpine-release') ? ['node.napi.musl.node'] : ['node.napi.glibc.node'];
  return [join(root, 'build', 'Release', 'trax_native.node'), ...[...libc, 'node.napi.node'].map((f) => join(dir, f))];
}

function load(): Loaded {
  if (process.env.TRAX_SKIP_NATIVE === '1') return { error: 'disabled by TRAX_SKIP_NATIVE=1' };
  const candidates = addonCandidates();
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    return { error: `no native addon for ${process.platform}-${process.arch} (no ${candidates.join(' or ')}); build it with \`npm rebuild trax-ts\`` };
  }
  let addon: NativeAddon;
  try {
    addon = createRequire(join(PACKAGE_ROOT, 'package.json'))(file) as NativeAddon;
  } catch (e) {
    return { error: `failed to load ${file}: ${(e as Error).message}` };
  }
  for (const m of [...NATIVE_KERNELS, ...NATIVE_CONTROL, ...NATIVE_PLAN]) {
    if (typeof addon[m] !== 'function') return { error: `${file} lacks ${m}(); rebuild it (npm rebuild trax-ts)` };
  }
  // Start from the TypeScript kernels, then put the C++ ones in their place.
  const table = { ...jsKernels } as unknown as Record<string, unknown>;
  for (const m of NATIVE_KERNELS) table[m] = addon[m];
  // Below this many elements a JS loop beats crossing into the addon.
  const nativeBinary = addon.binary as unknown as Kernels['binary'];
  table.binary = (op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: Int32Array, as: Int32Array, bs: Int32Array) => {
    const n = out.length;
    if (n <= SMALL_BINARY && op <= 3 && shape.length === 1 && shape[0] === n && as[0] === 1 && bs[0] === 1 && a.length === n && b.length === n) {
      switch (op) {
        case 0: for (let i = 0; i < n; i++) out[i] = a[i] + b[i]; return;
        case 1: for (let i = 0; i < n; i++) out[i] = a[i] - b[i]; return;
        case 2: for (let i = 0; i < n; i++) out[i] = a[i] * b[i]; return;
        default: for (let i = 0; i < n; i++) out[i] = a[i] / b[i]; return;
      }
    }
    nativeBinary(op, a, b, out, shape, as, bs);
  };
  // The addon returns the sum; the kernel writes it into storage.
  const sumSquares = addon.sumSquares as unknown as (x: Float32Array) => number;
  table.sumSquares = (x: Float32Array, out: Float32Array) => { out[0] = sumSquares(x); };
  const kernels = table as unknown as Kernels;
  const threads = addon.threads as unknown as () => number;
  const setThreads = addon.setThreads as unknown as (n: number) => void;
  const backend: Backend = {
    ...hostStorage,
    name: 'native',
    kernels,
    threads,
    setThreads,
    info: () => ({ isa: (addon.isa as unknown as () => string)() }),
    planExecutor: {
      kernels: NATIVE_PLAN_KERNELS,
      create: addon.planCreate as unknown as PlanExecutorApi['create'],
      run: addon.planRun as unknown as PlanExecutorApi['run'],
    },
  };
  const withControl = { ...table, name: 'native' } as Record<string, unknown>;
  for (const m of NATIVE_CONTROL) withControl[m] = addon[m];
  return { kernels: withControl as unknown as NativeKernels, backend, addon };
}

/** The native kernels, or why they are unavailable. Never throws; loads once. */
export function loadNativeKernels(): Loaded {
  return cached ?? (cached = load());
}
