/**
 * The swap cache (mm/swap_state.c): folios caching swap slots, keyed by slot in Kernel.swapCache.
 * A slot's SWAP_HAS_CACHE bit (SwapSpace.setCache / alloc) is taken by whoever adds the folio; the
 * folio is PG_swapcache with folio->swap = slot and holds one reference for the cache.
 *
 * All helpers are atomic (no scheduling points); the caller holds the folio lock where the kernel
 * does (add, delete) and serialises the slot's count as the PTE lock does.
 */
import { PG_swapcache } from './physical.js';
import type { Kernel } from './kernel.js';

/** swap_cache_get_folio without the reference: the pfn caching `slot`, or undefined. */
export function lookupSwapCache(k: Kernel, slot: number): number | undefined {
  return k.swapCache.get(slot);
}

/**
 * add_to_swap_cache: `pfn` caches `slot` (which must already have SWAP_HAS_CACHE: SwapSpace.alloc for
 * swap-out, SwapSpace.setCache for swap-in). Takes the cache's reference on the folio.
 */
export function addToSwapCache(k: Kernel, pfn: number, slot: number): void {
  const phys = k.phys;
  if (!k.swap.hasCache(slot)) k.sim.bug(`add_to_swap_cache: slot ${slot} has no SWAP_HAS_CACHE`);
  if (k.swapCache.has(slot)) k.sim.bug(`add_to_swap_cache: slot ${slot} is already cached`);
  if (phys.testFlag(pfn, PG_swapcache))
    k.sim.bug(`add_to_swap_cache: pfn ${pfn} is already in the swap cache`);
  phys.getPage(pfn);
  phys.setFlag(pfn, PG_swapcache);
  phys.setSwapSlot(pfn, slot);
  k.swapCache.set(slot, pfn);
}

/**
 * delete_from_swap_cache: the folio leaves the swap cache; its slot loses SWAP_HAS_CACHE (and is freed
 * if no swap entry references it) and the cache's reference is dropped (which may free the folio).
 */
export function deleteFromSwapCache(k: Kernel, pfn: number): void {
  const phys = k.phys;
  const slot = phys.swapSlotOf(pfn);
  if (slot < 0 || k.swapCache.get(slot) !== pfn) k.sim.bug(`delete_from_swap_cache: pfn ${pfn} not cached`);
  k.swapCache.delete(slot);
  phys.clearFlag(pfn, PG_swapcache);
  phys.setSwapSlot(pfn, -1);
  k.swap.clearCache(slot);
  phys.putPage(pfn);
}

/**
 * folio_free_swap: removes the folio from the swap cache when no swap entry references its slot any
 * more. Returns whether it did. Caller holds a reference and the folio lock (asserted).
 */
export function folioFreeSwap(k: Kernel, pfn: number): boolean {
  k.folioAssertLocked(pfn, 'folio_free_swap');
  const phys = k.phys;
  if (!phys.testFlag(pfn, PG_swapcache)) return false;
  const slot = phys.swapSlotOf(pfn);
  if (k.swap.count(slot) > 0) return false;
  deleteFromSwapCache(k, pfn);
  return true;
}

/**
 * free_swap_and_cache: drops one swap entry's reference on `slot`; when that was the last and an
 * unmapped, unlocked folio still caches the slot, drops the folio from the swap cache too.
 */
export function freeSwapAndCache(k: Kernel, slot: number): void {
  k.swap.free(slot);
  tryFreeSwapCacheOfSlot(k, slot);
}

/**
 * free_swap_cache for the folio caching `slot`, if any: removed from the swap cache when it is unmapped,
 * unlocked and no swap entry needs the slot any more.
 */
export function tryFreeSwapCacheOfSlot(k: Kernel, slot: number): void {
  const pfn = k.swapCache.get(slot);
  if (pfn === undefined) return;
  const phys = k.phys;
  if (k.swap.count(slot) > 0 || phys.folioMapped(pfn)) return;
  if (!phys.trylockPage(pfn)) return;
  phys.getPage(pfn);
  deleteFromSwapCache(k, pfn);
  k.folioUnlock(pfn);
  phys.putPage(pfn);
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
