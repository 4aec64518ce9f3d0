// Chooses the backend every tensor op runs on: the native addon when it
// loaded, else pure TypeScript. TRAX_BACKEND=native|js at import forces one;
// registerBackend adds others (a device backend registers itself this way).
import type { Backend } from './backend.js';
import { jsBackend, jsKernels } from './js.js';
import type { Kernels } from './kernels.js';
import { env, loadNative as loadNativeKernels, platformName, warn } from '../platform/host.js';
import { BackendConfigError, checkBackendEnv } from './env.js';
import { checkKernels } from '../engine/registry.js';

/** A backend, or an async factory for one (a GPU adapter is requested asynchronously). */
export type BackendFactory = () => Backend | Promise<Backend>;

const factories = new Map<string, BackendFactory>();
const ready = new Map<string, Backend>();
let active: Backend | null = null;
let activeKernels: Kernels | null = null;
let nativeError: string | null = null;
// While fastmath.jit traces a function, every kernel call goes through its
// recorder (which forwards to the active kernels).
let override: Kernels | null = null;

/** Routes kernel calls through k until called with null (jit tracing). */
export function _setKernelOverride(k: Kernels | null): void { override = k; }
/** Whether kernel calls are being intercepted (fastmath.jit tracing). */
export function _kernelsOverridden(): boolean { return override !== null; }

function checked(b: Backend): Backend {
  checkKernels(b.name, b.kernels);
  return b;
}

/**
 * Makes a backend available to setBackend under its name. The factory runs
 * on the first setBackend(name); its kernel table must implement exactly the
 * kernels src/engine/registry.ts declares.
 */
export function registerBackend(name: string, factory: BackendFactory): void {
  factories.set(name, factory);
  ready.delete(name);
}

function nativeBackend(): Backend {
  const loaded = loadNativeKernels();
  if (!('backend' in loaded)) throw new Error(`native backend unavailable: ${loaded.error}`);
  return loaded.backend;
}

registerBackend('js', () => jsBackend);
registerBackend('native', nativeBackend);
// The GPU backend loads its code (and the optional `webgpu` package) only when selected.
registerBackend('webgpu', async () => (await import('./webgpu/backend.js')).createWebGpuBackend());

function use(b: Backend): void {
  active = b;
  activeKernels = b.kernels;
}

function choose(): Backend {
  // A malformed TRAX_* setting stops here with one line (other backends come via await setBackend(name)).
  checkBackendEnv({ TRAX_BACKEND: env('TRAX_BACKEND'), TRAX_NUM_THREADS: env('TRAX_NUM_THREADS'), TRAX_ISA: env('TRAX_ISA') });
  const forced = (env('TRAX_BACKEND') ?? '').trim().toLowerCase();
  // TRAX_BACKEND=webgpu: the package's entry awaits the device (see src/index.ts); until then the CPU default.
  if (forced === 'js') return checked(jsBackend);
  const loaded = loadNativeKernels();
  if ('backend' in loaded) return checked(loaded.backend);
  nativeError = loaded.error;
  if (forced === 'native') {
    throw new BackendConfigError(`TRAX_BACKEND=native but the native addon is unavailable: ${loaded.error}`);
  }
  if (platformName === 'browser') return checked(jsBackend);  // the expected default there, nothing to warn about
  warn(
    `trax-ts: native CPU addon unavailable (${loaded.error}); using the much slower pure TypeScript backend. ` +
    'Install g++, make and python3, then run `npm rebuild trax-ts` (or `npm run install` in the repo).',
    'TRAX_NO_NATIVE');
  return checked(jsBackend);
}

/** The backend all ops use. */
export function backend(): Backend {
  if (active === null) use(choose());
  return active!;
}

/** The active backend's kernels (the engine's dispatch table). */
export function kernels(): Kernels {
  return override ?? activeKernels ?? backend().kernels;
}

/**
 * Runs fn with every kernel call going to `table` instead of the active
 * backend's (a tracer records the kernel sequence this way); restores the
 * backend's table after, even if fn throws.
 */
export function withKernelTable<T>(table: Kernels, fn: () => T): T {
  const saved = activeKernels;
  activeKernels = table;
  try { return fn(); } finally { activeKernels = saved; }
}

/** Name of the backend in use: 'native', 'js', or a registered one. */
export function backendName(): string {
  return backend().name;
}

function makeBackend(name: string): Backend | Promise<Backend> {
  const b = ready.get(name);
  if (b) return b;
  const f = factories.get(name);
  if (!f) {
    throw new Error(`setBackend: unknown backend '${String(name)}' (available: ${[...factories.keys()].join(', ')})`);
  }
  const made = f();
  if (made instanceof Promise) return made;
  ready.set(name, checked(made));
  return made;
}

/**
 * Switches backend. Returns a promise (a device backend starts
 * asynchronously); the CPU backends switch at once, so the switch has
 * happened when the call returns even if it is not awaited.
 */
export function setBackend(name: string): Promise<void> {
  if (typeof name !== 'string') throw new Error(`setBackend: unknown backend '${String(name)}' (use 'native' or 'js')`);
  const b = makeBackend(name);
  if (!(b instanceof Promise)) { use(b); return Promise.resolve(); }
  // The factory ran once; its promise is the only one (a failure reaches the caller, not an unhandled rejection).
  return b.then((made) => {
    const c = checked(made);
    ready.set(name, c);
    use(c);
  });
}

/** The backend in use and its facts (name, whether storage is on the host, threads, ...). */
export function backendInfo(): { name: string; onHost: boolean; threads: number; available: string[] } & Record<string, unknown> {
  const b = backend();
  return { name: b.name, onHost: b.onHost, threads: b.threads(), available: [...factories.keys()], ...(b.info?.() ?? {}) };
}

/** Why the native backend is not available, or null. */
export function nativeUnavailableReason(): string | null {
  if (active === null) backend();
  if (nativeError !== null) return nativeError;
  const loaded = loadNativeKernels();
  return 'kernels' in loaded ? null : loaded.error;
}

export function setNumThreads(n: number): void { backend().setThreads(n); }
export function numThreads(): number { return backend().threads(); }

export { jsKernels, jsBackend, BackendConfigError, checkBackendEnv };
export type { Kernels, Backend };
