// Chooses the kernels every tensor op runs on: the native addon when it
// loaded, else pure TypeScript. TRAX_BACKEND=native|js forces one.
import { jsKernels } from './js.js';
import type { Kernels } from './kernels.js';
import { env, loadNative as loadNativeKernels, platformName, warn } from '../platform/host.js';

let active: Kernels | null = null;
let nativeError: string | null = null;

function choose(): Kernels {
  const forced = (env('TRAX_BACKEND') ?? '').trim().toLowerCase();
  if (forced && forced !== 'native' && forced !== 'js') {
    throw new Error(`TRAX_BACKEND must be 'native' or 'js', got '${env('TRAX_BACKEND')}'`);
  }
  if (forced === 'js') return jsKernels;
  const loaded = loadNativeKernels();
  if ('kernels' in loaded) return loaded.kernels;
  nativeError = loaded.error;
  if (forced === 'native') {
    throw new Error(`TRAX_BACKEND=native but the native addon is unavailable: ${loaded.error}`);
  }
  if (platformName === 'browser') return jsKernels;  // the expected default there, nothing to warn about
  warn(
    `trax-ts: native CPU addon unavailable (${loaded.error}); using the much slower pure TypeScript backend. ` +
    'Install g++, make and python3, then run `npm rebuild trax-ts` (or `npm run install` in the repo).',
    'TRAX_NO_NATIVE');
  return jsKernels;
}

/** The kernels all ops use. */
export function kernels(): Kernels {
  return active ?? (active = choose());
}

/** Name of the backend in use: 'native' or 'js'. */
export function backendName(): string {
  return kernels().name;
}

/** Switch backend at run time (tests compare backends this way). */
export function setBackend(name: 'native' | 'js'): void {
  if (name !== 'native' && name !== 'js') throw new Error(`setBackend: unknown backend '${String(name)}' (use 'native' or 'js')`);
  if (name === 'js') { active = jsKernels; return; }
  const loaded = loadNativeKernels();
  if (!('kernels' in loaded)) throw new Error(`native backend unavailable: ${loaded.error}`);
  active = loaded.kernels;
}

/** Why the native backend is not available, or null. */
export function nativeUnavailableReason(): string | null {
  if (active === null) kernels();
  if (nativeError !== null) return nativeError;
  const loaded = loadNativeKernels();
  return 'kernels' in loaded ? null : loaded.error;
}

export function setNumThreads(n: number): void { kernels().setThreads(n); }
export function numThreads(): number { return kernels().threads(); }

export { jsKernels };
export type { Kernels };
