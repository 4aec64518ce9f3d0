// A small seeded PRNG for data pipelines (xoshiro128**, seeded through
// splitmix32). Data streams draw numbers one at a time in long loops, where
// the engine's counter-based Threefry keys would be needlessly heavy.

import { randomUint32 } from '../platform/host.js';

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A fresh random seed, for streams built without one (Trax's unseeded np.random). */
export function randomSeed(): number {
  return randomUint32();
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` must be an integer; undefined picks a random seed. */
  constructor(seed?: number) {
    const s = seed ?? randomSeed();
    if (typeof s !== 'number' || !Number.isInteger(s)) {
      throw new TypeError(`seed must be an integer, got ${String(seed)}`);
    }
    // Mix both halves of seeds above 2^32 so they do not collide.
    const st = { s: (s >>> 0) ^ Math.imul(Math.floor(s / 4294967296) | 0, 0x27d4eb2d) };
    this.a = splitmix32(st); this.b = splitmix32(st); this.c = splitmix32(st); this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const r = Math.imul(((Math.imul(this.b, 5) << 7) | (Math.imul(this.b, 5) >>> 25)), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t;
    this.d = (this.d << 11) | (this.d >>> 21);
    return r;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  float(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); n <= 2^32. */
  below(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`Rng.below: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let x = this.u32();
    while (x >= limit) x = this.u32();
    return x % n;
  }

  /** Uniform integer in [lo, hi) (numpy's randint convention). */
  int(lo: number, hi: number): number {
    if (!(hi > lo)) throw new RangeError(`Rng.int: need hi > lo, got [${lo}, ${hi})`);
    return lo + this.below(hi - lo);
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = xs[i]; xs[i] = xs[j]; xs[j] = t;
    }
    return xs;
  }
}
