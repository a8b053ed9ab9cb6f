/**
 * Page-table updates and teardown (parts of mm/memory.c and mm/huge_memory.c): the PTE update
 * primitives every operation goes through (each a scheduling point, each reported to the
 * onPteChange hooks), zap_page_range / unmap_single_vma (with what they release: rmap, mapcount,
 * references, swap entries), and splitting a PMD-mapped THP into PTEs.
 *
 * Reclaim, migration, THP and the OOM reaper build on these helpers.
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_CLEAR, mmuNotifierRangeInit } from '../notifier/types.js';
import { HPAGE_PMD_NR } from './constants.js';
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
import { PG_anon, PG_dirty, PG_swapcache } from './physical.js';
import { migrationEntryAdd, migrationEntryRemove } from './rmap.js';
import { freeSwapAndCache, tryFreeSwapCacheOfSlot } from './swap-state.js';
import { pteTag } from './mm-struct.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';
import type { Kernel } from './kernel.js';

/** A page-table entry as read (pte_t): kind, pfn or swap slot, PTE_* flags. */
export interface PteValue {
  kind: PteKind;
  pfn: number;
  flags: number;
}

// ---------------------------------------------------------------------------------------------
// PTE update primitives (set_pte_at, ptep_get_and_clear, ptep_modify_prot_*, set_pmd_at, ...)
// ---------------------------------------------------------------------------------------------

/**
 * set_pte_at: a scheduling point ('set_pte'), then installs the entry at `va` and tells the
 * onPteChange hooks. Caller holds `mm.ptl` (asserted). Atomic (never sleeps).
 */
export async function ptepSet(mm: Mm, va: number, kind: PteKind, pfn: number, flags: number): Promise<void> {
  mm.sim.assertHeld(mm.ptl, 'set_pte_at');
  await mm.sim.point('set_pte', pteTag(mm, va));
  mm.pageTable.set(va, kind, pfn, flags);
  ptChanged(mm, va, false);
}

/**
 * ptep_get_and_clear: a scheduling point ('clear_pte'), then reads and clears the entry at `va`
 * (what it returns is read after the point, so hardware young/dirty updates are not lost). Caller
 * holds `mm.ptl` (asserted). Atomic.
 */
export async function ptepGetAndClear(mm: Mm, va: number): Promise<PteValue> {
  mm.sim.assertHeld(mm.ptl, 'ptep_get_and_clear');
  await mm.sim.point('clear_pte', pteTag(mm, va));
  const pt = mm.pageTable;
  const old: PteValue = { kind: pt.kindAt(va), pfn: pt.pfnAt(va), flags: pt.flagsAt(va) };
  if (old.kind !== PTE_KIND_NONE) {
    pt.clear(va);
    ptChanged(mm, va, false);
  }
  return old;
}

/**
 * ptep_set_wrprotect / ptep_modify_prot_start+commit: a scheduling point ('modify_pte'), then clears
 * `clearMask` and sets `setMask` in the existing entry at `va`. Returns the old flags. Caller holds
 * `mm.ptl` (asserted). Atomic.
 */
export async function ptepModify(mm: Mm, va: number, clearMask: number, setMask: number): Promise<number> {
  mm.sim.assertHeld(mm.ptl, 'ptep_modify_prot');
  await mm.sim.point('modify_pte', pteTag(mm, va));
  const old = mm.pageTable.updateFlags(va, clearMask, setMask);
  ptChanged(mm, va, false);
  return old;
}

/** set_pmd_at for a huge entry at the PMD-aligned `va`; as ptepSet. Caller holds `mm.ptl`. */
export async function pmdpSet(mm: Mm, va: number, kind: PteKind, pfn: number, flags: number): Promise<void> {
  mm.sim.assertHeld(mm.ptl, 'set_pmd_at');
  await mm.sim.point('set_pmd', pteTag(mm, va));
  mm.pageTable.setHuge(va, kind, pfn, flags);
  ptChanged(mm, va, true);
}

/** pmdp_huge_get_and_clear for the huge entry covering `va`; as ptepGetAndClear. */
export async function pmdpGetAndClear(mm: Mm, va: number): Promise<PteValue> {
  mm.sim.assertHeld(mm.ptl, 'pmdp_huge_get_and_clear');
  await mm.sim.point('clear_pmd', pteTag(mm, va));
  const pt = mm.pageTable;
  const haddr = pt.pmdStart(va);
  const old: PteValue = { kind: pt.kindAt(haddr), pfn: pt.pfnAt(haddr), flags: pt.flagsAt(haddr) };
  if (pt.isHugeAt(haddr)) {
    pt.clearHuge(haddr);
    ptChanged(mm, haddr, true);
  }
  return old;
}

/** pmdp_set_wrprotect / change_huge_pmd for the huge entry covering `va`; as ptepModify. */
export async function pmdpModify(mm: Mm, va: number, clearMask: number, setMask: number): Promise<number> {
  mm.sim.assertHeld(mm.ptl, 'pmdp_modify');
  await mm.sim.point('modify_pmd', pteTag(mm, va));
  const haddr = mm.pageTable.pmdStart(va);
  const old = mm.pageTable.updateHugeFlags(haddr, clearMask, setMask);
  ptChanged(mm, haddr, true);
  return old;
}

/** Reports a translation change to the hooks (no scheduling point; for callers that batch). */
export function ptChanged(mm: Mm, va: number, huge: boolean): void {
  const hooks = mm.kernel.hooks.onPteChange;
  for (let i = 0; i < hooks.length; i++) hooks[i](mm, va, huge);
}

// ---------------------------------------------------------------------------------------------
// Releasing what an entry referenced (zap_present_ptes, zap_nonpresent_ptes)
// ---------------------------------------------------------------------------------------------

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
    case PTE_KIND_DEVICE_PRIVATE:
    case PTE_KIND_DEVICE_EXCLUSIVE:
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

/**
 * The mapping's folio_put after an unmap, with free_swap_cache: an anonymous folio that is no longer
 * mapped and whose swap slot no entry references leaves the swap cache (the kernel does this in
 * free_pages_and_swap_cache). Atomic.
 */
export function folioPutAfterUnmap(k: Kernel, pfn: number): void {
  const phys = k.phys;
  if (phys.testFlag(pfn, PG_swapcache) && !phys.folioMapped(pfn))
    tryFreeSwapCacheOfSlot(k, phys.swapSlotOf(pfn));
  phys.putPage(pfn);
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

// ---------------------------------------------------------------------------------------------
// THP: __split_huge_pmd
// ---------------------------------------------------------------------------------------------

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
