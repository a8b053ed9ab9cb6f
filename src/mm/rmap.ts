/**
 * Reverse-map helpers (mm/rmap.c): anon_vma preparation, adding a new anonymous folio, and the registry
 * of installed migration entries. Physical memory keeps the (mm, va) reverse map of mapped pages
 * itself (rmapAddPte / rmapRemovePte); migration entries hold no mapping, so the places where they
 * were installed are kept here, per pfn, for remove_migration_ptes and for fork copying them.
 */
import { LRU_INACTIVE_ANON, PG_anon, PG_anon_exclusive, PG_swapbacked, PG_uptodate } from './physical.js';
import type { Kernel } from './kernel.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

/**
 * anon_vma_prepare: gives `vma` an anon_vma before its first anonymous page. Caller holds the mmap
 * lock (read suffices, as in the kernel where the page_table_lock serialises the assignment). Atomic.
 */
export function anonVmaPrepare(mm: Mm, vma: Vma): void {
  mm.assertMmapLocked('anon_vma_prepare');
  if (vma.anonVma === 0) vma.anonVma = mm.kernel.allocAnonVma();
}

/**
 * __folio_set_anon + the flags of a new anonymous page: PG_anon, PG_swapbacked, PG_uptodate,
 * PageAnonExclusive, mapping = the VMA's anon_vma, index = linear_page_index. Atomic.
 */
export function folioPrepareNewAnon(k: Kernel, vma: Vma, pfn: number, va: number): void {
  const phys = k.phys;
  phys.setFlag(pfn, PG_anon | PG_swapbacked | PG_uptodate);
  phys.setFlag(pfn, PG_anon_exclusive);
  phys.setMapping(pfn, vma.anonVma, vma.pgoff + (va - vma.start) / k.pageSize);
}

/**
 * folio_add_new_anon_rmap + folio_add_lru_vma: a freshly allocated page becomes `mm`'s anonymous page at
 * `va` (mapcount 1, exclusive, on the inactive anon LRU). The allocation's reference becomes the
 * mapping's. Caller holds the page-table lock and installs the PTE. Atomic.
 */
export function folioAddNewAnonRmap(k: Kernel, mm: Mm, vma: Vma, pfn: number, va: number): void {
  mm.sim.assertHeld(mm.ptl, 'folio_add_new_anon_rmap');
  folioPrepareNewAnon(k, vma, pfn, va);
  k.phys.rmapAddPte(pfn, mm, va);
  k.phys.lruAdd(pfn, LRU_INACTIVE_ANON);
}

/**
 * Records that a migration entry for `pfn` was installed in `mm` at `va` (a PMD migration entry when
 * `pmd`). Whoever installs one (try_to_migrate, migrate_vma_collect, fork copying one) records it;
 * whoever removes it (remove_migration_ptes, zap) forgets it. Atomic.
 */
export function migrationEntryAdd(k: Kernel, pfn: number, mm: Mm, va: number, pmd = false): void {
  let list = k.migrationEntries.get(pfn);
  if (list === undefined) {
    list = [];
    k.migrationEntries.set(pfn, list);
  }
  list.push({ mm, va, pmd });
}

/** Forgets a migration entry recorded by migrationEntryAdd; returns whether it was recorded. Atomic. */
export function migrationEntryRemove(k: Kernel, pfn: number, mm: Mm, va: number, pmd = false): boolean {
  const list = k.migrationEntries.get(pfn);
  if (list === undefined) return false;
  const i = list.findIndex((e) => e.mm === mm && e.va === va && e.pmd === pmd);
  if (i < 0) return false;
  list.splice(i, 1);
  if (list.length === 0) k.migrationEntries.delete(pfn);
  return true;
}
