// Threefry-2x32 counter words, shared by random.ts and the js kernels.
/** n raw 32-bit words from key (k0, k1): threefry over counters, JAX's layout. */
export function bitsFromWords(key0: number, key1: number, n: number): Uint32Array {
  const out = new Uint32Array(n + (n & 1));
  const half = out.length >>> 1;
  const k0 = key0 | 0, k1 = key1 | 0, k2 = (k0 ^ k1 ^ 0x1bd11bda) | 0;
  // The rounds are inlined here: this loop makes every dropout mask.
  for (let i = 0; i < half; i++) {
    // Like JAX, an odd count list is padded with a 0 counter (not n).
    const x1 = half + i < n ? half + i : 0;
    let a = (i + k0) | 0, b = (x1 + k1) | 0;
    a = (a + b) | 0; b = ((b << 13) | (b >>> 19)) ^ a;
    a = (a + b) | 0; b = ((b << 15) | (b >>> 17)) ^ a;
    a = (a + b) | 0; b = ((b << 26) | (b >>> 6)) ^ a;
    a = (a + b) | 0; b = ((b << 6) | (b >>> 26)) ^ a;
    a = (a + k1) | 0; b = (b + k2 + 1) | 0;
    a = (a + b) | 0; b = ((b << 17) | (b >>> 15)) ^ a;
    a = (a + b) | 0; b = ((b << 29) | (b >>> 3)) ^ a;
    a = (a + b) | 0; b = ((b << 16) | (b >>> 16)) ^ a;
    a = (a + b) | 0; b = ((b << 24) | (b >>> 8)) ^ a;
    a = (a + k2) | 0; b = (b + k0 + 2) | 0;
    a = (a + b) | 0; b = ((b << 13) | (b >>> 19)) ^ a;
    a = (a + b) | 0; b = ((b << 15) | (b >>> 17)) ^ a;
    a = (a + b) | 0; b = ((b << 26) | (b >>> 6)) ^ a;
    a = (a + b) | 0; b = ((b << 6) | (b >>> 26)) ^ a;
    a = (a + k0) | 0; b = (b + k1 + 3) | 0;
    a = (a + b) | 0; b = ((b << 17) | (b >>> 15)) ^ a;
    a = (a + b) | 0; b = ((b << 29) | (b >>> 3)) ^ a;
    a = (a + b) | 0; b = ((b << 16) | (b >>> 16)) ^ a;
    a = (a + b) | 0; b = ((b << 24) | (b >>> 8)) ^ a;
    a = (a + k1) | 0; b = (b + k2 + 4) | 0;
    a = (a + b) | 0; b = ((b << 13) | (b >>> 19)) ^ a;
    a = (a + b) | 0; b = ((b << 15) | (b >>> 17)) ^ a;
    a = (a + b) | 0; b = ((b << 26) | (b >>> 6)) ^ a;
    a = (a + b) | 0; b = ((b << 6) | (b >>> 26)) ^ a;
    a = (a + k2) | 0; b = (b + k0 + 5) | 0;
    out[i] = a; out[half + i] = b;
  }
  return n & 1 ? out.subarray(0, n) : out;
}


const ROT = [13, 15, 26, 6, 17, 29, 16, 24];

/** One counter pair (x0, x1) under key (k0, k1): both words into out[o], out[o + 1]. */
export function threefryPair(k0: number, k1: number, x0: number, x1: number, out: Uint32Array, o: number): void {
  const ks = [k0 | 0, k1 | 0, (k0 ^ k1 ^ 0x1bd11bda) | 0];
  let a = (x0 + ks[0]) | 0, b = (x1 + ks[1]) | 0;
  for (let inj = 1; inj <= 5; inj++) {
    const base = inj % 2 === 1 ? 0 : 4;
    for (let r = 0; r < 4; r++) {
      const rot = ROT[base + r];
      a = (a + b) | 0;
      b = ((b << rot) | (b >>> (32 - rot))) ^ a;
    }
    a = (a + ks[inj % 3]) | 0;
    b = (b + ks[(inj + 1) % 3] + inj) | 0;
  }
  out[o] = a >>> 0; out[o + 1] = b >>> 0;
}
