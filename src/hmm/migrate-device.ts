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
import { VM_HUGETLB, VM_SPECIAL, VM_WRITE } from '../mm/constants.js';
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
import { ptepGetAndClear, ptepSet } from '../mm/memory.js';
import { splitHugePmd } from '../mm/huge-memory.js';
import { anonVmaPrepare, folioPrepareNewAnon, migrationEntryAdd, migrationEntryRemove } from '../mm/rmap.js';
import { tryToMigrate } from '../mm/rmap-walk.js';
import { splitHugePage } from '../mm/split-huge-page.js';
import type { Mm } from '../mm/mm.js';
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
const states = new WeakMap<MigrateVma, MigrateState>();

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
 * PMD-mapped THPs in the range are split first (without MIGRATE_VMA_SELECT_COMPOUND the kernel splits
 * them during collection; a compound collection is not modelled: device memory is allocated in base
 * pages, so a compound source would be split in migrate_vma_pages anyway).
 *
 * Locks: the caller holds the mmap lock of args.mm (read or write; asserted). May sleep.
 * Deviation: the THP split happens before the MIGRATE invalidation opens, not nested inside it.
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
  states.set(args, state);

  if (args.flags & MIGRATE_VMA_SELECT_SYSTEM) await migrateSplitThps(mm, start, end);

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

/**
 * Splits every large folio mapped in [start, end): PMD-mapped THPs and THPs mapped by PTEs (after an
 * mremap off PMD alignment or a partial unmap), with split_huge_page under the folio lock and a
 * reference, as migrate_vma_collect_pmd does before collecting their pages one by one.
 */
async function migrateSplitThps(mm: Mm, start: number, end: number): Promise<void> {
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const heads: number[] = [];
  for (let a = pt.pmdStart(start); a < end; a += pt.pmdSize) {
    if (pt.pmdNone(a)) continue;
    if (pt.isHugeAt(a)) {
      if (pt.kindAt(a) === PTE_KIND_PRESENT && !(pt.flagsAt(a) & PTE_ZERO)) heads.push(pt.pfnAt(a));
      continue;
    }
    pt.walk(Math.max(a, start), Math.min(end, a + pt.pmdSize), (_va, kind, pfn, flags) => {
      if (kind !== PTE_KIND_PRESENT || flags & (PTE_ZERO | PTE_SPECIAL)) return;
      if (phys.zoneOf(pfn) !== 'normal' || phys.folioOrder(pfn) === 0) return;
      const head = phys.folioHead(pfn);
      if (heads[heads.length - 1] !== head) heads.push(head);
    });
  }
  for (const head of heads) {
    if (!phys.tryGetPage(head)) continue;
    if (phys.folioOrder(head) > 0 && k.folioTrylock(head)) {
      await splitHugePage(k, head);
      k.folioUnlock(head);
    }
    phys.putPage(head);
  }
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
    // A huge zero PMD or a THP that could not be split: treated as a hole only when empty-equivalent.
    if (
      pt.kindAt(va) === PTE_KIND_PRESENT &&
      pt.flagsAt(va) & PTE_ZERO &&
      anonVma &&
      sel & MIGRATE_VMA_SELECT_SYSTEM
    ) {
      args.src[i] = MIGRATE_PFN_MIGRATE;
      args.cpages++;
    }
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
  // The locking step.
  phys.getPage(pfn);
  if (pfn !== faultPage && !k.folioTrylock(pfn)) {
    phys.putPage(pfn);
    return;
  }
  const anonExclusive = phys.testFlag(pfn, PG_anon) && phys.testFlag(pfn, PG_anon_exclusive);
  if (anonExclusive && phys.maybeDmaPinned(pfn)) {
    // folio_try_share_anon_rmap fails for a pinned page: leave it mapped.
    if (pfn !== faultPage) k.folioUnlock(pfn);
    phys.putPage(pfn);
    return;
  }
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
 * try_to_migrate for a device-private page still mapped by other processes (a fork shared it): each
 * device-private entry becomes a migration entry inside a blockable MMU_NOTIFY_CLEAR of that page
 * (owner null), as try_to_migrate_one does for device-private pages. Caller holds the page lock and a
 * reference. Takes each mm's ptl. May sleep.
 */
async function tryToMigrateDevicePrivate(k: Kernel, pfn: number): Promise<void> {
  const phys = k.phys;
  const ps = k.pageSize;
  for (const r of phys.folioRmapList(pfn)) {
    const mm = r.mm;
    if (r.pmd) continue;
    const pt = mm.pageTable;
    mm.mmgrab();
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, r.va, r.va + ps);
    await mmuNotifierInvalidateRangeStart(range);
    await mm.ptl.lock();
    if (!pt.isHugeAt(r.va) && pt.kindAt(r.va) === PTE_KIND_DEVICE_PRIVATE && pt.pfnAt(r.va) === pfn) {
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
 * remove_migration_ptes(src, winner) for device migration: every recorded migration entry of `src`
 * becomes an entry for `winner` — a device-private entry (writable if the migration entry was) for a
 * device-private page, a present PTE otherwise; the winner gains the rmap and a reference, and
 * PageAnonExclusive when the entry was writable or readable-exclusive. Takes each mm's ptl. May sleep.
 */
async function migrateRestoreEntries(k: Kernel, src: number, winner: number): Promise<void> {
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
      !r.pmd && !pt.isHugeAt(r.va) && pt.kindAt(r.va) === PTE_KIND_MIGRATION && pt.pfnAt(r.va) === src;
    migrationEntryRemove(k, src, mm, r.va, r.pmd);
    if (live) {
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
const rangeStates = new WeakMap<object, MigrateState>();

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
  rangeStates.set(src, state);
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
  await migrateFinalizeEntries(k, src, dst, npages, -1, rangeStates.get(src));
  rangeStates.delete(src);
}
