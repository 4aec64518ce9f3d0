// The environment variables that choose and size the backend, checked before
// anything runs, so a typo stops with one line instead of being ignored.

/** A bad TRAX_* setting: passes through layers unwrapped (it is not about any layer). */
export class BackendConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendConfigError';
  }
}

/** Throws a BackendConfigError naming the variable when TRAX_BACKEND or TRAX_NUM_THREADS is malformed. */
export function checkBackendEnv(env: Record<string, string | undefined> = process.env): void {
  const backend = env['TRAX_BACKEND'];
  if (backend !== undefined && backend.trim() !== '' && !['native', 'js', 'webgpu'].includes(backend.trim().toLowerCase())) {
    throw new BackendConfigError(`TRAX_BACKEND must be 'native', 'js' or 'webgpu', got '${backend}'`);
  }
  const threads = env['TRAX_NUM_THREADS'];
  if (threads !== undefined && threads.trim() !== '' && !/^[1-9]\d{0,3}$/.test(threads.trim())) {
    throw new BackendConfigError(`TRAX_NUM_THREADS must be a whole number of threads from 1 to 9999, got '${threads}'`);
  }
  const isa = env['TRAX_ISA'];
  if (isa !== undefined && isa.trim() !== '' && !['avx512', 'avx2', 'generic'].includes(isa.trim())) {
    throw new BackendConfigError(`TRAX_ISA must be 'avx512', 'avx2' or 'generic', got '${isa}'`);
  }
}
