/**
 * The walks of the classic list (mn_hlist_* in mm/mmu_notifier.c): invalidate start with
 * its compensation, invalidate end, release at teardown, the aging broadcasts and the
 * secondary-TLB invalidation. Every walk runs inside the notifier SRCU read section and
 * visits notifiers added before it began; one unhashed meanwhile may still be called
 * until the grace period ends (which is why unregister and put fence through SRCU).
 */
import { mnRunCallback } from './callback.js';
import { EAGAIN } from '../sim/errno.js';
import type { MmStruct } from '../mm/mm-struct.js';
import type { MmuNotifier } from './classic.js';
import { mnAssert, mnWarn } from './debug.js';
import { mmuNotifierSrcu } from './srcu.js';
import {
  mnHlistDelInit,
  mnHlistEmpty,
  mnHlistFirst,
  mnHlistNext,
  type MmuNotifierSubscriptions,
} from './subscriptions.js';
import type { MaybePromise, MmuNotifierRange } from './types.js';

/**
 * Runs one classic callback: checks it may run at all (not fenced, not freed), counts it
 * as running, and marks a non-blockable context around it.
 */
export function mnCallClassic<T>(
  sub: MmuNotifier,
  blockable: boolean,
  what: string,
  fn: () => MaybePromise<T>,
): Promise<T> {
  const sim = sub.mm!.sim;
  sim.use(sub, `${what} callback`);
  mnAssert(
    sim,
    !sub.fenced,
    `${what} callback of ${sub.name} after unregister returned or after it was freed`,
    `classic ${what} after fence`,
  );
  return mnRunCallback(sim, sub, blockable, fn);
}

/**
 * Classic part of __mmu_notifier_invalidate_range_start (mn_hlist_invalidate_range_start):
 * calls every `invalidateRangeStart` under SRCU, visiting all notifiers even after one
 * fails; when one failed, calls every `invalidateRangeEnd` once to compensate, and returns
 * the last error. A failure on a blockable range, an error other than -EAGAIN, or a
 * failing notifier that has an end callback is a kernel warning. May sleep if blockable.
 *
 * Upstream edge cases kept: the blocking wrapper ignores the error, so after a (warned)
 * failure on a blockable range its caller still calls the end and every end callback runs
 * twice for one start. Deviation: the compensating ends of a non-blockable range run
 * non-block marked, where upstream calls them without non_block_start (stricter: a
 * compensating end that sleeps is reported).
 */
export async function mnHlistInvalidateRangeStart(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): Promise<number> {
  const sim = subs.sim;
  const srcu = mmuNotifierSrcu(sim);
  const idx = srcu.readLock();
  const blockable = range.blockable;
  let ret = 0;
  for (let sub = mnHlistFirst(subs); sub !== null; sub = mnHlistNext(subs, sub)) {
    const ops = sub.ops;
    if (!ops.invalidateRangeStart) continue;
    await sim.point('mn_hlist_invalidate_range_start', sub.name);
    const s = sub;
    const r = await mnCallClassic(s, blockable, 'invalidate_range_start', () =>
      ops.invalidateRangeStart!(range, s),
    );
    if (r !== 0) {
      mnWarn(
        sim,
        blockable || r !== -EAGAIN,
        `${sub.name} invalidate_range_start returned ${r} for ${blockable ? 'a blockable' : 'a non-blockable'} range`,
        'invalidate_range_start failed on blockable range or with an error other than -EAGAIN',
      );
      mnWarn(
        sim,
        ops.invalidateRangeEnd !== undefined,
        `${sub.name} invalidate_range_start failed but the notifier has invalidate_range_end`,
        'failing invalidate_range_start with invalidate_range_end',
      );
      ret = r;
      sim.mark('nonblock invalidate refused');
    }
  }
  // Some notifiers may have succeeded: give every one that has an end its end.
  if (ret !== 0) await mnHlistCallEnds(subs, range);
  srcu.readUnlock(idx);
  return ret;
}

/** Calls every classic `invalidateRangeEnd`. Caller is inside the notifier SRCU read section. */
async function mnHlistCallEnds(subs: MmuNotifierSubscriptions, range: MmuNotifierRange): Promise<void> {
  const sim = subs.sim;
  const blockable = range.blockable;
  for (let sub = mnHlistFirst(subs); sub !== null; sub = mnHlistNext(subs, sub)) {
    const ops = sub.ops;
    if (!ops.invalidateRangeEnd) continue;
    await sim.point('mn_hlist_invalidate_end', sub.name);
    const s = sub;
    await mnCallClassic(s, blockable, 'invalidate_range_end', () => ops.invalidateRangeEnd!(range, s));
  }
}

/**
 * Classic part of __mmu_notifier_invalidate_range_end: every `invalidateRangeEnd` under
 * SRCU (non-block marked when the range is not blockable). May sleep if blockable.
 */
export async function mnHlistInvalidateRangeEnd(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): Promise<void> {
  const srcu = mmuNotifierSrcu(subs.sim);
  const idx = srcu.readLock();
  await mnHlistCallEnds(subs, range);
  srcu.readUnlock(idx);
}

/**
 * Classic part of __mmu_notifier_release (mn_hlist_release), at mm teardown: calls every
 * `release` under SRCU, unhashes every notifier, then waits for a grace period so that a
 * release run concurrently by mmu_notifier_unregister has finished. May sleep.
 */
export async function mnHlistRelease(subs: MmuNotifierSubscriptions, mm: MmStruct): Promise<void> {
  const sim = subs.sim;
  const srcu = mmuNotifierSrcu(sim);
  const idx = srcu.readLock();
  for (let sub = mnHlistFirst(subs); sub !== null; sub = mnHlistNext(subs, sub)) {
    const ops = sub.ops;
    if (!ops.release) continue;
    await sim.point('mn_hlist_release', sub.name);
    const s = sub;
    await mnCallClassic(s, true, 'release', () => ops.release!(mm, s));
  }
  await subs.lock.lock();
  while (subs.listHead !== null) mnHlistDelInit(subs, subs.listHead);
  subs.lock.unlock();
  srcu.readUnlock(idx);
  await srcu.synchronize();
}

/**
 * The aging broadcasts (mmu_notifier_clear_flush_young / clear_young / test_young) and
 * mmu_notifier_arch_invalidate_secondary_tlbs over the classic list, under SRCU. The kernel
 * calls them under the page-table lock, so the callbacks run in a non-blockable context.
 * Interval notifiers never receive them. No container → false.
 */
export async function mnHlistYoung(
  mm: MmStruct,
  kind: 'clearFlushYoung' | 'clearYoung' | 'testYoung',
  start: number,
  end: number,
): Promise<boolean> {
  const subs = mm.notifierSubscriptions;
  if (subs === null || mnHlistEmpty(subs)) return false;
  const sim = mm.sim;
  const srcu = mmuNotifierSrcu(sim);
  const idx = srcu.readLock();
  let young = false;
  for (let sub = mnHlistFirst(subs); sub !== null; sub = mnHlistNext(subs, sub)) {
    const ops = sub.ops;
    const s = sub;
    let r = false;
    if (kind === 'testYoung') {
      if (!ops.testYoung) continue;
      await sim.point('mn_hlist_test_young', sub.name);
      r = await mnCallClassic(s, false, 'test_young', () => ops.testYoung!(mm, start, s));
      if (r) {
        young = true;
        break;
      }
    } else {
      const cb = ops[kind];
      if (!cb) continue;
      await sim.point('mn_hlist_clear_young', sub.name);
      r = await mnCallClassic(s, false, kind, () => cb.call(ops, mm, start, end, s));
      young ||= r;
    }
  }
  srcu.readUnlock(idx);
  return young;
}

/** mmu_notifier_arch_invalidate_secondary_tlbs(mm, start, end): broadcast like the aging calls. */
export async function mmuNotifierArchInvalidateSecondaryTlbs(
  mm: MmStruct,
  start: number,
  end: number,
): Promise<void> {
  const subs = mm.notifierSubscriptions;
  if (subs === null || mnHlistEmpty(subs)) return;
  const sim = mm.sim;
  const srcu = mmuNotifierSrcu(sim);
  const idx = srcu.readLock();
  for (let sub = mnHlistFirst(subs); sub !== null; sub = mnHlistNext(subs, sub)) {
    const ops = sub.ops;
    if (!ops.archInvalidateSecondaryTlbs) continue;
    await sim.point('mn_hlist_arch_invalidate_secondary_tlbs', sub.name);
    const s = sub;
    await mnCallClassic(s, false, 'arch_invalidate_secondary_tlbs', () =>
      ops.archInvalidateSecondaryTlbs!(mm, start, end, s),
    );
  }
  srcu.readUnlock(idx);
}
