import type { Simulation } from './simulation.js';
import type { HeldLock, SimThread } from './thread.js';

interface Witness {
  thread: string;
  step: number;
  from: string;
  to: string;
}

/**
 * Lock-order checking in the manner of lockdep: every acquisition of class B while
 * holding class A records the dependency A → B with its first witness. A new
 * dependency that closes a cycle is reported as `lock-order` even when this run did not
 * deadlock. Classes are lock names (one class per name, as a static lock key).
 *
 * Dependencies are recorded at successful acquisition, so a run that really deadlocks
 * is reported as a deadlock with its wait-for graph, not as an inversion.
 */
export class LockDep {
  private readonly edges = new Map<string, Map<string, Witness>>();
  enabled = true;

  constructor(private readonly sim: Simulation) {}

  /**
   * lock_acquire(): records the dependencies of `t` taking `lock` on every lock it holds and
   * reports `lock-order` when one closes a cycle. Called with the lock just taken; atomic.
   */
  acquired(t: SimThread, lock: HeldLock): void {
    if (!this.enabled) return;
    const to = lock.lockClass;
    for (const h of t.held) {
      const from = h.lockClass;
      if (from === to) continue; // nesting within one class needs an annotation; not tracked
      let out = this.edges.get(from);
      if (out === undefined) {
        out = new Map();
        this.edges.set(from, out);
      }
      if (out.has(to)) continue;
      const path = this.path(to, from);
      if (path !== null) {
        const chain = path.map((w) => `${w.thread} took ${w.to} while holding ${w.from} (step ${w.step})`);
        this.sim.report(
          'lock-order',
          `possible circular locking: ${t.name} takes ${lock.name} while holding ${h.name}, ` +
            `but earlier ${chain.join('; ')}`,
          {
            key: `inversion ${[from, to].sort().join(' <-> ')}`,
            threads: [...new Set([t.name, ...path.map((w) => w.thread)])],
            details: { dependency: { from, to }, existing: path },
          },
        );
      }
      out.set(to, { thread: t.name, step: this.sim.steps, from, to });
    }
  }

  /** Every dependency recorded in this run, as (from, to) lock-class pairs. */
  *dependencies(): Generator<[string, string]> {
    for (const [from, out] of this.edges) for (const to of out.keys()) yield [from, to];
  }

  /** A dependency path from class `a` to class `b`, as witnesses, or null. */
  private path(a: string, b: string): Witness[] | null {
    const seen = new Set<string>([a]);
    const search = (c: string): Witness[] | null => {
      const out = this.edges.get(c);
      if (out === undefined) return null;
      for (const [next, w] of out) {
        if (next === b) return [w];
        if (seen.has(next)) continue;
        seen.add(next);
        const rest = search(next);
        if (rest !== null) return [w, ...rest];
      }
      return null;
    };
    return search(a);
  }
}
