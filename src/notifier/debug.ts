/**
 * Debug machinery of the notifier core: how kernel WARN_ONs surface, the core's own
 * invariant reports, and the core's behaviour switches (FoundationDB's BUGGIFY): planted
 * mistakes in the real code, off by default, that the exploration tests must find.
 */
import type { Simulation } from '../sim/simulation.js';
import { defineSwitch } from '../sim/switches.js';

/*
 * The core's behaviour switches, options of a run (`switches: { ... }` of Simulation,
 * explore, simulate) recorded in its replay token. The mutations plant known mistakes in
 * the real code, off by default; the exploration tests must find them.
 */

/**
 * mmu_interval_notifier_insert during a full exclusion (G odd) puts the subscription in the
 * tree at once instead of on the deferred list: the tree changes under iterators.
 */
export const INSERT_NOT_DEFERRED = defineSwitch(
  'notifier.insertNotDeferred',
  false,
  'planted bug: insert during an invalidation goes into the interval tree at once',
);

/**
 * mmu_interval_notifier_remove queues a deferred removal but returns without waiting for the
 * exclusion window to close: a callback may still be running, or run later, after remove
 * returned. A coarse version of the real bug below; no kernel shipped it.
 */
export const REMOVE_NO_WAIT = defineSwitch(
  'notifier.removeNoWait',
  false,
  'planted bug: remove returns without waiting for the invalidation to end',
);

/**
 * The race upstream fixed in 2022 (mm/mmu_notifier.c: "fix race in
 * mmu_interval_notifier_remove()", the fix that added mmu_interval_seq_released()): remove
 * waited on a lockless read of invalidate_seq, and the final invalidate end bumps G before it
 * applies the deferred list, both under the lock. Another CPU could see the new G early,
 * return from remove and let the owner free a subscription still on the deferred list. The
 * switch opens that window: a scheduling point inside the final end between the bump and the
 * deferred list, and one before the remover's lockless read of G (the fixed model's end is
 * atomic, so its lockless read equals upstream's locked one).
 */
export const REMOVE_SEQ_READ_UNLOCKED = defineSwitch(
  'notifier.removeSeqReadUnlocked',
  false,
  'the pre-2022 remove race: invalidate_seq read without the lock',
);

/**
 * panic_on_warn (on by default): a WARN_ON condition of the kernel is reported as a
 * `kernel-warning` violation and ends the run. Off, the run goes on to show what the kernel
 * does after warning (the errno it then returns, e.g. -EINVAL for an insert on an mm without
 * users); the warnings are collected in {@link mmuNotifierWarnings}.
 */
export const PANIC_ON_WARN = defineSwitch(
  'notifier.panicOnWarn',
  true,
  'a WARN_ON of the notifier core ends the run as a kernel-warning violation',
);

declare module '../sim/switches.js' {
  interface SwitchRegistry {
    /** Planted bug: insert during an invalidation skips the deferred list (`INSERT_NOT_DEFERRED`). */
    'notifier.insertNotDeferred': boolean;
    /** Planted bug: remove does not wait for the invalidation to end (`REMOVE_NO_WAIT`). */
    'notifier.removeNoWait': boolean;
    /** The pre-2022 remove race, G read without the lock (`REMOVE_SEQ_READ_UNLOCKED`). */
    'notifier.removeSeqReadUnlocked': boolean;
    /** A notifier-core WARN_ON ends the run (`PANIC_ON_WARN`); on by default. */
    'notifier.panicOnWarn': boolean;
  }
}

/** Violation kind of a kernel WARN_ON. */
export const KIND_WARNING = 'kernel-warning';
/** Violation kind of a broken internal invariant of the notifier core. */
export const KIND_INVARIANT = 'notifier-invariant';

/** Per run (Simulation.runLocal): the warnings logged. */
const WARNINGS = Symbol('notifier warnings');

/** Warnings logged in `sim` while its `notifier.panicOnWarn` switch was off. */
export function mmuNotifierWarnings(sim: Simulation): readonly string[] {
  return sim.runLocal<string[]>(WARNINGS) ?? [];
}

/**
 * WARN_ON(cond): when `cond` holds, reports a `kernel-warning` (panic_on_warn) or, with
 * panicOnWarn off, logs it. Returns `cond` so callers can write `if (mnWarn(...)) return`.
 */
export function mnWarn(sim: Simulation, cond: boolean, message: string, key?: string): boolean {
  if (!cond) return false;
  if (sim.switchOn(PANIC_ON_WARN)) sim.report(KIND_WARNING, `WARNING: ${message}`, { key: key ?? message });
  const list = sim.runLocal<string[]>(WARNINGS) ?? sim.setRunLocal<string[]>(WARNINGS, []);
  list.push(message);
  return true;
}

/** An internal invariant of the core: reports `notifier-invariant` when `ok` is false. */
export function mnAssert(sim: Simulation, ok: boolean, message: string, key?: string): void {
  if (!ok) sim.report(KIND_INVARIANT, message, { key: key ?? message });
}
