// Decoder-block timings: forward and forward+backward of one TransformerLM
// decoder block, on the active backend and on the js backend in the same run.
import { backendName, setBackend, nativeUnavailableReason } from '../src/backends/index.js';
import { DecoderBlock } from '../src/models/transformer_lm.js';
import { Relu } from '../src/layers/activations.js';
import { Serial } from '../src/layers/combinators.js';
import { ShapeDtype } from '../src/shapes.js';
import * as F from '../src/engine/index.js';
import * as random from '../src/engine/random.js';
import type { Tensor } from '../src/engine/tensor.js';
import type { Weights } from '../src/layers/base.js';

function median(xs: number[]): number { const s = xs.slice().sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

function timeIt(fn: () => void, minRuns: number, minMs: number): number {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minMs) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
    if (times.length > 2000) break;
  }
  return median(times);
}

function blockTimes(d: number, batch: number, len: number, quick: boolean): { fwd: number; fwdBwd: number } {
  const block = Serial(DecoderBlock(d, 4 * d, Math.max(1, d / 32) | 0 || 1, 0.1, null, 'train', Relu));
  const sig = new ShapeDtype([batch, len, d], 'float32');
  const [w, s] = block.init(sig, { rng: random.key(0) });
  const x = random.normal(random.key(1), [batch, len, d]);
  const rng = random.key(2);
  const fwd = () => { block.pureFn(x, w, s, rng); };
  const loss = F.valueAndGrad((ws: Weights) => {
    const [y] = block.pureFn(x, ws, s, rng);
    return F.sum(y as Tensor);
  });
  const fwdBwd = () => { loss(w); };
  const runs = quick ? 3 : 10, ms = quick ? 300 : 1000;
  return { fwd: timeIt(fwd, runs, ms), fwdBwd: timeIt(fwdBwd, runs, ms) };
}

export async function benchLayers(): Promise<void> {
  console.log('\n== Decoder block (train mode, dropout 0.1): median ms per call ==');
  const configs = [{ d: 32, batch: 16, len: 10 }, { d: 256, batch: 16, len: 256 }];
  const backends: ('native' | 'js')[] = nativeUnavailableReason() === null ? ['native', 'js'] : ['js'];
  const rows: string[] = [];
  const results: Record<string, { fwd: number; fwdBwd: number }> = {};
  for (const b of backends) {
    setBackend(b);
    for (const c of configs) {
      const quick = b === 'js' && c.d === 256;
      const r = blockTimes(c.d, c.batch, c.len, quick);
      results[`${b}:${c.d}`] = r;
      rows.push(`${backendName().padEnd(7)} d_model ${String(c.d).padStart(3)} (batch ${c.batch}, length ${String(c.len).padStart(3)}): ` +
        `forward ${r.fwd.toFixed(3)} ms, forward+backward ${r.fwdBwd.toFixed(3)} ms`);
    }
  }
  for (const r of rows) console.log(r);
  if (backends.length === 2) {
    for (const c of configs) {
      const n = results[`native:${c.d}`], j = results[`js:${c.d}`];
      console.log(`speed-up native/js at d_model ${c.d}: forward ${(j.fwd / n.fwd).toFixed(1)}x, forward+backward ${(j.fwdBwd / n.fwdBwd).toFixed(1)}x`);
    }
    setBackend('native');
  }
}
