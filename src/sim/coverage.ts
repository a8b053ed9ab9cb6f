import type { SimThread } from './thread.js';

/** The interning table is replaced once it holds this many (operation, object) pairs. */
const MAX_PAIRS = 1 << 16;

/**
 * Interned (operation, object) pairs of scheduling points: each distinct pair gets a small
 * id, shared by every run on this host thread (an exploration's runs meet the same pairs
 * again and again), with a hint per pair: the pair a thread reached next after it the last
 * time, so that a thread going round a loop finds the id of its next point with two
 * identity comparisons instead of two hash lookups.
 */
class PairTable {
  private readonly ids = new Map<string, Map<string | undefined, number>>();
  readonly labels: string[] = [];
  readonly objects: (string | undefined)[] = [];
  /** Per pair id, three slots: the label, object and id of the pair last seen after it. */
  readonly hints: (string | number | undefined | null)[] = [];

  get size(): number {
    return this.labels.length;
  }

  intern(label: string, object: string | undefined): number {
    let byObject = this.ids.get(label);
    if (byObject === undefined) this.ids.set(label, (byObject = new Map()));
    let id = byObject.get(object);
    if (id === undefined) {
      id = this.labels.length;
      byObject.set(object, id);
      this.labels.push(label);
      this.objects.push(object);
      this.hints.push(null, undefined, -1);
    }
    return id;
  }
}

let table = new PairTable();

/** The table new runs use (a fresh one once the current one is full; runs keep theirs). */
function currentTable(): PairTable {
  if (table.size >= MAX_PAIRS) table = new PairTable();
  return table;
}

/**
 * What one run touched, for exploration coverage: the distinct (thread, operation, object)
 * triples of its scheduling points. Recorded only when a run asks for it (explore does). A
 * step costs, in a loop the thread has been round before, two identity comparisons, a few
 * array reads and a typed-array test, on state kept on the thread itself; no string is
 * built and nothing is allocated. The explorer folds objects to kinds and lock dependencies
 * to edges when it merges runs (src/explore/coverage.ts).
 */
export class StepCoverage {
  private readonly table = currentTable();
  /** Per thread id: the pair ids it reached, in the order first reached. */
  private readonly firsts: (number[] | undefined)[] = [];

  /** Thread `t` reached a scheduling point: operation `label` on `object`. */
  step(t: SimThread, label: string, object: string | undefined): void {
    const tb = this.table;
    const prev = t.coveragePrev;
    const h = 3 * prev;
    const hints = tb.hints;
    let id: number;
    if (prev >= 0 && hints[h] === label && hints[h + 1] === object) {
      id = hints[h + 2] as number;
    } else {
      id = tb.intern(label, object);
      if (prev >= 0) {
        hints[h] = label;
        hints[h + 1] = object;
        hints[h + 2] = id;
      }
    }
    t.coveragePrev = id;
    const seen = t.coverageSeen;
    if (seen === null || id >= seen.length || seen[id] === 0) this.first(t, id);
  }

  /**
   * The interning table this run's pair ids refer to (compare by identity: ids of two runs
   * are comparable when their tables are the same object).
   */
  get pairTable(): object {
    return this.table;
  }

  /** Thread ids 0 <= tid < threadSlots may have reached points. */
  get threadSlots(): number {
    return this.firsts.length;
  }

  /** The pair ids thread `tid` reached, in the order first reached (undefined: none). */
  firstsOf(tid: number): readonly number[] | undefined {
    return this.firsts[tid];
  }

  /** The operation of pair `id`. */
  labelOf(id: number): string {
    return this.table.labels[id];
  }

  /** The object of pair `id` (undefined: the point named none). */
  objectOf(id: number): string | undefined {
    return this.table.objects[id];
  }

  /** Calls `fn` once per distinct (thread id, operation, object) triple of the run. */
  forEach(fn: (tid: number, label: string, object: string | undefined) => void): void {
    const tb = this.table;
    for (let tid = 0; tid < this.firsts.length; tid++) {
      const ids = this.firsts[tid];
      if (ids === undefined) continue;
      for (const id of ids) fn(tid, tb.labels[id], tb.objects[id]);
    }
  }

  /** Thread `t` reached pair `id` for the first time in this run. */
  private first(t: SimThread, id: number): void {
    let seen = t.coverageSeen;
    if (seen === null || id >= seen.length) {
      const grown = new Uint8Array(Math.max(64, 2 * (seen === null ? 0 : seen.length), id + 1));
      if (seen !== null) grown.set(seen);
      t.coverageSeen = seen = grown;
    }
    seen[id] = 1;
    (this.firsts[t.id] ??= []).push(id);
  }
}
