/** Capacity, in integers, of a fresh growable buffer. */
const FIRST = 1024;
/** Growable buffers kept for reuse, and the largest one kept (in integers: 16 MB). */
const POOL_SIZE = 4;
const POOL_MAX = 1 << 22;
const pool: Int32Array[] = [];

/**
 * An append-only list of 32-bit integers: the storage of the per-run logs the scheduler
 * appends to at every step (decisions, the readable schedule). Its contents live in a typed
 * array, invisible to the garbage collector: a long run's log is neither scanned nor copied
 * by every scavenge (with plain arrays, a 100,000-step run spent more time in the collector
 * than in the scheduler). While the run goes on, the log grows by doubling a buffer taken
 * from a small pool; `seal` (at the end of the run) copies the contents into an exact-size
 * array and returns the buffer to the pool, so that the runs of an exploration reuse a few
 * buffers instead of allocating and growing one each.
 */
export class IntLog {
  private buf: Int32Array | null = null;
  /** Whether `buf` is a pooled growable buffer (not yet sealed). */
  private pooled = false;
  /** Integers stored. */
  length = 0;

  push(x: number): void {
    let b = this.buf;
    if (b === null || this.length === b.length) b = this.grow(this.length + 1);
    b[this.length++] = x;
  }

  push3(x: number, y: number, z: number): void {
    let b = this.buf;
    const n = this.length;
    if (b === null || n + 3 > b.length) b = this.grow(n + 3);
    b[n] = x;
    b[n + 1] = y;
    b[n + 2] = z;
    this.length = n + 3;
  }

  /** The integer at `i` (0 <= i < length). */
  at(i: number): number {
    return this.buf![i];
  }

  /**
   * The log is complete (the run ended): keeps its contents in an exact-size array and
   * returns its growable buffer to the pool. A push after this still works (it grows anew).
   */
  seal(): void {
    const b = this.buf;
    if (b === null || !this.pooled) return;
    this.buf = b.slice(0, this.length);
    this.pooled = false;
    if (pool.length < POOL_SIZE && b.length <= POOL_MAX) pool.push(b);
  }

  /** A growable buffer of at least `need` integers holding the contents (a sealed log may be tiny). */
  private grow(need: number): Int32Array {
    const old = this.buf;
    let b: Int32Array;
    if (old === null) {
      b = pool.pop() ?? new Int32Array(FIRST);
    } else {
      b = new Int32Array(Math.max(2 * old.length, need, FIRST));
      b.set(old.subarray(0, this.length));
    }
    this.pooled = true;
    this.buf = b;
    return b;
  }
}
