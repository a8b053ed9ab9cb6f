/**
 * Interval notifiers (struct mmu_interval_notifier) and the collision-retry lock: insert,
 * insert-locked, remove, remove-deferred, find, synchronize, the read side (readBegin,
 * readRetry, checkRetry, setSeq). The invalidation side is in itree.ts. Behaviour follows
 * mm/mmu_notifier.c (mmu_interval_notifier_insert/remove, mmu_interval_read_begin).
 *
 * Sequence words: G = subscriptions.invalidateSeq (2 at creation; odd while fully
 * excluded), N = subscriptions.activeInvalidateRanges, S = sub.invalidateSeq (odd once
 * inserted). G grows by 2 per exclusion window and never wraps (JavaScript numbers are
 * exact up to 2^53, ~4.5e15 windows).
 */
import { EOVERFLOW, EINVAL } from '../sim/errno.js';
import type { Simulation } from '../sim/simulation.js';
import type { HeldLock } from '../sim/thread.js';
import { SimUsageError } from '../sim/violation.js';
import type { IntervalNode } from '../lib/interval-tree.js';
import type { MmStruct } from '../mm/mm-struct.js';
import { mnLockMapTouch } from './lockdep-map.js';
import {
  INSERT_NOT_DEFERRED,
  KIND_INVARIANT,
  mnAssert,
  mnWarn,
  REMOVE_NO_WAIT,
  REMOVE_SEQ_READ_UNLOCKED,
} from './debug.js';
import { mmuNotifierRegisterLocked, mmuNotifierRegisterSub } from './register.js';
import { mnIntervalNotifierReleased, mnItreeInsert, mnItreeRemove } from './itree.js';
import { mnSubscriptionsCheck, type MmuNotifierSubscriptions } from './subscriptions.js';
import { NotifierError, ULONG_MAX, type MmuIntervalNotifierOps } from './types.js';

/** Life cycle of an interval subscription, tracked by the model to check callers and callbacks. */
export type IntervalNotifierState = 'new' | 'inserted' | 'removing' | 'removed';

/** Options of an interval subscription. */
export interface MmuIntervalNotifierOptions {
  /**
   * The driver's user lock (the lock `invalidate` holds around setSeq). When given,
   * readRetry and setSeq assert that the caller holds it, as the kernel documents.
   */
  userLock?: HeldLock;
  /** A name for traces and reports. */
  name?: string;
}

/**
 * struct mmu_interval_notifier: a subscription to invalidations overlapping the closed
 * interval [start, last] of one mm. Create it with `new MmuIntervalNotifier(ops)` and call
 * the kernel-shaped `insert(mm, start, length)` (0 or -errno), or use the throwing
 * convenience {@link mmuIntervalNotifierInsert}.
 */
export class MmuIntervalNotifier {
  /** The mm (set by insert, kept after remove). */
  mm: MmStruct | null = null;
  /** First address covered (interval_tree.start). */
  start = 0;
  /** Last address covered, inclusive (interval_tree.last). */
  last = 0;
  /** S: the subscription's sequence. Odd once inserted; written by the core and setSeq. */
  invalidateSeq = 0;
  /** The tree node while inserted (null, or `inTree` false, when not in the tree). Core-internal. */
  node: IntervalNode<MmuIntervalNotifier> | null = null;
  /** Queued on the deferred list (an insertion if not in the tree, else a removal). Core-internal. */
  deferred = false;
  /** The queued removal came from removeDeferred: release + mmdrop when applied. Core-internal. */
  releaseOnRemoval = false;
  /** Model tracking: where the subscription is in its life. */
  state: IntervalNotifierState = 'new';
  /** Model tracking: callbacks of this subscription running now. */
  callbacksRunning = 0;
  /** See {@link MmuIntervalNotifierOptions.userLock}. */
  userLock: HeldLock | null;
  /** Names the subscription in traces and reports (option `name`, default 'mmu_interval_notifier'). */
  readonly name: string;

  constructor(
    /** The callbacks (mmu_interval_notifier_ops): invalidate, or invalidateStart and invalidateFinish. */
    readonly ops: MmuIntervalNotifierOps,
    options: MmuIntervalNotifierOptions = {},
  ) {
    if (ops === null || typeof ops !== 'object') {
      throw new TypeError('MmuIntervalNotifier: ops must be an object of callbacks');
    }
    if (typeof ops.invalidateStart === 'function') {
      if (typeof ops.invalidateFinish !== 'function') {
        throw new TypeError(
          'MmuIntervalNotifier: ops.invalidateStart needs ops.invalidateFinish (a queued finish token ' +
            'would call a NULL invalidate_finish in the kernel)',
        );
      }
    } else if (typeof ops.invalidate !== 'function') {
      throw new TypeError(
        'MmuIntervalNotifier: ops must have invalidate(sub, range, curSeq), or invalidateStart and invalidateFinish',
      );
    }
    this.userLock = options.userLock ?? null;
    this.name = options.name ?? 'mmu_interval_notifier';
  }

  /** Whether the subscription is in its mm's interval tree now (not RB_EMPTY_NODE). */
  get inTree(): boolean {
    return this.node !== null && this.node.inTree;
  }

  /**
   * Models mmu_interval_notifier_insert(sub, mm, start, length, ops): subscribes to
   * invalidations overlapping [start, start + length - 1]; enables interval mode on the
   * mm first if needed (taking the mmap lock for write). Returns 0, -EOVERFLOW (length 0
   * or start + length - 1 > ULONG_MAX), -EINVAL (mm without users; also a kernel warning),
   * or a registration error (-EINTR). On return the subscription may still wait on the
   * deferred list: establish SPTEs only through readBegin/readRetry.
   *
   * Locks: the caller holds no mmap lock (reported if it does: possible recursive locking)
   * and holds a user reference on the mm. May sleep.
   */
  async insert(mm: MmStruct, start: number, length: number): Promise<number> {
    return this.mnInsert(mm, start, length, false);
  }

  /**
   * Models mmu_interval_notifier_insert_locked(): as {@link insert}, for a caller that
   * holds `mm.mmapLock` for write (asserted). May sleep (enabling interval mode takes all
   * locks of the mm).
   */
  async insertLocked(mm: MmStruct, start: number, length: number): Promise<number> {
    return this.mnInsert(mm, start, length, true);
  }

  /**
   * The shared body of both inserts: checks the caller's mmap lock (none for insert, write
   * for insertLocked), enables interval mode on the mm if needed, then inserts.
   */
  private async mnInsert(mm: MmStruct, start: number, length: number, locked: boolean): Promise<number> {
    const what = locked ? 'mmu_interval_notifier_insert_locked' : 'mmu_interval_notifier_insert';
    const sim = mm.sim;
    const t = sim.self(what);
    sim.mightSleep(what);
    if (locked) mm.assertMmapWriteLocked(what);
    else if (mm.mmapLock.isHeldBy(t)) {
      sim.report('lock-misuse', `${what} on ${mm.name} while holding its mmap_lock (use insertLocked)`, {
        key: `${what} holding mmap_lock`,
      });
    }
    // Upstream: might_lock(&mm->mmap_lock) in the unlocked form, which registers with the
    // mmap lock taken when the mm is not in interval mode yet; checked as if it always did.
    if (!locked) sim.mightLock(mm.mmapLock);
    mnIntervalCheckArgs(what, start, length);
    let subs = mm.notifierSubscriptions;
    if (subs === null || !subs.hasItree) {
      const ret = locked ? await mmuNotifierRegisterLocked(null, mm) : await mmuNotifierRegisterSub(null, mm);
      if (ret !== 0) return ret;
      subs = mm.notifierSubscriptions!;
    }
    return mnIntervalNotifierInsert(this, mm, start, length, subs);
  }

  /**
   * Models mmu_interval_notifier_remove(sub): unsubscribes. While the tree is being
   * iterated (G odd) a pending insertion is cancelled at once, and an inserted subscription
   * is queued for deferred removal and the caller sleeps until G moves on (the final
   * invalidate end has then taken it out of the tree and no callback of it can run).
   * After return no callback of it runs or will run: the owner may free it. Drops the mm
   * pin taken by insert. Removing a subscription that is not inserted is a kernel warning
   * (with panicOnWarn off the model then returns at once, keeping the mm pin, where the
   * kernel would go on to corrupt the tree and drop the pin a second time); removing it
   * again while its removal is pending is a kernel BUG.
   *
   * Locks: none held that an invalidate callback takes (checked through the lockdep map
   * mmu_notifier_invalidate_range_start); never from a callback of this mm (it would wait
   * for itself: reported as recursive locking; use removeDeferred there). May sleep.
   */
  async remove(): Promise<void> {
    const mm = this.mnMm('mmu_interval_notifier_remove');
    const sim = mm.sim;
    sim.mightSleep('mmu_interval_notifier_remove');
    const subs = sim.use(mm.notifierSubscriptions!, 'mmu_interval_notifier_remove');
    const seq = await mnIntervalNotifierUnlink(this, subs, false);
    if (seq < 0) return;
    // The wait below is for callbacks to finish: the caller must hold none of their locks.
    mnLockMapTouch(sim, 'mmu_interval_notifier_remove');
    if (seq !== 0 && sim.switchOn(REMOVE_SEQ_READ_UNLOCKED)) {
      // The pre-2022 lockless read of G may land anywhere after the unlock (only this planted
      // race can observe the difference, so the point is not there in the fixed model).
      await sim.point('mmu_interval_notifier_remove', 'invalidate_seq (read without the lock)');
    }
    if (seq !== 0 && !sim.switchOn(REMOVE_NO_WAIT)) {
      sim.mark('remove waited');
      // The predicate reads G atomically (the 2022 fix reads it under the lock).
      await subs.wq.waitEvent(() => seqChanged(subs, seq), 'mmu_interval_notifier_remove');
    }
    mnAssert(
      sim,
      this.callbacksRunning === 0,
      `mmu_interval_notifier_remove of ${this.name} returns while its invalidate callback is running`,
      'remove returns during callback',
    );
    if (this.inTree || this.deferred) {
      // Named: the threads whose invalidation holds the window open (the diagram shows them).
      const self = sim.current?.name ?? '-';
      sim.report(
        KIND_INVARIANT,
        `mmu_interval_notifier_remove of ${this.name} returns while it is still ${this.deferred ? 'on the deferred list' : 'in the tree'}` +
          (subs.invalidators.length > 0
            ? ` (invalidation open in ${[...new Set(subs.invalidators)].join(', ')})`
            : ''),
        {
          key: 'remove returns before deferred removal applied',
          threads: [self, ...new Set(subs.invalidators.filter((n) => n !== self))],
        },
      );
    }
    this.state = 'removed';
    mm.mmdrop();
  }

  /**
   * Models the proposed mmu_interval_notifier_put (a 2020 patch series for nouveau, not in
   * mainline; renamed remove_deferred in its review): unsubscribes without waiting. When the tree is idle, or the insertion was
   * still pending, the removal is immediate: `ops.release(sub)` runs before this returns.
   * Otherwise the removal is queued and the final invalidate end applies it, then calls
   * `ops.release(sub)` (no callback of it runs after that) and drops the mm pin. The owner
   * frees the subscription in `release`, never right after this call.
   *
   * Locks: takes the container spinlock only; atomic; may be called from the
   * subscription's own invalidate callback. Not upstream.
   */
  async removeDeferred(): Promise<void> {
    const mm = this.mnMm('mmu_interval_notifier_remove_deferred');
    const subs = mm.sim.use(mm.notifierSubscriptions!, 'mmu_interval_notifier_remove_deferred');
    const seq = await mnIntervalNotifierUnlink(this, subs, true);
    if (seq === 0) mnIntervalNotifierReleased(this, mm);
  }

  /**
   * Models mmu_interval_read_begin(sub): opens a read-side critical section and returns
   * its sequence (S as read). When S == G the subscription was invalidated or inserted
   * inside the open exclusion window: sleeps until G changes (once; the caller's
   * readRetry and retry loop handle later windows). Locks: the caller holds no lock an
   * invalidate callback takes. The user lock, when declared, is checked at once; any other
   * such lock is caught through the lockdep map mmu_notifier_invalidate_range_start, as the
   * kernel's lockdep does, once a callback has been seen taking it. May sleep.
   */
  async readBegin(): Promise<number> {
    const mm = this.mnMm('mmu_interval_read_begin');
    const sim = mm.sim;
    sim.mightSleep('mmu_interval_read_begin');
    const userLock = this.userLock;
    if (userLock !== null && sim.current !== null && sim.current.held.includes(userLock)) {
      sim.report(
        'lock-misuse',
        `mmu_interval_read_begin on ${this.name} holding ${userLock.name}, which its invalidate callback takes`,
        { key: 'read_begin holding the user lock' },
      );
    }
    mnAssert(sim, this.state !== 'new', `mmu_interval_read_begin on ${this.name}, which was never inserted`);
    sim.use(this, 'mmu_interval_read_begin');
    const subs = sim.use(mm.notifierSubscriptions!, 'mmu_interval_read_begin');
    await subs.lock.lock();
    sim.touch(this.name, true); // for dpor: set_seq writes it under the user lock, not this one
    const seq = this.invalidateSeq;
    const isInvalidating = seq === subs.invalidateSeq;
    subs.lock.unlock();
    if (sim.tracing) {
      sim.traceEvent(
        'read_begin',
        this.name,
        `seq ${seq}${isInvalidating ? ' = invalidate_seq: waits' : ''}`,
      );
    }
    // Unconditional, as upstream: the caller's locks are ordered before every callback's.
    mnLockMapTouch(sim, 'mmu_interval_read_begin');
    mnAssert(sim, (seq & 1) === 1, `${this.name}: invalidate_seq ${seq} is even`, 'subscription seq even');
    if (isInvalidating) {
      sim.mark('read_begin slept');
      await subs.wq.waitEvent(() => seqChanged(subs, seq), 'mmu_interval_read_begin');
    }
    return seq;
  }

  /**
   * Models mmu_interval_read_retry(sub, seq): true when an invalidation collided with the
   * critical section opened by readBegin (S != seq); the caller then unlocks and starts
   * over. Must be called holding the user lock that the invalidate callback holds around
   * setSeq: pass it as `userLock` (or set it once at construction) to have that asserted.
   * When false, program the SPTEs before releasing that lock. Atomic.
   */
  readRetry(seq: number, userLock: HeldLock | null = this.userLock): boolean {
    if (userLock !== null) this.mnSim().assertHeld(userLock, 'mmu_interval_read_retry');
    const sim = this.mm?.sim;
    // For dpor: a read of the sequence set_seq writes (ordered by the user lock when held).
    sim?.touch(this.name, true);
    const retry = this.invalidateSeq !== seq;
    if (retry) sim?.mark('read_retry collided');
    if (sim?.tracing)
      sim.traceEvent('read_retry', this.name, `${seq} vs ${this.invalidateSeq}: ${retry ? 'retry' : 'ok'}`);
    return retry;
  }

  /**
   * Models mmu_interval_check_retry(sub, seq): the same test without the lock. True is
   * reliable (a later readRetry is true too); false is only a hint. Atomic, lockless.
   */
  checkRetry(seq: number): boolean {
    const sim = this.mm?.sim;
    sim?.touch(this.name, true); // for dpor: a lockless read of the sequence set_seq writes
    const retry = this.invalidateSeq !== seq;
    if (retry) sim?.mark('check_retry collided');
    if (sim?.tracing)
      sim.traceEvent('check_retry', this.name, `${seq} vs ${this.invalidateSeq}: ${retry ? 'retry' : 'ok'}`);
    return retry;
  }

  /**
   * Models mmu_interval_set_seq(sub, curSeq): records the window in which the
   * subscription was invalidated. Called by the invalidate callback, unconditionally for
   * every event the driver handles, holding the user lock that guards readRetry (asserted
   * when known). `curSeq` must be the odd value the callback received. Atomic.
   */
  setSeq(curSeq: number, userLock: HeldLock | null = this.userLock): void {
    const sim = this.mnSim();
    if (userLock !== null) sim.assertHeld(userLock, 'mmu_interval_set_seq');
    mnAssert(sim, (curSeq & 1) === 1, `mmu_interval_set_seq(${this.name}, ${curSeq}): cur_seq is even`);
    sim.mark('set_seq');
    if (sim.tracing) sim.traceEvent('set_seq', this.name, `${this.invalidateSeq} → ${curSeq}`);
    sim.touch(this.name); // for dpor: the write read_retry and check_retry read
    this.invalidateSeq = curSeq;
  }

  private mnMm(what: string): MmStruct {
    if (this.mm === null) throw new SimUsageError(`${what}: ${this.name} was never inserted`);
    return this.mm;
  }

  private mnSim(): Simulation {
    return this.mnMm('mmu_interval_notifier').sim;
  }

  /** The subscription's name and its interval [start, last], for messages. */
  toString(): string {
    return `${this.name} [0x${this.start.toString(16)}, 0x${this.last.toString(16)}]`;
  }
}

/**
 * The public-API form of mmu_interval_notifier_insert(): creates a subscription to
 * [start, start + length - 1] of `mm` with `ops` and returns it. Throws a
 * {@link NotifierError} whose `errno` is -EOVERFLOW, -EINVAL or -EINTR when the kernel
 * call would return that. Locks and sleeping as {@link MmuIntervalNotifier.insert}.
 */
export async function mmuIntervalNotifierInsert(
  mm: MmStruct,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
  options?: MmuIntervalNotifierOptions,
): Promise<MmuIntervalNotifier> {
  const sub = new MmuIntervalNotifier(ops, options);
  const ret = await sub.insert(mm, start, length);
  if (ret !== 0)
    throw new NotifierError(ret, `mmu_interval_notifier_insert(start=${start}, length=${length})`);
  return sub;
}

/**
 * Models the proposed mmu_interval_notifier_synchronize(mm) (the same series as
 * removeDeferred, not in mainline): when an exclusion
 * window is open, sleeps until it closes, so every deferred insertion and removal queued
 * before the call has been applied and the `release` callbacks of removeDeferred have
 * run. A driver calls it on unload after removeDeferred. Caller holds no lock an
 * invalidate callback takes. May sleep.
 */
export async function mmuIntervalNotifierSynchronize(mm: MmStruct): Promise<void> {
  const sim = mm.sim;
  sim.mightSleep('mmu_interval_notifier_synchronize');
  const subs = mm.notifierSubscriptions;
  if (subs === null) return;
  await subs.lock.lock();
  const seq = subs.invalidateSeq;
  subs.lock.unlock();
  if ((seq & 1) === 1) await subs.wq.waitEvent(() => seqChanged(subs, seq), 'mmu_interval_synchronize');
}

/**
 * Models the proposed mmu_interval_notifier_find(mm, ops, start, last) (the same series,
 * not in mainline): the
 * first subscription with `ops` overlapping [start, last], consistent with the deferred
 * list as review asked: a subscription whose removal is pending is skipped, one whose
 * insertion is pending is found (after those in the tree). The result is not pinned: the
 * caller serialises it against its own removals (its driver lock). Takes the container
 * spinlock; atomic.
 */
export async function mmuIntervalNotifierFind(
  mm: MmStruct,
  ops: MmuIntervalNotifierOps,
  start: number,
  last: number,
): Promise<MmuIntervalNotifier | null> {
  const subs = mm.notifierSubscriptions;
  if (subs === null || start > last) return null;
  await subs.lock.lock();
  let res: MmuIntervalNotifier | null = null;
  for (let node = subs.itree.iterFirst(start, last); node; node = subs.itree.iterNext(node, start, last)) {
    const sub = node.value;
    if (sub.ops === ops && !sub.deferred) {
      res = sub;
      break;
    }
  }
  if (res === null) {
    for (let i = subs.deferredList.length - 1; i >= 0; i--) {
      const sub = subs.deferredList[i];
      if (sub.ops === ops && !sub.inTree && sub.start <= last && start <= sub.last) {
        res = sub;
        break;
      }
    }
  }
  subs.lock.unlock();
  return res;
}

// ---------------------------------------------------------------------------------------------
// Helpers (mn_itree_*): private to the core.
// ---------------------------------------------------------------------------------------------

/** A wait predicate's READ_ONCE of G: whether it moved on from `seq` (a read dpor sees). */
function seqChanged(subs: MmuNotifierSubscriptions, seq: number): boolean {
  subs.sim.touch(subs.seqTag, true);
  return subs.invalidateSeq !== seq;
}

function mnIntervalCheckArgs(what: string, start: number, length: number): void {
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new SimUsageError(
      `${what}: start and length must be integers in [0, 2^53-1], got start=${start} length=${length}`,
    );
  }
}

/**
 * __mmu_interval_notifier_insert: the part common to insert and insert_locked, after
 * interval mode is on. Returns 0, -EOVERFLOW or -EINVAL.
 */
async function mnIntervalNotifierInsert(
  sub: MmuIntervalNotifier,
  mm: MmStruct,
  start: number,
  length: number,
  subs: MmuNotifierSubscriptions,
): Promise<number> {
  const sim = mm.sim;
  if (sub.state === 'inserted' || sub.state === 'removing')
    sim.bug(`mmu_interval_notifier_insert of ${sub.name} which is already inserted`);
  sub.mm = mm;
  sub.node = null;
  sub.start = start;
  if (length === 0 || length - 1 > ULONG_MAX - start) return -EOVERFLOW;
  sub.last = start + length - 1;
  if (mnWarn(sim, mm.users <= 0, `mmu_interval_notifier_insert on ${mm.name} with mm_users ${mm.users}`)) {
    return -EINVAL;
  }
  mm.mmgrab(); // dropped by remove
  await subs.lock.lock();
  const g = subs.invalidateSeq;
  if (subs.activeInvalidateRanges > 0) {
    if ((g & 1) === 1) {
      if (sim.switchOn(INSERT_NOT_DEFERRED)) {
        mnItreeInsert(subs, sub);
      } else {
        // The tree is under iteration: the final invalidate end inserts it.
        sim.mark('insert deferred');
        subs.deferredList.push(sub);
        sub.deferred = true;
      }
    } else {
      // Partially excluded: an in-flight range may cover it unseen. Enter full exclusion
      // so readers of the new subscription wait until every in-flight range has ended.
      sim.mark('insert raised full exclusion');
      mnItreeInsert(subs, sub);
      subs.sim.touch(subs.seqTag);
      subs.invalidateSeq = g | 1;
    }
    sub.invalidateSeq = subs.invalidateSeq;
  } else {
    mnWarn(sim, (g & 1) === 1, `invalidate_seq ${g} odd with no active invalidation`);
    sub.invalidateSeq = g - 1;
    mnItreeInsert(subs, sub);
  }
  sub.state = 'inserted';
  if (sim.tracing) sim.traceEvent('interval_insert', sub.name, mnInsertNote(sub, subs.invalidateSeq));
  mnAssert(sim, (sub.invalidateSeq & 1) === 1, `${sub.name} inserted with even seq ${sub.invalidateSeq}`);
  mnSubscriptionsCheck(subs, 'mmu_interval_notifier_insert');
  subs.lock.unlock();
  return 0;
}

/**
 * The locked part of remove and remove-deferred. Returns the G to wait for (a removal
 * was deferred), 0 (done now), or -1 (nothing to do after a logged warning).
 */
async function mnIntervalNotifierUnlink(
  sub: MmuIntervalNotifier,
  subs: MmuNotifierSubscriptions,
  deferredRemove: boolean,
): Promise<number> {
  const sim = subs.sim;
  await subs.lock.lock();
  let seq = 0;
  const g = subs.invalidateSeq;
  if ((g & 1) === 1) {
    if (!sub.inTree) {
      if (!sub.deferred)
        sim.bug(
          `removing ${sub.name}, which is neither in the interval tree nor pending insertion (removed twice?)`,
        );
      // Its insertion is still pending: cancel it.
      sim.mark('remove cancelled pending insert');
      subs.deferredList.splice(subs.deferredList.lastIndexOf(sub), 1);
      sub.deferred = false;
    } else {
      if (sub.deferred) sim.bug(`removing ${sub.name} twice while its removal is pending`);
      sim.mark('remove deferred');
      subs.deferredList.push(sub);
      sub.deferred = true;
      sub.releaseOnRemoval = deferredRemove;
      seq = g;
    }
  } else {
    if (
      mnWarn(sim, !sub.inTree, `removing ${sub.name}, which is not in the interval tree (removed twice?)`)
    ) {
      subs.lock.unlock();
      return -1;
    }
    mnItreeRemove(subs, sub);
  }
  sub.state = seq === 0 ? 'removed' : 'removing';
  mnSubscriptionsCheck(subs, 'mmu_interval_notifier_remove');
  subs.lock.unlock();
  return seq;
}

/** The trace note of an insert (tracing only): range, S, whether deferred, and G. */
function mnInsertNote(sub: MmuIntervalNotifier, g: number): string {
  const range = `[0x${sub.start.toString(16)}, 0x${sub.last.toString(16)}]`;
  return `${range} seq ${sub.invalidateSeq}${sub.deferred ? ' deferred' : ''}; invalidate_seq ${g}; mm ${sub.mm!.name}`;
}
