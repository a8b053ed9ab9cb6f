const GOLDEN = 0x9e3779b9;

/** splitmix32's output function for state `s` (already advanced by GOLDEN). */
function splitmix32(s: number): number {
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Seeded pseudo-random number generator (sfc32, seeded through splitmix32).
 *
 * Everything random inside a simulation comes from one of these; nothing reads the
 * host's randomness. Two generators built from the same seed give the same stream.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 spreads small consecutive seeds over the whole state; the high bits of
    // seeds beyond 32 bits are mixed in first. (No closure: a run builds two of these.)
    let s = ((seed >>> 0) ^ Math.floor(seed / 0x100000000)) >>> 0;
    s = (s + GOLDEN) | 0;
    this.a = splitmix32(s);
    s = (s + GOLDEN) | 0;
    this.b = splitmix32(s);
    s = (s + GOLDEN) | 0;
    this.c = splitmix32(s);
    s = (s + GOLDEN) | 0;
    this.d = splitmix32(s);
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 0x100000000;
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2^32. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Derives the seed of schedule `index` of an exploration seeded with `seed`. */
export function deriveSeed(seed: number, index: number): number {
  let h = (seed ^ 0x5bd1e995) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  h = (h + Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x68e31da4) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
