// Seeded mutations for the fuzz tests: deterministic for a given seed.

/** mulberry32: a small seeded generator of floats in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x28, 0x2e, 0x71, 0x68, 0x5d, 0x8b, 0x94, 0x0a, 0x22, 0x7b, 0x5b];

/** One to four random edits: bit flips, special bytes, big length fields, inserts, deletes, copies, truncation. */
export function mutate(base, r) {
  let b = Buffer.from(base);
  const n = 1 + Math.floor(r() * 4);
  const pos = () => Math.floor(r() * Math.max(1, b.length));
  for (let k = 0; k < n; k++) {
    const op = Math.floor(r() * 8);
    if (b.length === 0) b = Buffer.from([Math.floor(r() * 256)]);
    if (op === 0) { const p = pos(); b[p] ^= 1 << Math.floor(r() * 8); }
    else if (op === 1) b[pos()] = SPECIAL[Math.floor(r() * SPECIAL.length)];
    else if (op === 2) {
      // A length or count field made huge, small or negative.
      const p = pos(), v = [0xffffffff, 0x7fffffff, 0x80000000, 1e6, 0, 2 ** 24][Math.floor(r() * 6)];
      if (p + 4 <= b.length) b.writeUInt32LE(v >>> 0, p);
    } else if (op === 3) {
      const p = pos(), extra = Buffer.alloc(1 + Math.floor(r() * 8));
      for (let i = 0; i < extra.length; i++) extra[i] = Math.floor(r() * 256);
      b = Buffer.concat([b.subarray(0, p), extra, b.subarray(p)]);
    } else if (op === 4) { const p = pos(); b = Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + 1 + Math.floor(r() * 16)))]); }
    else if (op === 5) {
      // A slice copied elsewhere (repeats opcodes, memo references, header fields).
      const p = pos(), len = 1 + Math.floor(r() * 64), q = pos();
      b = Buffer.concat([b.subarray(0, q), b.subarray(p, p + len), b.subarray(q)]);
    } else if (op === 6) b = b.subarray(0, pos());
    else { const p = pos(); b[p] = Math.floor(r() * 256); }
  }
  return b;
}
