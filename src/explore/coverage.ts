import type { Simulation } from '../sim/simulation.js';
import { foldNumbers } from '../sim/violation.js';

/**
 * Exploration coverage: the distinct (thread, operation, object kind) triples and the
 * distinct lock-order edges the schedules reached, so a user can tell whether more
 * schedules still find new behaviour. Object kinds fold numbers (`page 0x1000` and
 * `page 0x2000` are one kind). Shards merge by union.
 */
export interface CoverageReport {
  /** `thread operation object-kind`, sorted. */
  operations: string[];
  /** `from -> to` lock classes, sorted. */
  lockEdges: string[];
}

/** Accumulates the coverage of many runs. */
export class Coverage {
  readonly operations = new Set<string>();
  readonly lockEdges = new Set<string>();
  private readonly kinds = new Map<string, string>();

  /** Raw triples already counted: thread → operation → objects (no string built per run). */
  private readonly seen = new Map<string, Map<string, Set<string | undefined>>>();
  /**
   * Per thread name, per pair id of `pairTable`: 1 once counted. Lets a run's triples that
   * earlier runs reached be skipped with an array read (no map lookup, no string).
   */
  private readonly counted = new Map<string, Uint8Array>();
  private pairTable: object | null = null;
  /** Lock dependencies already counted: from → to. */
  private readonly seenEdges = new Map<string, Set<string>>();

  /** Adds what the finished run `sim` (run with `coverage: true`) touched. */
  addRun(sim: Simulation): void {
    const c = sim.coverage;
    if (c !== null) {
      if (c.pairTable !== this.pairTable) {
        this.pairTable = c.pairTable;
        this.counted.clear();
      }
      for (let tid = 0; tid < c.threadSlots; tid++) {
        const ids = c.firstsOf(tid);
        if (ids === undefined) continue;
        const thread = sim.threads[tid].name;
        let counted = this.counted.get(thread);
        for (const id of ids) {
          // Fast path: this thread name reached this interned pair in an earlier run.
          if (counted !== undefined && id < counted.length && counted[id] === 1) continue;
          if (counted === undefined || id >= counted.length) {
            const grown = new Uint8Array(Math.max(64, 2 * (counted?.length ?? 0), id + 1));
            if (counted !== undefined) grown.set(counted);
            this.counted.set(thread, (counted = grown));
          }
          counted[id] = 1;
          this.addTriple(thread, c.labelOf(id), c.objectOf(id));
        }
      }
    }
    for (const [from, to] of sim.lockdep.dependencies()) {
      let tos = this.seenEdges.get(from);
      if (tos === undefined) this.seenEdges.set(from, (tos = new Set()));
      if (tos.has(to)) continue;
      tos.add(to);
      this.lockEdges.add(`${from} -> ${to}`);
    }
  }

  /** Counts (thread, label, object) unless an earlier run did (under another interning table). */
  private addTriple(thread: string, label: string, object: string | undefined): void {
    let seenOps = this.seen.get(thread);
    if (seenOps === undefined) this.seen.set(thread, (seenOps = new Map()));
    let seenObjects = seenOps.get(label);
    if (seenObjects === undefined) seenOps.set(label, (seenObjects = new Set()));
    if (seenObjects.has(object)) return;
    seenObjects.add(object);
    this.operations.add(`${thread} ${label} ${object === undefined ? '-' : this.kindOf(object)}`);
  }

  /** Adds a report (a shard's). */
  addReport(r: CoverageReport): void {
    for (const o of r.operations) this.operations.add(o);
    for (const e of r.lockEdges) this.lockEdges.add(e);
  }

  report(): CoverageReport {
    return { operations: [...this.operations].sort(), lockEdges: [...this.lockEdges].sort() };
  }

  private kindOf(object: string): string {
    let k = this.kinds.get(object);
    if (k === undefined) {
      k = foldNumbers(object);
      this.kinds.set(object, k);
    }
    return k;
  }
}

/** One line for a result: `coverage: 42 operations, 5 lock-order edges`. */
export function describeCoverage(r: CoverageReport): string {
  return `coverage: ${r.operations.length} operations (thread, operation, object kind), ${r.lockEdges.length} lock-order edges`;
}
