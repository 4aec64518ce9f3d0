// Plain float64 reference implementations used to check op outputs. They are
// deliberately simple (index arithmetic, no tricks) so they are easy to trust.

export function stridesOf(shape) {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

export function unravel(i, shape) {
  const idx = new Array(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) { idx[a] = i % shape[a]; i = Math.floor(i / shape[a]); }
  return idx;
}

export function ravel(idx, shape) {
  let off = 0;
  for (let a = 0; a < shape.length; a++) off = off * shape[a] + idx[a];
  return off;
}

export function bshape(a, b) {
  const r = Math.max(a.length, b.length);
  const out = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error('ref: not broadcastable');
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Reads x (shape xs, flat values) at an index of the broadcast output shape. */
function bget(vals, xs, idx) {
  const r = idx.length, off = r - xs.length;
  let p = 0;
  for (let a = 0; a < xs.length; a++) p = p * xs[a] + (xs[a] === 1 ? 0 : idx[a + off]);
  return vals[p];
}

/** Elementwise fn over broadcast tensors (any count); returns {shape, data}. */
export function bmap(tensors, fn) {
  const shape = tensors.map((t) => [...t.shape]).reduce(bshape);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    data[i] = fn(...tensors.map((t) => bget(t.dataSync(), t.shape, idx)));
  }
  return { shape, data };
}

/** Reduction over axes (sorted, non-negative) with fn(acc, v) from init. */
export function reduceRef(x, axes, keepDims, fn, init) {
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = outShape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n).fill(init);
  for (let i = 0; i < x.size; i++) {
    const idx = unravel(i, x.shape).map((v, a) => (axes.includes(a) ? 0 : v));
    const o = ravel(idx, outShape);
    data[o] = fn(data[o], x.dataSync()[i]);
  }
  const shape = keepDims ? outShape : x.shape.filter((_, i) => !axes.includes(i));
  return { shape, data };
}

export function transposeRef(x, perm) {
  const shape = perm.map((p) => x.shape[p]);
  const data = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const idx = unravel(i, x.shape);
    data[ravel(perm.map((p) => idx[p]), shape)] = x.dataSync()[i];
  }
  return { shape, data };
}

/** 2-D matmul of flat row-major arrays: (m,k) x (k,n). */
export function mm(a, b, m, k, n) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
    c[i * n + j] = s;
  }
  return c;
}

/** erf by composite Simpson integration of 2/sqrt(pi) exp(-t^2): independent of the library's series. */
export function erfRef(x) {
  const n = 2000, h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-(i * h) * (i * h));
  return (2 / Math.sqrt(Math.PI)) * (h / 3) * s;
}

export function softmaxRow(row) {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
