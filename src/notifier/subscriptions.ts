/**
 * struct mmu_notifier_subscriptions: the per-mm container both notifier flavours hang
 * off (mm->notifier_subscriptions), and the SRCU-safe list operations on its classic list.
 */
import type { Simulation } from '../sim/simulation.js';
import { SpinLock } from '../sim/sync/spinlock.js';
import { WaitQueue } from '../sim/sync/waitqueue.js';
import { IntervalTree } from '../lib/interval-tree.js';
import type { MmStruct } from '../mm/mm-struct.js';
import type { MmuNotifier } from './classic.js';
import type { MmuIntervalNotifier } from './interval.js';
import { mnAssert } from './debug.js';
import { mmuNotifierSrcu } from './srcu.js';

/**
 * dpor's object for mm->notifier_subscriptions (its label's first word): lockless readers use
 * it, its publication and kfree write it.
 */
export const SUBSCRIPTIONS_TAG = 'mmu_notifier_subscriptions';

/**
 * The per-mm notifier container, created by the first registration on the mm (classic or
 * interval) and freed with the mm structure.
 *
 * The sequence words are mm/mmu_notifier.c's: `invalidateSeq` (invalidate_seq) is G (starts at 2; odd while the
 * tree is fully excluded), `activeInvalidateRanges` (active_invalidate_ranges) is N. Fields are public for the core's
 * modules; outside the core read them only (tests use {@link mmuNotifierState}).
 */
export class MmuNotifierSubscriptions {
  /** Head of the classic list (hlist_head); new notifiers go in front. */
  listHead: MmuNotifier | null = null;
  /** Interval mode is on: set by the first interval insert, never cleared. */
  hasItree = false;
  /** Protects the list's mutation, G, N, the tree and the deferred list. */
  readonly lock: SpinLock;
  /** G: the global invalidation sequence. Even when idle, odd while fully excluded. */
  invalidateSeq = 2;
  /** N: invalidate starts not yet matched by their end (interval mode only). */
  activeInvalidateRanges = 0;
  /**
   * The threads behind the N open invalidations, by name (one entry per start): not kernel
   * state, only what a violation names so that its race diagram shows who holds the window open.
   */
  readonly invalidators: string[] = [];
  /** The inserted interval subscriptions, keyed by [start, last]. */
  readonly itree = new IntervalTree<MmuIntervalNotifier>();
  /** Readers in read_begin, removers in remove, synchronize: woken when G moves on. */
  readonly wq: WaitQueue;
  /**
   * Tree insertions and removals postponed while G is odd. The head of the kernel's hlist
   * is the END of this array: queued with push, applied from the end (LIFO).
   */
  readonly deferredList: MmuIntervalNotifier[] = [];
  /** Bumped on every change of the tree; iterators check it (the tree may not change under them). */
  itreeVersion = 0;

  /** The classic list as dpor names it: SRCU walkers read it, (un)registration writes it. */
  readonly hlistTag: string;
  /**
   * dpor's object for G: written under the lock, read without it by the wait predicates
   * (READ_ONCE in read_begin, remove and synchronize), so both sides touch it.
   */
  readonly seqTag: string;

  constructor(
    /** The mm this container belongs to (mm->notifier_subscriptions points back at it). */
    readonly mm: MmStruct,
  ) {
    this.hlistTag = `mn_hlist ${mm.name}`;
    this.seqTag = `invalidate_seq ${mm.name}`;
    this.lock = new SpinLock(mm.sim, 'subscriptions->lock');
    this.wq = new WaitQueue(mm.sim, 'subscriptions->wq');
    mm.sim.kalloc(this, `${SUBSCRIPTIONS_TAG} of ${mm.name}`);
  }

  /** The simulation of the mm the container hangs off. */
  get sim(): Simulation {
    return this.mm.sim;
  }
}

/** A snapshot of an mm's notifier state (G, N, tree and list sizes), for tests and reports. */
export interface MmuNotifierState {
  /** G, subscriptions->invalidate_seq. */
  invalidateSeq: number;
  /** N, subscriptions->active_invalidate_ranges. */
  activeInvalidateRanges: number;
  /** subscriptions->has_itree: an interval notifier was ever inserted on the mm. */
  hasItree: boolean;
  /** Subscriptions in the interval tree. */
  itreeSize: number;
  /** Pending deferred inserts and removals. */
  deferred: number;
  /** Classic notifiers on the list. */
  classic: number;
}

/** Reads the notifier state of `mm` (null when nothing was ever registered). Atomic. */
export function mmuNotifierState(mm: MmStruct): MmuNotifierState | null {
  const subs = mm.notifierSubscriptions;
  if (subs === null) return null;
  let classic = 0;
  for (let s = subs.listHead; s !== null; s = s.hlistNext) classic++;
  return {
    invalidateSeq: subs.invalidateSeq,
    activeInvalidateRanges: subs.activeInvalidateRanges,
    hasItree: subs.hasItree,
    itreeSize: subs.itree.size,
    deferred: subs.deferredList.length,
    classic,
  };
}

/**
 * Checks the invariants mm/mmu_notifier.c relies on: N >= 0, G odd ⇒ N > 0, G even ⇒ deferred
 * list empty. Called at the end of every critical section that changes them; reports
 * `notifier-invariant`. Caller holds `subs.lock`.
 */
export function mnSubscriptionsCheck(subs: MmuNotifierSubscriptions, where: string): void {
  subs.sim.assertHeld(subs.lock, 'mn_subscriptions_check');
  const sim = subs.sim;
  const g = subs.invalidateSeq;
  const n = subs.activeInvalidateRanges;
  mnAssert(sim, n >= 0, `${where}: active_invalidate_ranges is negative (${n})`, 'N negative');
  mnAssert(
    sim,
    (g & 1) === 0 || n > 0,
    `${where}: invalidate_seq ${g} odd with no active range`,
    'G odd, N 0',
  );
  mnAssert(
    sim,
    (g & 1) === 1 || subs.deferredList.length === 0,
    `${where}: invalidate_seq ${g} even with ${subs.deferredList.length} deferred tree updates pending`,
    'G even, deferred non-empty',
  );
}

// ---------------------------------------------------------------------------------------------
// The classic list: an hlist walked by SRCU readers while it changes.
// ---------------------------------------------------------------------------------------------

/**
 * The walk's contract (hlist_for_each_entry_srcu's lockdep condition): the running thread
 * holds subs.lock or is inside the notifier SRCU read section; reports `lock-misuse` otherwise.
 */
function assertHlistWalker(subs: MmuNotifierSubscriptions, what: string): void {
  const sim = subs.sim;
  const t = sim.current;
  if (t === null || sim.status !== 'running') return;
  if (subs.lock.owner === t || mmuNotifierSrcu(sim).isReader(t)) return;
  sim.report(
    'lock-misuse',
    `${what} by ${t.name} outside subscriptions->lock and the notifier SRCU section`,
    {
      key: `hlist walk unprotected ${what}`,
    },
  );
}

/** hlist_empty(): a lockless peek, as the kernel's callers make before entering the SRCU section. */
export function mnHlistEmpty(subs: MmuNotifierSubscriptions): boolean {
  subs.sim.touch(subs.hlistTag, true);
  return subs.listHead === null;
}

/** The list's first notifier (a walk's read of the head). Caller holds subs.lock or is an SRCU reader. */
export function mnHlistFirst(subs: MmuNotifierSubscriptions): MmuNotifier | null {
  assertHlistWalker(subs, 'mn_hlist walk');
  subs.sim.touch(subs.hlistTag, true);
  return subs.listHead;
}

/** The notifier after `sub` (a walk's read of the link). Caller holds subs.lock or is an SRCU reader. */
export function mnHlistNext(subs: MmuNotifierSubscriptions, sub: MmuNotifier): MmuNotifier | null {
  assertHlistWalker(subs, 'mn_hlist walk');
  subs.sim.touch(subs.hlistTag, true);
  return sub.hlistNext;
}

/** hlist_add_head_rcu(): caller holds subs.lock. */
export function mnHlistAddHead(subs: MmuNotifierSubscriptions, sub: MmuNotifier): void {
  subs.sim.assertHeld(subs.lock, 'hlist_add_head_rcu');
  subs.sim.touch(subs.hlistTag);
  sub.hlistPrev = null;
  sub.hlistNext = subs.listHead;
  if (subs.listHead !== null) subs.listHead.hlistPrev = sub;
  subs.listHead = sub;
  sub.hashed = true;
}

/**
 * hlist_del_init_rcu(): unlinks `sub` (no-op when already unhashed). Its `hlistNext` is
 * kept so that an SRCU reader standing on it walks on. Caller holds subs.lock.
 */
export function mnHlistDelInit(subs: MmuNotifierSubscriptions, sub: MmuNotifier): void {
  subs.sim.assertHeld(subs.lock, 'hlist_del_init_rcu');
  subs.sim.touch(subs.hlistTag);
  if (!sub.hashed) return;
  const prev = sub.hlistPrev;
  const next = sub.hlistNext;
  if (prev === null) subs.listHead = next;
  else prev.hlistNext = next;
  if (next !== null) next.hlistPrev = prev;
  sub.hlistPrev = null;
  sub.hashed = false;
}

/**
 * The container's destruction (__mmu_notifier_subscriptions_destroy), for mmdrop() when
 * mm_count reaches zero: BUG if a classic notifier is still listed, then kfree. Atomic.
 */
export function mmuNotifierSubscriptionsDestroy(mm: MmStruct): void {
  const subs = mm.notifierSubscriptions;
  if (subs === null) return;
  if (subs.listHead !== null) mm.sim.bug(`mm ${mm.name} freed with classic mmu notifiers still registered`);
  mm.sim.kfree(subs);
  mm.notifierSubscriptions = null;
}
