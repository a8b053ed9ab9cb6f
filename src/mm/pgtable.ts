/**
 * The page-table update primitives every operation goes through (include/linux/pgtable.h: set_pte_at,
 * ptep_get_and_clear, ptep_modify_prot_start/commit, set_pmd_at, pmdp_huge_get_and_clear,
 * pmdp_invalidate): each is a scheduling point and each is reported to the onPteChange hooks. Each
 * asserts that the caller holds `mm.ptl`.
 */
import { PTE_KIND_NONE, type PteKind } from './page-table.js';
import { pteTag } from './mm-struct.js';
import type { Mm } from './mm.js';

/** A page-table entry as read (pte_t): kind, pfn or swap slot, PTE_* flags. */
export interface PteValue {
  /** The entry's kind (PTE_KIND_*); PTE_KIND_NONE for an empty entry. */
  kind: PteKind;
  /** The pfn it maps, or the swap slot of a swap entry. */
  pfn: number;
  /** Its PTE_* flags (PTE_WRITE, PTE_DIRTY, ...). */
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
