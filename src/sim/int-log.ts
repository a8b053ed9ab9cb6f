/** Capacity, in integers, of a fresh growable buffer. */
const FIRST = 1024;
/** Growable buffers kept for reuse, and the largest one kept (in integers: 16 MB). */
const POOL_SIZE = 4;
const POOL_MAX = 1 << 22;
const pool: Int32Array[] = [];

/**
 * Sealed logs of up to SLAB_SHARE integers are copied into a shared slab and read from
 * there: a run's seal then allocates nothing (an exact-size copy is an array buffer outside
 * the heap, which costs an allocation, a free and the collector's bookkeeping; with two
 * logs sealed per schedule that was 5% of a 300-step schedule's time). A slab lives while
 * any log sealed into it does: at most SLAB_SIZE integers (1 MB) per run kept.
 */
const SLAB_SIZE = 1 << 18;
const SLAB_SHARE = 1 << 14;
let slab = new Int32Array(SLAB_SIZE);
let slabUsed = 0;

/**
 * An append-only list of 32-bit integers: the storage of the per-run logs the scheduler
 * appends to at every step (decisions, the readable schedule). Its contents live in a typed
 * array, invisible to the garbage collector: a long run's log is neither scanned nor copied
 * by every scavenge (with plain arrays, a 100,000-step run spent more time in the collector
 * than in the scheduler). While the run goes on, the log grows by doubling a buffer taken
 * from a small pool; `seal` (at the end of the run) moves the contents into a shared slab
 * (long logs: an exact-size array) and returns the buffer to the pool, so that the runs of
 * an exploration reuse a few buffers instead of allocating and growing one each.
 */
export class IntLog {
  private buf: Int32Array | null = null;
  /** Where the contents start in `buf` (non-zero only for a log sealed into a slab). */
  private base = 0;
  /** Whether `buf` is this log's own growable buffer (not sealed): pushes go there. */
  private pooled = false;
  /** Integers stored. */
  length = 0;

  push(x: number): void {
    let b = this.buf;
    if (!this.pooled || this.length === b!.length) b = this.grow(this.length + 1);
    b![this.length++] = x;
  }

  push3(x: number, y: number, z: number): void {
    let b = this.buf;
    const n = this.length;
    if (!this.pooled || n + 3 > b!.length) b = this.grow(n + 3);
    b![n] = x;
    b![n + 1] = y;
    b![n + 2] = z;
    this.length = n + 3;
  }

  /** The integer at `i` (0 <= i < length). */
  at(i: number): number {
    return this.buf![this.base + i];
  }

  /**
   * The log is complete (the run ended): keeps its contents in a shared slab (or, when long,
   * an exact-size array) and returns its growable buffer to the pool. A push after this
   * still works (it grows anew).
   */
  seal(): void {
    const b = this.buf;
    if (b === null || !this.pooled) return;
    const n = this.length;
    if (n > SLAB_SHARE) {
      this.buf = b.slice(0, n);
      this.base = 0;
    } else {
      if (slabUsed + n > SLAB_SIZE) {
        slab = new Int32Array(SLAB_SIZE);
        slabUsed = 0;
      }
      // A loop beats creating a subarray for set() below a few hundred integers.
      if (n < 256) for (let i = 0; i < n; i++) slab[slabUsed + i] = b[i];
      else slab.set(b.subarray(0, n), slabUsed);
      this.buf = slab;
      this.base = slabUsed;
      slabUsed += n;
    }
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
      b = new Int32Array(Math.max(2 * this.length, need, FIRST));
      for (let i = 0; i < this.length; i++) b[i] = old[this.base + i];
    }
    this.pooled = true;
    this.buf = b;
    this.base = 0;
    return b;
  }
}
