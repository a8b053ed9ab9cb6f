/**
 * make_device_exclusive (mm/rmap.c).
 */
import type { Mm } from '../mm/mm.js';

/** What makeDeviceExclusive gives: 0 and the page (locked, referenced), or -errno and pfn -1. */
export interface DeviceExclusiveResult {
  ret: number;
  pfn: number;
}

/**
 * make_device_exclusive(mm, addr, owner, &folio): fault the page at `addr` in writable, then replace
 * its PTE by a device-exclusive entry inside an MMU_NOTIFY_EXCLUSIVE invalidation carrying `owner`.
 * On success the page is returned locked and referenced: the driver maps it for atomics under its
 * notifier lock, then calls k.folioUnlock(pfn) and k.phys.putPage(pfn). -EOPNOTSUPP for non-anonymous
 * or hugetlb memory, -EFAULT / -ENOMEM when the fault fails. Caller holds the mmap lock (asserted).
 * May sleep.
 */
export async function makeDeviceExclusive(
  mm: Mm,
  addr: number,
  owner: unknown,
): Promise<DeviceExclusiveResult> {
  void mm;
  void addr;
  void owner;
  return Promise.reject(new Error('makeDeviceExclusive: not yet'));
}
