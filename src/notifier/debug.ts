/**
 * Debug machinery of the notifier core: how kernel WARN_ONs surface, the core's own
 * invariant reports, and the test-only mutation switches (FoundationDB's BUGGIFY): planted
 * mistakes in the real code, off by default, that the exploration tests must find.
 */
import type { Simulation } from '../sim/simulation.js';

/**
 * Test-only switches that plant known mistakes in the core. All false by default; a test
 * that sets one must reset it (they are module state shared by every simulation).
 */
export const notifierMutations = {
  /**
   * mmu_interval_notifier_insert during a full exclusion (G odd) puts the subscription in
   * the tree at once instead of on the deferred list: the tree changes under iterators.
   */
  insertNotDeferred: false,
  /**
   * mmu_interval_notifier_remove queues a deferred removal but returns without waiting for
   * the exclusion window to close: a callback may still be running, or run later, after
   * remove returned. A coarse version of the real bug below; no kernel shipped it.
   */
  removeNoWait: false,
  /**
   * The race upstream fixed in 2022 (mm/mmu_notifier.c: "fix race in
   * mmu_interval_notifier_remove()", the fix that added mmu_interval_seq_released()):
   * remove waited on a lockless read of invalidate_seq, and the final invalidate end bumps
   * G before it applies the deferred list, both under the lock. Another CPU could see the
   * new G early, return from remove and let the owner free a subscription still on the
   * deferred list. The switch opens that window: a scheduling point inside the final end
   * between the bump and the deferred list, and one before the remover's lockless read of G
   * (the fixed model's end is atomic, so its lockless read equals upstream's locked one).
   */
  removeSeqReadUnlocked: false,
};

/**
 * Behaviour switches of the debug machinery.
 *
 * `panicOnWarn` (default true, checked by default): a WARN_ON condition of the kernel is
 * reported as a `kernel-warning` violation and ends the run, as with the kernel's
 * panic_on_warn. Set it to false to observe what the kernel does after warning (the errno
 * it then returns, e.g. -EINVAL for an insert on an mm without users); the warnings are
 * then collected in {@link mmuNotifierWarnings}.
 */
export const notifierDebug = {
  panicOnWarn: true,
};

/** Violation kind of a kernel WARN_ON. */
export const KIND_WARNING = 'kernel-warning';
/** Violation kind of a broken internal invariant of the notifier core. */
export const KIND_INVARIANT = 'notifier-invariant';

const warnings = new WeakMap<Simulation, string[]>();

/** Warnings logged in `sim` while `notifierDebug.panicOnWarn` was false. */
export function mmuNotifierWarnings(sim: Simulation): readonly string[] {
  return warnings.get(sim) ?? [];
}

/**
 * WARN_ON(cond): when `cond` holds, reports a `kernel-warning` (panic_on_warn) or, with
 * panicOnWarn off, logs it. Returns `cond` so callers can write `if (mnWarn(...)) return`.
 */
export function mnWarn(sim: Simulation, cond: boolean, message: string, key?: string): boolean {
  if (!cond) return false;
  if (notifierDebug.panicOnWarn) sim.report(KIND_WARNING, `WARNING: ${message}`, { key: key ?? message });
  let list = warnings.get(sim);
  if (list === undefined) warnings.set(sim, (list = []));
  list.push(message);
  return true;
}

/** An internal invariant of the core: reports `notifier-invariant` when `ok` is false. */
export function mnAssert(sim: Simulation, ok: boolean, message: string, key?: string): void {
  if (!ok) sim.report(KIND_INVARIANT, message, { key: key ?? message });
}
