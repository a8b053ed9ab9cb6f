/**
 * Registration on an mm (mmu_notifier_register and __mmu_notifier_register): creates the
 * per-mm container on first use and either adds a classic notifier or switches interval
 * mode on. Shared by the classic and the interval API.
 */
import { EINVAL } from '../sim/errno.js';
import type { MmStruct } from '../mm/mm-struct.js';
import type { MmuNotifier } from './classic.js';
import { mmDropAllLocks, mmTakeAllLocks } from './all-locks.js';
import { mnWarn } from './debug.js';
import { MmuNotifierSubscriptions, mnHlistAddHead, SUBSCRIPTIONS_TAG } from './subscriptions.js';

/**
 * Models __mmu_notifier_register(sub, mm): with `sub`, attaches a classic notifier (pins
 * the mm with mmgrab, users = 1, added at the head of the list); with null, enables
 * interval mode (`hasItree`). Allocates the container on first use.
 *
 * Locks: the caller holds `mm.mmapLock` for write (asserted). Takes all of the mm's
 * invalidation-excluding locks (see all-locks.ts) and the container spinlock. May sleep.
 * Requires mm_users > 0: registering on an exiting mm is a kernel BUG (reported).
 *
 * Returns 0, -EINVAL when `sub` has both archInvalidateSecondaryTlbs and a range
 * start/end callback, or -EINTR when a fatal signal is pending. Deviation: allocation
 * never fails (no -ENOMEM).
 */
export async function mmuNotifierRegisterLocked(sub: MmuNotifier | null, mm: MmStruct): Promise<number> {
  const sim = mm.sim;
  sim.self('__mmu_notifier_register');
  sim.mightSleep('__mmu_notifier_register');
  sim.use(mm, '__mmu_notifier_register');
  mm.assertMmapWriteLocked('__mmu_notifier_register');
  if (mm.users <= 0) sim.bug(`mmu notifier registration on ${mm.name} with mm_users ${mm.users}`);
  if (sub !== null) {
    if (sub.hashed || (sub.mm !== null && !sub.fenced))
      sim.bug(`registering mmu notifier ${sub.name} which is already registered`);
    const ops = sub.ops;
    const both =
      ops.archInvalidateSecondaryTlbs !== undefined && (ops.invalidateRangeStart || ops.invalidateRangeEnd);
    if (
      mnWarn(
        sim,
        !!both,
        `mmu notifier ${sub.name} has both arch_invalidate_secondary_tlbs and invalidate_range callbacks`,
        'register with arch TLB and range callbacks',
      )
    ) {
      return -EINVAL;
    }
  }
  let subs = mm.notifierSubscriptions;
  let created: MmuNotifierSubscriptions | null = null;
  if (subs === null) created = new MmuNotifierSubscriptions(mm);

  const ret = await mmTakeAllLocks(mm);
  if (ret !== 0) {
    if (created !== null) sim.kfree(created);
    return ret;
  }
  if (created !== null) {
    // Published with release ordering in the kernel; readers that hold a reference see it whole.
    // For dpor, a write of what lockless readers (sim.use of the subscriptions) read.
    sim.touch(SUBSCRIPTIONS_TAG);
    mm.notifierSubscriptions = created;
    subs = created;
  }
  if (sub !== null) {
    mm.mmgrab();
    sub.mm = mm;
    sub.users = 1;
    sub.fenced = false;
    await subs!.lock.lock();
    mnHlistAddHead(subs!, sub);
    subs!.lock.unlock();
  } else {
    subs!.hasItree = true;
  }
  mmDropAllLocks(mm);
  return 0;
}

/**
 * Models mmu_notifier_register(sub, mm): takes the mmap lock for write around
 * {@link mmuNotifierRegisterLocked}. The caller holds no mm lock and a user reference on
 * the mm (mmget or its own task). May sleep. Returns 0 or a negative errno.
 */
export async function mmuNotifierRegisterSub(sub: MmuNotifier | null, mm: MmStruct): Promise<number> {
  mm.sim.mightSleep('mmu_notifier_register');
  await mm.mmapLock.downWrite();
  const ret = await mmuNotifierRegisterLocked(sub, mm);
  mm.mmapLock.upWrite();
  return ret;
}
