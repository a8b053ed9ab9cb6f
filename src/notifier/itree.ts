/**
 * The interval tree side of invalidation (mn_itree_* in mm/mmu_notifier.c): the tree
 * updates with their "never while G is odd" check, the invalidate walk, the end step that
 * closes an exclusion window and applies deferred updates, and the RELEASE walk of mm
 * teardown. Internal to the core.
 */
import { mnRunCallback } from './callback.js';
import { EAGAIN } from '../sim/errno.js';
import type { Simulation } from '../sim/simulation.js';
import type { MmStruct } from '../mm/mm-struct.js';
import type { IntervalNode, IntervalTree } from '../lib/interval-tree.js';
import { mnAssert, mnWarn, REMOVE_SEQ_READ_UNLOCKED } from './debug.js';
import type { MmuIntervalNotifier } from './interval.js';
import { mnSubscriptionsCheck, type MmuNotifierSubscriptions } from './subscriptions.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_RELEASE,
  MmuNotifierRange,
  ULONG_MAX,
  type MmuIntervalNotifierFinish,
} from './types.js';

/** Puts `sub` in the tree. Caller holds subs.lock; G must be even (the tree is not iterated). */
export function mnItreeInsert(subs: MmuNotifierSubscriptions, sub: MmuIntervalNotifier): void {
  subs.sim.assertHeld(subs.lock, 'mn_itree_insert');
  mnItreeAssertMutable(subs, 'insert');
  sub.node = subs.itree.insert(sub.start, sub.last, sub);
  subs.itreeVersion++;
  if (subs.sim.tracing) subs.sim.traceEvent('itree_insert', sub.name, mnItreeRangeNote(sub));
}

/** Takes `sub` out of the tree. Caller holds subs.lock; G must be even. */
export function mnItreeRemove(subs: MmuNotifierSubscriptions, sub: MmuIntervalNotifier): void {
  subs.sim.assertHeld(subs.lock, 'mn_itree_remove');
  mnItreeAssertMutable(subs, 'remove');
  subs.itree.remove(sub.node!);
  subs.itreeVersion++;
  if (subs.sim.tracing) subs.sim.traceEvent('itree_remove', sub.name, mnItreeRangeNote(sub));
}

/** `[0xstart, 0xlast] seq S` for the trace (tracing only). */
function mnItreeRangeNote(sub: MmuIntervalNotifier): string {
  return `[0x${sub.start.toString(16)}, 0x${sub.last.toString(16)}] seq ${sub.invalidateSeq}`;
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

/**
 * Runs `fn`, one callback of `sub` (a first pass or a finish pass), checking that it may
 * still run and counting it as running for remove's postcondition.
 */
function mnItreeCall<R>(
  sim: Simulation,
  sub: MmuIntervalNotifier,
  blockable: boolean,
  what: string,
  fn: () => R | Promise<R>,
): Promise<R> {
  sim.use(sub, `${what} callback`);
  mnAssert(
    sim,
    sub.state !== 'removed',
    `${what} callback of ${sub.name} after mmu_interval_notifier_remove returned`,
    'interval callback after remove',
  );
  // Stricter than upstream, which trusts interval callbacks to test the blockable flag:
  // sleeping in one on a non-blockable range is reported as it is for classic callbacks.
  return mnRunCallback(sim, sub, blockable, fn);
}

/**
 * Finish tokens queued by an invalidation and not yet finished (the kernel's llist links),
 * kept per run (Simulation.runMap): a token left queued by a run that ended early does not
 * count in the next one.
 */
const QUEUED_FINISHES = Symbol('queued finish tokens');

/**
 * The first pass for one subscription: `invalidateStart` when it has one, else
 * `invalidate`. Returns the callback's verdict, or the finish token to queue (marked
 * queued, its `notifier` set).
 */
async function mnItreeCallInvalidate(
  sim: Simulation,
  sub: MmuIntervalNotifier,
  range: MmuNotifierRange,
  curSeq: number,
): Promise<boolean | MmuIntervalNotifierFinish> {
  const ops = sub.ops;
  if (ops.invalidateStart === undefined) {
    return mnItreeCall(sim, sub, range.blockable, 'invalidate', () => ops.invalidate!(sub, range, curSeq));
  }
  const r = await mnItreeCall(sim, sub, range.blockable, 'invalidate_start', () =>
    ops.invalidateStart!(sub, range, curSeq),
  );
  if (typeof r === 'boolean') return r;
  if (r === null || typeof r !== 'object') {
    sim.report(
      'kernel-bug',
      `${sub.name} invalidate_start returned ${String(r)}, not a boolean or a finish token`,
      {
        key: 'invalidate_start bad return',
      },
    );
    return true;
  }
  const queued = sim.runMap<MmuIntervalNotifierFinish, true>(QUEUED_FINISHES);
  if (queued.has(r))
    sim.bug(
      `list corruption: ${sub.name} queued a finish token that another invalidation has queued and not yet ` +
        'finished (each in-flight invalidation needs its own struct mmu_interval_notifier_finish)',
    );
  r.notifier = sub;
  queued.set(r, true);
  return r;
}

/**
 * mn_itree_finish_pass: the second pass, every queued token in the order it was returned.
 * Runs after the first pass of every overlapping subscription, also when the walk stopped
 * on a refusal. May sleep if the range is blockable.
 */
async function mnItreeFinishPass(
  sim: Simulation,
  range: MmuNotifierRange,
  finishes: MmuIntervalNotifierFinish[],
): Promise<void> {
  for (const finish of finishes) {
    const sub = finish.notifier!;
    await sim.point('mn_itree_finish_pass', sub.name);
    sim.runMap<MmuIntervalNotifierFinish, true>(QUEUED_FINISHES).delete(finish);
    await mnItreeCall(sim, sub, range.blockable, 'invalidate_finish', () =>
      sub.ops.invalidateFinish!(finish),
    );
  }
}

/**
 * The tree lookup mn_itree_inv_start_range makes is [start, end - 1] in the kernel's unsigned
 * arithmetic. For an empty range [a, a) that is not empty: end - 1 wraps below start, and
 * the lookup then still matches every subscription that starts before `a` and ends at or
 * after it (for a = 0 the wrap gives ULONG_MAX: every subscription). The model queries
 * [a - 1, a] and keeps the straddling subscriptions with this filter.
 */
function mnItreeStraddling(
  a: number,
  tree: IntervalTree<MmuIntervalNotifier>,
  node: IntervalNode<MmuIntervalNotifier> | undefined,
): IntervalNode<MmuIntervalNotifier> | undefined {
  while (node !== undefined && !(node.start < a && node.last >= a)) node = tree.iterNext(node, a - 1, a);
  return node;
}

/**
 * mn_itree_invalidate: the interval part of __mmu_notifier_invalidate_range_start.
 * Start-range step under the lock (N += 1; G |= 1 when some subscription overlaps;
 * cur_seq = G), then each overlapping subscription's invalidate (or first pass) in tree
 * order, without the lock (the tree cannot change while G is odd), then the finish pass
 * of the two-pass subscriptions. A false return on a non-blockable range stops the walk;
 * the finish pass still runs, then the end step, and the start gives -EAGAIN. On a
 * blockable range a false return is a kernel warning. May sleep if the range is blockable.
 */
export async function mnItreeInvalidate(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): Promise<number> {
  const sim = subs.sim;
  const tree = subs.itree;
  // The lookup (see mnItreeStraddling for the empty range); plain locals, no allocation.
  const empty = range.end === range.start;
  const straddling = empty && range.start > 0;
  const qStart = straddling ? range.start - 1 : range.start;
  const qLast = !empty ? range.end - 1 : straddling ? range.start : ULONG_MAX;
  await subs.lock.lock();
  subs.activeInvalidateRanges++;
  subs.invalidators.push(sim.current?.name ?? '-');
  let node = tree.iterFirst(qStart, qLast);
  if (straddling) node = mnItreeStraddling(range.start, tree, node);
  if (node !== undefined) {
    sim.touch(subs.seqTag);
    subs.invalidateSeq |= 1;
  }
  const curSeq = subs.invalidateSeq;
  mnSubscriptionsCheck(subs, 'mn_itree_inv_start_range');
  subs.lock.unlock();
  if (node === undefined) return 0;
  sim.mark('invalidate hit a subscription');

  const version = subs.itreeVersion;
  let finishes: MmuIntervalNotifierFinish[] | null = null;
  let ret = 0;
  while (node !== undefined) {
    const sub = node.value;
    await sim.point('mn_itree_invalidate', sub.name);
    if (sim.tracing) sim.note(`invalidate_seq ${curSeq}`);
    const r = await mnItreeCallInvalidate(sim, sub, range, curSeq);
    const ok = r !== false;
    if (r !== true && r !== false) (finishes ??= []).push(r);
    mnAssert(
      sim,
      subs.itreeVersion === version && node.inTree,
      'the interval tree changed while an invalidation was iterating it',
      'itree changed under iteration',
    );
    if (!ok) {
      if (!range.blockable) {
        ret = -EAGAIN;
        sim.mark('nonblock invalidate refused');
        break;
      }
      mnWarn(
        sim,
        true,
        `${sub.name} invalidate returned false for a blockable range`,
        'interval invalidate false on blockable range',
      );
    }
    node = tree.iterNext(node, qStart, qLast);
    if (straddling) node = mnItreeStraddling(range.start, tree, node);
  }
  if (finishes !== null) await mnItreeFinishPass(sim, range, finishes);
  // A refused non-blockable start must not be ended by its caller: end it here.
  if (ret !== 0) await mnItreeInvEnd(subs);
  return ret;
}

/** Removes one open invalidation of `name` from `subs.invalidators` (the latest, else any). */
function dropInvalidator(subs: MmuNotifierSubscriptions, name: string): void {
  const list = subs.invalidators;
  const i = list.lastIndexOf(name);
  // An end from another thread than its start (not done by the model's callers): drop the oldest.
  list.splice(i >= 0 ? i : 0, 1);
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
  const ender = sim.current?.name ?? '-';
  if (subs.activeInvalidateRanges !== 0 || (subs.invalidateSeq & 1) === 0) {
    dropInvalidator(subs, ender);
    mnSubscriptionsCheck(subs, 'mn_itree_inv_end');
    subs.lock.unlock();
    return;
  }
  sim.touch(subs.seqTag);
  subs.invalidateSeq++;
  if (sim.tracing) sim.traceEvent('invalidate_seq', undefined, `→ ${subs.invalidateSeq}: window closed`);
  if (sim.switchOn(REMOVE_SEQ_READ_UNLOCKED)) {
    await sim.point('mn_itree_inv_end', 'invalidate_seq (bumped; deferred list not yet applied)');
  }
  let released: MmuIntervalNotifier[] | null = null;
  const deferred = subs.deferredList;
  while (deferred.length > 0) {
    const sub = deferred.pop()!;
    sim.use(sub, 'deferred interval tree update');
    sub.deferred = false;
    sim.mark('deferred tree update applied');
    if (sub.inTree) {
      mnItreeRemove(subs, sub);
      if (sub.releaseOnRemoval) (released ??= []).push(sub);
    } else {
      mnItreeInsert(subs, sub);
    }
  }
  // The closing end holds the window open until its deferred updates are applied.
  dropInvalidator(subs, ender);
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
