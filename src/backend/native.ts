// Placeholder loader until the native addon wrapper lands; reports unavailable.
import type { Kernels } from './kernels.js';
export function loadNativeKernels(): { kernels: Kernels } | { error: string } {
  return { error: 'native addon not built' };
}
