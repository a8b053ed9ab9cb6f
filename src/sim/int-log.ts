/** Capacity, in integers, of a fresh growable buffer. */
const FIRST = 1024;
/** Growable buffers kept for reuse, and the largest one kept (in integers: 16 MB). */
const POOL_SIZE = 4;
const POOL_MAX = 1 << 22;
const pool: Int32Array[] = [];

/**
 * A lender's contents (see `lent`) of up to SLAB_SHARE integers are copied into a shared
 * slab when its buffer is reclaimed, and read from there: the copy then allocates nothing
 * (an exact-size copy is an array buffer outside the heap, which costs an allocation, a
 * free and the collector's bookkeeping; with two logs copied per schedule that was 5% of a
 * 300-step schedule's time). A slab lives while any log copied into it does: at most
 * SLAB_SIZE integers (1 MB) per run kept.
 */
const SLAB_SIZE = 1 << 18;
const SLAB_SHARE = 1 << 14;
let slab = new Int32Array(SLAB_SIZE);
let slabUsed = 0;

/**
 * Sealed logs that still read from their growable buffer (at most LENT_MAX): a sealed log
 * lends its buffer until it is released (`release`: explore drops a run it keeps nothing
 * of) or until the pool needs it back (`reclaim`: the log copies its contents out first).
 * A long run's log is then never copied when it is released: copying it out costs fresh
 * memory, whose first touch (a page fault per 4 KB) made the copy at the end of a
 * 100,000-step run a fifth of the run's time.
 */
const LENT_MAX = 4;
const lent: IntLog[] = [];

/**
 * An append-only list of 32-bit integers: the storage of the per-run logs the scheduler
 * appends to at every step (decisions, the readable schedule). Its contents live in a typed
 * array, invisible to the garbage collector: a long run's log is neither scanned nor copied
 * by every scavenge (with plain arrays, a 100,000-step run spent more time in the collector
 * than in the scheduler). While the run goes on, the log grows by doubling a buffer taken
 * from a small pool. `seal` (at the end of the run) keeps the contents where they are and
 * lends the buffer; `release` hands it back to the pool when the log will not be read again,
 * so that the runs of an exploration reuse a few buffers instead of allocating and growing
 * one each. A log sealed and never released copies its contents out (into a shared slab, or
 * when long an exact-size array) once the pool needs its buffer. The pool only changes
 * where contents live, never what a log holds.
 */
export class IntLog {
  private buf: Int32Array | null = null;
  /** Where the contents start in `buf` (non-zero only for a log copied into a slab). */
  private base = 0;
  /** Whether `buf` is this log's own growable buffer, not sealed: pushes go there. */
  private pooled = false;
  /** Whether `buf` is a buffer this sealed log lends (it is in `lent`). */
  private lending = false;
  /** Whether `release` ran and nothing was pushed since: the contents are gone. */
  released = false;
  /** Integers stored. */
  length = 0;

  /** Appends `x` (a 32-bit integer). */
  push(x: number): void {
    let b = this.buf;
    if (!this.pooled || this.length === b!.length) b = this.grow(this.length + 1);
    b![this.length++] = x;
  }

  /** Appends `x` and `y`, with one capacity check. */
  push2(x: number, y: number): void {
    let b = this.buf;
    const n = this.length;
    if (!this.pooled || n + 2 > b!.length) b = this.grow(n + 2);
    b![n] = x;
    b![n + 1] = y;
    this.length = n + 2;
  }

  /** Appends `x`, `y` and `z`, with one capacity check. */
  push3(x: number, y: number, z: number): void {
    let b = this.buf;
    const n = this.length;
    if (!this.pooled || n + 3 > b!.length) b = this.grow(n + 3);
    b![n] = x;
    b![n + 1] = y;
    b![n + 2] = z;
    this.length = n + 3;
  }

  /** The integer at `i` (0 <= i < length). Throws once the log is released. */
  at(i: number): number {
    if (this.released) throw new Error('IntLog: read after release (its buffer went back to the pool)');
    return this.buf![this.base + i];
  }

  /**
   * The log is complete (the run ended): it keeps reading its contents from its growable
   * buffer and lends that buffer (see `lent`); the oldest lender copies its contents out
   * when more than LENT_MAX lend. A push after this still works (it grows anew).
   */
  seal(): void {
    if (this.buf === null || !this.pooled) return;
    this.pooled = false;
    this.lending = true;
    lent.push(this);
    if (lent.length > LENT_MAX) giveBack(lent.shift()!.reclaim());
  }

  /**
   * Nothing will read this log again: a lent buffer goes back to the pool at once, without
   * copying. Reading it afterwards throws. Pushing starts a new, empty log.
   */
  release(): void {
    if (this.lending) this.unlend();
    if (this.pooled) giveBack(this.buf!);
    this.buf = null;
    this.base = 0;
    this.pooled = false;
    this.lending = false;
    this.released = true;
    this.length = 0;
  }

  /** Takes this sealed log's buffer back from `lent`: it is the log's own growable buffer again. */
  private unlend(): void {
    lent.splice(lent.indexOf(this), 1);
    this.lending = false;
    this.pooled = true;
  }

  /** The pool wants this lender's buffer: copies the contents out, returns the buffer. */
  private reclaim(): Int32Array {
    const b = this.buf!;
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
    this.lending = false;
    return b;
  }

  /** A growable buffer of at least `need` integers holding the contents (a sealed log may be tiny). */
  private grow(need: number): Int32Array {
    // A sealed log pushed to again: its lent buffer is its own again, and may have room.
    if (this.lending) {
      this.unlend();
      if (need <= this.buf!.length) return this.buf!;
    }
    const old = this.buf;
    let b: Int32Array;
    if (old === null) {
      this.released = false;
      b = pool.pop() ?? (lent.length > 0 ? lent.shift()!.reclaim() : new Int32Array(FIRST));
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

/** Returns a growable buffer to the pool (or to the collector when the pool is full or it is huge). */
function giveBack(b: Int32Array): void {
  if (pool.length < POOL_SIZE && b.length <= POOL_MAX) pool.push(b);
}
