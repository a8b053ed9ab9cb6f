/**
 * Device memory migration (mm/migrate_device.c): migrate_vma_setup / migrate_vma_pages /
 * migrate_vma_finalize and the migrate-pfn encoding.
 *
 * Per entry: collection (under a MIGRATE invalidation carrying pgmapOwner) locks each selected page,
 * takes a reference and replaces its PTE by a migration entry; the unmap step isolates system pages
 * from the LRU, unmaps other mappings (try_to_migrate) and drops pinned pages; the driver allocates
 * and copies; migrateVmaPages populates holes and moves page state; migrateVmaFinalize points every
 * migration entry at the winner (the destination, or the source when migration failed).
 */
import { EINVAL } from '../sim/errno.js';
import { HPAGE_PMD_NR, VM_HUGETLB, VM_SPECIAL, VM_WRITE } from '../mm/constants.js';
import {
  PTE_DIRTY,
  PTE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_UFFD_WP,
  PTE_WRITE,
  PTE_YOUNG,
  PTE_ZERO,
} from '../mm/page-table.js';
import {
  LRU_INACTIVE_ANON,
  PG_anon,
  PG_anon_exclusive,
  PG_dirty,
  PG_locked,
  PG_referenced,
  PG_swapbacked,
  PG_swapcache,
  PG_uptodate,
  PG_workingset,
  type LruList,
} from '../mm/physical.js';
import { pmdpGetAndClear, pmdpSet, ptepGetAndClear, ptepSet } from '../mm/memory.js';
import { splitHugePmd, splitHugePmdLocked } from '../mm/huge-memory.js';
import { anonVmaPrepare, folioPrepareNewAnon, migrationEntryAdd, migrationEntryRemove } from '../mm/rmap.js';
import { tryToMigrate } from '../mm/rmap-walk.js';
import { splitHugePage } from '../mm/split-huge-page.js';
import type { Kernel } from '../mm/kernel.js';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  mmuNotifierRangeInit,
} from '../notifier/types.js';
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import type { MigrateVma, PfnArray } from './types.js';

/** The entry names a source or destination page (pfn above MIGRATE_PFN_SHIFT). */
export const MIGRATE_PFN_VALID = 1 << 0;
/** The entry is to be migrated (set by collection, cleared when it cannot be). */
export const MIGRATE_PFN_MIGRATE = 1 << 1;
/** The source mapping was writable / the destination is to be mapped writable. */
export const MIGRATE_PFN_WRITE = 1 << 3;
/** The entry covers a whole PMD-sized folio (the next 511 entries are skipped). */
export const MIGRATE_PFN_COMPOUND = 1 << 4;
/** Bits below the pfn. */
export const MIGRATE_PFN_SHIFT = 6;
const MIGRATE_PFN_MUL = 1 << MIGRATE_PFN_SHIFT;

/** Collect present system pages. */
export const MIGRATE_VMA_SELECT_SYSTEM = 1 << 0;
/** Collect device-private pages whose pagemap owner is args.pgmapOwner. */
export const MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1;
/** Collect device-coherent pages whose pagemap owner is args.pgmapOwner. */
export const MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2;
/** Collect PMD-mapped THPs and empty PMD ranges as single compound entries. */
export const MIGRATE_VMA_SELECT_COMPOUND = 1 << 3;
/**
 * Every MIGRATE_VMA_SELECT_* bit: the model's migrateVmaSetup fails with -EINVAL on any
 * other flag. Not a kernel constant.
 */
export const MIGRATE_VMA_SELECT_ALL =
  MIGRATE_VMA_SELECT_SYSTEM |
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
  MIGRATE_VMA_SELECT_DEVICE_COHERENT |
  MIGRATE_VMA_SELECT_COMPOUND;

/** migrate_pfn(pfn): a destination word for `pfn` (VALID). */
export function migratePfn(pfn: number): number {
  return pfn * MIGRATE_PFN_MUL + MIGRATE_PFN_VALID;
}

/** migrate_pfn_to_page: the pfn of a VALID word, or -1. */
export function migratePfnToPage(word: number): number {
  return word & MIGRATE_PFN_VALID ? Math.floor(word / MIGRATE_PFN_MUL) : -1;
}

/** The MIGRATE_PFN_* flag bits of a word. */
export function migratePfnFlags(word: number): number {
  return (word >>> 0) & (MIGRATE_PFN_MUL - 1);
}

/** Folio flags that move from source to destination (folio_migrate_flags). */
const MOVE_FLAGS = PG_anon | PG_swapbacked | PG_uptodate | PG_dirty | PG_referenced | PG_workingset;

/** What setup remembers for pages and finalize: the LRU list of each isolated system page. */
interface MigrateState {
  lru: Map<number, LruList>;
}
/** Per run (Simulation.runMap): the state of each migration between setup and finalize. */
const STATES = Symbol('migrate_vma states');

function clearMigrate(src: PfnArray, i: number): void {
  if (src[i] & MIGRATE_PFN_MIGRATE) src[i] -= MIGRATE_PFN_MIGRATE;
}

/** The migration-entry flags for a cleared PTE (make_{writable,readable_exclusive,readable}_migration_entry). */
function migrationFlagsOf(pteFlags: number, anonExclusive: boolean): number {
  const keep = pteFlags & (PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY | PTE_UFFD_WP);
  if (pteFlags & PTE_WRITE) return keep | PTE_WRITE;
  return keep | (anonExclusive ? PTE_EXCLUSIVE : 0);
}

/**
 * migrate_vma_setup(args): validates the arguments (-EINVAL: no page in [start, end), a VMA that is
 * detached, hugetlb or special (VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP), a range outside it,
 * src / dst shorter than the range, unknown selection flags, a faultPage that is not a locked
 * device-private page), then collects [start, end) inside a blockable MMU_NOTIFY_MIGRATE invalidation
 * whose owner is args.pgmapOwner, and unmaps what it collected. Afterwards every src entry with
 * MIGRATE_PFN_MIGRATE is a hole (no VALID: an empty or zero-page PTE of an anonymous VMA) or a locked,
 * referenced page whose mappings are migration entries and that nobody else holds; args.cpages counts
 * them, args.npages the entries. Returns 0 (even when nothing is migratable) or -EINVAL (nothing done).
 *
 * Large folios: with MIGRATE_VMA_SELECT_COMPOUND, a PMD-level entry covering a whole PMD-aligned PMD
 * of the range — a THP mapped only there and not pinned (SELECT_SYSTEM), or a PMD-order device-private
 * folio of pgmapOwner (SELECT_DEVICE_PRIVATE) — is collected as one entry
 * `pfn | VALID | MIGRATE | COMPOUND [| WRITE]` followed by HPAGE_PMD_NR - 1 empty entries, its PMD
 * replaced by a PMD migration entry. Every other selected large folio is split first: a THP by
 * split_huge_page, a device-private PMD by __split_huge_pmd (CLEAR over the PMD) and then, like a
 * device folio already mapped by PTEs, by a folio split (the pagemap's folioSplit first); its pages
 * are then collected one by one. The driver may give a compound entry one PMD-order destination
 * (MIGRATE_PFN_COMPOUND in dst) or per-page destinations (migrateVmaPages splits the source).
 *
 * Locks: the caller holds the mmap lock of args.mm (read or write; asserted). May sleep.
 * Deviations: the splits happen before the MIGRATE invalidation opens, not nested inside it; empty
 * PMD ranges are collected page by page (the kernel makes one compound hole entry); a device folio
 * split does not unmap and remap its device-private entries (they already name each page).
 */
export async function migrateVmaSetup(args: MigrateVma): Promise<number> {
  const mm = args.mm;
  const vma = args.vma;
  const k = mm.kernel;
  const ps = k.pageSize;
  mm.sim.mightSleep('migrate_vma_setup');
  mm.assertMmapLocked('migrate_vma_setup');
  const nr = Math.floor((args.end - args.start) / ps);
  if (!Number.isSafeInteger(args.start) || !Number.isSafeInteger(args.end) || nr <= 0) return -EINVAL;
  const start = Math.floor(args.start / ps) * ps;
  const end = Math.floor(args.end / ps) * ps;
  if (vma === null || typeof vma !== 'object' || vma.detached || mm.vmas.lookup(vma.start) !== vma)
    return -EINVAL;
  if (vma.flags & (VM_HUGETLB | VM_SPECIAL)) return -EINVAL;
  if (start < vma.start || start >= vma.end || end <= vma.start || end > vma.end) return -EINVAL;
  const npages = (end - start) / ps;
  if (args.src == null || args.dst == null || args.src.length < npages || args.dst.length < npages)
    return -EINVAL;
  if (!Number.isInteger(args.flags) || args.flags & ~MIGRATE_VMA_SELECT_ALL || args.flags < 0) return -EINVAL;
  const fp = args.faultPage ?? -1;
  if (fp >= 0 && (!k.phys.isDevicePrivate(fp) || !k.phys.testFlag(fp, PG_locked))) return -EINVAL;
  args.start = start;
  args.end = end;
  for (let i = 0; i < npages; i++) {
    args.src[i] = 0;
    args.dst[i] = 0;
  }
  args.cpages = 0;
  args.npages = 0;
  const state: MigrateState = { lru: new Map() };
  args.mm.sim.runMap<MigrateVma, MigrateState>(STATES).set(args, state);

  await migratePrepareLargeFolios(args, fp);

  // migrate_vma_collect.
  const range = mmuNotifierRangeInit(
    MMU_NOTIFY_MIGRATE,
    MMU_NOTIFIER_RANGE_BLOCKABLE,
    mm,
    start,
    end,
    args.pgmapOwner,
  );
  await mmuNotifierInvalidateRangeStart(range);
  await mm.ptl.lock();
  for (let i = 0; i < npages; i++) await migrateCollectPte(args, i, fp);
  mm.ptl.unlock();
  args.npages = npages;
  await mmuNotifierInvalidateRangeEnd(range);

  if (args.cpages > 0) await migrateDeviceUnmap(args, state, fp);
  return 0;
}

/** Whether the PMD at `haddr` lies wholly in the range and may be collected as one compound entry. */
function compoundPmd(args: MigrateVma, haddr: number): boolean {
  const pmdSize = args.mm.pageTable.pmdSize;
  return (
    (args.flags & MIGRATE_VMA_SELECT_COMPOUND) !== 0 && haddr >= args.start && haddr + pmdSize <= args.end
  );
}

/**
 * Whether a PMD-mapped THP can migrate whole: mapped only by this PMD, not pinned, referenced only by
 * that mapping (the kernel falls back to splitting when it cannot take it whole).
 */
function thpMigratesWhole(k: Kernel, head: number): boolean {
  const phys = k.phys;
  return (
    phys.folioMapcountOf(head) === 1 &&
    !phys.maybeDmaPinned(head) &&
    phys.refcountOf(head) === 1 + (phys.testFlag(head, PG_swapcache) ? 1 : 0)
  );
}

/**
 * The large-folio part of migrate_vma_collect_pmd, done before collection: every selected large folio
 * in [args.start, args.end) that will not be collected as one compound entry is split — THPs (PMD- or
 * PTE-mapped) by split_huge_page under the folio lock and a reference; device-private PMDs of
 * pgmapOwner by __split_huge_pmd, after which they are PTE-mapped device folios; those are split by
 * splitDeviceFolio. A folio that cannot be locked or split stays large and is skipped by collection.
 */
async function migratePrepareLargeFolios(args: MigrateVma, faultPage: number): Promise<void> {
  const mm = args.mm;
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const { start, end } = args;
  const sel = args.flags;
  const thps: number[] = [];
  const devPmds: number[] = [];
  const devFolios: number[] = [];
  const ownPrivate = (pfn: number): boolean =>
    (sel & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) !== 0 &&
    phys.isDevicePrivate(pfn) &&
    phys.deviceOwnerOf(pfn) === args.pgmapOwner;
  for (let a = pt.pmdStart(start); a < end; a += pt.pmdSize) {
    if (pt.pmdNone(a)) continue;
    if (pt.isHugeAt(a)) {
      const kind = pt.kindAt(a);
      const head = pt.pfnAt(a);
      if (kind === PTE_KIND_PRESENT && !(pt.flagsAt(a) & PTE_ZERO) && sel & MIGRATE_VMA_SELECT_SYSTEM) {
        if (!compoundPmd(args, a) || phys.zoneOf(head) !== 'normal' || !thpMigratesWhole(k, head))
          thps.push(head);
      } else if (kind === PTE_KIND_DEVICE_PRIVATE && ownPrivate(head) && !compoundPmd(args, a)) {
        devPmds.push(a);
        devFolios.push(head);
      }
      continue;
    }
    pt.walk(Math.max(a, start), Math.min(end, a + pt.pmdSize), (_va, kind, pfn, flags) => {
      let list: number[];
      if (kind === PTE_KIND_PRESENT) {
        if (flags & (PTE_ZERO | PTE_SPECIAL) || !(sel & MIGRATE_VMA_SELECT_SYSTEM)) return;
        if (phys.zoneOf(pfn) !== 'normal') return;
        list = thps;
      } else if (kind === PTE_KIND_DEVICE_PRIVATE && ownPrivate(pfn)) list = devFolios;
      else return;
      if (phys.folioOrder(pfn) === 0) return;
      const head = phys.folioHead(pfn);
      if (list[list.length - 1] !== head) list.push(head);
    });
  }
  for (const head of thps) {
    if (!phys.tryGetPage(head)) continue;
    if (phys.folioOrder(head) > 0 && k.folioTrylock(head)) {
      await splitHugePage(k, head);
      k.folioUnlock(head);
    }
    phys.putPage(head);
  }
  for (const a of devPmds) await splitHugePmd(mm, args.vma, a);
  for (const head of devFolios) await splitDeviceFolio(k, head, faultPage);
}

/**
 * split_folio for a device-private folio mapped by PTEs (migrate_vma_collect_pmd meeting a large device
 * folio at PTE level): under the folio lock (trylock, unless it holds `faultPage`, which the fault
 * path locked) and a reference, PMD-level mappings of it in other mms (a fork shared it) are split to
 * PTEs first (unmap_folio's TTU_SPLIT_HUGE_PMD: a CLEAR over each PMD); then, only when nothing but
 * its mappings and the caller reference it, the pagemap's folioSplit runs (the driver splits its
 * per-folio state) and the folio becomes order-0 folios, each keeping its own mappings' references;
 * pages nobody maps are freed. The page holding the lock keeps it. A contended folio is left large.
 * Takes each mm's ptl. May sleep.
 * Deviation: no unmap to migration entries and remap around the split (the device-private entries
 * already name each page, and no CPU can access device-private memory in between).
 */
async function splitDeviceFolio(k: Kernel, pfn: number, faultPage = -1): Promise<boolean> {
  const phys = k.phys;
  const head = phys.folioHead(pfn);
  const nr = phys.folioNrPages(head);
  if (nr === 1 || !phys.isDevicePrivate(head)) return nr === 1;
  const own = faultPage >= 0 && phys.folioHead(faultPage) === head;
  if (!own) {
    if (!phys.tryGetPage(head)) return false;
    if (!k.folioTrylock(head)) {
      phys.putPage(head);
      return false;
    }
  }
  const locked = own ? faultPage : head;
  for (const r of phys.folioRmapList(head)) {
    if (!r.pmd) continue;
    const mm = r.mm;
    const pt = mm.pageTable;
    mm.mmgrab();
    const range = mmuNotifierRangeInit(
      MMU_NOTIFY_CLEAR,
      MMU_NOTIFIER_RANGE_BLOCKABLE,
      mm,
      r.va,
      r.va + pt.pmdSize,
    );
    await mmuNotifierInvalidateRangeStart(range);
    await mm.ptl.lock();
    const vma = mm.vmas.lookup(r.va);
    if (
      vma !== undefined &&
      pt.isHugeAt(r.va) &&
      pt.kindAt(r.va) === PTE_KIND_DEVICE_PRIVATE &&
      pt.pfnAt(r.va) === head
    )
      await splitHugePmdLocked(mm, vma, r.va);
    mm.ptl.unlock();
    await mmuNotifierInvalidateRangeEnd(range);
    mm.mmdrop();
  }
  let ok = false;
  if (
    phys.entireMapcountOf(head) === 0 &&
    !phys.maybeDmaPinned(head) &&
    phys.refcountOf(head) === 1 + phys.folioMapcountOf(head)
  ) {
    k.pagemapOpsOf(head)?.folioSplit?.(head, nr);
    ok = phys.splitFolio(locked, 0) === 0;
  }
  if (!own) {
    k.folioUnlock(head);
    phys.putPage(head);
  }
  return ok;
}

/**
 * The locking step of migrate_vma_collect_pmd for the folio at `head`: a reference and the
 * folio lock (not for the faulting page `faultHead`, whose lock the fault holds). Gives whether
 * the folio was anonymous-exclusive, or null, with both dropped again, when the lock is
 * contended or the folio is anonymous-exclusive and maybe DMA-pinned (folio_try_share_anon_rmap
 * fails for a pinned page: it stays mapped). Called by the collectors, which hold mm.ptl. Atomic.
 */
function collectLock(k: Kernel, head: number, faultHead: number): boolean | null {
  const phys = k.phys;
  phys.getPage(head);
  if (head !== faultHead && !k.folioTrylock(head)) {
    phys.putPage(head);
    return null;
  }
  const anonExclusive = phys.testFlag(head, PG_anon) && phys.testFlag(head, PG_anon_exclusive);
  if (anonExclusive && phys.maybeDmaPinned(head)) {
    if (head !== faultHead) k.folioUnlock(head);
    phys.putPage(head);
    return null;
  }
  return anonExclusive;
}

/** migrate_vma_collect_pmd for one PTE (entry i). Caller holds mm.ptl. */
async function migrateCollectPte(args: MigrateVma, i: number, faultPage: number): Promise<void> {
  const mm = args.mm;
  mm.sim.assertHeld(mm.ptl, 'migrate_vma_collect_pmd');
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const va = args.start + i * k.pageSize;
  const anonVma = args.vma.anonymous;
  const sel = args.flags;
  if (pt.isHugeAt(va)) {
    // A huge zero PMD is a run of holes; a whole PMD-level entry may be one compound entry; anything
    // else left huge here (a THP that could not be split, another owner's device PMD) is skipped.
    if (pt.kindAt(va) === PTE_KIND_PRESENT && pt.flagsAt(va) & PTE_ZERO) {
      if (anonVma && sel & MIGRATE_VMA_SELECT_SYSTEM) {
        args.src[i] = MIGRATE_PFN_MIGRATE;
        args.cpages++;
      }
      return;
    }
    if (va === pt.pmdStart(va) && compoundPmd(args, va)) await migrateCollectHugePmd(args, i, faultPage);
    return;
  }
  const kind = pt.kindAt(va);
  const flags = pt.flagsAt(va);
  if (kind === PTE_KIND_NONE) {
    if (anonVma) {
      args.src[i] = MIGRATE_PFN_MIGRATE;
      args.cpages++;
    }
    return;
  }
  let pfn: number;
  if (kind === PTE_KIND_DEVICE_PRIVATE) {
    pfn = pt.pfnAt(va);
    if (!(sel & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) || phys.deviceOwnerOf(pfn) !== args.pgmapOwner) return;
    if (phys.folioOrder(pfn) !== 0) return; // a large device folio that could not be split
  } else if (kind === PTE_KIND_PRESENT) {
    if (flags & PTE_ZERO) {
      if (sel & MIGRATE_VMA_SELECT_SYSTEM && anonVma) {
        args.src[i] = MIGRATE_PFN_MIGRATE;
        args.cpages++;
      }
      return;
    }
    if (flags & PTE_SPECIAL) return;
    pfn = pt.pfnAt(va);
    if (phys.isDeviceCoherent(pfn)) {
      if (!(sel & MIGRATE_VMA_SELECT_DEVICE_COHERENT) || phys.deviceOwnerOf(pfn) !== args.pgmapOwner) return;
    } else if (!(sel & MIGRATE_VMA_SELECT_SYSTEM)) return;
    if (phys.mappingOf(pfn) === undefined || phys.folioOrder(pfn) !== 0) return;
  } else return; // swap, migration, device-exclusive: skipped
  const anonExclusive = collectLock(k, pfn, faultPage);
  if (anonExclusive === null) return;
  const old = await ptepGetAndClear(mm, va);
  if (old.kind === PTE_KIND_PRESENT && old.flags & PTE_DIRTY) phys.setFlag(pfn, PG_dirty);
  phys.clearFlag(pfn, PG_anon_exclusive);
  await ptepSet(mm, va, PTE_KIND_MIGRATION, pfn, migrationFlagsOf(old.flags, anonExclusive));
  migrationEntryAdd(k, pfn, mm, va);
  phys.rmapRemovePte(pfn, mm, va);
  phys.putPage(pfn); // the mapping's reference; the collection reference keeps the page
  args.src[i] = migratePfn(pfn) + MIGRATE_PFN_MIGRATE + (old.flags & PTE_WRITE ? MIGRATE_PFN_WRITE : 0);
  args.cpages++;
}

/**
 * migrate_vma_collect_huge_pmd for the PMD at entry i (PMD-aligned, wholly in the range): a THP
 * (SELECT_SYSTEM) or a PMD-order device-private folio of pgmapOwner (SELECT_DEVICE_PRIVATE) is
 * referenced and trylocked (unless it holds the fault page), its PMD replaced by a PMD migration entry
 * (writable if the PMD was, else readable-exclusive for an exclusive anonymous folio), its PMD mapping
 * removed, and becomes one compound entry; the next HPAGE_PMD_NR - 1 entries stay empty. A contended
 * or pinned folio is skipped. Caller holds mm.ptl.
 */
async function migrateCollectHugePmd(args: MigrateVma, i: number, faultPage: number): Promise<void> {
  const mm = args.mm;
  mm.sim.assertHeld(mm.ptl, 'migrate_vma_collect_huge_pmd');
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const va = args.start + i * k.pageSize;
  const kind = pt.kindAt(va);
  const head = pt.pfnAt(va);
  if (kind === PTE_KIND_PRESENT) {
    if (!(args.flags & MIGRATE_VMA_SELECT_SYSTEM) || pt.flagsAt(va) & (PTE_ZERO | PTE_SPECIAL)) return;
    if (phys.zoneOf(head) !== 'normal' || phys.mappingOf(head) === undefined) return;
  } else if (kind === PTE_KIND_DEVICE_PRIVATE) {
    if (!(args.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) || phys.deviceOwnerOf(head) !== args.pgmapOwner)
      return;
  } else return;
  const anonExclusive = collectLock(k, head, faultPage >= 0 ? phys.folioHead(faultPage) : -1);
  if (anonExclusive === null) return;
  const old = await pmdpGetAndClear(mm, va);
  if (old.kind === PTE_KIND_PRESENT && old.flags & PTE_DIRTY) phys.setFlag(head, PG_dirty);
  const nr = phys.folioNrPages(head);
  for (let j = 0; j < nr; j++) phys.clearFlag(head + j, PG_anon_exclusive);
  await pmdpSet(mm, va, PTE_KIND_MIGRATION, head, migrationFlagsOf(old.flags, anonExclusive));
  migrationEntryAdd(k, head, mm, va, true);
  phys.rmapRemovePmd(head, mm, va);
  phys.putPage(head); // the mapping's reference; the collection reference keeps the folio
  args.src[i] =
    migratePfn(head) +
    MIGRATE_PFN_MIGRATE +
    MIGRATE_PFN_COMPOUND +
    (old.flags & PTE_WRITE ? MIGRATE_PFN_WRITE : 0);
  args.cpages++;
}

/** The references a collected source page may have: ours, the fault path's, the swap or page cache's. */
function expectedRefs(k: Kernel, pfn: number, faultPage: number): number {
  const phys = k.phys;
  let n = 1;
  if (pfn === faultPage) n++;
  if (phys.testFlag(pfn, PG_swapcache)) n++;
  else if (!phys.testFlag(pfn, PG_anon) && phys.mappingOf(pfn) !== undefined) n++;
  return n;
}

/**
 * migrate_device_unmap: isolate system pages from the LRU, try_to_migrate pages still mapped elsewhere
 * (CLEAR invalidations through the rmap walk), and give up pages still mapped or holding unexpected
 * references (pinned); the given-up ones are restored. Recomputes args.cpages.
 */
async function migrateDeviceUnmap(args: MigrateVma, state: MigrateState, faultPage: number): Promise<void> {
  args.cpages = await migrateUnmapEntries(args.mm.kernel, args.src, args.npages, state, faultPage);
}

/** migrate_device_unmap over src[0..n): the new cpages. */
async function migrateUnmapEntries(
  k: Kernel,
  src: PfnArray,
  n: number,
  state: MigrateState,
  faultPage: number,
): Promise<number> {
  const phys = k.phys;
  let cpages = 0;
  const restore: number[] = [];
  for (let i = 0; i < n; i++) {
    const pfn = migratePfnToPage(src[i]);
    if (pfn < 0) {
      if (src[i] & MIGRATE_PFN_MIGRATE) cpages++;
      continue;
    }
    if (phys.zoneOf(pfn) === 'normal') {
      const lru = phys.lruListOf(pfn);
      if (lru === -1 || !phys.lruIsolate(pfn)) {
        clearMigrate(src, i);
        restore.push(i);
        continue;
      }
      state.lru.set(pfn, lru);
    }
    if (phys.folioMapped(pfn)) {
      if (phys.isDevicePrivate(pfn)) await tryToMigrateDevicePrivate(k, pfn);
      else await tryToMigrate(k, pfn);
    }
    if (
      phys.folioMapped(pfn) ||
      phys.refcountOf(pfn) !== expectedRefs(k, pfn, faultPage) ||
      phys.maybeDmaPinned(pfn)
    ) {
      const lru = state.lru.get(pfn);
      if (lru !== undefined) {
        phys.lruAdd(pfn, lru);
        state.lru.delete(pfn);
      }
      clearMigrate(src, i);
      restore.push(i);
      continue;
    }
    cpages++;
  }
  for (const i of restore) {
    const pfn = migratePfnToPage(src[i]);
    await migrateRestoreEntries(k, pfn, pfn);
    if (pfn !== faultPage) k.folioUnlock(pfn);
    phys.putPage(pfn);
    src[i] = 0;
  }
  return cpages;
}

/**
 * try_to_migrate for a device-private page or PMD-order folio still mapped by other processes (a fork
 * shared it): each device-private entry becomes a migration entry (a PMD-level one becomes a PMD
 * migration entry) inside a blockable MMU_NOTIFY_CLEAR of what it maps (owner null), as
 * try_to_migrate_one does for device-private pages. Caller holds the page lock and a
 * reference. Takes each mm's ptl. May sleep.
 */
async function tryToMigrateDevicePrivate(k: Kernel, pfn: number): Promise<void> {
  k.folioAssertLocked(pfn, 'try_to_migrate');
  const phys = k.phys;
  const ps = k.pageSize;
  for (const r of phys.folioRmapList(pfn)) {
    const mm = r.mm;
    const pt = mm.pageTable;
    mm.mmgrab();
    const end = r.va + (r.pmd ? pt.pmdSize : ps);
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, r.va, end);
    await mmuNotifierInvalidateRangeStart(range);
    await mm.ptl.lock();
    if (r.pmd) {
      // set_pmd_migration_entry for a PMD-level device-private entry of the folio.
      if (pt.isHugeAt(r.va) && pt.kindAt(r.va) === PTE_KIND_DEVICE_PRIVATE && pt.pfnAt(r.va) === pfn) {
        const flags = pt.flagsAt(r.va);
        const exclusive = phys.testFlag(pfn, PG_anon) && phys.testFlag(pfn, PG_anon_exclusive);
        for (let j = 0; j < HPAGE_PMD_NR; j++) phys.clearFlag(pfn + j, PG_anon_exclusive);
        await pmdpSet(mm, r.va, PTE_KIND_MIGRATION, pfn, migrationFlagsOf(flags, exclusive));
        migrationEntryAdd(k, pfn, mm, r.va, true);
        phys.rmapRemovePmd(pfn, mm, r.va);
        phys.putPage(pfn);
      }
    } else if (!pt.isHugeAt(r.va) && pt.kindAt(r.va) === PTE_KIND_DEVICE_PRIVATE && pt.pfnAt(r.va) === pfn) {
      const flags = pt.flagsAt(r.va);
      const exclusive = phys.testFlag(pfn, PG_anon) && phys.testFlag(pfn, PG_anon_exclusive);
      phys.clearFlag(pfn, PG_anon_exclusive);
      await ptepSet(mm, r.va, PTE_KIND_MIGRATION, pfn, migrationFlagsOf(flags, exclusive));
      migrationEntryAdd(k, pfn, mm, r.va);
      phys.rmapRemovePte(pfn, mm, r.va);
      phys.putPage(pfn);
    }
    mm.ptl.unlock();
    await mmuNotifierInvalidateRangeEnd(range);
    mm.mmdrop();
  }
}

/**
 * remove_migration_ptes(src, winner) for device migration: every recorded migration entry of the
 * folio `src` (all its pages) becomes an entry for the same page of `winner` — a device-private entry
 * (writable if the migration entry was) for a device-private page, a present PTE otherwise; a PMD
 * migration entry becomes a PMD-level entry of the same kind for a PMD-order winner. The winner gains
 * the rmap and a reference per mapping, and PageAnonExclusive when the entry was writable or
 * readable-exclusive. Takes each mm's ptl. May sleep.
 */
async function migrateRestoreEntries(k: Kernel, src: number, winner: number): Promise<void> {
  const nr = k.phys.folioNrPages(src);
  for (let j = 0; j < nr; j++) await migrateRestorePage(k, src + j, winner + j, j === 0);
}

async function migrateRestorePage(k: Kernel, src: number, winner: number, head: boolean): Promise<void> {
  const phys = k.phys;
  const privateDst = phys.isDevicePrivate(winner);
  for (;;) {
    const r = k.migrationEntries.get(src)?.[0];
    if (r === undefined) return;
    const mm = r.mm;
    const pt = mm.pageTable;
    mm.mmgrab();
    await mm.ptl.lock();
    const live =
      pt.isHugeAt(r.va) === r.pmd && pt.kindAt(r.va) === PTE_KIND_MIGRATION && pt.pfnAt(r.va) === src;
    migrationEntryRemove(k, src, mm, r.va, r.pmd);
    if (live && r.pmd) {
      const f = pt.flagsAt(r.va);
      const exclusive = (f & (PTE_WRITE | PTE_EXCLUSIVE)) !== 0;
      if (!head || phys.folioNrPages(winner) !== HPAGE_PMD_NR)
        k.sim.bug(`remove_migration_pmd: ${phys.describePage(winner)} cannot replace a PMD migration entry`);
      phys.rmapAddPmd(winner, mm, r.va);
      phys.getPage(winner);
      if (phys.testFlag(winner, PG_anon) && exclusive)
        for (let j = 0; j < HPAGE_PMD_NR; j++) phys.setFlag(winner + j, PG_anon_exclusive);
      if (privateDst)
        await pmdpSet(
          mm,
          r.va,
          PTE_KIND_DEVICE_PRIVATE,
          winner,
          f & (PTE_WRITE | PTE_SOFT_DIRTY | PTE_UFFD_WP),
        );
      else
        await pmdpSet(
          mm,
          r.va,
          PTE_KIND_PRESENT,
          winner,
          f & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY | PTE_UFFD_WP),
        );
    } else if (live) {
      const f = pt.flagsAt(r.va);
      const exclusive = (f & (PTE_WRITE | PTE_EXCLUSIVE)) !== 0;
      phys.rmapAddPte(winner, mm, r.va);
      phys.getPage(winner);
      if (phys.testFlag(winner, PG_anon) && exclusive) phys.setFlag(winner, PG_anon_exclusive);
      if (privateDst)
        await ptepSet(
          mm,
          r.va,
          PTE_KIND_DEVICE_PRIVATE,
          winner,
          f & (PTE_WRITE | PTE_SOFT_DIRTY | PTE_UFFD_WP),
        );
      else
        await ptepSet(
          mm,
          r.va,
          PTE_KIND_PRESENT,
          winner,
          f & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY | PTE_UFFD_WP),
        );
    }
    mm.ptl.unlock();
    mm.mmdrop();
  }
}

/**
 * migrate_vma_pages(args): for each entry still marked MIGRATE_PFN_MIGRATE — without a destination
 * (dst 0) the mark is cleared; a hole gets the destination page inserted (anonymous VMAs only, and
 * only if the PTE is still empty or the zero page: a device-private entry, writable iff VM_WRITE, for
 * a device-private page, else a present PTE, writable and dirty iff VM_WRITE) inside one blockable
 * MMU_NOTIFY_MIGRATE invalidation from the first hole to the end, owner args.pgmapOwner; a page moves
 * its state (anon, mapping, index, flags) to the destination, failing (mark cleared) when it has
 * unexpected references or, for a device destination, is in the swap or page cache. Contents are the
 * driver's copy. Caller holds the mmap lock (asserted). May sleep.
 */
export async function migrateVmaPages(args: MigrateVma): Promise<void> {
  const mm = args.mm;
  const k = mm.kernel;
  mm.sim.mightSleep('migrate_vma_pages');
  mm.assertMmapLocked('migrate_vma_pages');
  const fp = args.faultPage ?? -1;
  const { src, dst } = args;
  let range: ReturnType<typeof mmuNotifierRangeInit> | null = null;
  for (let i = 0; i < args.npages; i++) {
    if (!(src[i] & MIGRATE_PFN_MIGRATE)) continue;
    const d = migratePfnToPage(dst[i]);
    if (d < 0) {
      clearMigrate(src, i);
      continue;
    }
    const s = migratePfnToPage(src[i]);
    const va = args.start + i * k.pageSize;
    if (s >= 0 && (src[i] & MIGRATE_PFN_COMPOUND) !== (dst[i] & MIGRATE_PFN_COMPOUND)) {
      // THP reconciliation: a compound source with per-page destinations is split and migrates page
      // by page; a compound destination for a small source is refused.
      if (!(src[i] & MIGRATE_PFN_COMPOUND) || !(await migrateSplitSource(args, i))) {
        clearMigrate(src, i);
        continue;
      }
    }
    if (s < 0) {
      if (range === null) {
        range = mmuNotifierRangeInit(
          MMU_NOTIFY_MIGRATE,
          MMU_NOTIFIER_RANGE_BLOCKABLE,
          mm,
          va,
          args.end,
          args.pgmapOwner,
        );
        await mmuNotifierInvalidateRangeStart(range);
      }
      if (!(await migrateVmaInsertPage(args, va, d))) clearMigrate(src, i);
      continue;
    }
    if (!migrateMovePage(k, s, d, fp)) clearMigrate(src, i);
  }
  if (range !== null) await mmuNotifierInvalidateRangeEnd(range);
}

/**
 * migrate_vma_split_unmapped_folio: the compound source of entry i (locked, unmapped to a PMD migration
 * entry, holding the collection reference and, for the fault page, the fault path's) is split: its PMD
 * migration entry becomes HPAGE_PMD_NR PTE migration entries (__split_huge_pmd, a CLEAR over the PMD),
 * the pagemap's folioSplit runs for a device folio, the folio becomes order-0 pages, each locked and
 * holding one collection reference, and entries i..i+nr-1 become per-page entries with the compound
 * entry's MIGRATE and WRITE bits. False (nothing split) when the folio is pinned or mapped again.
 * Caller holds the mmap lock. May sleep.
 */
async function migrateSplitSource(args: MigrateVma, i: number): Promise<boolean> {
  const mm = args.mm;
  mm.assertMmapLocked('migrate_vma_split_unmapped_folio');
  const k = mm.kernel;
  const phys = k.phys;
  const head = migratePfnToPage(args.src[i]);
  const nr = phys.folioNrPages(head);
  const base = phys.refcountOf(head);
  if (phys.maybeDmaPinned(head) || phys.folioMapcountOf(head) !== 0 || base > 2 || i + nr > args.npages)
    return false;
  const va = args.start + i * k.pageSize;
  if (mm.pageTable.isHugeAt(va)) await splitHugePmd(mm, args.vma, va);
  if (phys.zoneOf(head) === 'device') k.pagemapOpsOf(head)?.folioSplit?.(head, nr);
  // Each page is to hold one reference of its own after the split (splitFolio's extraPerPage).
  phys.getPage(head, nr + 1 - base);
  if (phys.splitFolio(head, 1) !== 0) {
    phys.putPage(head, nr + 1 - base);
    return false;
  }
  if (base < 2) phys.putPage(head, 2 - base);
  for (let p = head + 1; p < head + nr; p++)
    if (!phys.trylockPage(p)) k.sim.bug(`migrate_vma_split_unmapped_folio: page ${p} locked by someone else`);
  const state = k.sim.runLocal<Map<MigrateVma, MigrateState>>(STATES)?.get(args);
  const lru = state?.lru.get(head);
  const keep = args.src[i] & (MIGRATE_PFN_MIGRATE | MIGRATE_PFN_WRITE);
  for (let j = 0; j < nr; j++) {
    args.src[i + j] = migratePfn(head + j) + keep;
    if (lru !== undefined) state!.lru.set(head + j, lru);
  }
  return true;
}

/**
 * The page-entry step of migrate_vma_pages / migrate_device_pages: moves the state of source `s` to
 * destination `d` (folio_migrate_mapping + folio_migrate_flags; no copy, the driver copied). False when
 * it cannot: unexpected references, or a device destination for a page in the swap or page cache.
 */
function migrateMovePage(k: Kernel, s: number, d: number, fp: number): boolean {
  const phys = k.phys;
  const toDevice = phys.zoneOf(d) === 'device';
  const file = !phys.testFlag(s, PG_anon) && phys.mappingOf(s) !== undefined;
  if ((toDevice && (phys.testFlag(s, PG_swapcache) || file)) || phys.refcountOf(s) !== expectedRefs(k, s, fp))
    return false;
  phys.setMapping(d, phys.mappingOf(s), phys.indexOf(s));
  for (const f of [PG_anon, PG_swapbacked, PG_uptodate, PG_dirty, PG_referenced, PG_workingset])
    if (phys.testFlag(s, f) && MOVE_FLAGS & f) phys.setFlag(d, f);
  phys.clearFlag(s, PG_dirty);
  return true;
}

/** migrate_vma_insert_page: a new page at the empty (or zero-page) PTE `va`. Takes mm.ptl. */
async function migrateVmaInsertPage(args: MigrateVma, va: number, d: number): Promise<boolean> {
  const { mm, vma } = args;
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  if (!vma.anonymous) return false;
  const kindOk = phys.zoneOf(d) === 'normal' || phys.isDevicePrivate(d) || phys.isDeviceCoherent(d);
  if (!kindOk) return false;
  anonVmaPrepare(mm, vma);
  if (pt.isHugeAt(va)) {
    // A huge zero PMD is split (a CLEAR over the PMD, nested in the MIGRATE); any other huge PMD aborts.
    if (pt.kindAt(va) !== PTE_KIND_PRESENT || !(pt.flagsAt(va) & PTE_ZERO)) return false;
    await splitHugePmd(mm, vma, va);
  }
  await mm.ptl.lock();
  let ok = false;
  if (!pt.isHugeAt(va)) {
    const kind = pt.kindAt(va);
    if (kind === PTE_KIND_NONE || (kind === PTE_KIND_PRESENT && pt.flagsAt(va) & PTE_ZERO)) {
      const write = (vma.flags & VM_WRITE) !== 0;
      folioPrepareNewAnon(k, vma, d, va);
      phys.rmapAddPte(d, mm, va);
      phys.getPage(d);
      if (phys.isDevicePrivate(d)) {
        await ptepSet(mm, va, PTE_KIND_DEVICE_PRIVATE, d, write ? PTE_WRITE : 0);
      } else {
        if (phys.zoneOf(d) === 'normal') phys.lruAdd(d, LRU_INACTIVE_ANON);
        await ptepSet(mm, va, PTE_KIND_PRESENT, d, (write ? PTE_WRITE | PTE_DIRTY : 0) | PTE_YOUNG);
      }
      ok = true;
    }
  }
  mm.ptl.unlock();
  return ok;
}

/**
 * migrate_vma_finalize(args): for each collected page the winner is the destination when the entry is
 * still MIGRATE with a destination, else the source; the winner (if a system page) goes on the LRU,
 * every migration entry of the source is replaced by an entry for the winner, the source is unlocked
 * (unless it is faultPage) and released, a distinct destination unlocked and released. Destinations
 * of holes are unlocked and released (a populated hole keeps its mapping's reference). Caller holds
 * the mmap lock (asserted). May sleep.
 */
export async function migrateVmaFinalize(args: MigrateVma): Promise<void> {
  const mm = args.mm;
  const k = mm.kernel;
  mm.sim.mightSleep('migrate_vma_finalize');
  mm.assertMmapLocked('migrate_vma_finalize');
  const states = mm.sim.runMap<MigrateVma, MigrateState>(STATES);
  await migrateFinalizeEntries(k, args.src, args.dst, args.npages, args.faultPage ?? -1, states.get(args));
  states.delete(args);
}

/** The loop of migrate_vma_finalize / migrate_device_finalize over entries [0, n). */
async function migrateFinalizeEntries(
  k: Kernel,
  src: PfnArray,
  dst: PfnArray,
  n: number,
  fp: number,
  state: MigrateState | undefined,
): Promise<void> {
  const phys = k.phys;
  for (let i = 0; i < n; i++) {
    const s = migratePfnToPage(src[i]);
    const d = migratePfnToPage(dst[i]);
    if (s < 0) {
      if (d >= 0) {
        if (phys.testFlag(d, PG_locked)) k.folioUnlock(d);
        phys.putPage(d);
      }
      continue;
    }
    let winner = s;
    if (!(src[i] & MIGRATE_PFN_MIGRATE) || d < 0) {
      if (d >= 0) {
        if (phys.testFlag(d, PG_locked)) k.folioUnlock(d);
        phys.putPage(d);
      }
    } else winner = d;
    if (phys.zoneOf(winner) === 'normal') {
      const lru = winner === s ? (state?.lru.get(s) ?? LRU_INACTIVE_ANON) : LRU_INACTIVE_ANON;
      if (phys.lruListOf(winner) < 0) phys.lruAdd(winner, lru);
    }
    state?.lru.delete(s);
    await migrateRestoreEntries(k, s, winner);
    if (s !== fp) k.folioUnlock(s);
    if (winner !== s) phys.setMapping(s, undefined, 0);
    phys.putPage(s);
    if (winner !== s) {
      if (phys.testFlag(winner, PG_locked)) k.folioUnlock(winner);
      phys.putPage(winner);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Range-based variants: migrate_device_range / migrate_device_pages / migrate_device_finalize
// ---------------------------------------------------------------------------------------------

/** What migrateDeviceRange remembers for its src array. */
const RANGE_STATES = Symbol('migrate_device_range states');

/**
 * migrate_device_range(src, startPfn, npages): collects device pages by pfn, without a VMA (eviction
 * of device memory: unload, dmirror's RELEASE). Each page in use is referenced and trylocked and
 * becomes `migratePfn(pfn) | MIGRATE_PFN_MIGRATE` (0 when free or locked); then the unmap step turns
 * every mapping of it into a migration entry (a blockable CLEAR of the page per mapping, owner null)
 * and gives up pages still referenced elsewhere. The caller then allocates and copies into `dst`,
 * calls migrateDevicePages and migrateDeviceFinalize. Returns 0, or -EINVAL (npages not positive, src
 * too short, a pfn outside device memory: nothing done). No mm lock needed. May sleep.
 */
export async function migrateDeviceRange(
  k: Kernel,
  src: PfnArray,
  startPfn: number,
  npages: number,
): Promise<number> {
  const phys = k.phys;
  k.sim.mightSleep('migrate_device_range');
  if (!Number.isInteger(npages) || npages <= 0 || !Number.isInteger(startPfn) || startPfn < 0) return -EINVAL;
  if (src == null || src.length < npages) return -EINVAL;
  if (startPfn + npages > phys.nrFrames) return -EINVAL;
  for (let i = 0; i < npages; i++) if (phys.zoneOf(startPfn + i) !== 'device') return -EINVAL;
  const state: MigrateState = { lru: new Map() };
  k.sim.runMap<object, MigrateState>(RANGE_STATES).set(src, state);
  for (let i = 0; i < npages; i++) {
    const pfn = startPfn + i;
    src[i] = 0;
    if (!phys.tryGetPage(pfn)) continue;
    if (!k.folioTrylock(pfn)) {
      phys.putPage(pfn);
      continue;
    }
    src[i] = migratePfn(pfn) + MIGRATE_PFN_MIGRATE;
  }
  await migrateUnmapEntries(k, src, npages, state, -1);
  return 0;
}

/**
 * migrate_device_pages(src, dst, npages): the commit step of migrateDeviceRange — each entry still
 * MIGRATE with a destination moves its page state; without one (or without a source: there are no
 * holes here) MIGRATE is cleared. No mm lock needed. Atomic.
 */
export function migrateDevicePages(k: Kernel, src: PfnArray, dst: PfnArray, npages: number): void {
  for (let i = 0; i < npages; i++) {
    if (!(src[i] & MIGRATE_PFN_MIGRATE)) continue;
    const s = migratePfnToPage(src[i]);
    const d = migratePfnToPage(dst[i]);
    if (s < 0 || d < 0 || !migrateMovePage(k, s, d, -1)) clearMigrate(src, i);
  }
}

/**
 * migrate_device_finalize(src, dst, npages): every migration entry of each source points at the
 * winner (destination if migrated, else the source), pages unlocked and released, as
 * migrateVmaFinalize. No mm lock needed. May sleep.
 */
export async function migrateDeviceFinalize(
  k: Kernel,
  src: PfnArray,
  dst: PfnArray,
  npages: number,
): Promise<void> {
  k.sim.mightSleep('migrate_device_finalize');
  const rangeStates = k.sim.runMap<object, MigrateState>(RANGE_STATES);
  await migrateFinalizeEntries(k, src, dst, npages, -1, rangeStates.get(src));
  rangeStates.delete(src);
}
