/**
 * Classic (whole-mm) mmu notifiers: struct mmu_notifier with register/unregister,
 * get/put and synchronize. The list walks (invalidate start/end, release, aging) are in
 * hlist.ts. Callbacks run inside the notifier SRCU read section; unregister and put fence
 * through its grace periods, so after unregister returns (or after free_notifier runs) no
 * callback of the notifier runs.
 */
import { EOVERFLOW } from '../sim/errno.js';
import type { Simulation } from '../sim/simulation.js';
import type { MmStruct } from '../mm/mm-struct.js';
import { mnAssert, mnWarn } from './debug.js';
import { mnCallClassic } from './hlist.js';
import { mmuNotifierRegisterLocked, mmuNotifierRegisterSub } from './register.js';
import { mmuNotifierSrcu } from './srcu.js';
import { mnHlistDelInit, mnHlistFirst, mnHlistNext } from './subscriptions.js';
import { NotifierError, UINT_MAX, type MmuNotifierOps } from './types.js';

/**
 * struct mmu_notifier: one classic subscription. Create it with `new MmuNotifier(ops)` and
 * register it (`register(mm)`), or use {@link mmuNotifierRegister} / {@link mmuNotifierGet}.
 * Drivers may subclass it to carry their state (the kernel embeds it).
 */
export class MmuNotifier {
  /** The mm it is attached to (set by registration, kept after unregister as in the kernel). */
  mm: MmStruct | null = null;
  /** get/put reference count (1 after registration). */
  users = 0;
  /** Links of the SRCU-walked list (hlist); `hashed` false = unhashed. Core-internal. */
  hlistNext: MmuNotifier | null = null;
  /** The previous notifier on the list (hlist pprev); null at the head. Written under subs.lock. */
  hlistPrev: MmuNotifier | null = null;
  /** On the list (!hlist_unhashed): set by the add, cleared by the delete, under subs.lock. */
  hashed = false;
  /**
   * Model tracking: set once unregister's grace period has passed or the notifier was
   * freed by put; from then on any callback is a `notifier-invariant` violation.
   */
  fenced = false;
  /** Model tracking: callbacks of this notifier running now. */
  callbacksRunning = 0;

  constructor(
    /** The callbacks; also the identity key of mmuNotifierGet(). */
    public ops: MmuNotifierOps,
    /** Names the notifier in traces and reports. */
    readonly name = 'mmu_notifier',
  ) {
    if (ops === null || typeof ops !== 'object') {
      throw new TypeError(`MmuNotifier: ops must be an object of callbacks, got ${String(ops)}`);
    }
  }

  /** mmu_notifier_register(this, mm); see {@link mmuNotifierRegisterSub}. May sleep. */
  register(mm: MmStruct): Promise<number> {
    return mmuNotifierRegisterSub(this, mm);
  }

  /** __mmu_notifier_register(this, mm); caller holds the mmap lock for write. May sleep. */
  registerLocked(mm: MmStruct): Promise<number> {
    mm.assertMmapWriteLocked('__mmu_notifier_register');
    return mmuNotifierRegisterLocked(this, mm);
  }

  /** mmu_notifier_unregister(this, this.mm); see {@link mmuNotifierUnregister}. May sleep. */
  unregister(): Promise<void> {
    if (this.mm === null) throw new TypeError(`unregister of ${this.name}, which was never registered`);
    return mmuNotifierUnregister(this, this.mm);
  }

  /**
   * mmu_notifier_unregister_no_release(this, this.mm); see
   * {@link mmuNotifierUnregisterNoRelease}. Not a fence. Atomic.
   */
  unregisterNoRelease(): Promise<void> {
    if (this.mm === null)
      throw new TypeError(`unregisterNoRelease of ${this.name}, which was never registered`);
    return mmuNotifierUnregisterNoRelease(this, this.mm);
  }

  /** mmu_notifier_put(this); see {@link mmuNotifierPut}. Atomic. */
  put(): Promise<void> {
    return mmuNotifierPut(this);
  }
}

/**
 * The public-API form of mmu_notifier_register(): allocates a notifier for `ops`,
 * registers it on `mm` and returns it. Throws a {@link NotifierError} carrying the
 * negative errno when registration fails. Caller holds no mm lock and a user reference
 * on the mm. May sleep.
 */
export async function mmuNotifierRegister(mm: MmStruct, ops: MmuNotifierOps): Promise<MmuNotifier> {
  const sub = new MmuNotifier(ops);
  const ret = await mmuNotifierRegisterSub(sub, mm);
  if (ret !== 0) throw new NotifierError(ret, `mmu_notifier_register on ${mm.name}`);
  return sub;
}

/**
 * Models mmu_notifier_get_locked(ops, mm): returns the single notifier of `mm` whose ops
 * are `ops` with one more reference, or allocates (`ops.allocNotifier`) and registers
 * one. Returns the notifier, or a negative errno in place of the kernel's ERR_PTR:
 * -EOVERFLOW when its count is already UINT_MAX, the allocator's error, or the
 * registration's. Caller holds `mm.mmapLock` for write (asserted). May sleep.
 */
export async function mmuNotifierGetLocked(ops: MmuNotifierOps, mm: MmStruct): Promise<MmuNotifier | number> {
  const sim = mm.sim;
  sim.self('mmu_notifier_get_locked');
  sim.mightSleep('mmu_notifier_get_locked');
  mm.assertMmapWriteLocked('mmu_notifier_get_locked');
  const subs = mm.notifierSubscriptions;
  if (subs !== null) {
    await subs.lock.lock();
    for (let sub = mnHlistFirst(subs); sub !== null; sub = mnHlistNext(subs, sub)) {
      if (sub.ops !== ops) continue;
      if (sub.users === UINT_MAX) {
        subs.lock.unlock();
        return -EOVERFLOW;
      }
      sub.users++;
      subs.lock.unlock();
      return sub;
    }
    subs.lock.unlock();
  }
  const sub = ops.allocNotifier ? ops.allocNotifier(mm) : new MmuNotifier(ops);
  if (typeof sub === 'number') return sub;
  sub.ops = ops;
  const ret = await mmuNotifierRegisterLocked(sub, mm);
  if (ret !== 0) {
    mnFreeNotifier(sim, sub);
    return ret;
  }
  return sub;
}

/**
 * Models mmu_notifier_get(ops, mm): {@link mmuNotifierGetLocked} under the mmap lock
 * taken for write. Caller holds no mm lock. May sleep.
 */
export async function mmuNotifierGet(ops: MmuNotifierOps, mm: MmStruct): Promise<MmuNotifier | number> {
  mm.sim.mightSleep('mmu_notifier_get');
  await mm.mmapLock.downWrite();
  const ret = await mmuNotifierGetLocked(ops, mm);
  mm.mmapLock.upWrite();
  return ret;
}

/** free_notifier, or kfree when the ops have none. */
function mnFreeNotifier(sim: Simulation, sub: MmuNotifier): void {
  if (sub.ops.freeNotifier) sub.ops.freeNotifier(sub);
  else sim.kfree(sub);
}

/**
 * Models mmu_notifier_put(sub): drops a get() reference. The last one unhashes the
 * notifier and, after an SRCU grace period, calls `ops.freeNotifier` (or kfree) and drops
 * the mm pin — from the SRCU callback thread, where sleeping is forbidden. Does NOT call
 * release. A put with no reference left is a kernel warning. Takes the container
 * spinlock; atomic (callable from release). Modules call {@link mmuNotifierSynchronize}
 * before unloading.
 */
export async function mmuNotifierPut(sub: MmuNotifier): Promise<void> {
  const mm = sub.mm;
  if (mm === null) throw new TypeError(`mmu_notifier_put of ${sub.name}, which was never registered`);
  const sim = mm.sim;
  const subs = sim.use(mm.notifierSubscriptions!, 'mmu_notifier_put');
  await subs.lock.lock();
  if (mnWarn(sim, sub.users === 0, `mmu_notifier_put of ${sub.name} with no reference left`)) {
    subs.lock.unlock();
    return;
  }
  if (--sub.users !== 0) {
    subs.lock.unlock();
    return;
  }
  mnHlistDelInit(subs, sub);
  subs.lock.unlock();
  mmuNotifierSrcu(sim).callSrcu(() => {
    mnAssert(
      sim,
      sub.callbacksRunning === 0,
      `${sub.name} freed after its SRCU grace period while a callback of it is running`,
      'classic callback running at free',
    );
    sub.fenced = true;
    mnFreeNotifier(sim, sub);
    mm.mmdrop();
  });
}

/**
 * Models mmu_notifier_unregister(sub, mm): if the notifier is still listed, calls its
 * `release` (inside an SRCU read section) and unhashes it; then waits for an SRCU grace
 * period and drops the mm pin. After it returns no callback of `sub` is running or will
 * run, so the owner may free it (freeing it without that wait is a use-after-free: an SRCU
 * reader may still be inside one of its callbacks).
 * `release` may also be called concurrently by mm teardown, so it can run twice.
 * Caller holds no lock that a callback takes; must not be called from a callback. May sleep.
 */
export async function mmuNotifierUnregister(sub: MmuNotifier, mm: MmStruct): Promise<void> {
  const sim = mm.sim;
  sim.mightSleep('mmu_notifier_unregister');
  if (sub.mm !== mm) sim.bug(`mmu_notifier_unregister of ${sub.name} on an mm it is not registered on`);
  if (sub.fenced) sim.bug(`mmu_notifier_unregister of ${sub.name} twice`);
  const srcu = mmuNotifierSrcu(sim);
  const subs = sim.use(mm.notifierSubscriptions!, 'mmu_notifier_unregister');
  if (sub.hashed) {
    // Upstream tests the list and enters SRCU in two steps: mm teardown may run its release
    // walk, unhash everything and pass its grace period in between, and this release then
    // runs after exit_mmap has moved on. Kept, as upstream has it.
    await sim.point('mmu_notifier_unregister', 'subscriptions->lock (hashed read without it; entering SRCU)');
    const idx = srcu.readLock();
    const ops = sub.ops;
    if (ops.release) await mnCallClassic(sub, true, 'release', () => ops.release!(mm, sub));
    srcu.readUnlock(idx);
    await subs.lock.lock();
    // mm teardown may have unhashed it meanwhile: unhashing twice is a no-op.
    mnHlistDelInit(subs, sub);
    subs.lock.unlock();
  }
  await srcu.synchronize();
  mnAssert(
    sim,
    sub.callbacksRunning === 0,
    `mmu_notifier_unregister of ${sub.name} returns while a callback of it is running`,
    'classic callback running after unregister fence',
  );
  sub.fenced = true;
  mm.mmdrop();
}

/**
 * Models mmu_notifier_unregister_no_release(sub, mm), since removed upstream (its users
 * moved to get/put); kept to reproduce the bugs it invited. Unhashes the
 * notifier and drops the mm pin, without calling `release` and WITHOUT waiting for an SRCU
 * grace period: a callback that the invalidate walk already picked up may still run after
 * this returns. The owner must wait (mmuNotifierSynchronize, or a free deferred past a
 * grace period) before freeing what the callbacks use; "mm/hmm: fix use after free with
 * struct hmm in the mmu notifiers" (2019) is the bug of freeing at once.
 * Takes the container spinlock only; atomic.
 */
export async function mmuNotifierUnregisterNoRelease(sub: MmuNotifier, mm: MmStruct): Promise<void> {
  const sim = mm.sim;
  if (sub.mm !== mm)
    sim.bug(`mmu_notifier_unregister_no_release of ${sub.name} on an mm it is not registered on`);
  if (sub.fenced) sim.bug(`mmu_notifier_unregister_no_release of ${sub.name} after it was unregistered`);
  const subs = sim.use(mm.notifierSubscriptions!, 'mmu_notifier_unregister_no_release');
  await subs.lock.lock();
  mnHlistDelInit(subs, sub);
  subs.lock.unlock();
  if (mm.count <= 0) sim.bug(`mmu_notifier_unregister_no_release on ${mm.name} with mm_count ${mm.count}`);
  mm.mmdrop();
}

/**
 * Models mmu_notifier_synchronize(): waits for a grace period of the notifier SRCU domain
 * of `sim`, and (deviation, srcu_barrier semantics) for every free callback queued by an
 * earlier put to have run, which the model's callback thread could otherwise still owe.
 * The caller has put all its notifiers. May sleep.
 */
export async function mmuNotifierSynchronize(sim: Simulation): Promise<void> {
  sim.mightSleep('mmu_notifier_synchronize');
  const srcu = mmuNotifierSrcu(sim);
  await srcu.synchronize();
  await srcu.barrier();
}
