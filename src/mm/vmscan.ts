/**
 * Page reclaim (mm/vmscan.c): scanning the LRU lists from the oldest folio, shrink_folio_list for each
 * isolated folio (add to swap, unmap through the reverse map, write out, free), the direct-reclaim hook
 * of the page allocator, and MADV_PAGEOUT's reclaim of a range.
 *
 * Deviations, for the whole file: no folio_referenced aging (a young PTE does not keep a folio: the
 * LRU order alone decides, as MADV_PAGEOUT's ignore_references), no active/inactive balancing (the
 * lists are scanned inactive first, then active), no swappiness, writeback is synchronous, and a THP
 * is split before swap-out (no THP_SWAP). File pages are tmpfs pages whose only copy is the page cache
 * (shmem swap-out is not modelled): reclaim unmaps them, as shrink_folio_list does before pageout,
 * then keeps them (as when shmem_writeout cannot write: AOP_WRITEPAGE_ACTIVATE).
 */
import { EAGAIN, EBUSY, ENOMEM } from '../sim/errno.js';
import {
  LRU_ACTIVE_ANON,
  LRU_ACTIVE_FILE,
  LRU_INACTIVE_ANON,
  LRU_INACTIVE_FILE,
  PG_anon,
  PG_dirty,
  PG_swapcache,
  PG_writeback,
  type LruList,
} from './physical.js';
import { PTE_KIND_PRESENT, PTE_SPECIAL, PTE_ZERO } from './page-table.js';
import { addToSwapCache, deleteFromSwapCache } from './swap-state.js';
import { tryToUnmap } from './rmap-walk.js';
import { splitHugePage } from './split-huge-page.js';
import type { Mm } from './mm.js';
import type { Kernel } from './kernel.js';
import type { Vma } from './vma.js';

/** SWAP_CLUSTER_MAX: what one direct-reclaim pass tries to free. */
export const SWAP_CLUSTER_MAX = 32;

/** The lists reclaim scans, in order (anon only while there is swap). */
const SCAN_LISTS: readonly LruList[] = [
  LRU_INACTIVE_ANON,
  LRU_ACTIVE_ANON,
  LRU_INACTIVE_FILE,
  LRU_ACTIVE_FILE,
];

/** Options of {@link reclaim} and {@link shrinkNode}. */
export interface ReclaimOptions {
  /** Scan only this node's lists (a node's kswapd / direct reclaim for a node). Default: every node. */
  node?: number;
}

/** What one reclaim pass did, for tests and statistics (struct reclaim_stat, in part). */
export interface ReclaimStat {
  /** Base pages freed. */
  reclaimed: number;
  /** Base pages scanned. */
  scanned: number;
  /** Folios skipped because the swap device was full. */
  swapFull: number;
}

/**
 * try_to_free_pages / shrink_node for `npages` base pages: scans the LRU lists of every node (or
 * `options.node`) from the oldest folio — inactive anon, active anon (until the swap device is full),
 * then inactive and active file — each list at most once around, and shrinks each folio (shrinkFolio)
 * until `npages` are freed. Without a swap device nothing is scanned: the anon lists cannot be
 * reclaimed, and the model's file pages (tmpfs-like, with no shmem swap-out) are kept even when
 * scanned. Returns the number of base pages freed (0
 * when nothing could be: no or full swap, everything pinned, locked or mapped by mlocked VMAs).
 *
 * Invalidations: for each folio unmapped, one blockable MMU_NOTIFY_CLEAR per VMA mapping it, over the
 * folio's extent there (one page), owner null, raised from the rmap walk with no mmap lock held.
 * Caller holds no page-table lock and no folio lock (may hold an mmap lock, as direct reclaim from a
 * fault does). May sleep.
 */
export async function reclaim(k: Kernel, npages: number, options: ReclaimOptions = {}): Promise<number> {
  return (await shrinkNode(k, npages, options)).reclaimed;
}

/** {@link reclaim} returning its statistics. Same contract. */
export async function shrinkNode(
  k: Kernel,
  npages: number,
  options: ReclaimOptions = {},
): Promise<ReclaimStat> {
  const sim = k.sim;
  const phys = k.phys;
  sim.mightSleep('try_to_free_pages');
  if (!Number.isSafeInteger(npages) || npages < 0)
    throw new RangeError(`reclaim: npages must be a non-negative integer, got ${npages}`);
  const stat: ReclaimStat = { reclaimed: 0, scanned: 0, swapFull: 0 };
  const nodes: number[] = [];
  if (options.node !== undefined) {
    if (!Number.isInteger(options.node) || options.node < 0 || options.node >= phys.nodes)
      throw new RangeError(`reclaim: node ${options.node} out of range [0, ${phys.nodes})`);
    nodes.push(options.node);
  } else for (let n = 0; n < phys.nodes; n++) nodes.push(n);
  // can_reclaim_anon_pages: nothing anonymous leaves memory without swap. The model's file pages
  // have no other copy either (no writeback, no shmem swap-out: shrinkLockedFolio keeps them), so
  // a pass without swap would only unmap them; skip it, as the kernel leaves tmpfs pages, which
  // are swap-backed, unscanned on the anon lists without swap.
  if (k.swap.size === 0) return stat;
  for (const node of nodes) {
    let anonOk = true;
    for (const lru of SCAN_LISTS) {
      const anon = lru === LRU_INACTIVE_ANON || lru === LRU_ACTIVE_ANON;
      if (anon && !anonOk) continue;
      // Each list at most once around: folios put back go to the newest end.
      const budget = phys.lruSize(node, lru);
      let scanned = 0;
      while (stat.reclaimed < npages && scanned < budget) {
        const pfn = phys.lruOldest(node, lru);
        if (pfn < 0) break;
        scanned += phys.folioNrPages(pfn);
        if (!phys.tryGetPage(pfn)) {
          // Frozen (being migrated or split elsewhere): rotate it (isolate_lru_folios skips it).
          phys.lruIsolate(pfn);
          phys.lruAdd(pfn, lru);
          continue;
        }
        phys.lruIsolate(pfn);
        const r = await shrinkFolio(k, pfn, lru);
        if (r > 0) stat.reclaimed += r;
        if (r === -ENOMEM) {
          stat.swapFull++;
          if (anon) anonOk = false;
          if (anon) break;
        }
      }
      stat.scanned += scanned;
      if (stat.reclaimed >= npages) return stat;
    }
  }
  return stat;
}

/**
 * shrink_folio_list for one folio `pfn` that the caller isolated from LRU list `lru` and holds the
 * isolation reference of. Returns the base pages freed (> 0), or:
 *  - -EBUSY: pinned (folio_maybe_dma_pinned), locked by someone else, mapped in a VM_LOCKED VMA, a
 *    ZONE_DEVICE page, or a file page (kept: no shmem swap-out in the model);
 *  - -ENOMEM: an anonymous folio and the swap device is full (add_to_swap failed; kept);
 *  - -EAGAIN: still mapped or referenced after unmapping (a racing fault, fork or GUP; kept).
 * Kept folios go back on an LRU list (activate_locked: the active list; keep_locked: `lru`) and the
 * isolation reference is consumed either way.
 *
 * Anonymous order-0 folio: add_to_swap (a slot with SWAP_HAS_CACHE, the folio in the swap cache and
 * dirty), try_to_unmap (each PTE becomes a swap entry holding one swap count; one CLEAR per VMA),
 * pageout when dirty (swap_writepage: a scheduling point, then the slot holds the contents), and
 * __remove_mapping: if the folio's only references are the isolation's and the swap cache's (refcount
 * frozen), it leaves the swap cache and is freed. A large folio is split first (splitHugePage) and its
 * pages shrunk one by one.
 *
 * Locks: caller holds no folio lock and no page-table lock. May sleep.
 */
export async function shrinkFolio(k: Kernel, pfn: number, lru: LruList): Promise<number> {
  const phys = k.phys;
  const anon = phys.testFlag(pfn, PG_anon);
  const activeList: LruList = anon ? LRU_ACTIVE_ANON : LRU_ACTIVE_FILE;
  const putback = (list: LruList, ret: number): number => {
    phys.lruAdd(pfn, list);
    phys.putPage(pfn);
    return ret;
  };
  if (phys.maybeDmaPinned(pfn) || phys.zoneOf(pfn) !== 'normal') return putback(activeList, -EBUSY);
  if (!k.folioTrylock(pfn)) return putback(lru, -EBUSY);
  const unlockPutback = (list: LruList, ret: number): number => {
    k.folioUnlock(pfn);
    return putback(list, ret);
  };

  if (phys.folioOrder(pfn) > 0) {
    const parts: number[] = [];
    const r = await splitHugePage(k, pfn, parts);
    if (r !== 0) return unlockPutback(activeList, r === -EBUSY ? -EBUSY : -EAGAIN);
    // split_folio_to_list: the tails come back isolated with a reference each; shrink them too.
    const first = await shrinkLockedFolio(k, pfn, lru);
    let freed = Math.max(0, first);
    for (const tail of parts) {
      if (!k.folioTrylock(tail)) {
        phys.lruAdd(tail, lru);
        phys.putPage(tail);
        continue;
      }
      const r2 = await shrinkLockedFolio(k, tail, lru);
      if (r2 > 0) freed += r2;
    }
    return freed > 0 ? freed : first;
  }
  return shrinkLockedFolio(k, pfn, lru);
}

/** shrink_folio_list's body for an isolated, referenced, locked order-0 folio. */
async function shrinkLockedFolio(k: Kernel, pfn: number, lru: LruList): Promise<number> {
  const sim = k.sim;
  const phys = k.phys;
  const anon = phys.testFlag(pfn, PG_anon);
  const activeList: LruList = anon ? LRU_ACTIVE_ANON : LRU_ACTIVE_FILE;
  const keep = (list: LruList, ret: number): number => {
    k.folioUnlock(pfn);
    phys.lruAdd(pfn, list);
    phys.putPage(pfn);
    return ret;
  };
  if (phys.maybeDmaPinned(pfn)) return keep(activeList, -EBUSY);

  // add_to_swap
  if (anon && !phys.testFlag(pfn, PG_swapcache)) {
    const slot = k.swap.alloc();
    if (slot < 0) return keep(activeList, -ENOMEM);
    addToSwapCache(k, pfn, slot);
    phys.setFlag(pfn, PG_dirty);
  }

  // try_to_unmap
  if (phys.folioMapped(pfn)) {
    const ok = await tryToUnmap(k, pfn);
    if (!ok) return keep(activeList, -EBUSY);
    if (phys.folioMapped(pfn)) return keep(activeList, -EAGAIN);
  }

  if (!anon) {
    // pageout → shmem_writeout: no shmem swap in the model; the page cache keeps the only copy.
    return keep(activeList, -EBUSY);
  }

  // pageout → swap_writepage
  const slot = phys.swapSlotOf(pfn);
  if (phys.testFlag(pfn, PG_dirty)) {
    phys.clearFlag(pfn, PG_dirty);
    phys.setFlag(pfn, PG_writeback);
    await sim.point('swap_writepage', `slot ${slot}`);
    k.swap.write(slot, phys.pageContents(pfn));
    phys.clearFlag(pfn, PG_writeback);
  }

  // __remove_mapping: only the isolation and swap-cache references may remain.
  if (phys.folioMapped(pfn) || !phys.freezeRefcount(pfn, 2)) return keep(lru, -EAGAIN);
  phys.unfreezeRefcount(pfn, 2);
  deleteFromSwapCache(k, pfn);
  k.folioUnlock(pfn);
  if (phys.refcountOf(pfn) !== 1)
    sim.bug(`reclaim: ${phys.describePage(pfn)} gained a reference while frozen`);
  phys.putPage(pfn);
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Direct reclaim and MADV_PAGEOUT
// ---------------------------------------------------------------------------------------------

/**
 * Installs __alloc_pages_direct_reclaim as `k.directReclaim`: when a user-page allocation fails, the
 * allocating thread runs one reclaim pass over every node for max(SWAP_CLUSTER_MAX, 2^order) pages and
 * reports progress when it freed anything (the allocator then retries). Deviation: no zonelist order
 * (every node is scanned, not the requested one first). Atomic (installing); the hook may sleep.
 */
export function installDirectReclaim(k: Kernel): void {
  // Named first, then stored: a function literal assigned straight to a property is allocated
  // in V8's old space, and this one would hold the whole run's world through every scavenge
  // (see the no-restricted-syntax rule in eslint.config.js).
  const directReclaim = async (order: number, _node: number): Promise<boolean> => {
    const want = Math.max(SWAP_CLUSTER_MAX, 2 ** order);
    return (await reclaim(k, want)) > 0;
  };
  k.directReclaim = directReclaim;
}

/**
 * madvise_pageout (MADV_PAGEOUT) for [start, end) of `vma`: every folio mapped there by a present
 * entry and mapped by no other mm (folio_maybe_mapped_shared) is isolated from its LRU list and
 * reclaimed (reclaim_pages → shrinkFolio), whatever its age. Invalidations: as reclaim (one CLEAR per
 * VMA per folio). Caller holds the mmap lock for read (asserted). May sleep.
 * Deviation: file folios are skipped (they could only be unmapped, not freed).
 */
export async function madvisePageout(mm: Mm, vma: Vma, start: number, end: number): Promise<void> {
  mm.assertMmapLocked('madvise_pageout');
  const k = mm.kernel;
  const phys = k.phys;
  if (k.swap.size === 0) return;
  const lo = Math.max(start, vma.start);
  const hi = Math.min(end, vma.end);
  if (lo >= hi) return;
  const list: Array<{ pfn: number; lru: LruList }> = [];
  await mm.ptl.lock();
  mm.pageTable.walk(lo, hi, (_va, kind, pfn, flags) => {
    if (kind !== PTE_KIND_PRESENT || flags & (PTE_SPECIAL | PTE_ZERO)) return;
    const head = phys.folioHead(pfn);
    if (!phys.testFlag(head, PG_anon) || list.some((it) => it.pfn === head)) return;
    if (phys.folioRmapList(head).some((e) => e.mm !== mm)) return;
    const lru = phys.lruListOf(head);
    if (lru === -1 || !phys.tryGetPage(head)) return;
    phys.lruIsolate(head);
    list.push({ pfn: head, lru });
  });
  mm.ptl.unlock();
  for (const it of list) await shrinkFolio(k, it.pfn, it.lru);
}

/** Installs madvisePageout as `k`'s MADV_PAGEOUT reclaim (`k.pageoutRange`). Atomic. */
export function installMadvisePageout(k: Kernel): void {
  k.pageoutRange = madvisePageout;
}
