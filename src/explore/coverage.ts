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
  /** Lock dependencies already counted: from → to. */
  private readonly seenEdges = new Map<string, Set<string>>();

  /** Adds what the finished run `sim` (run with `coverage: true`) touched. */
  addRun(sim: Simulation): void {
    sim.coverage?.forEach((tid, label, object) => {
      const thread = sim.threads[tid].name;
      let seenOps = this.seen.get(thread);
      if (seenOps === undefined) this.seen.set(thread, (seenOps = new Map()));
      let seenObjects = seenOps.get(label);
      if (seenObjects === undefined) seenOps.set(label, (seenObjects = new Set()));
      if (seenObjects.has(object)) return;
      seenObjects.add(object);
      this.operations.add(`${thread} ${label} ${object === undefined ? '-' : this.kindOf(object)}`);
    });
    for (const [from, to] of sim.lockdep.dependencies()) {
      let tos = this.seenEdges.get(from);
      if (tos === undefined) this.seenEdges.set(from, (tos = new Set()));
      if (tos.has(to)) continue;
      tos.add(to);
      this.lockEdges.add(`${from} -> ${to}`);
    }
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
