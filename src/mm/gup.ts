/**
 * get_user_pages / pin_user_pages (mm/gup.c), migrate_device_coherent_folio for long-term pins
 * (mm/migrate_device.c), and the gup_test debugfs device (mm/gup_test.c) the HMM selftests drive.
 */
import { EFAULT, EINVAL, ENOMEM, EBUSY, ESRCH } from '../sim/errno.js';
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  FOLL_FORCE,
  FOLL_LONGTERM,
  FOLL_WRITE,
  FOLL_GET,
  FOLL_NOFAULT,
  FOLL_SPLIT_PMD,
  FOLL_DUMP,
  FOLL_NOWAIT,
  FOLL_HWPOISON,
  FOLL_ANON,
  FOLL_PCI_P2PDMA,
  FOLL_INTERRUPTIBLE,
  FOLL_HONOR_NUMA_FAULT,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_IO,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
} from './constants.js';
import { PTE_KIND_PRESENT, PTE_SPECIAL, PTE_WRITE, PTE_ZERO } from './page-table.js';
import { LRU_INACTIVE_ANON } from './physical.js';
import { handleMmFault } from './fault.js';
import { removeMigrationPtes, tryToMigrate } from './rmap-walk.js';
import { moveToNewFolio } from './migrate.js';
import type { Mm } from './mm.js';
import { pteTag } from './mm-struct.js';
import type { Kernel } from './kernel.js';
import type { Process } from './process.js';

/** FOLL_PIN (internal to gup in the kernel): the pages are pinned, not merely referenced. */
export const FOLL_PIN = 1 << 16;

const FOLL_KNOWN =
  FOLL_WRITE |
  FOLL_GET |
  FOLL_DUMP |
  FOLL_FORCE |
  FOLL_NOWAIT |
  FOLL_NOFAULT |
  FOLL_HWPOISON |
  FOLL_ANON |
  FOLL_LONGTERM |
  FOLL_SPLIT_PMD |
  FOLL_PCI_P2PDMA |
  FOLL_INTERRUPTIBLE |
  FOLL_HONOR_NUMA_FAULT |
  FOLL_PIN;

/** Faults per page before gup gives up (a livelock in the model, not a kernel limit). */
const MAX_GUP_FAULTS = 64;

/** The gup_test commands the HMM selftests use (GUP_BASIC_TEST, GUP_FAST_BENCHMARK, ...). */
export type GupTestCommand = 'basic' | 'fast-benchmark' | 'pin-fast-benchmark' | 'pin-longterm-benchmark';

/** struct gup_test: the range, the pages per gup call and FOLL_* flags. */
export interface GupTestArgs {
  /** Start of the range (gup_test.addr); must be page-aligned. */
  addr: number;
  /** Bytes in the range (gup_test.size), rounded up to whole pages; must be positive. */
  size: number;
  /** Pages per get/pin call (gup_test.nr_pages_per_call); the whole range in one call by default. */
  nrPagesPerCall?: number;
  /** FOLL_* flags passed to each call (gup_test.gup_flags); 0 by default. */
  gupFlags?: number;
}

/**
 * follow_page_mask for one address: the pfn mapped at `va` if the entry allows the access (present,
 * not special unless the zero page for a read, writable for FOLL_WRITE), else -1.
 */
function followPage(mm: Mm, va: number, write: boolean): number {
  const pt = mm.pageTable;
  // A read of the PTE (the kernel's under its PTL, which the model does not take here): dpor
  // must order it against the step that changes it (found by the commutation check).
  mm.sim.touch(pteTag(mm, va), true);
  if (pt.kindAt(va) !== PTE_KIND_PRESENT) return -1;
  const f = pt.flagsAt(va);
  if (write && !(f & PTE_WRITE)) return -1;
  if (f & PTE_SPECIAL && !(f & PTE_ZERO)) return -1;
  return pt.pfnAt(va);
}

/**
 * __get_user_pages: for each page of [start, start + nrPages pages), fault it in as needed
 * (handle_mm_fault, remote, write with FOLL_WRITE) and take a reference (or a pin with FOLL_PIN).
 * Returns the number of pages taken (fewer than asked when a later page fails), or -errno for the
 * first: -EFAULT (no VMA, VM_IO / VM_PFNMAP, no read permission, a write to a VMA without VM_WRITE, a
 * special mapping, a failed fault), -ENOMEM, -EINVAL (bad arguments, unknown FOLL_* bits).
 *
 * Deviation: of the FOLL_* flags only WRITE, PIN, NOFAULT (and, in pinUserPages, GET and LONGTERM)
 * change what happens; the others are accepted and ignored. In particular FOLL_FORCE does not let a write through a read-only private mapping
 * (ptrace's COW write): it fails with -EFAULT like any write without VM_WRITE.
 */
async function gupRange(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[],
): Promise<number> {
  const k = mm.kernel;
  const phys = k.phys;
  const ps = k.pageSize;
  if (!Number.isSafeInteger(start) || start % ps !== 0 || !Number.isInteger(nrPages) || nrPages < 0)
    return -EINVAL;
  if (!Number.isInteger(gupFlags) || gupFlags < 0 || gupFlags & ~FOLL_KNOWN) return -EINVAL;
  const write = (gupFlags & FOLL_WRITE) !== 0;
  const pin = (gupFlags & FOLL_PIN) !== 0;
  let got = 0;
  for (; got < nrPages; got++) {
    const va = start + got * ps;
    const vma = mm.vmas.lookup(va);
    let err = 0;
    if (vma === undefined || vma.flags & (VM_IO | VM_PFNMAP) || !(vma.flags & VM_READ)) err = -EFAULT;
    else if (write && !(vma.flags & VM_WRITE)) err = -EFAULT;
    let pfn = -1;
    for (let tries = 0; err === 0; tries++) {
      pfn = followPage(mm, va, write);
      if (pfn >= 0) {
        if (pin ? phys.pinPage(pfn) : phys.tryGetPage(pfn)) break;
        pfn = -1;
      }
      if (gupFlags & FOLL_NOFAULT || tries >= MAX_GUP_FAULTS) {
        err = -EFAULT;
        break;
      }
      const ret = await handleMmFault(mm, vma!, va, FAULT_FLAG_REMOTE | (write ? FAULT_FLAG_WRITE : 0));
      if (ret & VM_FAULT_OOM) err = -ENOMEM;
      else if (ret & VM_FAULT_ERROR) err = -EFAULT;
    }
    if (err !== 0) return got > 0 ? got : err;
    pages.push(pfn);
  }
  return got;
}

/**
 * get_user_pages(start, nrPages, gupFlags, pages): faults in and takes a reference on each page of
 * [start, start + nrPages pages), appending the pfns to `pages`. Returns the number of pages got
 * (fewer than asked when a later page fails), or -errno if the first fails (see gupRange). FOLL_WRITE
 * faults for write (breaking COW); a device-private page is faulted back to system memory by its
 * pagemap's migrateToRam. Release with putUserPages. Caller holds the mmap lock (asserted) and a user
 * reference on `mm`. May sleep.
 */
export async function getUserPages(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[] = [],
): Promise<number> {
  mm.sim.mightSleep('get_user_pages');
  mm.assertMmapLocked('get_user_pages');
  if (gupFlags & FOLL_PIN) return -EINVAL;
  return gupRange(mm, start, nrPages, gupFlags, pages);
}

/**
 * pin_user_pages(start, nrPages, gupFlags, pages): as getUserPages with FOLL_PIN (each page pinned:
 * folio_maybe_dma_pinned). With FOLL_LONGTERM, check_and_migrate_movable_pages: pinned pages in device
 * memory cannot stay pinned, so every device-coherent page pinned is unpinned and migrated to system
 * memory (migrateDeviceCoherentFolio), and the pin is retried (device-private pages never get pinned:
 * the fault migrates them back first). Release with unpinUserPages. Caller holds the mmap lock
 * (asserted). May sleep.
 */
export async function pinUserPages(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[] = [],
): Promise<number> {
  mm.sim.mightSleep('pin_user_pages');
  mm.assertMmapLocked('pin_user_pages');
  if (gupFlags & FOLL_GET) return -EINVAL;
  const k = mm.kernel;
  for (let attempt = 0; ; attempt++) {
    const got: number[] = [];
    const n = await gupRange(mm, start, nrPages, gupFlags | FOLL_PIN, got);
    if (n <= 0 || !(gupFlags & FOLL_LONGTERM)) {
      pages.push(...got);
      return n;
    }
    const coherent = got.filter((pfn) => k.phys.isDeviceCoherent(pfn));
    if (coherent.length === 0) {
      pages.push(...got);
      return n;
    }
    // check_and_migrate_movable_pages: hold a reference on each, drop every pin, migrate, retry.
    for (const pfn of coherent) k.phys.getPage(pfn);
    unpinUserPages(k, got);
    let failed = 0;
    for (const pfn of coherent) {
      if ((await migrateDeviceCoherentFolio(k, pfn)) !== 0) failed++;
      k.phys.putPage(pfn);
    }
    if (failed > 0 && attempt >= 8) return -ENOMEM;
  }
}

/** unpin_user_pages. Atomic. */
export function unpinUserPages(k: Kernel, pages: readonly number[]): void {
  for (const pfn of pages) k.phys.unpinPage(pfn);
}

/** put_page on each page getUserPages returned. Atomic. */
export function putUserPages(k: Kernel, pages: readonly number[]): void {
  for (const pfn of pages) k.phys.putPage(pfn);
}

/**
 * migrate_device_coherent_folio: moves the device-coherent page `pfn` to a new system page — lock
 * it, replace its mappings by migration entries (try_to_migrate: a CLEAR invalidation per mapping),
 * copy it and its state, point the entries at the copy, which goes on the LRU. The caller holds a
 * reference on `pfn`; the device page is freed when that reference goes. Returns 0, -EBUSY (locked,
 * still mapped, or referenced elsewhere: nothing changed) or -ENOMEM. No mm locks needed. May sleep.
 */
export async function migrateDeviceCoherentFolio(k: Kernel, pfn: number): Promise<number> {
  const phys = k.phys;
  k.sim.mightSleep('migrate_device_coherent_folio');
  if (!phys.isDeviceCoherent(pfn)) return -EINVAL;
  if (!k.folioTrylock(pfn)) return -EBUSY;
  const dst = await k.allocUserPage(phys.nodeOf(pfn));
  if (dst < 0) {
    k.folioUnlock(pfn);
    return -ENOMEM;
  }
  if (!k.folioTrylock(dst)) k.sim.bug(`migrate_device_coherent_folio: new page ${dst} locked`);
  // The caller's reference stands in for the isolation reference moveToNewFolio expects.
  if (phys.folioMapped(pfn)) await tryToMigrate(k, pfn);
  const rc = phys.folioMapped(pfn) ? -EBUSY : moveToNewFolio(k, dst, pfn);
  await removeMigrationPtes(k, pfn, rc === 0 ? dst : pfn, 1);
  if (rc === 0) phys.lruAdd(dst, LRU_INACTIVE_ANON);
  k.folioUnlock(dst);
  k.folioUnlock(pfn);
  phys.putPage(dst);
  return rc === 0 ? 0 : -EBUSY;
}

/**
 * The gup_test ioctls (mm/gup_test.c): GUP_BASIC_TEST / GUP_FAST_BENCHMARK (get_user_pages),
 * PIN_FAST_BENCHMARK (pin_user_pages with the given flags), PIN_LONGTERM_BENCHMARK (pin_user_pages
 * with FOLL_LONGTERM) over [addr, addr + size) of `p`, nrPagesPerCall pages per call (all at once by
 * default), then releases every page. Returns 0 or -errno (-EINVAL bad arguments, -ESRCH exited
 * process, -EFAULT / -ENOMEM from gup). Takes `p`'s mmap lock for read itself. May sleep.
 */
export async function gupTest(
  k: Kernel,
  p: Process,
  cmd: GupTestCommand,
  args: GupTestArgs,
): Promise<number> {
  const ps = k.pageSize;
  if (args === null || typeof args !== 'object') return -EINVAL;
  const { addr, size } = args;
  const flags = args.gupFlags ?? 0;
  if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(size) || size <= 0 || addr % ps !== 0)
    return -EINVAL;
  const nr = Math.ceil(size / ps);
  const per = args.nrPagesPerCall ?? nr;
  if (!Number.isInteger(per) || per <= 0) return -EINVAL;
  if (!['basic', 'fast-benchmark', 'pin-fast-benchmark', 'pin-longterm-benchmark'].includes(cmd))
    return -EINVAL;
  const mm = p.mm;
  if (!mm.mmgetNotZero()) return -ESRCH;
  let ret = 0;
  await mm.mmapLock.downRead();
  try {
    for (let i = 0; i < nr && ret === 0; i += per) {
      const n = Math.min(per, nr - i);
      const pages: number[] = [];
      const start = addr + i * ps;
      const pinned = cmd === 'pin-fast-benchmark' || cmd === 'pin-longterm-benchmark';
      const f = cmd === 'pin-longterm-benchmark' ? flags | FOLL_LONGTERM : flags;
      const got = pinned
        ? await pinUserPages(mm, start, n, f, pages)
        : await getUserPages(mm, start, n, f, pages);
      if (pinned) unpinUserPages(k, pages);
      else putUserPages(k, pages);
      if (got < 0) ret = got;
      else if (got < n) ret = -EFAULT;
    }
  } finally {
    mm.mmapLock.upRead();
  }
  await mm.mmput();
  return ret;
}
