/**
 * Page flags (include/linux/page-flags.h): the PG_* bits of struct page / struct folio and their
 * names as page dumps print them. The accessors are PageFrames methods (page-frames.ts).
 */

export const PG_locked = 1 << 0;
export const PG_referenced = 1 << 1;
export const PG_uptodate = 1 << 2;
export const PG_dirty = 1 << 3;
export const PG_lru = 1 << 4;
export const PG_active = 1 << 5;
export const PG_workingset = 1 << 6;
/** PG_reserved: the zero pages; never freed, not refcounted, not mapcounted, not rmapped. */
export const PG_reserved = 1 << 7;
export const PG_private = 1 << 8;
export const PG_writeback = 1 << 9;
/** PG_head: first page of a folio of order > 0 (compound page). */
export const PG_head = 1 << 10;
export const PG_swapcache = 1 << 11;
export const PG_swapbacked = 1 << 12;
export const PG_unevictable = 1 << 13;
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
