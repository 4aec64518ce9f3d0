// Runs a block of tests once per backend: always on 'js', and on 'native'
// when the addon loads (otherwise the native block is skipped with the reason).
import { describe, before, after } from 'node:test';
import * as trax from '../../dist/src/index.js';

export const nativeReason = trax.nativeUnavailableReason();
export const nativeAvailable = nativeReason === null;
export const availableBackends = nativeAvailable ? ['js', 'native'] : ['js'];

/** Runs fn with the given backend active, restoring the previous one after. */
export function withBackend(name, fn) {
  const prev = trax.backendName();
  trax.setBackend(name);
  try { return fn(); } finally { trax.setBackend(/** @type {any} */ (prev)); }
}

/** describe(`${title} [backend]`) for js and native; body(backendName) declares tests. */
export function describeBackends(title, body) {
  for (const name of ['js', 'native']) {
    const skip = name === 'native' && !nativeAvailable ? `native backend unavailable: ${nativeReason}` : false;
    describe(`${title} [${name}]`, { skip }, () => {
      let prev;
      before(() => { prev = trax.backendName(); trax.setBackend(/** @type {any} */ (name)); });
      after(() => { trax.setBackend(prev); });
      body(name);
    });
  }
}
