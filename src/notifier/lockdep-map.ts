/**
 * The lockdep pseudo-lock __mmu_notifier_invalidate_range_start_map (mm/mmu_notifier.c).
 *
 * The kernel "holds" it around every invalidate start and end walk (so every lock an
 * invalidate callback takes is ordered after it) and briefly acquires it in
 * mmu_interval_read_begin and mmu_interval_notifier_remove before they may wait for an
 * invalidation to finish (so every lock held by their caller is ordered before it). A
 * driver that holds, across read_begin or remove, a lock its callback takes closes a
 * cycle, and lockdep reports it the first time both orders have been seen, whether or not
 * the deadlock happened in that run. The model records the same dependencies through the
 * simulation's lockdep.
 *
 * Deviation: the kernel map exists only with CONFIG_LOCKDEP; the model's is always on
 * (it is bookkeeping, not a lock: nothing ever waits for it).
 */
import type { Simulation } from '../sim/simulation.js';
import type { HeldLock } from '../sim/thread.js';

/** The pseudo-lock; one class for the whole system, as the kernel's single static map. */
export const MN_INVALIDATE_RANGE_START_MAP: HeldLock = {
  lockClass: 'mmu_notifier_invalidate_range_start',
  name: 'mmu_notifier_invalidate_range_start',
};

/**
 * lock_map_acquire(&__mmu_notifier_invalidate_range_start_map) for the running thread.
 * Taking it again while already inside a start or end walk (an invalidation, read_begin or
 * remove issued from an invalidate callback) is reported as lockdep's recursive locking:
 * such a call would wait for the walk it runs in. Returns whether it was taken (no thread
 * runs outside a simulation run). Atomic.
 */
export function mnLockMapAcquire(sim: Simulation, what: string): boolean {
  const t = sim.current;
  if (t === null || sim.status !== 'running') return false;
  if (t.held.includes(MN_INVALIDATE_RANGE_START_MAP)) {
    sim.report(
      'lock-order',
      `possible recursive locking: ${t.name} calls ${what} from inside an mmu notifier invalidate callback`,
      { key: `recursive mmu_notifier_invalidate_range_start in ${what}` },
    );
  }
  sim.lockAcquired(t, MN_INVALIDATE_RANGE_START_MAP);
  return true;
}

/** lock_map_release() of the map, when {@link mnLockMapAcquire} returned true. Atomic. */
export function mnLockMapRelease(sim: Simulation, taken: boolean): void {
  const t = sim.current;
  if (!taken || t === null || sim.status !== 'running') return;
  sim.lockReleased(t, MN_INVALIDATE_RANGE_START_MAP);
}

/**
 * Acquire and release the map at once: what read_begin and remove do before they may wait,
 * so that the locks their caller holds are ordered before every callback's locks. Atomic.
 */
export function mnLockMapTouch(sim: Simulation, what: string): void {
  mnLockMapRelease(sim, mnLockMapAcquire(sim, what));
}
