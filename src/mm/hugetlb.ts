/**
 * hugetlb (mm/hugetlb.c): the persistent pool of PMD-sized huge pages (nr_hugepages, the Kernel's
 * `hugetlbPages` option), MAP_HUGETLB mappings backed by it, and their fault path (hugetlb_fault,
 * hugetlb_no_page, hugetlb_wp). A hugetlb page is mapped only by a PMD-level huge entry.
 *
 * Deviations: the pool is allocated when the kernel is built (as a boot-time hugepages= would); there
 * are no reservations (mmap succeeds whenever the pool is non-empty and a fault with no free huge page
 * gets SIGBUS, as a MAP_NORESERVE mapping does); no hugetlbfs files, no gigantic pages, no surplus pages.
 * munmap / mprotect of part of a huge page are not refused with -EINVAL as the kernel does (its
 * hugetlb_vm_op_split); they split the PMD mapping instead, and the page goes back to the pool once
 * its last mapping is gone. A pool page carries one reference of the pool's own; it is free when that
 * is its only reference.
 */
import { FAULT_FLAG_WRITE, HPAGE_PMD_ORDER, VM_FAULT_SIGBUS, VM_SHARED, VM_WRITE } from './constants.js';
import { PTE_DIRTY, PTE_KIND_MIGRATION, PTE_KIND_PRESENT, PTE_WRITE, PTE_YOUNG } from './page-table.js';
import { PG_anon, PG_anon_exclusive, PG_dirty, PG_swapbacked, PG_uptodate } from './physical.js';
import { pmdpGetAndClear, pmdpModify, pmdpSet } from './memory.js';
import { anonVmaPrepare } from './rmap.js';
import { MMU_NOTIFY_CLEAR, mmuNotifierRangeInit } from '../notifier/types.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import type { Kernel } from './kernel.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

/** The huge page pool of one kernel (struct hstate for the default size). */
export interface HugetlbPool {
  /** Head pfns of the pool's huge pages. */
  readonly pages: number[];
}

/** Per run: each kernel's pool (Simulation.runMap). */
const POOLS = Symbol('hugetlb pools');

/**
 * hugetlb_init / set_max_huge_pages: allocates `k.hugetlbPages` huge pages (fewer if memory runs out,
 * as the kernel's pool may end up smaller than asked). Called once by the Kernel constructor.
 */
export function hugetlbInit(k: Kernel): void {
  const pages: number[] = [];
  for (let i = 0; i < k.hugetlbPages; i++) {
    const pfn = k.phys.allocPages(HPAGE_PMD_ORDER);
    if (pfn < 0) break;
    pages.push(pfn);
  }
  k.sim.runMap<Kernel, HugetlbPool>(POOLS).set(k, { pages });
}

/** The pool of `k`. */
export function hugetlbPool(k: Kernel): HugetlbPool {
  const pools = k.sim.runMap<Kernel, HugetlbPool>(POOLS);
  let pool = pools.get(k);
  if (pool === undefined) {
    pool = { pages: [] };
    pools.set(k, pool);
  }
  return pool;
}

/** HugePages_Total / HugePages_Free. */
export function hugetlbCounts(k: Kernel): {
  /** Pages in the pool (HugePages_Total). */
  total: number;
  /** Pool pages neither mapped nor referenced beyond the pool's own reference (HugePages_Free). */
  free: number;
} {
  const pool = hugetlbPool(k);
  let free = 0;
  for (const pfn of pool.pages) if (hugetlbPageFree(k, pfn)) free++;
  return { total: pool.pages.length, free };
}

function hugetlbPageFree(k: Kernel, pfn: number): boolean {
  return k.phys.refcountOf(pfn) === 1 && !k.phys.folioMapped(pfn);
}

/**
 * alloc_hugetlb_folio: a free pool page, cleared (clear_huge_page) and with fresh flags, holding one
 * reference for the caller beyond the pool's; -1 when the pool has none free. Atomic.
 */
function hugetlbAlloc(k: Kernel): number {
  const phys = k.phys;
  for (const head of hugetlbPool(k).pages) {
    if (!hugetlbPageFree(k, head)) continue;
    phys.clearFlag(head, PG_anon | PG_swapbacked | PG_dirty | PG_uptodate);
    phys.setMapping(head, undefined, 0);
    for (let i = 0; i < phys.folioNrPages(head); i++) {
      phys.clearFlag(head + i, PG_anon_exclusive);
      phys.clearPage(head + i);
    }
    phys.getPage(head);
    return head;
  }
  return -1;
}

/** What a new hugetlb page of `vma` at `haddr` becomes: anonymous and exclusive for private mappings. */
function hugetlbPrepare(mm: Mm, vma: Vma, head: number, haddr: number): void {
  const k = mm.kernel;
  const phys = k.phys;
  phys.setFlag(head, PG_uptodate);
  if (vma.flags & VM_SHARED) return;
  anonVmaPrepare(mm, vma);
  phys.setFlag(head, PG_anon);
  phys.setMapping(head, vma.anonVma, vma.pgoff + (haddr - vma.start) / k.pageSize);
  for (let i = 0; i < phys.folioNrPages(head); i++) phys.setFlag(head + i, PG_anon_exclusive);
}

/** Whether MAP_HUGETLB can be served: the pool has pages (else mmap gives -ENOMEM). */
export function hugetlbMmapAllowed(k: Kernel): boolean {
  return hugetlbPool(k).pages.length > 0;
}

/**
 * hugetlb_fault for `address` of the VM_HUGETLB `vma`: an empty PMD gets a pool page (hugetlb_no_page:
 * writable only for a write fault or a shared mapping; SIGBUS when the pool is empty); a write to a
 * read-only mapping reuses an exclusive anonymous page or copies it to a new pool page inside a
 * blockable MMU_NOTIFY_CLEAR over the huge page (hugetlb_wp); a migration entry is waited for.
 * Returns 0 or VM_FAULT_SIGBUS. Caller holds the mmap lock. May sleep.
 */
export async function hugetlbFault(mm: Mm, vma: Vma, address: number, flags: number): Promise<number> {
  mm.assertMmapLocked('hugetlb_fault');
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const haddr = pt.pmdStart(address);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  if (haddr < vma.start || haddr + pt.pmdSize > vma.end) return VM_FAULT_SIGBUS;
  await mm.ptl.lock();
  if (pt.pmdNone(haddr)) {
    const head = hugetlbAlloc(k);
    if (head < 0) {
      mm.ptl.unlock();
      return VM_FAULT_SIGBUS;
    }
    hugetlbPrepare(mm, vma, head, haddr);
    phys.rmapAddPmd(head, mm, haddr);
    const w = vma.flags & VM_WRITE && (write || shared);
    await pmdpSet(mm, haddr, PTE_KIND_PRESENT, head, (w ? PTE_WRITE | PTE_DIRTY : 0) | PTE_YOUNG);
    mm.ptl.unlock();
    return 0;
  }
  if (!pt.isHugeAt(haddr)) {
    mm.ptl.unlock();
    return VM_FAULT_SIGBUS;
  }
  const kind = pt.kindAt(haddr);
  if (kind === PTE_KIND_MIGRATION) {
    const pfn = pt.pfnAt(haddr);
    mm.ptl.unlock();
    await k.folioWaitUnlocked(pfn, () => !pt.isHugeAt(haddr) || pt.kindAt(haddr) !== PTE_KIND_MIGRATION);
    return 0;
  }
  if (kind !== PTE_KIND_PRESENT) {
    mm.ptl.unlock();
    return VM_FAULT_SIGBUS;
  }
  const f = pt.flagsAt(haddr);
  const old = pt.pfnAt(haddr);
  if (!write || f & PTE_WRITE) {
    if (!(f & PTE_YOUNG)) await pmdpModify(mm, haddr, 0, PTE_YOUNG);
    mm.ptl.unlock();
    return 0;
  }
  if (!(vma.flags & VM_WRITE)) {
    mm.ptl.unlock();
    return VM_FAULT_SIGBUS;
  }
  if (shared || (phys.testFlag(old, PG_anon) && phys.testFlag(old, PG_anon_exclusive))) {
    // hugetlb_wp reusing the page: the only mapper.
    await pmdpModify(mm, haddr, 0, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
    mm.ptl.unlock();
    return 0;
  }
  // hugetlb_wp copying: a new page for this mm.
  const head = hugetlbAlloc(k);
  mm.ptl.unlock();
  if (head < 0) return VM_FAULT_SIGBUS;
  for (let i = 0; i < phys.folioNrPages(head); i++) phys.copyPage(head + i, old + i);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + pt.pmdSize);
  await mmuNotifierInvalidateRangeStart(range);
  await mm.ptl.lock();
  if (pt.isHugeAt(haddr) && pt.kindAt(haddr) === PTE_KIND_PRESENT && pt.pfnAt(haddr) === old) {
    await pmdpGetAndClear(mm, haddr);
    phys.rmapRemovePmd(old, mm, haddr);
    phys.putPage(old);
    hugetlbPrepare(mm, vma, head, haddr);
    phys.rmapAddPmd(head, mm, haddr);
    await pmdpSet(mm, haddr, PTE_KIND_PRESENT, head, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
  } else phys.putPage(head);
  mm.ptl.unlock();
  await mmuNotifierInvalidateRangeEnd(range);
  return 0;
}
