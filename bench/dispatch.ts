// Per-op dispatch overhead: a 32-element add through the public op, on each backend.
import { nativeUnavailableReason, setBackend } from '../src/backends/index.js';
import * as F from '../src/engine/index.js';
import { tensor } from '../src/engine/tensor.js';

export function dispatchOverheadUs(): number {
  const a = tensor(Array.from({ length: 32 }, (_, i) => i));
  const b = tensor(Array.from({ length: 32 }, (_, i) => 2 * i));
  for (let i = 0; i < 20000; i++) F.add(a, b);
  const n = 200000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) F.add(a, b);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

export async function benchDispatch(): Promise<void> {
  console.log('\n== Dispatch overhead: F.add on two 32-element float32 tensors ==');
  const backends: ('native' | 'js')[] = nativeUnavailableReason() === null ? ['native', 'js'] : ['js'];
  for (const b of backends) {
    setBackend(b);
    console.log(`${b.padEnd(7)} ${dispatchOverheadUs().toFixed(3)} us per op (target < 1 us)`);
  }
  if (backends.includes('native')) setBackend('native');
}
