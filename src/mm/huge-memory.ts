/**
 * Transparent huge pages at the PMD level (parts of mm/huge_memory.c and mm/khugepaged.c): splitting a
 * PMD mapping into PTEs (__split_huge_pmd, __split_huge_pmd_locked, split_huge_pmd_address) and
 * khugepaged's collapse of a PMD range into a new THP (collapse_huge_page). Splitting the folio itself
 * (split_huge_page, which walks the rmap) is in split-huge-page.ts. The anonymous huge fault
 * (do_huge_pmd_anonymous_page, THP "madvise" mode) is in fault.ts; collapse, as MADV_COLLAPSE, works
 * in any suitable VMA.
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_CLEAR, mmuNotifierRangeInit } from '../notifier/types.js';
import { EAGAIN, EFAULT, EINTR, EINVAL, ENOMEM } from '../sim/errno.js';
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  VM_HUGETLB,
  VM_NOHUGEPAGE,
  VM_SHARED,
  VM_SPECIAL,
  VM_WRITE,
} from './constants.js';
import {
  PTE_DIRTY,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
  PTE_ZERO,
  type PteKind,
} from './page-table.js';
import { LRU_INACTIVE_ANON, PG_anon, PG_anon_exclusive, PG_swapcache, type LruList } from './physical.js';
import { folioPrepareNewAnon } from './rmap.js';
import { pmdpSet, ptChanged } from './pgtable.js';
import { folioPutAfterUnmap } from './swap-state.js';
import { migrationEntryAdd, migrationEntryRemove } from './rmap.js';
import { pteTag } from './mm-struct.js';
import type { Mm } from './mm.js';
import type { Kernel } from './kernel.js';
import type { Vma } from './vma.js';

/**
 * thp_vma_suitable_order + the VMA checks of thp_vma_allowable_order for collapse: a private anonymous
 * VMA (not hugetlb, not VM_NOHUGEPAGE, not special) covering the whole PMD at the aligned `haddr`.
 * Atomic.
 */
export function thpVmaSuitable(vma: Vma, haddr: number, pmdSize: number): boolean {
  if (!vma.anonymous || vma.flags & (VM_SHARED | VM_HUGETLB | VM_NOHUGEPAGE | VM_SPECIAL)) return false;
  return haddr % pmdSize === 0 && haddr >= vma.start && haddr + pmdSize <= vma.end;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** The flags of a new anonymous huge PMD: maybe_pmd_mkwrite(pmd_mkdirty(mk_huge_pmd(...))). */
function thpPmdFlags(vma: Vma): number {
  return (vma.flags & VM_WRITE ? PTE_WRITE : 0) | PTE_DIRTY | PTE_YOUNG;
}

/** __folio_set_anon for a new THP mapped at `haddr`, every page PageAnonExclusive (RMAP_EXCLUSIVE). */
function thpPrepareNewAnon(k: Kernel, vma: Vma, head: number, haddr: number): void {
  folioPrepareNewAnon(k, vma, head, haddr);
  const nr = k.phys.folioNrPages(head);
  for (let i = 0; i < nr; i++) k.phys.setFlag(head + i, PG_anon_exclusive);
}

// ---------------------------------------------------------------------------------------------
// split_huge_pmd_address, split_huge_page
// ---------------------------------------------------------------------------------------------

/**
 * split_huge_pmd_address(vma, address, freeze = false): if a huge PMD covers `address`, it becomes
 * HPAGE_PMD_NR PTEs mapping the same folio (which stays one folio), inside a blockable MMU_NOTIFY_CLEAR
 * invalidation over [haddr, haddr + PMD_SIZE) (owner null), by memory.ts's splitHugePmd. Returns 0, or
 * -EFAULT when no VMA covers `address`. Caller holds the mmap lock (asserted). May sleep.
 */
export async function splitHugePmdAddress(mm: Mm, address: number): Promise<number> {
  mm.assertMmapLocked('split_huge_pmd_address');
  const vma = mm.vmas.lookup(address);
  if (vma === undefined) return -EFAULT;
  if (mm.pageTable.isHugeAt(address)) await splitHugePmd(mm, vma, address);
  return 0;
}

/**
 * __split_huge_pmd (split_huge_pmd_address): replaces the huge entry covering `va` by HPAGE_PMD_NR
 * PTEs, raising a blockable CLEAR invalidation over the PMD ([haddr, haddr + PMD_SIZE), owner null)
 * around it, as the kernel does. Nothing happens (besides the invalidation) if the PMD is no longer
 * huge once locked. Caller holds the mmap lock. May sleep.
 */
export async function splitHugePmd(mm: Mm, vma: Vma, va: number): Promise<void> {
  mm.assertMmapLocked('__split_huge_pmd');
  mm.sim.mightSleep('__split_huge_pmd');
  const haddr = mm.pageTable.pmdStart(va);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + mm.pageTable.pmdSize);
  await mmuNotifierInvalidateRangeStart(range);
  await mm.ptl.lock();
  if (mm.pageTable.isHugeAt(haddr)) await splitHugePmdLocked(mm, vma, haddr);
  mm.ptl.unlock();
  await mmuNotifierInvalidateRangeEnd(range);
}

/**
 * __split_huge_pmd_locked: the huge entry at `haddr` becomes PTEs of the same kind and flags. A huge
 * zero-page entry becomes PTEs of the small zero page. For a mapped folio the PMD mapping becomes
 * HPAGE_PMD_NR PTE mappings (rmap, mapcount) and each PTE holds its own reference, as the kernel's
 * folio_ref_add(HPAGE_PMD_NR - 1); a migration entry's record is split likewise. The folio itself is
 * not split. Caller holds `mm.ptl` and has raised the invalidation. Atomic.
 */
export async function splitHugePmdLocked(mm: Mm, _vma: Vma, haddr: number): Promise<void> {
  mm.sim.assertHeld(mm.ptl, '__split_huge_pmd_locked');
  await mm.sim.point('split_huge_pmd', pteTag(mm, haddr));
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  if (!pt.isHugeAt(haddr)) return;
  const kind = pt.kindAt(haddr);
  const head = pt.pfnAt(haddr);
  const flags = pt.flagsAt(haddr);
  const ps = k.pageSize;
  if (kind === PTE_KIND_PRESENT && flags & PTE_ZERO) {
    pt.splitHugePmd(haddr, phys.zeroPfn);
  } else {
    pt.splitHugePmd(haddr);
    if (kind === PTE_KIND_PRESENT || kind === PTE_KIND_DEVICE_PRIVATE) {
      phys.rmapRemovePmd(head, mm, haddr);
      for (let i = 0; i < HPAGE_PMD_NR; i++) phys.rmapAddPte(head + i, mm, haddr + i * ps);
      phys.getPage(head, HPAGE_PMD_NR - 1);
    } else if (kind === PTE_KIND_MIGRATION) {
      migrationEntryRemove(k, head, mm, haddr, true);
      for (let i = 0; i < HPAGE_PMD_NR; i++) migrationEntryAdd(k, head + i, mm, haddr + i * ps);
    }
  }
  ptChanged(mm, haddr, true);
}

// ---------------------------------------------------------------------------------------------
// khugepaged: collapse_huge_page
// ---------------------------------------------------------------------------------------------

/** One entry of the detached PTE table of a collapse. */
interface CollapseEntry {
  va: number;
  kind: PteKind;
  pfn: number;
  flags: number;
}

/** A source folio of a collapse, locked and isolated. */
interface CollapseFolio {
  head: number;
  lru: LruList;
}

/**
 * collapse_huge_page (khugepaged, MADV_COLLAPSE) for the PMD containing `address`: replaces the PTE
 * table of private anonymous memory by a huge PMD of a new PMD-order folio holding the same contents.
 *
 * Sequence, as the kernel's: allocate the THP on `node` (before taking the mmap lock; -ENOMEM); take the
 * mmap lock for write (killable: -EINTR); revalidate the VMA (-EINVAL unless a private anonymous VMA
 * covers the whole PMD and allows THPs) and scan the PTEs (hpage_collapse_scan_pmd: -EAGAIN when an
 * entry is a swap, migration or device entry, a special mapping, a non-anonymous page, or when no page
 * is present); then a blockable MMU_NOTIFY_CLEAR invalidation over [haddr, haddr + PMD_SIZE) (owner
 * null) around pmdp_collapse_flush (the PTE table is detached: CPU accesses fault and wait for the
 * mmap lock); after the invalidation ends, isolation of each source folio (trylock, references exactly
 * its mappings plus the swap cache's, off the LRU) — on failure the table is put back and -EAGAIN
 * returned; then the copy (pages that were none or the zero page stay zero), the release of the sources
 * (rmap, lock, LRU, references), and the new folio mapped by a huge PMD (anonymous, exclusive, dirty,
 * young, writable if the VMA is). Returns 0, also when the PMD is already huge.
 *
 * Caller holds no mm lock and a user reference on `mm`. May sleep.
 * Deviations: no swap-in of swapped-out PTEs (max_ptes_swap = 0) and no max_ptes_none / max_ptes_shared
 * / referenced limits; one mmap write-locked section instead of the kernel's read-locked scan followed
 * by the write-locked collapse.
 */
export async function collapseHugePage(mm: Mm, address: number, node = 0): Promise<number> {
  const sim = mm.sim;
  sim.mightSleep('collapse_huge_page');
  const k = mm.kernel;
  const phys = k.phys;
  const hpage = phys.allocPages(HPAGE_PMD_ORDER, node);
  if (hpage < 0) return -ENOMEM;
  if ((await mm.mmapLock.downWriteKillable()) !== 0) {
    phys.putPage(hpage);
    return -EINTR;
  }
  const ret = await collapseLocked(mm, mm.pageTable.pmdStart(address), hpage);
  mm.mmapLock.upWrite();
  if (!phys.folioMapped(hpage)) phys.putPage(hpage);
  return ret;
}

/** hpage_collapse_scan_pmd's checks, without the page-table lock (advisory, repeated after the flush). */
function collapseScan(k: Kernel, mm: Mm, haddr: number, hend: number): number {
  const phys = k.phys;
  let present = 0;
  let bad = 0;
  mm.pageTable.walk(haddr, hend, (_va, kind, pfn, flags) => {
    if (kind !== PTE_KIND_PRESENT || flags & PTE_SPECIAL) {
      if (!(kind === PTE_KIND_PRESENT && flags & PTE_ZERO)) bad = -EAGAIN;
      return bad;
    }
    if (!phys.testFlag(pfn, PG_anon)) bad = -EAGAIN;
    present++;
    return bad;
  });
  if (bad !== 0) return bad;
  return present === 0 ? -EAGAIN : 0;
}

async function collapseLocked(mm: Mm, haddr: number, hpage: number): Promise<number> {
  const sim = mm.sim;
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const ps = k.pageSize;
  const hend = haddr + pt.pmdSize;
  mm.assertMmapWriteLocked('collapse_huge_page');
  const vma = mm.vmas.lookup(haddr);
  if (vma === undefined || !thpVmaSuitable(vma, haddr, pt.pmdSize) || vma.anonVma === 0) return -EINVAL;
  if (pt.isHugeAt(haddr)) return 0;
  const scan = collapseScan(k, mm, haddr, hend);
  if (scan !== 0) return scan;

  // pmdp_collapse_flush inside the CLEAR invalidation: detach the PTE table.
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, hend);
  await mmuNotifierInvalidateRangeStart(range);
  await mm.ptl.lock();
  await sim.point('pmdp_collapse_flush', pteTag(mm, haddr));
  const entries: CollapseEntry[] = [];
  pt.walk(haddr, hend, (va, kind, pfn, flags) => {
    entries.push({ va, kind, pfn, flags });
  });
  // Only present entries are detached: a swap or migration entry that appeared since the scan (rmap
  // walkers do not take the mmap lock) must stay where its owner will look for it.
  const detachable = entries.every(
    (e) => e.kind === PTE_KIND_PRESENT && (!(e.flags & PTE_SPECIAL) || (e.flags & PTE_ZERO) !== 0),
  );
  if (detachable && entries.length > 0) {
    pt.clearRange(haddr, hend);
    ptChanged(mm, haddr, true);
  }
  mm.ptl.unlock();
  await mmuNotifierInvalidateRangeEnd(range);
  if (!detachable || entries.length === 0) return -EAGAIN;

  // __collapse_huge_page_isolate, under the PTE lock of the detached table.
  await mm.ptl.lock();
  const folios = collapseIsolate(k, entries);
  if (folios === null) {
    for (const e of entries) pt.set(e.va, e.kind, e.pfn, e.flags);
    ptChanged(mm, haddr, true);
    mm.ptl.unlock();
    return -EAGAIN;
  }
  mm.ptl.unlock();

  // __collapse_huge_page_copy, then release the sources (__collapse_huge_page_copy_succeeded).
  for (const e of entries) if (!(e.flags & PTE_ZERO)) phys.copyPage(hpage + (e.va - haddr) / ps, e.pfn);
  for (const e of entries) if (!(e.flags & PTE_ZERO)) phys.rmapRemovePte(e.pfn, mm, e.va);
  for (const f of folios) {
    k.folioUnlock(f.head);
    phys.lruAdd(f.head, f.lru);
    phys.putPage(f.head);
  }
  for (const e of entries) if (!(e.flags & PTE_ZERO)) folioPutAfterUnmap(k, e.pfn);

  // Map the new folio with a huge PMD.
  thpPrepareNewAnon(k, vma, hpage, haddr);
  await mm.ptl.lock();
  if (!pt.pmdNone(haddr)) sim.bug(`collapse_huge_page: PMD at 0x${haddr.toString(16)} repopulated`);
  phys.rmapAddPmd(hpage, mm, haddr);
  phys.lruAdd(hpage, LRU_INACTIVE_ANON);
  await pmdpSet(mm, haddr, PTE_KIND_PRESENT, hpage, thpPmdFlags(vma));
  mm.ptl.unlock();
  return 0;
}

/**
 * __collapse_huge_page_isolate over the detached entries: every source folio locked (trylock),
 * referenced only by its mappings (+1 in the swap cache), isolated from its LRU list with a reference.
 * Returns the folios, or null after undoing everything when one is unsuitable. Atomic.
 */
function collapseIsolate(k: Kernel, entries: readonly CollapseEntry[]): CollapseFolio[] | null {
  const phys = k.phys;
  const folios: CollapseFolio[] = [];
  const undo = (): null => {
    for (const f of folios) {
      k.folioUnlock(f.head);
      phys.lruAdd(f.head, f.lru);
      phys.putPage(f.head);
    }
    return null;
  };
  for (const e of entries) {
    if (e.kind === PTE_KIND_NONE) continue;
    if (e.kind !== PTE_KIND_PRESENT || e.flags & PTE_SPECIAL) {
      if (e.kind === PTE_KIND_PRESENT && e.flags & PTE_ZERO) continue;
      return undo();
    }
    const head = phys.folioHead(e.pfn);
    if (folios.some((f) => f.head === head)) continue;
    if (!phys.testFlag(head, PG_anon)) return undo();
    const expected = phys.folioMapcountOf(head) + (phys.testFlag(head, PG_swapcache) ? 1 : 0);
    if (phys.refcountOf(head) !== expected) return undo();
    const lru = phys.lruListOf(head);
    if (lru === -1) return undo();
    if (!k.folioTrylock(head)) return undo();
    phys.lruIsolate(head);
    phys.getPage(head);
    folios.push({ head, lru });
  }
  return folios;
}
