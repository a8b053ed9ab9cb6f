/**
 * make_device_exclusive (mm/rmap.c): give a device exclusive (atomic) access to one anonymous page.
 */
import { EBUSY, EINVAL } from '../sim/errno.js';
import { EOPNOTSUPP } from '../mm/mmap.js';
import { FOLL_WRITE, VM_HUGETLB } from '../mm/constants.js';
import {
  PTE_DIRTY,
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_UFFD_WP,
  PTE_WRITE,
} from '../mm/page-table.js';
import { PG_anon, PG_dirty } from '../mm/physical.js';
import { ptepGetAndClear, ptepSet } from '../mm/memory.js';
import { getUserPages } from '../mm/gup.js';
import type { Mm } from '../mm/mm.js';
import {
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  mmuNotifierRangeInit,
} from '../notifier/types.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';

/** What makeDeviceExclusive gives: 0 and the page (locked, referenced), or -errno and pfn -1. */
export interface DeviceExclusiveResult {
  /** 0 on success, else a negative errno. */
  ret: number;
  /** The page now behind the device-exclusive entry (locked, referenced), or -1 on failure. */
  pfn: number;
}

/** Retries when the page changed between the GUP and the PTE lock (a livelock bound of the model). */
const MAX_EXCLUSIVE_RETRIES = 100;

/**
 * make_device_exclusive(mm, addr, owner, &folio): page-aligns `addr`, faults the page in writable
 * through GUP (which first revokes any device-exclusive entry there), refuses non-anonymous and
 * hugetlb pages (-EOPNOTSUPP), locks the page (folio_lock_killable), then inside a blockable
 * MMU_NOTIFY_EXCLUSIVE invalidation of that one page carrying `owner` checks the same page is still
 * mapped writable by a PTE (else retries from the GUP) and replaces the PTE by a writable
 * device-exclusive entry (dirty propagated to the page, soft-dirty and uffd-wp kept). The entry keeps
 * the mapping and its reference. A later CPU access revokes it (removeDeviceExclusiveEntry: a CLEAR
 * invalidation of the page, owner null, v6.15+).
 *
 * Returns { ret: 0, pfn } with the page locked and referenced: the driver maps it for atomics under
 * its notifier lock, then calls k.folioUnlock(pfn) and k.phys.putPage(pfn). Otherwise { ret, pfn: -1 }:
 * -EFAULT / -ENOMEM from the GUP, -EOPNOTSUPP, -EINTR when killed waiting for the page lock, -EINVAL
 * for a bad address, -EBUSY when the page kept changing under the retries (Deviation: the kernel
 * retries without bound). Caller holds the mmap lock (asserted) and a user reference. May sleep.
 */
export async function makeDeviceExclusive(
  mm: Mm,
  addr: number,
  owner: unknown,
): Promise<DeviceExclusiveResult> {
  const k = mm.kernel;
  const phys = k.phys;
  const ps = k.pageSize;
  mm.sim.mightSleep('make_device_exclusive');
  mm.assertMmapLocked('make_device_exclusive');
  if (!Number.isSafeInteger(addr) || addr < 0) return { ret: -EINVAL, pfn: -1 };
  const va = Math.floor(addr / ps) * ps;
  const pt = mm.pageTable;
  for (let tries = 0; ; tries++) {
    const pages: number[] = [];
    const got = await getUserPages(mm, va, 1, FOLL_WRITE, pages);
    if (got < 0) return { ret: got, pfn: -1 };
    const pfn = pages[0];
    const vma = mm.vmas.lookup(va);
    if (
      vma === undefined ||
      vma.flags & VM_HUGETLB ||
      !phys.testFlag(pfn, PG_anon) ||
      phys.folioOrder(pfn) !== 0
    ) {
      phys.putPage(pfn);
      return { ret: -EOPNOTSUPP, pfn: -1 };
    }
    const locked = await k.folioLockKillable(pfn);
    if (locked !== 0) {
      phys.putPage(pfn);
      return { ret: locked, pfn: -1 };
    }
    const range = mmuNotifierRangeInit(
      MMU_NOTIFY_EXCLUSIVE,
      MMU_NOTIFIER_RANGE_BLOCKABLE,
      mm,
      va,
      va + ps,
      owner,
    );
    await mmuNotifierInvalidateRangeStart(range);
    await mm.ptl.lock();
    const same =
      !pt.isHugeAt(va) &&
      pt.kindAt(va) === PTE_KIND_PRESENT &&
      pt.pfnAt(va) === pfn &&
      (pt.flagsAt(va) & PTE_WRITE) !== 0;
    if (same) {
      const old = await ptepGetAndClear(mm, va);
      if (old.flags & PTE_DIRTY) phys.setFlag(pfn, PG_dirty);
      await ptepSet(
        mm,
        va,
        PTE_KIND_DEVICE_EXCLUSIVE,
        pfn,
        PTE_WRITE | (old.flags & (PTE_SOFT_DIRTY | PTE_UFFD_WP)),
      );
    }
    mm.ptl.unlock();
    await mmuNotifierInvalidateRangeEnd(range);
    if (same) return { ret: 0, pfn };
    k.folioUnlock(pfn);
    phys.putPage(pfn);
    if (tries >= MAX_EXCLUSIVE_RETRIES) return { ret: -EBUSY, pfn: -1 };
  }
}
