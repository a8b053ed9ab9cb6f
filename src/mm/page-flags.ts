/**
 * Page flags (include/linux/page-flags.h): the PG_* bits of struct page / struct folio and their
 * names as page dumps print them. The accessors are PageFrames methods (page-frames.ts).
 */

/**
 * Page flag (PG_locked): the folio lock, taken by trylockPage / Kernel.folioLock; freeing a locked folio is a
 * bad page.
 */
export const PG_locked = 1 << 0;
/**
 * Page flag (PG_referenced): the folio was accessed recently. Migration carries it over; nothing in the model
 * sets it.
 */
export const PG_referenced = 1 << 1;
/**
 * Page flag (PG_uptodate): the folio's contents are valid; set on new anonymous, page-cache and hugetlb
 * folios and on the zero pages.
 */
export const PG_uptodate = 1 << 2;
/**
 * Page flag (PG_dirty): the folio holds data its file or swap slot does not have yet. Set by write faults,
 * when a dirty PTE is taken down (zap, unmap, migration) and when an anonymous folio enters the swap cache;
 * cleared by reclaim's swap write.
 */
export const PG_dirty = 1 << 3;
/**
 * Page flag (PG_lru): the folio is on an LRU list. Only lruAdd / lruIsolate change it (setFlag refuses it).
 */
export const PG_lru = 1 << 4;
/** Page flag (PG_active): the folio is on an active LRU list; lruAdd keeps it in step with the list. */
export const PG_active = 1 << 5;
/**
 * Page flag (PG_workingset): the folio belongs to the working set (the kernel sets it on refault). Migration
 * carries it over; nothing in the model sets it.
 */
export const PG_workingset = 1 << 6;
/** PG_reserved: the zero pages; never freed, not refcounted, not mapcounted, not rmapped. */
export const PG_reserved = 1 << 7;
/**
 * Page flag (PG_private): filesystem data is attached to the folio (folio->private); not used by the model.
 */
export const PG_private = 1 << 8;
/**
 * Page flag (PG_writeback): the folio is being written to its backing store; reclaim sets it around the swap
 * write. Freeing such a folio is a bad page.
 */
export const PG_writeback = 1 << 9;
/** PG_head: first page of a folio of order > 0 (compound page). */
export const PG_head = 1 << 10;
/**
 * Page flag (PG_swapcache): the folio is in the swap cache, its slot in folio->swap (see
 * PhysicalMemory.swapSlotOf).
 */
export const PG_swapcache = 1 << 11;
/** Page flag (PG_swapbacked): the folio is backed by swap, not by a file: anonymous and shmem folios. */
export const PG_swapbacked = 1 << 12;
/**
 * Page flag (PG_unevictable): the folio is on the LRU_UNEVICTABLE list; lruAdd keeps it in step with the
 * list.
 */
export const PG_unevictable = 1 << 13;
/**
 * Page flag (PG_mlocked): the folio is mlocked. Nothing in the model sets it; freeing such a folio is a bad
 * page.
 */
export const PG_mlocked = 1 << 14;
/** PG_hwpoison: per page. */
export const PG_hwpoison = 1 << 15;
/** The kernel's PAGE_MAPPING_ANON bit of folio->mapping, kept as a flag: an anonymous folio. */
export const PG_anon = 1 << 16;
/** PageAnonExclusive: per page; this anonymous page is exclusive to one mm (no COW needed on write). */
export const PG_anon_exclusive = 1 << 17;

/** Flags that belong to a page rather than to its folio. */
export const PG_PER_PAGE = PG_hwpoison | PG_anon_exclusive | PG_head;

const PG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [PG_locked, 'locked'],
  [PG_referenced, 'referenced'],
  [PG_uptodate, 'uptodate'],
  [PG_dirty, 'dirty'],
  [PG_lru, 'lru'],
  [PG_active, 'active'],
  [PG_workingset, 'workingset'],
  [PG_reserved, 'reserved'],
  [PG_private, 'private'],
  [PG_writeback, 'writeback'],
  [PG_head, 'head'],
  [PG_swapcache, 'swapcache'],
  [PG_swapbacked, 'swapbacked'],
  [PG_unevictable, 'unevictable'],
  [PG_mlocked, 'mlocked'],
  [PG_hwpoison, 'hwpoison'],
  [PG_anon, 'anon'],
  [PG_anon_exclusive, 'anon_exclusive'],
];

/** The names of the PG_* bits set in `flags`, as page dumps (%pGp) print them: `dirty|lru|anon`. */
export function pageFlagsToString(flags: number): string {
  const names: string[] = [];
  for (const [bit, name] of PG_NAMES) if (flags & bit) names.push(name);
  return names.length === 0 ? '0' : names.join('|');
}
