// fp32 GEMM throughput of the native and TypeScript kernels, with numpy
// (OpenBLAS) on the same shapes as the yardstick when python3 has numpy.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { jsKernels } from '../src/backends/js.js';
import type { Kernels } from '../src/backends/kernels.js';
import { loadNativeKernels } from '../src/backends/native.js';

/** [m, n, k]: C (m x n) = A (m x k) @ B (k x n). */
export const GEMM_SHAPES: ReadonlyArray<readonly [number, number, number]> = [
  [512, 512, 512], [2048, 256, 1024], [2048, 1024, 256], [160, 32, 128], [1, 256, 1024],
];

function randomArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** Best GFLOP/s over repeated timed runs, spending about budgetMs in total. */
function timeGemm(kern: Kernels, m: number, n: number, k: number, budgetMs: number): number {
  const a = randomArray(m * k), b = randomArray(k * n), c = new Float32Array(m * n);
  const flop = 2 * m * n * k;
  if (budgetMs > 50) kern.matmul(a, b, c, 1, m, n, k, false, false, 0, 0, false); // warm-up (buffers, pool)
  let best = Infinity;
  const end = performance.now() + budgetMs;
  do {
    // Inner repeats so each sample lasts >= ~2 ms and timer noise stays small.
    let reps = 0;
    const t0 = performance.now();
    let t1: number;
    do {
      kern.matmul(a, b, c, 1, m, n, k, false, false, 0, 0, false);
      reps++;
      t1 = performance.now();
    } while (t1 - t0 < 2);
    best = Math.min(best, (t1 - t0) / reps);
  } while (performance.now() < end);
  return flop / (best * 1e6);
}

const NUMPY_SCRIPT = `
import sys, time, json
import numpy as np
shapes = json.loads(sys.argv[1])
out = []
for m, n, k in shapes:
    a = np.random.rand(m, k).astype(np.float32)
    b = np.random.rand(k, n).astype(np.float32)
    a @ b
    best = float('inf')
    end = time.perf_counter() + 0.4
    while time.perf_counter() < end:
        reps = 0
        t0 = time.perf_counter()
        while True:
            a @ b
            reps += 1
            t1 = time.perf_counter()
            if t1 - t0 >= 0.002:
                break
        best = min(best, (t1 - t0) / reps)
    out.append(2.0 * m * n * k / best / 1e9)
print(json.dumps(out))
`;

/** numpy GFLOP/s per shape with OpenBLAS on `threads` threads, or null if numpy is unavailable. */
function numpyGflops(threads: number): number[] | null {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  // Let OpenBLAS detect the core itself for this run.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('python3', ['-c', NUMPY_SCRIPT, JSON.stringify(GEMM_SHAPES)], {
    env, encoding: 'utf8', timeout: 60_000,
  });
  if (r.status !== 0 || !r.stdout) return null;
  try {
    const v = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as number[];
    return Array.isArray(v) && v.length === GEMM_SHAPES.length ? v : null;
  } catch {
    return null;
  }
}

function fmt(x: number | null | undefined, width = 9): string {
  return (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1)).padStart(width);
}

/** Runs the GEMM benchmark; prints and returns the report lines. */
export async function benchGemm(print = true): Promise<string[]> {
  const lines: string[] = [];
  const say = (s: string): void => { lines.push(s); if (print) console.log(s); };
  const loaded = loadNativeKernels();
  const native = 'kernels' in loaded ? loaded.kernels : null;
  const allThreads = native ? native.threads() : Math.max(1, cpus().length);
  say(`\n== fp32 GEMM: GFLOP/s (best of repeated runs), shapes m x n x k, N = all cores = ${allThreads} threads ==`);
  if (!native) say(`native kernels unavailable: ${'error' in loaded ? loaded.error : ''}`);
  else say(`native ISA: ${native.isa()}`);

  const np1 = numpyGflops(1);
  const npN = allThreads > 1 ? numpyGflops(allThreads) : np1;
  if (!np1) say('numpy not available (python3 -c "import numpy" failed): no OpenBLAS comparison');

  say(['shape'.padEnd(16), 'native-1', 'native-N', 'js-1', 'numpy-1', 'numpy-N', 'nat/np-1', 'nat/np-N']
    .map((s, i) => (i === 0 ? s : s.padStart(9))).join(''));
  const saved = native?.threads() ?? 1;
  for (let s = 0; s < GEMM_SHAPES.length; s++) {
    const [m, n, k] = GEMM_SHAPES[s];
    let n1: number | null = null, nN: number | null = null;
    if (native) {
      native.setThreads(1);
      n1 = timeGemm(native, m, n, k, 400);
      native.setThreads(allThreads);
      nN = allThreads > 1 ? timeGemm(native, m, n, k, 400) : n1;
    }
    // The reference kernels are slow: one or two samples suffice.
    const js = timeGemm(jsKernels, m, n, k, 1);
    const p1 = np1 ? np1[s] : null, pN = npN ? npN[s] : null;
    const r1 = n1 !== null && p1 ? n1 / p1 : null, rN = nN !== null && pN ? nN / pN : null;
    say(`${m}x${n}x${k}`.padEnd(16) + fmt(n1) + fmt(nN) + fmt(js) + fmt(p1) + fmt(pN) +
      (r1 === null ? fmt(null) : `${r1.toFixed(2)}x`.padStart(9)) +
      (rN === null ? fmt(null) : `${rN.toFixed(2)}x`.padStart(9)));
  }
  native?.setThreads(saved);
  return lines;
}
