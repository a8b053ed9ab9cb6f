/**
 * NUMA page migration (mm/migrate.c, mm/mempolicy.c): move_pages / mbind(MPOL_MF_MOVE) of a range —
 * collect the folios mapped there that are not on the target node, isolate them, and migrate each one
 * (migrate_pages → migrate_folio_unmap + migrate_folio_move): lock the folio, replace every mapping by
 * a migration entry (try_to_migrate: one CLEAR invalidation per VMA), copy it into a folio allocated on
 * the target node, move the mapping (swap cache, page cache), and restore the mappings onto the copy
 * (remove_migration_ptes). CPU faults that hit a migration entry wait for the old folio's unlock.
 */
import { EAGAIN, EINTR, EINVAL, ENOMEM, ESRCH } from '../sim/errno.js';
import { VM_HUGETLB, VM_IO, VM_PFNMAP } from './constants.js';
import { PTE_KIND_PRESENT, PTE_SPECIAL, PTE_ZERO } from './page-table.js';
import {
  PG_anon,
  PG_dirty,
  PG_referenced,
  PG_swapbacked,
  PG_swapcache,
  PG_uptodate,
  PG_workingset,
  type LruList,
} from './physical.js';
import { MemFile } from './file.js';
import { removeMigrationPtes, tryToMigrate } from './rmap-walk.js';
import { splitHugePage } from './split-huge-page.js';
import type { Kernel } from './kernel.js';
import type { Mm } from './mm.js';
import type { Process } from './process.js';

/** NR_MAX_MIGRATE_PAGES_RETRY: attempts per folio when a migration fails transiently (-EAGAIN). */
export const NR_MAX_MIGRATE_PAGES_RETRY = 10;

/** Folio flags folio_migrate_flags carries over to the new folio. */
const MIGRATE_FLAGS = [PG_anon, PG_swapbacked, PG_uptodate, PG_dirty, PG_referenced, PG_workingset] as const;

/** An isolated folio on a migration list: its head pfn and the LRU list to put it back on. */
export interface MigrateItem {
  /** Head pfn of the isolated folio; the item holds its isolation reference. */
  pfn: number;
  /** The LRU list it was isolated from, where it (or the folio replacing it) goes back. */
  lru: LruList;
}

/** Options of {@link migrateRange} (move_pages / mbind's MPOL_MF_* flags). */
export interface MigrateRangeOptions {
  /**
   * MPOL_MF_MOVE_ALL: also move folios other processes map. Default false (MPOL_MF_MOVE: folios
   * mapped by another mm are left where they are, as folio_maybe_mapped_shared decides).
   */
  moveAll?: boolean;
}

/**
 * move_pages(2) for every page of [start, end) / mbind(MPOL_MF_MOVE) onto `node`: under the mmap lock
 * for read and the page-table lock, every folio mapped by a present entry in the range (not the zero
 * page, not special, not in a VM_PFNMAP / VM_IO / hugetlb VMA, not ZONE_DEVICE, not already on `node`,
 * not mapped by another mm unless `moveAll`) is referenced and isolated from its LRU list
 * (queue_folios_pte_range / isolate_folio_to_list); then, without the mmap lock, migratePages moves
 * them. Returns the number of base pages migrated, -EINVAL for a bad node, -ESRCH when the address
 * space is already gone, -EINTR when killed waiting for the mmap lock.
 *
 * `target` is a process (-ESRCH once it has exited) or an mm (the caller holds mm_count). Invalidations: those of migratePages (one
 * blockable MMU_NOTIFY_CLEAR per VMA mapping each folio). Caller holds no mm lock. May sleep.
 * Deviation: no per-page status array; pages not migrated are simply left in place.
 */
export async function migrateRange(
  target: Mm | Process,
  start: number,
  end: number,
  node: number,
  options: MigrateRangeOptions = {},
): Promise<number> {
  const k = target.kernel;
  const phys = k.phys;
  k.sim.mightSleep('move_pages');
  if (!Number.isInteger(node) || node < 0 || node >= phys.nodes) return -EINVAL;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start)
    throw new RangeError(`migrateRange: bad range [${start}, ${end})`);
  // get_task_mm: a dead task has no mm any more.
  let mm: Mm;
  if ('pageTable' in target) {
    mm = target;
    if (!mm.mmgetNotZero()) return -ESRCH;
  } else {
    if (target.state !== 'alive') return -ESRCH;
    mm = target.mm;
    mm.mmget();
  }
  if ((await mm.mmapLock.downReadKillable()) !== 0) {
    await mm.mmput();
    return -EINTR;
  }
  const ps = k.pageSize;
  const lo = Math.floor(start / ps) * ps;
  const hi = Math.ceil(end / ps) * ps;
  const list: MigrateItem[] = [];
  if (hi > lo) {
    await mm.ptl.lock();
    mm.pageTable.walk(lo, hi, (va, kind, pfn, flags) => {
      if (kind !== PTE_KIND_PRESENT || flags & (PTE_SPECIAL | PTE_ZERO)) return;
      const vma = mm.vmas.lookup(va);
      if (vma === undefined || vma.flags & (VM_PFNMAP | VM_IO | VM_HUGETLB)) return;
      const head = phys.folioHead(pfn);
      if (phys.zoneOf(head) !== 'normal' || phys.nodeOf(head) === node) return;
      if (list.some((it) => it.pfn === head)) return;
      if (options.moveAll !== true && phys.folioRmapList(head).some((e) => e.mm !== mm)) return;
      const lru = phys.lruListOf(head);
      if (lru === -1 || !phys.tryGetPage(head)) return;
      phys.lruIsolate(head);
      list.push({ pfn: head, lru });
    });
    mm.ptl.unlock();
  }
  mm.mmapLock.upRead();
  const migrated = await migratePages(k, list, node);
  await mm.mmput();
  return migrated;
}

/**
 * migrate_pages(list, alloc_migration_target(node), MIGRATE_SYNC): migrates every isolated folio of
 * `list` (each holding the isolation reference, off the LRU) to `node`, retrying a folio up to
 * NR_MAX_MIGRATE_PAGES_RETRY times while it fails with -EAGAIN (someone else holds a reference or
 * still maps it). A THP for which no PMD-order memory is free on `node` is split (splitHugePage) and
 * its pages migrated one by one. Every folio ends back on an LRU list: the new one on success, the old
 * one otherwise (putback_movable_pages); the isolation references are consumed. Returns the number of
 * base pages migrated.
 *
 * Invalidations: per folio, one blockable MMU_NOTIFY_CLEAR per VMA mapping it (try_to_migrate), none
 * when the mappings are restored. Locks: caller holds no folio lock and no page-table lock (the mmap
 * lock is allowed, as mbind holds it). May sleep.
 */
export async function migratePages(k: Kernel, list: readonly MigrateItem[], node: number): Promise<number> {
  k.sim.mightSleep('migrate_pages');
  const phys = k.phys;
  const queue = list.slice();
  let migrated = 0;
  while (queue.length > 0) {
    const it = queue.shift()!;
    const nr = phys.folioNrPages(it.pfn);
    let rc = -EAGAIN;
    for (let attempt = 0; attempt < NR_MAX_MIGRATE_PAGES_RETRY && rc === -EAGAIN; attempt++) {
      if (attempt > 0) await k.sim.yield('migrate_pages_retry');
      rc = await migrateFolio(k, it, node);
    }
    if (rc === -ENOMEM && nr > 1) {
      const parts: number[] = [];
      await k.folioLock(it.pfn);
      const split = await splitHugePage(k, it.pfn, parts);
      k.folioUnlock(it.pfn);
      if (split === 0) {
        queue.unshift({ pfn: it.pfn, lru: it.lru }, ...parts.map((pfn) => ({ pfn, lru: it.lru })));
        continue;
      }
    }
    if (rc === 0) migrated += nr;
    else {
      phys.lruAdd(it.pfn, it.lru);
      phys.putPage(it.pfn);
    }
  }
  return migrated;
}

/**
 * migrate_folio_unmap + migrate_folio_move for one isolated folio `it.pfn` (holding the isolation
 * reference): allocates the destination on `node` (__GFP_THISNODE, no reclaim; -ENOMEM), locks the
 * source (sleeping: MIGRATE_SYNC) and the new folio, unmaps the source to migration entries
 * (tryToMigrate), moves it (moveToNewFolio; -EAGAIN when still mapped or referenced), and restores the
 * mappings onto the new folio, or onto the old one when the move failed. On success the new folio goes
 * on the LRU list and the old one is freed (its isolation reference dropped); on failure the old folio
 * stays isolated with its reference for the caller to retry or put back. Returns 0 or -errno. Caller
 * holds no locks. May sleep.
 */
export async function migrateFolio(k: Kernel, it: MigrateItem, node: number): Promise<number> {
  const phys = k.phys;
  const src = it.pfn;
  const nr = phys.folioNrPages(src);
  const dst = phys.allocPages(phys.folioOrder(src), node, true);
  if (dst < 0) return -ENOMEM;
  await k.folioLock(src);
  if (!k.folioTrylock(dst)) k.sim.bug(`migrate: new folio ${dst} already locked`);
  const mapped = phys.folioMapped(src);
  if (mapped) await tryToMigrate(k, src);
  const rc = phys.folioMapped(src) ? -EAGAIN : moveToNewFolio(k, dst, src);
  if (mapped) await removeMigrationPtes(k, src, rc === 0 ? dst : src, nr);
  k.folioUnlock(dst);
  k.folioUnlock(src);
  if (rc !== 0) {
    phys.putPage(dst);
    return rc;
  }
  phys.lruAdd(dst, it.lru);
  phys.putPage(dst);
  phys.putPage(src);
  return 0;
}

/**
 * move_to_new_folio → migrate_folio (folio_migrate_mapping + folio_migrate_copy): freezes the source's
 * references, which must be exactly the isolation reference plus the swap cache's or the page cache's
 * (else -EAGAIN, nothing changed); the new folio takes over the mapping and index, the swap-cache slot
 * or page-cache slot with its reference, the flags (anon, swapbacked, uptodate, dirty, referenced,
 * workingset; the old one is left clean) and a copy of every page. The source keeps only the isolation
 * reference. Caller holds both folio locks; the source is unmapped. Atomic.
 */
export function moveToNewFolio(k: Kernel, dst: number, src: number): number {
  k.folioAssertLocked(src, 'move_to_new_folio');
  k.folioAssertLocked(dst, 'move_to_new_folio');
  const phys = k.phys;
  if (phys.folioMapped(src)) k.sim.bug(`move_to_new_folio: ${phys.describePage(src)} is still mapped`);
  const swapcache = phys.testFlag(src, PG_swapcache);
  const mapping = phys.mappingOf(src);
  const file = mapping instanceof MemFile ? mapping : undefined;
  const expected = 1 + (swapcache ? 1 : 0) + (file !== undefined ? 1 : 0);
  if (!phys.freezeRefcount(src, expected)) return -EAGAIN;
  const index = phys.indexOf(src);
  phys.setMapping(dst, mapping, index);
  if (swapcache) {
    const slot = phys.swapSlotOf(src);
    phys.setFlag(dst, PG_swapcache);
    phys.setSwapSlot(dst, slot);
    k.swapCache.set(slot, dst);
    phys.getPage(dst);
    phys.clearFlag(src, PG_swapcache);
    phys.setSwapSlot(src, -1);
  }
  if (file !== undefined) {
    file.pages.set(index, dst);
    phys.getPage(dst);
    phys.setMapping(src, undefined, 0);
  }
  for (const f of MIGRATE_FLAGS) if (phys.testFlag(src, f)) phys.setFlag(dst, f);
  phys.clearFlag(src, PG_dirty);
  const nr = phys.folioNrPages(src);
  for (let i = 0; i < nr; i++) phys.copyPage(dst + i, src + i);
  phys.unfreezeRefcount(src, 1);
  return 0;
}
