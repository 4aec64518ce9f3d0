// Matrix products: matmul (numpy broadcasting of batch axes) and linear
// (Dense: x @ W + b with the bias in the GEMM's epilogue).
import { Reduce } from '../../backends/kernels.js';
import { allocF32Raw } from '../pool.js';
import { record } from '../tape.js';
import { Tensor, shapeSize, toTensor, type TensorLike, fromStorage } from '../tensor.js';
import { K, f32, fmt, opError } from './util.js';
import { broadcastShapes, cast, sumTo } from './elementwise.js';
import { expandTo, reshape } from './shape.js';

/**
 * Batched matrix product with numpy broadcasting of the leading axes.
 * transposeA/B transpose the last two axes of a/b without copying.
 */
export function matmul(al: TensorLike, bl: TensorLike, transposeA = false, transposeB = false): Tensor {
  let a = toTensor(al, 'matmul'), b = toTensor(bl, 'matmul');
  if (a.dtype !== 'float32') a = cast(a, 'float32');
  if (b.dtype !== 'float32') b = cast(b, 'float32');
  if (a.rank === 0 || b.rank === 0) throw opError('matmul', 'operands must have at least one axis', a, b);
  const aVec = a.rank === 1, bVec = b.rank === 1;
  // Check the contraction here so the message shows the caller's shapes, not the reshaped ones.
  const ka = aVec ? a.shape[0] : a.shape[a.rank - (transposeA ? 2 : 1)];
  const kb = bVec ? b.shape[0] : b.shape[b.rank - (transposeB ? 1 : 2)];
  if (ka !== kb) {
    const flags = transposeA || transposeB ? ` (transposeA=${transposeA}, transposeB=${transposeB})` : '';
    throw opError('matmul', `inner dimensions differ: ${ka} vs ${kb}${flags}`, a, b);
  }
  const a2 = aVec ? reshape(a, transposeA ? [a.shape[0], 1] : [1, a.shape[0]]) : a;
  const b2 = bVec ? reshape(b, transposeB ? [1, b.shape[0]] : [b.shape[0], 1]) : b;
  const out = matmulND(a2, b2, transposeA, transposeB);
  let shape = out.shape.slice();
  if (aVec) shape.splice(shape.length - 2, 1);
  if (bVec) shape = shape.slice(0, -1);
  return aVec || bVec ? reshape(out, shape) : out;
}

function matmulND(a: Tensor, b: Tensor, tA: boolean, tB: boolean): Tensor {
  const ar = a.rank, br = b.rank;
  const m = tA ? a.shape[ar - 1] : a.shape[ar - 2];
  const ka = tA ? a.shape[ar - 2] : a.shape[ar - 1];
  const kb = tB ? b.shape[br - 1] : b.shape[br - 2];
  const n = tB ? b.shape[br - 2] : b.shape[br - 1];
  if (ka !== kb) {
    throw opError('matmul', `inner dimensions differ: ${ka} vs ${kb}${tA || tB ? ` (transposeA=${tA}, transposeB=${tB})` : ''}`, a, b);
  }
  const k = ka;
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  let batchShape: number[];
  try { batchShape = broadcastShapes(aBatch, bBatch, 'matmul'); } catch {
    throw opError('matmul', `batch dimensions ${fmt(aBatch)} and ${fmt(bBatch)} cannot be broadcast together`, a, b);
  }
  const batch = shapeSize(batchShape);
  const outShape = [...batchShape, m, n];
  const kern = K();
  // Fold a's batch into rows when b is shared: one big GEMM instead of many small ones.
  if (bBatch.length === 0 || shapeSize(bBatch) === 1) {
    if (!tA && shapeSize(aBatch) === batch) {
      const c = allocF32Raw(batch * m * n);
      kern.matmul(f32(a), f32(b), c, 1, batch * m, n, k, false, tB, 0, 0, false);
      const out = fromStorage(c, outShape, 'float32');
      return record(out, [a, b], (dy) => matmulGrads(a, b, dy, tA, tB));
    }
  }
  const ae = shapeSize(aBatch) === batch && aBatch.length === batchShape.length ? a
    : shapeSize(aBatch) === 1 ? a : expandTo(a, [...batchShape, ...a.shape.slice(-2)]);
  const be = shapeSize(bBatch) === batch && bBatch.length === batchShape.length ? b
    : shapeSize(bBatch) === 1 ? b : expandTo(b, [...batchShape, ...b.shape.slice(-2)]);
  const sa = shapeSize(ae.shape.slice(0, -2)) === 1 ? 0 : m * k;
  const sb = shapeSize(be.shape.slice(0, -2)) === 1 ? 0 : k * n;
  const c = allocF32Raw(batch * m * n);
  kern.matmul(f32(ae), f32(be), c, batch, m, n, k, tA, tB, sa, sb, false);
  const out = fromStorage(c, outShape, 'float32');
  return record(out, [a, b], (dy) => matmulGrads(a, b, dy, tA, tB));
}

function matmulGrads(a: Tensor, b: Tensor, dy: Tensor, tA: boolean, tB: boolean): Tensor[] {
  if (b.rank === 2 && a.rank > 2 && !tA) {
    // Folded case (x @ W with shared W): both gradients are single 2-D GEMMs.
    const k = a.shape[a.rank - 1], n = dy.shape[dy.rank - 1];
    const a2 = reshape(a, [-1, k]), dy2 = reshape(dy, [-1, n]);
    const da = reshape(matmul(dy2, b, false, !tB), a.shape);
    const db = tB ? matmul(dy2, a2, true, false) : matmul(a2, dy2, true, false);
    return [da, db];
  }
  // C = opA(A) opB(B): dopA = dC opB(B)^T, dopB = opA(A)^T dC.
  const da = tA ? matmul(b, dy, tB, true) : matmul(dy, b, false, !tB);
  const db = tB ? matmul(dy, a, true, tA) : matmul(a, dy, !tA, false);
  const fix = (g: Tensor, x: Tensor): Tensor => {
    if (g.shape.length === x.shape.length && g.shape.every((d, i) => d === x.shape[i])) return g;
    return sumTo(g, x.shape);
  };
  return [fix(da, a), fix(db, b)];
}

/**
 * x @ W + b over the last axis of x (Dense): one GEMM with the bias added in
 * place; backward is two GEMMs and a column sum.
 */
export function linear(xl: TensorLike, wl: TensorLike, bl?: TensorLike | null): Tensor {
  const x = toTensor(xl, 'linear'), w = toTensor(wl, 'linear');
  const b = bl === undefined || bl === null ? null : toTensor(bl, 'linear');
  if (w.rank !== 2 || x.rank < 1 || x.shape[x.rank - 1] !== w.shape[0]) {
    throw opError('linear', `input depth must equal the kernel's first axis (${w.shape[0]})`, x, w);
  }
  const [k, n] = w.shape;
  if (b && b.size !== n) throw opError('linear', `bias must have ${n} values`, x, w, b);
  const rows = x.size / k;
  const xb = f32(x.dtype === 'float32' ? x : cast(x, 'float32')), wb = f32(w.dtype === 'float32' ? w : cast(w, 'float32'));
  const out = allocF32Raw(rows * n);
  K().matmul(xb, wb, out, 1, rows, n, k, false, false, 0, 0, false, b ? f32(b.dtype === 'float32' ? b : cast(b, 'float32')) : null);
  const y = fromStorage(out, [...x.shape.slice(0, -1), n], 'float32');
  return record(y, b ? [x, w, b] : [x, w], (dy) => {
    const g = f32(dy);
    const dx = allocF32Raw(x.size), dw = allocF32Raw(w.size);
    K().matmul(g, wb, dx, 1, rows, k, n, false, true, 0, 0, false);
    K().matmul(xb, g, dw, 1, k, n, rows, true, false, 0, 0, false);
    const grads: (Tensor | null)[] = [fromStorage(dx, x.shape, 'float32'), fromStorage(dw, w.shape, 'float32')];
    if (b) {
      const db = allocF32Raw(n);
      K().reduce(Reduce.Sum, g, db, 1, rows, n);
      grads.push(fromStorage(db, b.shape, 'float32'));
    }
    return grads;
  });
}
