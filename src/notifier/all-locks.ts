/**
 * mm_take_all_locks() / mm_drop_all_locks() as the notifier core needs them.
 *
 * In the kernel, registration takes every rmap lock of the mm (with the mmap lock held for
 * write) so that no invalidate_range_start/end pair is in flight while a notifier is
 * added or interval mode is enabled: every path that raises an invalidation holds the
 * mmap lock or an rmap lock from its start to its end. Deviation: the model has no rmap
 * locks to take, so it keeps, per mm, a count of in-flight invalidation ranges and a
 * "holder": taking all locks waits until no range is in flight and keeps new ranges from
 * starting until dropped. The exclusion it gives is the kernel's.
 */
import { EINTR } from '../sim/errno.js';
import type { SimThread } from '../sim/thread.js';
import { WaitQueue } from '../sim/sync/waitqueue.js';
import type { MmStruct } from '../mm/mm-struct.js';
import { mnAssert } from './debug.js';

/** Per mm (MmStruct.allLocks): what mm_take_all_locks waits for and holds off. */
export interface MmAllLocks {
  /** Invalidation ranges between their start and their end. */
  inflight: number;
  /** The thread that opened each of them, once per range (a thread may nest ranges). */
  openers: SimThread[];
  /** The thread inside mm_take_all_locks .. mm_drop_all_locks, if any. */
  holder: SimThread | null;
  /**
   * Where the holder waits for `inflight` to reach 0 and blockable ranges wait for the holder to
   * drop; woken by the last range's end and by mm_drop_all_locks.
   */
  wq: WaitQueue;
}

function mmAllLocksOf(mm: MmStruct): MmAllLocks {
  return (mm.allLocks ??= {
    inflight: 0,
    openers: [],
    holder: null,
    wq: new WaitQueue(mm.sim, `mm_all_locks ${mm.name}`),
  });
}

/**
 * mm_take_all_locks(): waits until no invalidation range of `mm` is in flight and holds
 * new ones off until {@link mmDropAllLocks}. Returns 0, or -EINTR when a fatal signal is
 * pending (nothing held then; the kernel tests signal_pending(), any signal, but the
 * simulation delivers only SIGKILL). Caller holds `mm.mmapLock` for write. May sleep.
 */
export async function mmTakeAllLocks(mm: MmStruct): Promise<number> {
  const sim = mm.sim;
  const t = sim.self('mm_take_all_locks');
  sim.mightSleep('mm_take_all_locks');
  mm.assertMmapWriteLocked('mm_take_all_locks');
  if (sim.fatalSignalPending()) return -EINTR;
  const g = mmAllLocksOf(mm);
  if (g.holder !== null) sim.bug(`mm_take_all_locks on ${mm.name} while ${g.holder?.name} holds them`);
  // For dpor: the holder is set before the wait's scheduling point.
  sim.touch(g.wq.name);
  g.holder = t;
  const ret = await g.wq.waitEventKillable(() => g.inflight === 0, 'mm_take_all_locks');
  if (ret !== 0) {
    g.holder = null;
    g.wq.wakeUpAll();
    return -EINTR;
  }
  return 0;
}

/** mm_drop_all_locks(): lets invalidations of `mm` start again. Atomic. */
export function mmDropAllLocks(mm: MmStruct): void {
  const g = mmAllLocksOf(mm);
  mnAssert(mm.sim, g.holder === mm.sim.current, `mm_drop_all_locks on ${mm.name} by a non-holder`);
  g.holder = null;
  g.wq.wakeUpAll();
}

/**
 * Marks the start of an invalidation range of `mm` (the moment the kernel's caller already
 * holds the mmap or rmap lock that excludes registration). A blockable range waits while
 * a registration holds all locks; a non-blockable one (OOM reaper, which holds the mmap
 * lock for read) can never meet one, so meeting one is reported as a kernel bug. A thread
 * that already has a range of `mm` open never waits: it holds the lock the registration is
 * itself waiting for, so in the kernel the registration waits for it, not the reverse.
 */
export async function mnRangeEnter(mm: MmStruct, blockable: boolean): Promise<void> {
  const g = mmAllLocksOf(mm);
  // For dpor: reads the holder and counts the range in, with no scheduling point; counting
  // commutes with the other ranges' counting, so it is a read-mode access of the gate.
  mm.sim.touch(g.wq.name, true);
  const t = mm.sim.current;
  const nested = t !== null && g.openers.includes(t);
  if (g.holder !== null && !nested) {
    if (!blockable) {
      mm.sim.report(
        'kernel-bug',
        `non-blockable invalidation of ${mm.name} while ${g.holder.name} holds mm_take_all_locks ` +
          '(the caller must hold mmap_lock for read)',
        { key: 'nonblock invalidation during mm_take_all_locks' },
      );
    }
    await g.wq.waitEvent(() => g.holder === null, 'mm_all_locks_wait');
  }
  g.inflight++;
  if (t !== null) g.openers.push(t);
}

/** Marks the end of an invalidation range of `mm`. Atomic. */
export function mnRangeLeave(mm: MmStruct): void {
  const g = mmAllLocksOf(mm);
  mnAssert(
    mm.sim,
    g.inflight > 0,
    `invalidate_range_end on ${mm.name} without a matching invalidate_range_start`,
    'invalidate_range_end without start',
  );
  mm.sim.touch(g.wq.name, true); // as in mnRangeEnter
  g.inflight--;
  const t = mm.sim.current;
  const at = t === null ? -1 : g.openers.lastIndexOf(t);
  if (at >= 0) g.openers.splice(at, 1);
  if (g.inflight === 0 && g.holder !== null) g.wq.wakeUpAll();
}

/** Invalidation ranges of `mm` between start and end (tests, checkers). */
export function mmInflightInvalidations(mm: MmStruct): number {
  return mm.allLocks?.inflight ?? 0;
}
