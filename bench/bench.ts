// `npm run bench`: every speed figure in one run, each beside its reference
// (js backend, numpy/OpenBLAS, PyTorch) measured in the same run.
// TRAX_BENCH_ONLY=gemm,dispatch,layers,decode,train selects parts.
import { backendName, nativeUnavailableReason, numThreads } from '../src/backends/index.js';
import { cpus } from 'node:os';

type Part = { name: string; module: string; fn: string };
const PARTS: Part[] = [
  { name: 'gemm', module: './gemm.js', fn: 'benchGemm' },
  { name: 'dispatch', module: './dispatch.js', fn: 'benchDispatch' },
  { name: 'layers', module: './layers.js', fn: 'benchLayers' },
  { name: 'decode', module: './decode.js', fn: 'benchDecode' },
  { name: 'decode', module: './decode.js', fn: 'benchDecodeVsTorch' },
  { name: 'train', module: './train.js', fn: 'benchTrain' },
];

async function main(): Promise<void> {
  const only = (process.env.TRAX_BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  console.log(`trax-ts benchmarks: backend ${backendName()}${nativeUnavailableReason() ? ` (native unavailable: ${nativeUnavailableReason()})` : ''}, ` +
    `${numThreads()} thread(s), ${cpus().length} CPU(s): ${cpus()[0]?.model ?? 'unknown'}`);
  for (const part of PARTS) {
    if (only.length && !only.includes(part.name)) continue;
    const spec: string = part.module;
    let mod: Record<string, unknown>;
    try {
      mod = await import(spec) as Record<string, unknown>;
    } catch (e) {
      console.log(`\n(${part.name} benchmark unavailable: ${(e as Error).message})`);
      continue;
    }
    const fn = mod[part.fn] as (() => Promise<unknown>) | undefined;
    if (typeof fn !== 'function') { console.log(`\n(${part.name}: ${part.fn} not found)`); continue; }
    await fn();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
