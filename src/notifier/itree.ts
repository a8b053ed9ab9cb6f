/**
 * The interval tree side of invalidation (mn_itree_* in mm/mmu_notifier.c): the tree
 * updates with their "never while G is odd" check, the invalidate walk, the end step that
 * closes an exclusion window and applies deferred updates, and the RELEASE walk of mm
 * teardown. Internal to the core.
 */
import { EAGAIN } from '../sim/errno.js';
import type { Simulation } from '../sim/simulation.js';
import type { MmStruct } from '../mm/mm-struct.js';
import type { IntervalNode, IntervalTree } from '../lib/interval-tree.js';
import { mnAssert, mnWarn, notifierMutations } from './debug.js';
import type { MmuIntervalNotifier } from './interval.js';
import { mnSubscriptionsCheck, type MmuNotifierSubscriptions } from './subscriptions.js';
import { MMU_NOTIFIER_RANGE_BLOCKABLE, MMU_NOTIFY_RELEASE, MmuNotifierRange, ULONG_MAX } from './types.js';

/** Puts `sub` in the tree. Caller holds subs.lock; G must be even (the tree is not iterated). */
export function mnItreeInsert(subs: MmuNotifierSubscriptions, sub: MmuIntervalNotifier): void {
  mnItreeAssertMutable(subs, 'insert');
  sub.node = subs.itree.insert(sub.start, sub.last, sub);
  subs.itreeVersion++;
}

/** Takes `sub` out of the tree. Caller holds subs.lock; G must be even. */
export function mnItreeRemove(subs: MmuNotifierSubscriptions, sub: MmuIntervalNotifier): void {
  mnItreeAssertMutable(subs, 'remove');
  subs.itree.remove(sub.node!);
  subs.itreeVersion++;
}

function mnItreeAssertMutable(subs: MmuNotifierSubscriptions, op: string): void {
  mnAssert(
    subs.sim,
    (subs.invalidateSeq & 1) === 0,
    `interval tree ${op} while invalidate_seq ${subs.invalidateSeq} is odd (the tree may be under iteration)`,
    'itree changed while G odd',
  );
}

/** A removeDeferred removal took effect: the owner's release, then the mm pin. */
export function mnIntervalNotifierReleased(sub: MmuIntervalNotifier, mm: MmStruct): void {
  const sim = mm.sim;
  sub.state = 'removed';
  sub.releaseOnRemoval = false;
  if (sub.ops.release) {
    sim.enterNonBlock();
    try {
      sub.ops.release(sub);
    } finally {
      if (sim.status === 'running') sim.exitNonBlock();
    }
  }
  mm.mmdrop();
}

/** Calls one interval subscription's invalidate, checking that it may still run. */
async function mnItreeCallInvalidate(
  sim: Simulation,
  sub: MmuIntervalNotifier,
  range: MmuNotifierRange,
  curSeq: number,
): Promise<boolean> {
  sim.use(sub, 'invalidate callback');
  mnAssert(
    sim,
    sub.state !== 'removed',
    `invalidate callback of ${sub.name} after mmu_interval_notifier_remove returned`,
    'interval callback after remove',
  );
  sub.callbacksRunning++;
  const blockable = range.blockable;
  // Stricter than upstream, which trusts interval callbacks to test the blockable flag:
  // sleeping in one on a non-blockable range is reported as it is for classic callbacks.
  if (!blockable) sim.enterNonBlock();
  try {
    const r = sub.ops.invalidate(sub, range, curSeq);
    return r instanceof Promise ? await r : r;
  } finally {
    if (sim.status === 'running') {
      if (!blockable) sim.exitNonBlock();
      sub.callbacksRunning--;
    }
  }
}

/**
 * The tree lookup mn_itree_inv_start_range makes for `range`: [start, end - 1] with the
 * kernel's unsigned arithmetic. For an empty range [a, a) that is not empty: end - 1 wraps
 * below start, and the kernel's lookup then still matches every subscription that starts
 * before `a` and ends at or after it (for a = 0 the wrap gives ULONG_MAX: every
 * subscription). The model reproduces that with a query and a filter.
 */
interface MnItreeQuery {
  start: number;
  last: number;
  /** Empty range at `a` > 0: keep only subscriptions with start < a <= last. */
  straddling: number | null;
}

function mnItreeQuery(range: MmuNotifierRange): MnItreeQuery {
  const { start, end } = range;
  if (end > start) return { start, last: end - 1, straddling: null };
  if (start === 0) return { start: 0, last: ULONG_MAX, straddling: null };
  return { start: start - 1, last: start, straddling: start };
}

/** `node`, or the first one after it in tree order, that the kernel's lookup matches. */
function mnItreeMatch(
  q: MnItreeQuery,
  tree: IntervalTree<MmuIntervalNotifier>,
  node: IntervalNode<MmuIntervalNotifier> | undefined,
): IntervalNode<MmuIntervalNotifier> | undefined {
  const a = q.straddling;
  if (a === null) return node;
  while (node !== undefined && !(node.start < a && node.last >= a))
    node = tree.iterNext(node, q.start, q.last);
  return node;
}

/**
 * mn_itree_invalidate: the interval part of __mmu_notifier_invalidate_range_start.
 * Start-range step under the lock (N += 1; G |= 1 when some subscription overlaps;
 * cur_seq = G), then each overlapping subscription's invalidate in tree order, without
 * the lock (the tree cannot change while G is odd). A false return on a non-blockable
 * range stops the walk, runs the end step now and gives -EAGAIN; on a blockable range it
 * is a kernel warning. May sleep if the range is blockable.
 */
export async function mnItreeInvalidate(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): Promise<number> {
  const sim = subs.sim;
  const q = mnItreeQuery(range);
  await subs.lock.lock();
  subs.activeInvalidateRanges++;
  let node = mnItreeMatch(q, subs.itree, subs.itree.iterFirst(q.start, q.last));
  if (node !== undefined) subs.invalidateSeq |= 1;
  const curSeq = subs.invalidateSeq;
  mnSubscriptionsCheck(subs, 'mn_itree_inv_start_range');
  subs.lock.unlock();
  if (node === undefined) return 0;

  const version = subs.itreeVersion;
  for (; node !== undefined; node = mnItreeMatch(q, subs.itree, subs.itree.iterNext(node, q.start, q.last))) {
    const sub = node.value;
    await sim.point('mn_itree_invalidate', sub.name);
    const ok = await mnItreeCallInvalidate(sim, sub, range, curSeq);
    mnAssert(
      sim,
      subs.itreeVersion === version && node.inTree,
      'the interval tree changed while an invalidation was iterating it',
      'itree changed under iteration',
    );
    if (!ok) {
      if (!range.blockable) {
        await mnItreeInvEnd(subs);
        return -EAGAIN;
      }
      mnWarn(
        sim,
        true,
        `${sub.name} invalidate returned false for a blockable range`,
        'interval invalidate false on blockable range',
      );
    }
  }
  return 0;
}

/**
 * mn_itree_inv_end: the interval part of __mmu_notifier_invalidate_range_end, under the
 * lock. N -= 1; the end that brings N to 0 while G is odd closes the window: G += 1,
 * applies the deferred insertions and removals (most recently queued first) in the same
 * critical section, then, unlocked, runs removeDeferred releases and wakes every waiter.
 * Atomic apart from the spinlock.
 */
export async function mnItreeInvEnd(subs: MmuNotifierSubscriptions): Promise<void> {
  const sim = subs.sim;
  await subs.lock.lock();
  subs.activeInvalidateRanges--;
  if (subs.activeInvalidateRanges !== 0 || (subs.invalidateSeq & 1) === 0) {
    mnSubscriptionsCheck(subs, 'mn_itree_inv_end');
    subs.lock.unlock();
    return;
  }
  subs.invalidateSeq++;
  if (notifierMutations.removeSeqReadUnlocked) {
    await sim.point('mn_itree_inv_end', 'invalidate_seq bumped, deferred list not yet applied');
  }
  let released: MmuIntervalNotifier[] | null = null;
  const deferred = subs.deferredList;
  while (deferred.length > 0) {
    const sub = deferred.pop()!;
    sim.use(sub, 'deferred interval tree update');
    sub.deferred = false;
    if (sub.inTree) {
      mnItreeRemove(subs, sub);
      if (sub.releaseOnRemoval) (released ??= []).push(sub);
    } else {
      mnItreeInsert(subs, sub);
    }
  }
  mnSubscriptionsCheck(subs, 'mn_itree_inv_end');
  subs.lock.unlock();
  if (released !== null) for (const sub of released) mnIntervalNotifierReleased(sub, subs.mm);
  subs.wq.wakeUpAll();
}

/**
 * mn_itree_release: at mm teardown, a blockable RELEASE invalidation of [0, ULONG_MAX)
 * to every interval subscription (a false return is a kernel warning), then the end
 * step. Subscriptions stay in the tree; their owners still remove them. May sleep.
 */
export async function mnItreeRelease(subs: MmuNotifierSubscriptions, mm: MmStruct): Promise<void> {
  const range = new MmuNotifierRange(mm, 0, ULONG_MAX, MMU_NOTIFY_RELEASE, MMU_NOTIFIER_RANGE_BLOCKABLE);
  await mnItreeInvalidate(subs, range);
  await mnItreeInvEnd(subs);
}
