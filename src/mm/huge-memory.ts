/**
 * Transparent huge pages (parts of mm/huge_memory.c and mm/khugepaged.c): splitting a PMD mapping
 * (split_huge_pmd_address), splitting the folio itself (split_huge_page: unmap to migration entries,
 * split, remap), the debugfs split of a range (split_huge_pages_pid), and khugepaged's collapse of a
 * PMD range into a new THP (collapse_huge_page). The anonymous huge fault (do_huge_pmd_anonymous_page,
 * THP "madvise" mode) is in fault.ts; collapse, as MADV_COLLAPSE, works in any suitable VMA.
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_CLEAR, mmuNotifierRangeInit } from '../notifier/types.js';
import { EAGAIN, EBUSY, EFAULT, EINTR, EINVAL, ENOMEM } from '../sim/errno.js';
import { HPAGE_PMD_ORDER, VM_HUGETLB, VM_NOHUGEPAGE, VM_SHARED, VM_SPECIAL, VM_WRITE } from './constants.js';
import {
  PTE_DIRTY,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
  PTE_ZERO,
  type PteKind,
} from './page-table.js';
import {
  LRU_INACTIVE_ANON,
  PG_anon,
  PG_anon_exclusive,
  PG_locked,
  PG_swapcache,
  type LruList,
} from './physical.js';
import { folioPrepareNewAnon } from './rmap.js';
import { folioPutAfterUnmap, pmdpSet, ptChanged, splitHugePmd } from './memory.js';
import { removeMigrationPtes, tryToMigrate } from './rmap-walk.js';
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
 * split_huge_page_to_list_to_order(page, list, 0): splits the anonymous PMD-order folio containing
 * `pfn` into order-0 folios.
 *  1. can_split_folio: the only references must be its mappings and the caller's (else -EAGAIN);
 *  2. unmap_folio: try_to_migrate with TTU_SPLIT_HUGE_PMD — every PMD mapping is split straight into
 *     PTE migration entries (CLEAR over [haddr, haddr + PMD_SIZE)), then per VMA a CLEAR over the
 *     folio's extent, every PTE mapping becoming a migration entry; faults on them wait;
 *  3. the split itself (every page gets its own folio, one base reference each; the tails stay locked
 *     until remapped);
 *  4. remap_page: remove_migration_ptes per page (no invalidation), then the tails are unlocked and, with
 *     `list`, handed to the caller with their base reference as an isolation reference (the caller
 *     isolated the folio from the LRU); without `list` the base references are dropped (unmapped pages
 *     are freed) and, if the folio was on an LRU list, every page stays on it.
 * If anything still maps the folio after step 2, or its references changed, it is remapped as it was
 * and -EAGAIN is returned. The page `pfn` keeps the caller's reference and lock.
 *
 * Returns 0, -EAGAIN, or -EBUSY for what the model does not split (file THPs, a THP in the swap cache).
 * Locks: caller holds the folio lock and one reference; no mmap lock needed (rmap walks). May sleep.
 */
export async function splitHugePage(k: Kernel, pfn: number, list?: number[]): Promise<number> {
  k.folioAssertLocked(pfn, 'split_huge_page');
  const sim = k.sim;
  const phys = k.phys;
  sim.mightSleep('split_huge_page');
  const head = phys.folioHead(pfn);
  if (phys.folioOrder(head) === 0) return 0;
  sim.bugOn(!phys.testFlag(head, PG_locked), `split_huge_page of unlocked ${phys.describePage(head)}`);
  if (!phys.testFlag(head, PG_anon) || phys.testFlag(head, PG_swapcache)) return -EBUSY;
  sim.bugOn(
    list !== undefined && phys.lruListOf(head) !== -1,
    `split_huge_page to a list of a folio on the LRU: ${phys.describePage(head)}`,
  );
  if (phys.maybeDmaPinned(head) || phys.refcountOf(head) !== 1 + phys.folioMapcountOf(head)) return -EAGAIN;
  const nr = phys.folioNrPages(head);
  if (phys.folioMapped(head)) await tryToMigrate(k, head, { splitPmd: true });
  if (phys.folioMapped(head) || phys.refcountOf(head) !== 1) {
    await removeMigrationPtes(k, head, head, nr);
    return -EAGAIN;
  }
  phys.getPage(head, nr);
  const ret = phys.splitFolio(pfn, 1);
  if (ret !== 0) {
    phys.putPage(head, nr);
    await removeMigrationPtes(k, head, head, nr);
    return ret;
  }
  sim.mark('thp split');
  for (let p = head; p < head + nr; p++)
    if (p !== pfn) sim.bugOn(!phys.trylockPage(p), `split_huge_page: tail ${p} locked by someone else`);
  await removeMigrationPtes(k, head, head, nr);
  for (let p = head; p < head + nr; p++) {
    if (p === pfn) continue;
    k.folioUnlock(p);
    if (list !== undefined) list.push(p);
    else folioPutAfterUnmap(k, p);
  }
  phys.putPage(pfn);
  return 0;
}

/**
 * split_huge_pages_pid (debugfs split_huge_pages "<pid>,<start>,<end>"): under the mmap lock for read,
 * every large folio mapped in [start, end) is referenced, trylocked and split (splitHugePage). Returns
 * the number of folios split, or -EINTR. Caller holds no mm lock and a user reference on `mm`.
 * May sleep.
 */
export async function splitHugePagesInRange(mm: Mm, start: number, end: number): Promise<number> {
  mm.sim.mightSleep('split_huge_pages_pid');
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const ps = k.pageSize;
  if ((await mm.mmapLock.downReadKillable()) !== 0) return -EINTR;
  let split = 0;
  for (let addr = Math.floor(start / ps) * ps; addr < end; addr += ps) {
    const vma = mm.vmas.lookup(addr);
    if (vma === undefined) continue;
    if (pt.kindAt(addr) !== PTE_KIND_PRESENT || pt.flagsAt(addr) & (PTE_SPECIAL | PTE_ZERO)) continue;
    const head = phys.folioHead(pt.pfnAt(addr));
    if (phys.folioOrder(head) === 0 || !phys.tryGetPage(head)) continue;
    if (k.folioTrylock(head)) {
      if ((await splitHugePage(k, head)) === 0) split++;
      k.folioUnlock(head);
    }
    phys.putPage(head);
  }
  mm.mmapLock.upRead();
  return split;
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
  sim.bugOn(!pt.pmdNone(haddr), `collapse_huge_page: PMD at 0x${haddr.toString(16)} repopulated`);
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
