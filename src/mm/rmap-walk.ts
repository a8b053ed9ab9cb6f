/**
 * Reverse-map walks that change translations (parts of mm/rmap.c and mm/migrate.c): try_to_unmap
 * (reclaim: present PTEs become swap entries or go away), try_to_migrate (present PTEs and PMDs become
 * migration entries, optionally splitting PMD mappings first) and remove_migration_ptes (migration
 * entries become present entries of the destination folio).
 *
 * The kernel reaches each mapping through the anon_vma or address_space tree with the rmap lock held,
 * which keeps the VMA and its mm alive. The model finds the mappings in the per-page reverse map and
 * pins each mm it will visit with mmgrab for the duration of the walk (standing in for the rmap lock's
 * guarantee); it takes no mmap lock. Every change is made under the mm's page-table lock after checking
 * that the entry still maps the folio (page_vma_mapped_walk), so a mapping that moved or went away in
 * the meantime is skipped and shows up afterwards as "folio still mapped".
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_CLEAR, mmuNotifierRangeInit } from '../notifier/types.js';
import { VM_LOCKED } from './constants.js';
import {
  PTE_DIRTY,
  PTE_EXCLUSIVE,
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_MIGRATION,
  PTE_KIND_PRESENT,
  PTE_KIND_SWAP,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_UFFD_WP,
  PTE_WRITE,
  PTE_YOUNG,
  PTE_ZERO,
  type PteKind,
} from './page-table.js';
import { PG_anon, PG_anon_exclusive, PG_dirty, PG_locked, PG_swapcache } from './physical.js';
import { migrationEntryAdd, migrationEntryRemove } from './rmap.js';
import { pmdpSet, ptChanged, ptepGetAndClear, ptepSet } from './memory.js';
import { splitHugePmdLocked } from './huge-memory.js';
import type { Kernel, MigrationMapping } from './kernel.js';
import { pteTag } from './mm-struct.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

/** Entry flags a present PTE hands on to the swap or migration entry replacing it. */
const RMAP_KEEP_FLAGS = PTE_SOFT_DIRTY | PTE_UFFD_WP;

/**
 * One VMA the rmap walk visits (the `vma, address` pair rmap_one gets): the mm (pinned with mmgrab by
 * {@link rmapTargets}), the VMA if it is still in the tree (munmap removes it before zapping), and the
 * invalidation range try_to_unmap_one / try_to_migrate_one use: [vma_address, vma_address_end) —
 * where the folio's first page sits in the VMA (clamped to the VMA's start) to where its last page
 * ends (clamped to the VMA's end).
 */
export interface RmapTarget {
  /** The address space mapping the folio, pinned (mmgrab) until rmapTargetsDone. */
  readonly mm: Mm;
  /** The VMA holding the mapping, or undefined when no VMA of `mm` contains it any more. */
  readonly vma: Vma | undefined;
  /** Start of the range: where the folio's first page sits in the VMA, clamped to the VMA's start. */
  readonly start: number;
  /** End of the range (exclusive): where the folio's last page ends, clamped to the VMA's end. */
  readonly end: number;
}

/**
 * rmap_walk's list of VMAs mapping the folio of `pfn`, each mm pinned (mmgrab): the caller must call
 * {@link rmapTargetsDone} when finished. Synchronous, so the snapshot and the pins are taken in one
 * step. Caller holds the folio lock.
 */
export function rmapTargets(k: Kernel, pfn: number): RmapTarget[] {
  k.folioAssertLocked(pfn, 'rmap_walk');
  const phys = k.phys;
  const head = phys.folioHead(pfn);
  const size = phys.folioNrPages(head) * k.pageSize;
  const out: RmapTarget[] = [];
  for (const e of phys.folioRmapList(head)) {
    const mm = e.mm;
    const vma = mm.vmas.lookup(e.va);
    const folioStart = e.pmd ? e.va : e.va - (e.pfn - head) * k.pageSize;
    let start = folioStart;
    let end = folioStart + size;
    if (vma !== undefined) {
      start = Math.max(start, vma.start);
      end = Math.min(end, vma.end);
    }
    if (out.some((t) => t.mm === mm && t.start === start)) continue;
    out.push({ mm, vma, start, end });
  }
  for (const t of out) t.mm.mmgrab();
  return out;
}

/** Drops the mm pins {@link rmapTargets} took. Atomic. */
export function rmapTargetsDone(targets: readonly RmapTarget[]): void {
  for (const t of targets) t.mm.mmdrop();
}

/**
 * The mappings of the folio `head` (nr pages) in `mm` within [start, end), as [pfn, va, pmd(0|1)]
 * triples, read from the reverse map. Caller holds `mm.ptl`.
 */
function rmapMappingsIn(k: Kernel, head: number, mm: Mm, start: number, end: number): number[] {
  mm.sim.assertHeld(mm.ptl, 'page_vma_mapped_walk');
  return rmapMappingsRead(k, head, mm, start, end);
}

/** {@link rmapMappingsIn} without the lock assertion, for an atomic read that does not hold it. */
function rmapMappingsRead(k: Kernel, head: number, mm: Mm, start: number, end: number): number[] {
  const phys = k.phys;
  const nr = phys.folioNrPages(head);
  const out: number[] = [];
  for (let p = head; p < head + nr; p++) {
    const n = phys.rmapCount(p);
    for (let i = 0; i < n; i++) {
      if (phys.rmapMmAt(p, i) !== mm) continue;
      const va = phys.rmapVaAt(p, i);
      if (va < start || va >= end) continue;
      out.push(p, va, phys.rmapIsPmdAt(p, i) ? 1 : 0);
    }
  }
  return out;
}

/** Whether `mm`'s PTE at `va` (not a huge PMD) is a present or device-exclusive entry for `pfn`. */
function pteMapsPage(mm: Mm, va: number, pfn: number): boolean {
  const pt = mm.pageTable;
  if (pt.isHugeAt(va) || pt.pfnAt(va) !== pfn) return false;
  const kind = pt.kindAt(va);
  if (kind === PTE_KIND_DEVICE_EXCLUSIVE) return true;
  return kind === PTE_KIND_PRESENT && (pt.flagsAt(va) & (PTE_SPECIAL | PTE_ZERO)) === 0;
}

/**
 * The first half of ptep_clear_flush + set_pte_at as the rmap walkers use them: one scheduling point,
 * then the entry at `va` is read (after the point, so an accessed or dirty bit the MMU set meanwhile is
 * seen). The caller computes the replacement and installs it with {@link rmapPteInstall} without an
 * intervening scheduling point. Deviation, deliberate: the entry is replaced rather than cleared and set
 * again, because the model frees a PTE table the moment its last entry is cleared and a lockless
 * walker (a zap's pmd_none skip) would then miss the entry about to be installed; no thread can observe
 * the difference otherwise (the page-table lock is held throughout). Caller holds `mm.ptl`.
 */
async function rmapPteClearFlush(mm: Mm, va: number): Promise<{ kind: PteKind; pfn: number; flags: number }> {
  mm.sim.assertHeld(mm.ptl, 'ptep_clear_flush');
  await mm.sim.point('ptep_clear_flush', pteTag(mm, va));
  const pt = mm.pageTable;
  return { kind: pt.kindAt(va), pfn: pt.pfnAt(va), flags: pt.flagsAt(va) };
}

/** set_pte_at of the replacement after {@link rmapPteClearFlush}, telling the hooks. Atomic. */
function rmapPteInstall(mm: Mm, va: number, kind: PteKind, pfn: number, flags: number): void {
  mm.pageTable.set(va, kind, pfn, flags);
  ptChanged(mm, va, false);
}

/** A dirty PTE (or a writable device-exclusive entry) dirties the folio (folio_mark_dirty). */
function rmapTransferDirty(k: Kernel, pfn: number, kind: PteKind, flags: number): void {
  if (flags & PTE_DIRTY || (kind === PTE_KIND_DEVICE_EXCLUSIVE && flags & PTE_WRITE))
    k.phys.setFlag(pfn, PG_dirty);
}

// ---------------------------------------------------------------------------------------------
// try_to_unmap
// ---------------------------------------------------------------------------------------------

/**
 * try_to_unmap(folio, 0) → try_to_unmap_one per VMA: for each VMA mapping the order-0 folio `pfn`, a
 * blockable MMU_NOTIFY_CLEAR invalidation over [vma_address, vma_address_end) (one page; owner null),
 * and under the page-table lock each PTE mapping the page (present or device-exclusive) is cleared
 * (ptep_clear_flush: its dirty bit goes to the folio), then:
 *  - anonymous page: the folio's swap slot (the caller put it in the swap cache) gains a reference
 *    (swap_duplicate) and the PTE becomes a swap entry, exclusive if the page was PageAnonExclusive
 *    (which is cleared: folio_try_share_anon_rmap_pte), keeping soft-dirty and uffd-wp;
 *  - file page: the PTE stays none;
 * and the mapping's rmap and reference go. Returns false, leaving the rest mapped, when a VMA is
 * VM_LOCKED (the kernel mlocks the folio then) or swap_duplicate fails. Mappings that changed meanwhile
 * are skipped; the caller checks folio_mapped afterwards.
 *
 * Locks: caller holds the folio lock and a reference; no mmap lock (rmap walk). May sleep.
 * Deviation: PMD mappings are not handled (the caller splits large folios first: TTU_SPLIT_HUGE_PMD is
 * not modelled here); young PTEs are not skipped (no folio_referenced).
 */
export async function tryToUnmap(k: Kernel, pfn: number): Promise<boolean> {
  k.folioAssertLocked(pfn, 'try_to_unmap');
  const sim = k.sim;
  const phys = k.phys;
  sim.mightSleep('try_to_unmap');
  if (!phys.testFlag(pfn, PG_locked)) sim.bug(`try_to_unmap of unlocked ${phys.describePage(pfn)}`);
  if (phys.folioOrder(pfn) !== 0) sim.bug(`try_to_unmap of a large folio ${phys.describePage(pfn)}`);
  const anon = phys.testFlag(pfn, PG_anon);
  const slot = anon ? phys.swapSlotOf(pfn) : -1;
  sim.bugOn(anon && !phys.testFlag(pfn, PG_swapcache), `try_to_unmap of anon page not in swap cache`);
  const targets = rmapTargets(k, pfn);
  let ok = true;
  for (const t of targets) {
    if (t.vma !== undefined && t.vma.flags & VM_LOCKED) {
      ok = false;
      break;
    }
    const mm = t.mm;
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, t.start, t.end);
    await mmuNotifierInvalidateRangeStart(range);
    await mm.ptl.lock();
    const maps = rmapMappingsIn(k, pfn, mm, t.start, t.end);
    for (let i = 0; i < maps.length && ok; i += 3) {
      const va = maps[i + 1];
      if (maps[i + 2] !== 0 || !pteMapsPage(mm, va, pfn)) continue;
      if (anon) {
        // swap_duplicate first: if it fails the PTE is left as it is.
        if (k.swap.dup(slot) < 0) {
          ok = false;
          break;
        }
        const old = await rmapPteClearFlush(mm, va);
        rmapTransferDirty(k, pfn, old.kind, old.flags);
        const exclusive = phys.testFlag(pfn, PG_anon_exclusive);
        phys.clearFlag(pfn, PG_anon_exclusive);
        const swpFlags = (exclusive ? PTE_EXCLUSIVE : 0) | (old.flags & RMAP_KEEP_FLAGS);
        rmapPteInstall(mm, va, PTE_KIND_SWAP, slot, swpFlags);
      } else {
        const old = await ptepGetAndClear(mm, va);
        rmapTransferDirty(k, pfn, old.kind, old.flags);
      }
      phys.rmapRemovePte(pfn, mm, va);
      phys.putPage(pfn);
    }
    mm.ptl.unlock();
    await mmuNotifierInvalidateRangeEnd(range);
    if (!ok) break;
  }
  rmapTargetsDone(targets);
  return ok;
}

// ---------------------------------------------------------------------------------------------
// try_to_migrate
// ---------------------------------------------------------------------------------------------

/** The flags of a migration entry replacing a present entry with `flags` of anonymous-exclusive state. */
function migrationFlags(flags: number, exclusive: boolean): number {
  let f = flags & (PTE_DIRTY | PTE_YOUNG | RMAP_KEEP_FLAGS);
  if (flags & PTE_WRITE) f |= PTE_WRITE;
  else if (exclusive) f |= PTE_EXCLUSIVE;
  return f;
}

/**
 * try_to_migrate(folio, flags) → try_to_migrate_one per VMA: every present (or device-exclusive)
 * mapping of the folio of `pfn` becomes a migration entry for the page it mapped (writable if the PTE
 * was, else readable-exclusive if the page was PageAnonExclusive, else readable; dirty, young,
 * soft-dirty and uffd-wp kept), recorded with migrationEntryAdd; the mapping's rmap and reference go,
 * PageAnonExclusive is cleared (folio_try_share_anon_rmap_*), and a dirty PTE dirties the folio.
 *
 * Per VMA: with `splitPmd` (TTU_SPLIT_HUGE_PMD, only unmap_folio for a THP split uses it) a PMD mapping
 * is first split straight into PTE migration entries (split_huge_pmd_address with freeze: its own
 * blockable CLEAR invalidation over [haddr, haddr + PMD_SIZE)); then a blockable MMU_NOTIFY_CLEAR
 * invalidation over [vma_address, vma_address_end) (the whole folio's extent in the VMA; owner null)
 * around the page-table changes. Without `splitPmd` a PMD mapping becomes a PMD migration entry
 * (set_pmd_migration_entry).
 *
 * Mappings that changed meanwhile are skipped: the caller checks folio_mapped afterwards and, if
 * still mapped, restores with removeMigrationPtes(folio, folio). Locks: caller holds the folio lock and
 * a reference; no mmap lock. May sleep.
 */
export async function tryToMigrate(
  k: Kernel,
  pfn: number,
  options: { splitPmd?: boolean } = {},
): Promise<void> {
  k.folioAssertLocked(pfn, 'try_to_migrate');
  const sim = k.sim;
  const phys = k.phys;
  sim.mightSleep('try_to_migrate');
  const head = phys.folioHead(pfn);
  if (!phys.testFlag(head, PG_locked)) sim.bug(`try_to_migrate of unlocked ${phys.describePage(head)}`);
  const anon = phys.testFlag(head, PG_anon);
  const targets = rmapTargets(k, head);
  for (const t of targets) {
    const mm = t.mm;
    const pt = mm.pageTable;
    if (options.splitPmd === true) {
      // Deviation: the kernel finds the PMD mappings under the PMD lock (page_vma_mapped_walk); the
      // model reads the reverse map in one atomic step without it, and each split re-checks the PMD
      // under the lock.
      const maps = rmapMappingsRead(k, head, mm, t.start, t.end);
      for (let i = 0; i < maps.length; i += 3)
        if (maps[i + 2] !== 0) await rmapSplitHugePmdFreeze(k, mm, t.vma, maps[i + 1], head);
    }
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, t.start, t.end);
    await mmuNotifierInvalidateRangeStart(range);
    await mm.ptl.lock();
    const maps = rmapMappingsIn(k, head, mm, t.start, t.end);
    for (let i = 0; i < maps.length; i += 3) {
      const p = maps[i];
      const va = maps[i + 1];
      if (maps[i + 2] !== 0) {
        if (!pt.isHugeAt(va) || pt.kindAt(va) !== PTE_KIND_PRESENT || pt.pfnAt(va) !== head) continue;
        await rmapSetPmdMigrationEntry(k, mm, va, head);
        continue;
      }
      if (!pteMapsPage(mm, va, p)) continue;
      const old = await rmapPteClearFlush(mm, va);
      let flags = old.flags;
      if (old.kind === PTE_KIND_DEVICE_EXCLUSIVE && flags & PTE_WRITE) flags |= PTE_DIRTY;
      rmapTransferDirty(k, head, old.kind, flags);
      const exclusive = anon && phys.testFlag(p, PG_anon_exclusive);
      phys.clearFlag(p, PG_anon_exclusive);
      rmapPteInstall(mm, va, PTE_KIND_MIGRATION, p, migrationFlags(flags, exclusive));
      migrationEntryAdd(k, p, mm, va);
      phys.rmapRemovePte(p, mm, va);
      phys.putPage(p);
    }
    mm.ptl.unlock();
    await mmuNotifierInvalidateRangeEnd(range);
  }
  rmapTargetsDone(targets);
}

/**
 * set_pmd_migration_entry: the present huge PMD at `haddr` mapping `head` becomes a PMD migration entry
 * in one step (the kernel's pmdp_invalidate + set_pmd_at: the PMD is never seen none, so a concurrent
 * zap cannot skip it); its dirty bit dirties the folio, PageAnonExclusive goes into the entry, the PMD
 * mapping's rmap and reference go. Caller holds `mm.ptl` and the folio lock.
 */
async function rmapSetPmdMigrationEntry(k: Kernel, mm: Mm, haddr: number, head: number): Promise<void> {
  const phys = k.phys;
  const pt = mm.pageTable;
  mm.sim.assertHeld(mm.ptl, 'set_pmd_migration_entry');
  await mm.sim.point('set_pmd_migration_entry', pteTag(mm, haddr));
  const flags = pt.flagsAt(haddr); // read after the point: the MMU may have set young/dirty meanwhile
  if (flags & PTE_DIRTY) phys.setFlag(head, PG_dirty);
  const exclusive = phys.testFlag(head, PG_anon) && phys.testFlag(head, PG_anon_exclusive);
  pt.setHuge(haddr, PTE_KIND_MIGRATION, head, migrationFlags(flags, exclusive));
  ptChanged(mm, haddr, true);
  phys.rmapRemovePmd(head, mm, haddr);
  for (let j = 0; j < phys.folioNrPages(head); j++) phys.clearFlag(head + j, PG_anon_exclusive);
  migrationEntryAdd(k, head, mm, haddr, true);
  phys.putPage(head);
}

/**
 * __split_huge_pmd(vma, pmd, address, freeze = true, folio): a blockable MMU_NOTIFY_CLEAR invalidation
 * over [haddr, haddr + PMD_SIZE) (owner null) around turning the PMD mapping of `head` at `haddr` into
 * HPAGE_PMD_NR PTE migration entries (the PMD mapping's rmap and reference go; each page's
 * PageAnonExclusive goes into its entry). Nothing changes if the PMD no longer maps `head`. Caller holds
 * the folio lock (and, as the rmap walk, no mmap lock). May sleep.
 */
async function rmapSplitHugePmdFreeze(
  k: Kernel,
  mm: Mm,
  vma: Vma | undefined,
  haddr: number,
  head: number,
): Promise<void> {
  k.folioAssertLocked(head, 'split_huge_pmd_freeze');
  const pt = mm.pageTable;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + pt.pmdSize);
  await mmuNotifierInvalidateRangeStart(range);
  await mm.ptl.lock();
  if (pt.isHugeAt(haddr) && pt.kindAt(haddr) === PTE_KIND_PRESENT && pt.pfnAt(haddr) === head) {
    await rmapSetPmdMigrationEntry(k, mm, haddr, head);
    // __split_huge_pmd_locked of a migration PMD: PTE migration entries, records per page.
    await splitHugePmdLocked(mm, vma as Vma, haddr);
  }
  mm.ptl.unlock();
  await mmuNotifierInvalidateRangeEnd(range);
}

// ---------------------------------------------------------------------------------------------
// remove_migration_ptes
// ---------------------------------------------------------------------------------------------

/**
 * remove_migration_ptes(src, dst): every recorded migration entry for a page of the folio `src` (nr
 * pages) becomes a present entry for the matching page of `dst` (src itself to undo a failed
 * migration, or after a split where each page is its own folio): young and dirty as the entry was,
 * writable if it was writable, soft-dirty and uffd-wp kept; the page gains the rmap and a reference,
 * and PageAnonExclusive when the entry was writable or readable-exclusive (RMAP_EXCLUSIVE). A PMD
 * migration entry becomes a PMD mapping of `dst` (remove_migration_pmd), which must then be a folio of
 * the same order. Entries zapped or moved meanwhile (their record is gone) are skipped.
 *
 * Installing a translation where there was none raises no invalidation. Locks: caller holds the lock of
 * both folios (the same one when src === dst) and references; no mmap lock. May sleep (takes each mm's
 * page-table lock).
 */
export async function removeMigrationPtes(k: Kernel, src: number, dst: number, nr: number): Promise<void> {
  k.folioAssertLocked(src, 'remove_migration_ptes');
  if (dst !== src) k.folioAssertLocked(dst, 'remove_migration_ptes');
  k.sim.mightSleep('remove_migration_ptes');
  const visited = new Set<MigrationMapping>();
  for (let i = 0; i < nr; i++) {
    const from = src + i;
    const to = dst + i;
    for (;;) {
      // Re-read each time: a fork copying an entry not yet restored appends the child's record after the
      // parent's, so it is found here (the kernel's rmap walk visits a child VMA after its parent).
      const r = k.migrationEntries.get(from)?.find((e) => !visited.has(e));
      if (r === undefined) break;
      visited.add(r);
      const mm = r.mm;
      mm.mmgrab();
      await rmapRestoreMigrationEntry(k, mm, r.va, r.pmd, from, to);
      mm.mmdrop();
    }
  }
}

/** remove_migration_pte for one recorded entry: see {@link removeMigrationPtes}. Takes `mm.ptl`. */
async function rmapRestoreMigrationEntry(
  k: Kernel,
  mm: Mm,
  va: number,
  pmd: boolean,
  from: number,
  to: number,
): Promise<void> {
  const phys = k.phys;
  const pt = mm.pageTable;
  await mm.ptl.lock();
  const live = pt.isHugeAt(va) === pmd && pt.kindAt(va) === PTE_KIND_MIGRATION && pt.pfnAt(va) === from;
  if (
    !live &&
    (k.migrationEntries.get(from)?.some((e) => e.mm === mm && e.va === va && e.pmd === pmd) ?? false)
  )
    k.sim.bug(
      `remove_migration_ptes: ${mm.name} has a migration record at 0x${va.toString(16)} but no entry for pfn ${from}`,
    );
  if (live && migrationEntryRemove(k, from, mm, va, pmd)) {
    const f = pt.flagsAt(va);
    const exclusive = (f & (PTE_WRITE | PTE_EXCLUSIVE)) !== 0;
    const flags = f & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG | RMAP_KEEP_FLAGS);
    const anon = phys.testFlag(to, PG_anon);
    if (pmd) {
      if (phys.folioOrder(to) === 0) k.sim.bug(`remove_migration_pmd onto order-0 pfn ${to}`);
      phys.rmapAddPmd(to, mm, va);
      phys.getPage(to);
      if (anon && exclusive)
        for (let j = 0; j < phys.folioNrPages(to); j++) phys.setFlag(to + j, PG_anon_exclusive);
      await pmdpSet(mm, va, PTE_KIND_PRESENT, to, flags);
    } else {
      phys.rmapAddPte(to, mm, va);
      phys.getPage(to);
      if (anon && exclusive) phys.setFlag(to, PG_anon_exclusive);
      await ptepSet(mm, va, PTE_KIND_PRESENT, to, flags);
    }
  }
  mm.ptl.unlock();
}
