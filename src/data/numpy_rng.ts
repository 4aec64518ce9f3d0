// numpy's default generator, np.random.default_rng(seed): PCG64 (XSL-RR,
// 128-bit LCG) seeded through SeedSequence, and Generator.integers'
// bounded draws (Lemire's method on 32-bit outputs for ranges below 2^32).
// The LM data streams use it so that their windows are the ones the
// PyTorch anchor (task L, nanoGPT's get_batch) draws for the same seed:
// then two implementations train and evaluate on identical windows and
// differ only in their models.

const M32 = 0xffffffff;
const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
const PCG_MULT = 0x2360ed051fc65da44385df649fccf645n;

// SeedSequence constants (numpy/random/bit_generator.pyx).
const INIT_A = 0x43b0d7e5, MULT_A = 0x931e8875, INIT_B = 0x8b51f9dd, MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd, MIX_MULT_R = 0x4973f715;
const POOL_SIZE = 4;

function seedWords(seed: number): number[] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`numpy seed must be a non-negative safe integer, got ${seed}`);
  if (seed === 0) return [0];
  const out: number[] = [];
  for (let n = seed; n > 0; n = Math.floor(n / 4294967296)) out.push(n % 4294967296);
  return out;
}

/** SeedSequence(seed).generate_state(4, uint64) as four BigInts. */
function seedState(seed: number): bigint[] {
  const entropy = seedWords(seed);
  let hc = INIT_A;
  const hashmix = (value: number): number => {
    let v = (value ^ hc) >>> 0;
    hc = Math.imul(hc, MULT_A) >>> 0;
    v = Math.imul(v, hc) >>> 0;
    return (v ^ (v >>> 16)) >>> 0;
  };
  const mix = (x: number, y: number): number => {
    const r = (Math.imul(MIX_MULT_L, x) - Math.imul(MIX_MULT_R, y)) >>> 0;
    return (r ^ (r >>> 16)) >>> 0;
  };
  const pool = new Array<number>(POOL_SIZE);
  for (let i = 0; i < POOL_SIZE; i++) pool[i] = hashmix(i < entropy.length ? entropy[i] : 0);
  for (let s = 0; s < POOL_SIZE; s++) {
    for (let d = 0; d < POOL_SIZE; d++) if (s !== d) pool[d] = mix(pool[d], hashmix(pool[s]));
  }
  for (let s = POOL_SIZE; s < entropy.length; s++) {
    for (let d = 0; d < POOL_SIZE; d++) pool[d] = mix(pool[d], hashmix(entropy[s]));
  }
  let hb = INIT_B;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) {
    let v = (pool[i % POOL_SIZE] ^ hb) >>> 0;
    hb = Math.imul(hb, MULT_B) >>> 0;
    v = Math.imul(v, hb) >>> 0;
    words.push((v ^ (v >>> 16)) >>> 0);
  }
  // uint32 pairs viewed as little-endian uint64s.
  return [0, 1, 2, 3].map((k) => BigInt(words[2 * k]) | (BigInt(words[2 * k + 1]) << 32n));
}

export class NumpyGenerator {
  private state: bigint;
  private readonly inc: bigint;
  private spare: number | null = null;

  constructor(seed: number) {
    const [s0, s1, s2, s3] = seedState(seed);
    const initState = (s0 << 64n) | s1;
    const initSeq = (s2 << 64n) | s3;
    this.inc = ((initSeq << 1n) | 1n) & MASK128;
    this.state = 0n;
    this.step();
    this.state = (this.state + initState) & MASK128;
    this.step();
  }

  private step(): void {
    this.state = (this.state * PCG_MULT + this.inc) & MASK128;
  }

  /** The next 64-bit output (PCG XSL-RR 128/64). */
  next64(): bigint {
    this.step();
    const s = this.state;
    const x = ((s >> 64n) ^ s) & MASK64;
    const rot = Number(s >> 122n);
    return ((x >> BigInt(rot)) | (x << BigInt((64 - rot) & 63))) & MASK64;
  }

  /** The next 32-bit output: the low half of a 64-bit draw, then its high half. */
  next32(): number {
    if (this.spare !== null) {
      const r = this.spare;
      this.spare = null;
      return r;
    }
    const v = this.next64();
    this.spare = Number(v >> 32n);
    return Number(v & 0xffffffffn);
  }

  /** Generator.integers(low, high) for one int64 value; high - low must be in [1, 2^32]. */
  integers(low: number, high: number): number {
    const range = high - low - 1;
    if (!Number.isInteger(low) || !Number.isInteger(high) || range < 0 || range > M32) {
      throw new RangeError(`NumpyGenerator.integers: need integers with 1 <= high - low <= 2^32, got [${low}, ${high})`);
    }
    if (range === 0) return low;
    if (range === M32) return low + this.next32();
    // Lemire's multiply-and-reject on 32-bit draws, as numpy's buffered_bounded_lemire_uint32.
    const excl = range + 1;
    let m = BigInt(this.next32()) * BigInt(excl);
    let leftover = Number(m & 0xffffffffn);
    if (leftover < excl) {
      const threshold = (M32 - range) % excl;
      while (leftover < threshold) {
        m = BigInt(this.next32()) * BigInt(excl);
        leftover = Number(m & 0xffffffffn);
      }
    }
    return low + Number(m >> 32n);
  }
}
