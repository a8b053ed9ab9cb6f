/**
 * Page-table teardown (mm/memory.c): zap_page_range / unmap_single_vma, with what they release (rmap,
 * mapcount, references, swap entries). The PTE update primitives are in pgtable.ts, re-exported here;
 * splitting a PMD-mapped THP (__split_huge_pmd) is in huge-memory.ts.
 *
 * Reclaim, migration, THP and the OOM reaper build on these helpers.
 */
import {
  PTE_DIRTY,
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_KIND_SWAP,
  PTE_SPECIAL,
  PTE_ZERO,
  type PteKind,
} from './page-table.js';
import { PG_anon, PG_dirty } from './physical.js';
import { migrationEntryRemove } from './rmap.js';
import { folioPutAfterUnmap, freeSwapAndCache } from './swap-state.js';
import { splitHugePmd } from './huge-memory.js';
import { pmdpGetAndClear, ptepGetAndClear } from './pgtable.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

export {
  ptepSet,
  ptepGetAndClear,
  ptepModify,
  pmdpSet,
  pmdpGetAndClear,
  pmdpModify,
  ptChanged,
  type PteValue,
} from './pgtable.js';
export { folioPutAfterUnmap } from './swap-state.js';

/**
 * What zap_pte_range does with a PTE it has cleared: for a present page, folio_mark_dirty (file pages
 * with a dirty PTE), folio_remove_rmap_pte and the mapping's reference (dropping an unmapped folio
 * from the swap cache when no swap entry needs it, as free_swap_cache does); the zero page and special
 * PTEs hold nothing. A swap entry drops its swap count (free_swap_and_cache); a migration entry is
 * forgotten; a device-private or device-exclusive entry drops its mapping and reference. Caller holds
 * `mm.ptl` and has already cleared the entry. Atomic.
 */
export function zapReleaseEntry(mm: Mm, va: number, kind: PteKind, pfn: number, flags: number): void {
  mm.sim.assertHeld(mm.ptl, 'zap_pte_range');
  const k = mm.kernel;
  const phys = k.phys;
  switch (kind) {
    case PTE_KIND_PRESENT:
      if (flags & (PTE_SPECIAL | PTE_ZERO)) return;
      if (flags & PTE_DIRTY && !phys.testFlag(pfn, PG_anon)) phys.setFlag(pfn, PG_dirty);
      phys.rmapRemovePte(pfn, mm, va);
      folioPutAfterUnmap(k, pfn);
      return;
    case PTE_KIND_SWAP:
      freeSwapAndCache(k, pfn);
      return;
    case PTE_KIND_MIGRATION:
      migrationEntryRemove(k, pfn, mm, va);
      return;
    case PTE_KIND_DEVICE_EXCLUSIVE:
      mm.sim.mark('zap dropped a device-exclusive entry');
      phys.rmapRemovePte(pfn, mm, va);
      phys.putPage(pfn);
      return;
    case PTE_KIND_DEVICE_PRIVATE:
      phys.rmapRemovePte(pfn, mm, va);
      phys.putPage(pfn);
      return;
    default:
      return;
  }
}

/** The huge-entry counterpart of zapReleaseEntry (zap_huge_pmd); `head` is the folio's head pfn. */
export function zapReleaseHugeEntry(mm: Mm, haddr: number, kind: PteKind, head: number, flags: number): void {
  const k = mm.kernel;
  const phys = k.phys;
  switch (kind) {
    case PTE_KIND_PRESENT:
      if (flags & (PTE_SPECIAL | PTE_ZERO)) return;
      if (flags & PTE_DIRTY && !phys.testFlag(head, PG_anon)) phys.setFlag(head, PG_dirty);
      phys.rmapRemovePmd(head, mm, haddr);
      folioPutAfterUnmap(k, head);
      return;
    case PTE_KIND_MIGRATION:
      migrationEntryRemove(k, head, mm, haddr, true);
      return;
    case PTE_KIND_DEVICE_PRIVATE:
      phys.rmapRemovePmd(head, mm, haddr);
      phys.putPage(head);
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// zap_page_range / unmap_single_vma
// ---------------------------------------------------------------------------------------------

/**
 * unmap_single_vma → unmap_page_range: clears every entry of `vma` in [start, end) ∩ vma and releases
 * what it referenced (zapReleaseEntry). Per PMD: a huge entry entirely inside the range is zapped
 * whole (zap_huge_pmd); one only partly inside is split first (__split_huge_pmd, which raises its own
 * CLEAR invalidation over the PMD and may sleep); a PTE table is zapped under the page-table lock, one
 * scheduling point per entry.
 *
 * Does not raise an invalidation: the caller opened one around it (unmap_vmas: UNMAP;
 * zap_page_range_single: CLEAR; the OOM reaper: non-blockable UNMAP). Locks: the caller holds the mmap
 * lock (read or write) or the mm is unreachable (exit_mmap); takes `mm.ptl` per PMD. Never sleeps
 * except to split a partly covered huge PMD, which whole-VMA zaps (exit, OOM reaper) never do.
 */
export async function unmapSingleVma(mm: Mm, vma: Vma, start: number, end: number): Promise<void> {
  mm.assertMmapLocked('unmap_single_vma');
  const lo = Math.max(start, vma.start);
  const hi = Math.min(end, vma.end);
  if (lo >= hi) return;
  const pt = mm.pageTable;
  const pmdSize = pt.pmdSize;
  let addr = lo;
  const entries: number[] = [];
  while (addr < hi) {
    const pmd = pt.nextPopulatedPmd(addr, hi);
    if (pmd < 0) break;
    const a = Math.max(addr, pmd);
    const b = Math.min(hi, pmd + pmdSize);
    if (pt.isHugeAt(a)) {
      if (a === pmd && b === pmd + pmdSize) {
        await mm.ptl.lock();
        if (pt.isHugeAt(a)) {
          const old = await pmdpGetAndClear(mm, a);
          zapReleaseHugeEntry(mm, a, old.kind, old.pfn, old.flags);
          mm.ptl.unlock();
          addr = b;
          continue;
        }
        // Split under us since the unlocked check: zap its PTEs below, as zap_pmd_range falls through.
        mm.ptl.unlock();
      } else {
        await splitHugePmd(mm, vma, a);
      }
    }
    await mm.ptl.lock();
    entries.length = 0;
    pt.walk(a, b, (va) => {
      entries.push(va);
    });
    for (let i = 0; i < entries.length; i++) {
      const va = entries[i];
      if (pt.kindAt(va) === PTE_KIND_NONE) continue;
      const old = await ptepGetAndClear(mm, va);
      zapReleaseEntry(mm, va, old.kind, old.pfn, old.flags);
    }
    mm.ptl.unlock();
    addr = b;
  }
}
