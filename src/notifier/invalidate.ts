/**
 * The entry points the memory model calls around every change of translations
 * (include/linux/mmu_notifier.h wrappers and their __mmu_notifier_* bodies):
 * invalidate range start (blocking and non-blocking), invalidate range end, release at
 * exit_mmap, and the aging broadcasts.
 */
import type { MmStruct } from '../mm/mm-struct.js';
import { mnRangeEnter, mnRangeLeave } from './all-locks.js';
import {
  mmuNotifierArchInvalidateSecondaryTlbs,
  mnHlistInvalidateRangeEnd,
  mnHlistInvalidateRangeStart,
  mnHlistRelease,
  mnHlistYoung,
} from './hlist.js';
import { mnAssert } from './debug.js';
import { mnItreeInvalidate, mnItreeInvEnd, mnItreeRelease } from './itree.js';
import { mnLockMapAcquire, mnLockMapRelease } from './lockdep-map.js';
import { mnHlistEmpty, type MmuNotifierSubscriptions } from './subscriptions.js';
import { MMU_NOTIFIER_RANGE_BLOCKABLE, type MmuNotifierRange } from './types.js';

export { mmuNotifierArchInvalidateSecondaryTlbs };

/**
 * __mmu_notifier_invalidate_range_start: the interval part first (a failure returns at
 * once, the classic list is not visited), then the classic list.
 *
 * Reproduced upstream edge case: when the interval part succeeded and a classic notifier
 * then fails a non-blockable start, -EAGAIN is returned without undoing the interval part,
 * so N stays raised (and G may stay odd) until some later end.
 */
async function mnInvalidateRangeStart(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): Promise<number> {
  subs.sim.mark('invalidate_range_start');
  if (subs.hasItree) {
    const ret = await mnItreeInvalidate(subs, range);
    if (ret !== 0) return ret;
  }
  if (!mnHlistEmpty(subs)) return mnHlistInvalidateRangeStart(subs, range);
  return 0;
}

/**
 * Models mmu_notifier_invalidate_range_start(range): tells every subscriber of
 * `range.mm` that the PTEs of [range.start, range.end) are about to change. Sets the
 * blockable bit; every callback may sleep. Always succeeds (the kernel ignores the
 * result; a failing callback is a kernel warning). Must be paired with
 * {@link mmuNotifierInvalidateRangeEnd} on the same range.
 *
 * Locks: callers hold the mmap lock or an rmap lock (i_mmap_rwsem / anon_vma lock), which
 * keeps the range's mappings in place; the notifier core relies on neither (the model has no
 * rmap lock, so nothing is asserted). The model's registration gate waits here while a
 * registration is in progress.
 * No spinlock. The callbacks run inside the lockdep map mmu_notifier_invalidate_range_start
 * (see lockdep-map.ts), so the locks they take are ordered after the caller's. May sleep.
 */
export async function mmuNotifierInvalidateRangeStart(range: MmuNotifierRange): Promise<void> {
  const mm = range.mm;
  const sim = mm.sim;
  sim.mightSleep('mmu_notifier_invalidate_range_start');
  await mnRangeEnter(mm, true);
  const taken = mnLockMapAcquire(sim, 'mmu_notifier_invalidate_range_start');
  try {
    const subs = mm.notifierSubscriptions;
    if (subs === null) return;
    range.flags |= MMU_NOTIFIER_RANGE_BLOCKABLE;
    await mnInvalidateRangeStart(subs, range);
  } finally {
    mnLockMapRelease(sim, taken);
  }
}

/**
 * Models mmu_notifier_invalidate_range_start_nonblock(range): as the blocking start with
 * the blockable bit cleared; callbacks may refuse. Classic callbacks run in a non-blockable
 * context (sleeping there is reported, as the kernel's non_block_start does); interval
 * callbacks too, which is stricter than the kernel (it only trusts them to test
 * mmu_notifier_range_blockable()). Returns 0, or -EAGAIN when a callback refused: the caller
 * must then leave the page tables alone and must NOT call the end. When an interval
 * callback refused, the interval state was unwound and no classic callback ran; when a
 * classic one refused, the ones before it got their end as compensation but the interval
 * part is NOT unwound (the upstream edge case described at mnInvalidateRangeStart above).
 *
 * Locks: its one kernel caller, the OOM reaper, holds the mmap lock for read; the function
 * itself relies on no lock of its caller (nothing to assert, as in the kernel). Never sleeps
 * by itself.
 */
export async function mmuNotifierInvalidateRangeStartNonblock(range: MmuNotifierRange): Promise<number> {
  const mm = range.mm;
  await mnRangeEnter(mm, false);
  const taken = mnLockMapAcquire(mm.sim, 'mmu_notifier_invalidate_range_start_nonblock');
  try {
    const subs = mm.notifierSubscriptions;
    if (subs === null) return 0;
    range.flags &= ~MMU_NOTIFIER_RANGE_BLOCKABLE;
    const ret = await mnInvalidateRangeStart(subs, range);
    if (ret !== 0) mnRangeLeave(mm);
    return ret;
  } finally {
    mnLockMapRelease(mm.sim, taken);
  }
}

/**
 * Models mmu_notifier_invalidate_range_end(range): the PTEs of the range have changed.
 * Runs the interval end step (the last end of a window bumps G to even, applies deferred
 * tree updates and wakes readers and removers), then every classic
 * `invalidateRangeEnd` (non-block marked if the range is not blockable). May sleep when
 * the range is blockable. Locks as the matching start.
 */
export async function mmuNotifierInvalidateRangeEnd(range: MmuNotifierRange): Promise<void> {
  const mm = range.mm;
  if (range.blockable) mm.sim.mightSleep('mmu_notifier_invalidate_range_end');
  const subs = mm.notifierSubscriptions;
  if (subs !== null) {
    const taken = mnLockMapAcquire(mm.sim, 'mmu_notifier_invalidate_range_end');
    try {
      if (subs.hasItree) await mnItreeInvEnd(subs);
      if (!mnHlistEmpty(subs)) await mnHlistInvalidateRangeEnd(subs, range);
    } finally {
      mnLockMapRelease(mm.sim, taken);
    }
  }
  mnRangeLeave(mm);
}

/**
 * Models mmu_notifier_release(mm) (__mmu_notifier_release), which exit_mmap calls once
 * mm_users has dropped to zero and before any page is freed: a blockable RELEASE
 * invalidation of [0, ULONG_MAX) to every interval subscription (they stay inserted;
 * owners still remove them), then every classic `release` under SRCU, the classic list
 * emptied, and an SRCU grace period. Cannot race with registration. May sleep.
 */
export async function mmuNotifierRelease(mm: MmStruct): Promise<void> {
  const sim = mm.sim;
  sim.mightSleep('mmu_notifier_release');
  const subs = mm.notifierSubscriptions;
  if (subs === null) return;
  sim.use(subs, 'mmu_notifier_release');
  mnAssert(sim, mm.users === 0, `mmu_notifier_release on ${mm.name} with mm_users ${mm.users}`);
  if (subs.hasItree) await mnItreeRelease(subs, mm);
  if (!mnHlistEmpty(subs)) await mnHlistRelease(subs, mm);
}

/**
 * Models mmu_notifier_clear_flush_young(mm, start, end): OR of every classic
 * `clearFlushYoung`. Called under the page-table lock: callbacks must not sleep.
 */
export function mmuNotifierClearFlushYoung(mm: MmStruct, start: number, end: number): Promise<boolean> {
  return mnHlistYoung(mm, 'clearFlushYoung', start, end);
}

/** Models mmu_notifier_clear_young(mm, start, end); as {@link mmuNotifierClearFlushYoung}. */
export function mmuNotifierClearYoung(mm: MmStruct, start: number, end: number): Promise<boolean> {
  return mnHlistYoung(mm, 'clearYoung', start, end);
}

/** Models mmu_notifier_test_young(mm, address): true at the first classic `testYoung` saying so. */
export function mmuNotifierTestYoung(mm: MmStruct, address: number): Promise<boolean> {
  return mnHlistYoung(mm, 'testYoung', address, address + 1);
}
