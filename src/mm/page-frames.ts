/**
 * The page frames (struct page / struct folio, include/linux/mm_types.h) as struct-of-arrays indexed
 * by pfn: the one owner of per-frame state. Every mechanism of physical memory is a layer on top of
 * this class, in its own file, bottom to top:
 *   page-frames.ts  struct page state, folio geometry, flag accessors (page-flags.h), folio fields
 *   lru.ts          LRU lists (mm/swap.c, mm/vmscan.c)
 *   folio-rmap.ts   mapcounts and reverse-map bookkeeping (mm/rmap.c folio_add/remove_*_rmap)
 *   memremap.ts     ZONE_DEVICE regions (mm/memremap.c)
 *   page-alloc.ts   the page allocator (mm/page_alloc.c)
 *   page-ref.ts     reference counts and pins (include/linux/page_ref.h, mm/gup.c)
 *   folio-split.ts  splitting a large folio (mm/huge_memory.c)
 *   physical.ts     PhysicalMemory: contents (highmem.h) and the consistency check
 * Each layer reads and writes the arrays directly (no accessor call on the hot paths).
 *
 * Frames cost a few dozen bytes and no object. Every method is synchronous and takes no locks: the
 * caller serialises, as the kernel's caller holds the PTE lock, the folio lock, the LRU lock or the
 * zone lock.
 *
 * Errors of the caller's arguments (a pfn out of range, an order the model does not support) throw a
 * RangeError: they are bugs in the model. Lifetime errors a kernel would catch with bad_page() or
 * VM_BUG_ON are reported through `onViolation` as data and never throw.
 */
import { PLAIN_BUFFERS, type BufferSource } from '../sim/buffers.js';
import { HPAGE_PMD_ORDER, PAGE_SHIFT } from './constants.js';
import {
  PG_locked,
  PG_uptodate,
  PG_lru,
  PG_reserved,
  PG_head,
  PG_PER_PAGE,
  pageFlagsToString,
} from './page-flags.js';

/** Internal errors of page lifetime, reported as data (the kernel's bad_page() and VM_BUG_ONs). */
export type PageViolationKind =
  | 'bad-page' // freed while mapped, pinned, locked, under writeback or in the swap cache
  | 'refcount-underflow' // put of a page whose refcount is already zero
  | 'mapcount-underflow'
  | 'pincount-underflow'
  | 'use-after-free' // get, map, lock, read or write of a free page
  | 'zero-page-write'
  | 'rmap-missing' // removal of a reverse mapping that was never added
  | 'lru-misuse' // add of a folio already on an LRU list, or of a free page
  | 'unlock-unlocked';

/**
 * The type of a ZONE_DEVICE region: MEMORY_DEVICE_PRIVATE ('private': not CPU-addressable, mapped by
 * device-private entries) or MEMORY_DEVICE_COHERENT ('coherent': CPU-addressable, mapped by present PTEs).
 */
export type DeviceMemoryKind = 'private' | 'coherent';

/** ZONE_NORMAL (all system RAM of the model, including the zero pages) or ZONE_DEVICE. */
export type Zone = 'normal' | 'device';

/**
 * A ZONE_DEVICE region: struct dev_pagemap with its type (MEMORY_DEVICE_PRIVATE / _COHERENT), owner
 * (pgmap->owner, matched against hmm_range.dev_private_owner) and page_free callback.
 */
export interface DeviceRegion {
  /** The region's number in its PhysicalMemory: 0, 1, ... in the order regions were added. */
  readonly id: number;
  /** First pfn of the region, HPAGE_PMD_NR-aligned, above every frame that existed before it. */
  readonly startPfn: number;
  /** Pages in the region: its pfns are [startPfn, startPfn + npages). */
  readonly npages: number;
  /** pgmap->type: MEMORY_DEVICE_PRIVATE ('private') or MEMORY_DEVICE_COHERENT ('coherent'). */
  readonly kind: DeviceMemoryKind;
  /**
   * pgmap->owner: the driver's token, compared with hmm_range.dev_private_owner and migrate_vma's
   * pgmap_owner to tell the driver's own pages from another's.
   */
  readonly owner: unknown;
  /** The NUMA node the region's pages report (page_to_nid). */
  readonly node: number;
  /** Pages on the region's free list (not handed out by {@link PhysicalMemory.allocDevicePage}). */
  readonly nrFree: number;
}

/**
 * The machine a new PhysicalMemory models (system RAM, page size, NUMA nodes) and its hooks. The
 * Kernel builds it from KernelOptions, routing violations to the simulation's reports.
 */
export interface PhysicalMemoryOptions {
  /** Pages of system RAM (ZONE_NORMAL), split evenly across the nodes. */
  npages: number;
  /** Base page shift; 12 (4 KiB) by default. */
  pageShift?: number;
  /** NUMA nodes; 1 by default, at most 64. */
  nodes?: number;
  /** Receives lifetime violations; without it they are only kept in {@link PhysicalMemory.violations}. */
  onViolation?: (kind: PageViolationKind, message: string) => void;
  /** Fault injection (should_fail_alloc_page): return true to make this allocation fail with -ENOMEM. */
  shouldFailAlloc?: (order: number, node: number) => boolean;
  /**
   * Where the frame table and page contents take their array buffers: the run's
   * `sim.buffers` (recycled between an exploration's schedules), plain allocation by default.
   */
  buffers?: BufferSource;
}

/** One reverse mapping of a page: `mm` maps it at `va`, through a PMD when `pmd` is true. */
export interface RmapEntry<Mm> {
  /** The address space whose page table maps the page. */
  readonly mm: Mm;
  /** The virtual address mapped: the page's own for a PTE, the PMD-aligned start for a PMD mapping. */
  readonly va: number;
  /** The page the entry is recorded on: the mapped page for a PTE, the folio's head for a PMD. */
  readonly pfn: number;
  /** Whether a PMD maps the whole folio (true) or a PTE maps this page (false). */
  readonly pmd: boolean;
}

/** A region with its free list (internal). */
export interface DeviceRegionState extends DeviceRegion {
  nrFree: number;
  freeHead: number;
  readonly pageFree: ((pfn: number, nr: number) => void) | undefined;
}

// Frame states. A tail page is TAIL while its folio is allocated; free pages are FREE.
export const ST_FREE = 0;
export const ST_ALLOCATED = 1;
export const ST_TAIL = 2;
export const ST_RESERVED = 3;
export const ST_LEAKED = 4; // freed with bad state: kept out of circulation, as bad_page() does
export const ST_DEVICE_FREE = 5; // a ZONE_DEVICE page on its region's free list
export const ST_HOLE = 6; // an alignment hole before a device region: not a valid pfn

export const MAX_NODES = 64;
export const MAX_KEPT_VIOLATIONS = 1000;
export const NO_PFN = -1;

/** countAccess's `head` for the page allocator's free lists. */
export const PAGE_ALLOCATOR = -1;
/** countAccess's `head` for the LRU lists (the lruvec lock is not modelled as a lock). */
export const PAGE_LRU = -2;

/**
 * struct page / struct folio state for every pfn. pfn layout: [0, npages) system RAM split evenly
 * across nodes; npages the shared zero page (empty_zero_page); then the device regions, each starting
 * at a HPAGE_PMD_NR-aligned pfn. Refcounts are per folio (kept on the head page; any pfn of the folio
 * may be passed); mapcounts, contents, rmap entries and the PG_PER_PAGE flags are per page.
 *
 * `Mm` is the type of the address-space objects recorded in the reverse map (opaque here).
 */
export class PageFrames {
  /** Base page shift (PAGE_SHIFT): log2 of pageSize; 12 unless the pageShift option says otherwise. */
  readonly pageShift: number;
  /** Bytes per base page (PAGE_SIZE). */
  readonly pageSize: number;
  /** NUMA nodes (nr_node_ids); system RAM is split evenly across them in pfn order. */
  readonly nodes: number;
  /** Pages of system RAM (ZONE_NORMAL, excluding the zero page). */
  readonly totalPages: number;
  /** pfn of the shared zero page (ZERO_PAGE(0)), reserved at construction. */
  readonly zeroPfn: number;
  /** Violations seen so far (the first `MAX_KEPT_VIOLATIONS`); `violationCount` counts all. */
  readonly violations: Array<{
    /** Which page-lifetime rule was broken. */
    kind: PageViolationKind;
    /** What happened, naming the frame as describePage (dump_page) does. */
    message: string;
  }> = [];
  /** Violations reported so far, including those past the first MAX_KEPT_VIOLATIONS kept in `violations`. */
  violationCount = 0;

  /** The onViolation option: told of each violation as it is reported (the Kernel reports it to the run). */
  protected readonly onViolation: ((kind: PageViolationKind, message: string) => void) | undefined;
  /**
   * The shouldFailAlloc option (should_fail_alloc_page): asked before every allocation of system RAM or
   * device memory; true fails it with -ENOMEM.
   */
  protected readonly shouldFailAlloc: ((order: number, node: number) => boolean) | undefined;
  /** Where array buffers come from (see PhysicalMemoryOptions.buffers). */
  protected readonly buffers: BufferSource;
  /**
   * Called with the folio head on every read (`write` false) and change of a folio's reference
   * or map counts, and of its flags (PG_locked included), when set: the Kernel sets it while dpor watches touches, so that a decision
   * on those counts (COW reuse, migration's expected references) is ordered against the
   * changes other address spaces make without a common lock. Also called with
   * PAGE_ALLOCATOR (-1) for each allocation and free (the free lists), and with PAGE_LRU (-2) for
   * each read and change of the LRU lists. Null otherwise (no cost).
   */
  countAccess: ((head: number, write: boolean) => void) | null = null;

  // --- per-frame state (struct page), indexed by pfn; grown when device regions are added ---
  /** Frames the per-frame arrays have room for (>= nframes); grow() enlarges them for device regions. */
  protected capacity = 0;
  /**
   * Frames in use: pfns are [0, nframes) — system RAM, the zero page, then each device region after its
   * alignment hole (whose pfns are not valid).
   */
  protected nframes = 0;
  /**
   * Per head pfn: the folio's reference count (folio->_refcount); 0 when free or frozen. Tail entries are
   * unused (0).
   */
  protected refcount = new Int32Array(0);
  /**
   * Per pfn: PTE mappings of this page (page->_mapcount, but stored as the count: the kernel's value + 1).
   * PMD mappings are counted in entireMapcountArr instead.
   */
  protected mapcountArr = new Int32Array(0);
  /** Per head pfn: PMD mappings of the whole folio (folio->_entire_mapcount + 1). */
  protected entireMapcountArr = new Int32Array(0);
  /**
   * Per head pfn: every mapping of the folio, each PTE of any of its pages plus each PMD
   * (folio->_large_mapcount + 1; kept for order-0 folios too, where it equals the page's mapcount).
   */
  protected folioMapcountArr = new Int32Array(0);
  /**
   * Per head pfn: FOLL_PIN pins of the folio (folio->_pincount), each of which also holds a reference; the
   * model counts pins here for every order (see pinPage).
   */
  protected pincountArr = new Int32Array(0);
  /**
   * Per pfn: PG_* bits (page->flags / folio->flags). Folio-wide flags are kept on the head; the PG_PER_PAGE
   * bits (hwpoison, anon-exclusive, head) on each page.
   */
  protected flags = new Uint32Array(0);
  /** Per pfn: the NUMA node of the frame (page_to_nid). */
  protected nodeArr = new Uint8Array(0);
  /** Per head pfn: the folio's order (folio_order); 0 for tails and free pages. */
  protected orderArr = new Uint8Array(0);
  /** Per pfn: the folio's head pfn (compound_head / page_folio); the pfn itself for a head or free page. */
  protected headArr = new Int32Array(0);
  /**
   * Per pfn: the model's frame state, one of the ST_* values (free, allocated head, tail, reserved,
   * leaked, free device page, hole): what the kernel spreads over PageBuddy, the refcount and page types.
   */
  protected state = new Uint8Array(0);
  /**
   * Per free pfn: the next pfn on the same free list (its allocator segment's or its device region's),
   * NO_PFN at the end (the buddy list link, page->buddy_list).
   */
  protected freeNext = new Int32Array(0);
  /** Per head pfn on an LRU list: the next older folio, NO_PFN at the oldest end (folio->lru). */
  protected lruNextArr = new Int32Array(0);
  /** Per head pfn on an LRU list: the next newer folio, NO_PFN at the newest end (folio->lru). */
  protected lruPrevArr = new Int32Array(0);
  /**
   * Per head pfn: the LruList the folio is on, meaningful only while PG_lru is set (the kernel derives it
   * from PG_active, PG_unevictable and the file/anon type: folio_lru_list).
   */
  protected lruWhich = new Uint8Array(0);
  /** Per head pfn: the first swap slot of a folio in the swap cache, -1 when none (folio->swap). */
  protected swapSlotArr = new Int32Array(0);
  /**
   * Per head pfn: the folio's page index (folio->index): its offset in its file, in pages, or for an
   * anonymous folio its linear page index in the VMA's pgoff space.
   */
  protected indexArr = new Float64Array(0);
  /**
   * Per head pfn, sparse: the folio's owner (folio->mapping): the MemFile of a page-cache folio, the
   * anon_vma id of an anonymous one; undefined when none.
   */
  protected mappingArr: unknown[] = [];
  /** Per pfn, sparse: the page's bytes (pageSize of them, the memory itself); undefined reads as zeros. */
  protected contents: Array<Uint8Array | undefined> = [];
  /**
   * Per pfn, sparse: the page's reverse map as a flat list [mm, vaCode, mm, vaCode, ...], where vaCode is
   * the va of a PTE mapping or -va - 1 of a PMD mapping (kept on the head). The kernel finds the same
   * through the anon_vma and address_space interval trees (rmap_walk).
   */
  protected rmap: Array<unknown[] | undefined> = [];

  /** ZONE_DEVICE regions in pfn order (memremap.ts adds them). */
  protected readonly regions: DeviceRegionState[] = [];
  /** pfn boundaries of the nodes' system RAM (nodes + 1 entries). */
  protected readonly nodeStartArr: Int32Array;
  /** Head pfn of the huge zero folio (huge_zero_folio), NO_PFN until hugeZeroPfn first allocates it. */
  protected hugeZero = NO_PFN;

  /** Free pages of system RAM (NR_FREE_PAGES summed over the nodes); read through nrFree. */
  protected nrFreeCount = 0;
  /** Allocated pages of system RAM (huge zero folio and frozen folios included); read through nrAllocated. */
  protected nrAllocatedCount = 0;
  /** Pages of system RAM taken out of circulation by a bad free (bad_page()); read through nrLeaked. */
  protected nrLeakedCount = 0;

  /** Builds `npages` of free system RAM plus the zero page. */
  constructor(options: PhysicalMemoryOptions) {
    const { npages } = options;
    const pageShift = options.pageShift ?? PAGE_SHIFT;
    const nodes = options.nodes ?? 1;
    if (!Number.isInteger(npages) || npages < 1 || npages > 2 ** 30)
      throw new RangeError(`PhysicalMemory: npages must be an integer in [1, 2^30], got ${npages}`);
    if (!Number.isInteger(pageShift) || pageShift < 9 || pageShift > 21)
      throw new RangeError(`PhysicalMemory: pageShift must be an integer in [9, 21], got ${pageShift}`);
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES || nodes > npages)
      throw new RangeError(
        `PhysicalMemory: nodes must be an integer in [1, min(${MAX_NODES}, npages)], got ${nodes}`,
      );
    this.pageShift = pageShift;
    this.pageSize = 2 ** pageShift;
    this.nodes = nodes;
    this.totalPages = npages;
    this.onViolation = options.onViolation;
    this.shouldFailAlloc = options.shouldFailAlloc;
    this.buffers = options.buffers ?? PLAIN_BUFFERS;

    this.grow(npages + 1);
    this.nframes = npages + 1;

    // Node boundaries: pages split evenly.
    this.nodeStartArr = new Int32Array(nodes + 1);
    for (let n = 0; n <= nodes; n++) this.nodeStartArr[n] = Math.floor((n * npages) / nodes);

    this.zeroPfn = npages;
    this.state[this.zeroPfn] = ST_RESERVED;
    this.flags[this.zeroPfn] = PG_reserved | PG_uptodate;
    this.refcount[this.zeroPfn] = 1;
  }

  /** Free pages of system RAM (the sum of the zones' NR_FREE_PAGES). */
  get nrFree(): number {
    return this.nrFreeCount;
  }

  /** Allocated pages of system RAM (including the huge zero folio once allocated, and frozen folios). */
  get nrAllocated(): number {
    return this.nrAllocatedCount;
  }

  /** Pages taken out of circulation because they were freed in a bad state (bad_page()). */
  get nrLeaked(): number {
    return this.nrLeakedCount;
  }

  /** Number of frames (system RAM, the zero page and device pages): valid pfns are [0, nrFrames). */
  get nrFrames(): number {
    return this.nframes;
  }

  /** The pfn range [start, end) of system RAM on `node` (pgdat->node_start_pfn, node_spanned_pages). */
  nodeRange(node: number): {
    /** First pfn of the node's system RAM (node_start_pfn). */
    start: number;
    /** The pfn after the node's last page of system RAM (node_end_pfn). */
    end: number;
  } {
    this.physCheckNode(node);
    return { start: this.nodeStartArr[node], end: this.nodeStartArr[node + 1] };
  }

  /** The device region (dev_pagemap, page_pgmap) of `pfn`, or undefined for system RAM. */
  deviceRegionOf(pfn: number): DeviceRegion | undefined {
    this.physCheckPfn(pfn);
    if (pfn < this.totalPages + 1) return undefined;
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.regions[mid];
      if (pfn < r.startPfn) hi = mid - 1;
      else if (pfn >= r.startPfn + r.npages) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** is_zero_pfn: the shared (small) zero page. */
  isZeroPfn(pfn: number): boolean {
    return pfn === this.zeroPfn;
  }

  /** is_huge_zero_pfn: a page of the huge zero folio. */
  isHugeZeroPfn(pfn: number): boolean {
    return this.hugeZero !== NO_PFN && pfn >= this.hugeZero && pfn < this.hugeZero + (1 << HPAGE_PMD_ORDER);
  }

  /** PageReserved: the zero pages (never freed; get/put, mapcount and rmap are no-ops on them). */
  isReserved(pfn: number): boolean {
    this.physCheckPfn(pfn);
    return (this.flags[pfn] & PG_reserved) !== 0;
  }

  /**
   * Whether `pfn` is free: on the page allocator's free lists (PageBuddy) or on its device region's free
   * list. Tail pages of an allocated folio are not free. No locks.
   */
  isFree(pfn: number): boolean {
    this.physCheckPfn(pfn);
    this.countAccess?.(this.headArr[pfn], false);
    const st = this.state[pfn];
    return st === ST_FREE || st === ST_DEVICE_FREE || (st === ST_TAIL && this.isFreeHead(this.headArr[pfn]));
  }

  /**
   * Whether the folio headed by `head` is free (on the page allocator's or its device region's free
   * list). `head` must be a head pfn; unchecked and not a dpor access (isFree does both). No locks;
   * atomic.
   */
  protected isFreeHead(head: number): boolean {
    const st = this.state[head];
    return st === ST_FREE || st === ST_DEVICE_FREE;
  }

  /** compound_head / page_folio: the head pfn of the folio `pfn` belongs to (itself for order 0). */
  folioHead(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.headArr[pfn];
  }

  /** folio_order. */
  folioOrder(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.orderArr[this.headArr[pfn]];
  }

  /** folio_nr_pages. */
  folioNrPages(pfn: number): number {
    return 1 << this.folioOrder(pfn);
  }

  /** page_to_nid: NUMA node of the page. */
  nodeOf(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.nodeArr[pfn];
  }

  /** The PG_* word of the page: its folio's flags plus its own per-page flags. */
  pageFlags(pfn: number): number {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    this.countAccess?.(head, false);
    return (this.flags[head] & ~PG_PER_PAGE) | (this.flags[pfn] & PG_PER_PAGE);
  }

  /** folio_test_*: whether any bit of `flag` is set (per page for PG_PER_PAGE bits). No locks. */
  testFlag(pfn: number, flag: number): boolean {
    return (this.pageFlags(pfn) & flag) !== 0;
  }

  /** folio_set_*: sets `flag` (not PG_head/PG_reserved, which the allocator owns). No locks. */
  setFlag(pfn: number, flag: number): void {
    this.physCheckFlagWrite(pfn, flag);
    this.countAccess?.(this.headArr[pfn], true);
    this.flags[this.physFlagIndex(pfn, flag)] |= flag;
  }

  /** folio_clear_*: clears `flag`. No locks. */
  clearFlag(pfn: number, flag: number): void {
    this.physCheckFlagWrite(pfn, flag);
    this.countAccess?.(this.headArr[pfn], true);
    this.flags[this.physFlagIndex(pfn, flag)] &= ~flag;
  }

  /** folio_test_set_*: sets `flag`, returning whether it was already set. No locks; atomic. */
  testAndSetFlag(pfn: number, flag: number): boolean {
    this.physCheckFlagWrite(pfn, flag);
    this.countAccess?.(this.headArr[pfn], true);
    const i = this.physFlagIndex(pfn, flag);
    const old = (this.flags[i] & flag) !== 0;
    this.flags[i] |= flag;
    return old;
  }

  /** folio_test_clear_*: clears `flag`, returning whether it was set. No locks; atomic. */
  testAndClearFlag(pfn: number, flag: number): boolean {
    this.physCheckFlagWrite(pfn, flag);
    this.countAccess?.(this.headArr[pfn], true);
    const i = this.physFlagIndex(pfn, flag);
    const old = (this.flags[i] & flag) !== 0;
    this.flags[i] &= ~flag;
    return old;
  }

  /**
   * folio_trylock: takes PG_locked if clear. Returns whether it did. The sleeping folio_lock is built on
   * this by the simulated-thread layer (wait on the folio's wait queue, retry). No locks; atomic.
   */
  trylockPage(pfn: number): boolean {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    this.countAccess?.(head, true);
    if (this.state[head] !== ST_ALLOCATED) {
      this.physViolation('use-after-free', `lock_page on ${this.physDescribe(pfn)}`);
      return false;
    }
    if (this.flags[head] & PG_locked) return false;
    this.flags[head] |= PG_locked;
    return true;
  }

  /** folio_unlock: clears PG_locked; unlocking an unlocked folio is a violation. No locks; atomic. */
  unlockPage(pfn: number): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    this.countAccess?.(head, true);
    if (!(this.flags[head] & PG_locked)) {
      this.physViolation('unlock-unlocked', `unlock_page on ${this.physDescribe(pfn)}`);
      return;
    }
    this.flags[head] &= ~PG_locked;
  }

  /**
   * Sets folio->mapping and folio->index: the file (address_space) and the page index within it of a
   * page-cache folio, or for an anonymous folio (PG_anon) its anon_vma and linear page index, as
   * __folio_set_anon and filemap_add_folio do. `pfn` may be any page of the folio; index is the head's.
   * No locks (the caller holds the folio lock).
   */
  setMapping(pfn: number, mapping: unknown, index: number): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    this.mappingArr[head] = mapping;
    this.indexArr[head] = index;
  }

  /** folio_mapping / folio->mapping (undefined when none). */
  mappingOf(pfn: number): unknown {
    this.physCheckPfn(pfn);
    return this.mappingArr[this.headArr[pfn]];
  }

  /** page_pgoff: the folio's index plus the page's offset in the folio. */
  indexOf(pfn: number): number {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    return this.indexArr[head] + (pfn - head);
  }

  /**
   * Sets folio->swap (the swap slot of a folio in the swap cache; -1 for none). A large folio's pages
   * use consecutive slots from it. No locks (the caller holds the folio lock).
   */
  setSwapSlot(pfn: number, slot: number): void {
    this.physCheckPfn(pfn);
    if (!Number.isInteger(slot) || slot < -1 || slot > 0x7fffffff)
      throw new RangeError(`setSwapSlot: bad slot ${slot}`);
    this.swapSlotArr[this.headArr[pfn]] = slot;
  }

  /** page_swap_entry: the swap slot of this page while its folio is in the swap cache, or -1. */
  swapSlotOf(pfn: number): number {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    const slot = this.swapSlotArr[head];
    return slot < 0 ? -1 : slot + (pfn - head);
  }

  /** One-line description of a frame for traces and violation messages (dump_page). */
  describePage(pfn: number): string {
    this.physCheckPfn(pfn);
    return this.physDescribe(pfn);
  }

  /** prep_new_page: the state of a freshly allocated folio. */
  protected physInitFolio(head: number, order: number): void {
    const nr = 1 << order;
    for (let p = head; p < head + nr; p++) {
      this.headArr[p] = head;
      this.state[p] = p === head ? ST_ALLOCATED : ST_TAIL;
      this.flags[p] = 0;
      this.refcount[p] = 0;
      this.mapcountArr[p] = 0;
      this.entireMapcountArr[p] = 0;
      this.folioMapcountArr[p] = 0;
      this.pincountArr[p] = 0;
      this.orderArr[p] = 0;
      this.swapSlotArr[p] = -1;
      this.indexArr[p] = 0;
      this.lruNextArr[p] = NO_PFN;
      this.lruPrevArr[p] = NO_PFN;
      this.freeNext[p] = NO_PFN;
    }
    this.orderArr[head] = order;
    this.refcount[head] = 1;
    this.flags[head] = order > 0 ? PG_head : 0;
  }

  /**
   * Throws a RangeError unless `pfn` is an integer in [0, nrFrames) outside the alignment holes before
   * device regions (pfn_valid as an assertion: a bad pfn is a bug in the model, not a violation). No
   * locks; atomic.
   */
  protected physCheckPfn(pfn: number): void {
    if (!(pfn >= 0 && pfn < this.nframes) || (pfn | 0) !== pfn || this.state[pfn] === ST_HOLE)
      throw new RangeError(
        `pfn ${pfn} out of range [0, ${this.nframes}) or in a hole before a device region`,
      );
  }

  /** Throws a RangeError unless `node` is an integer in [0, nodes). No locks; atomic. */
  protected physCheckNode(node: number): void {
    if (!(node >= 0 && node < this.nodes) || (node | 0) !== node)
      throw new RangeError(`node ${node} out of range [0, ${this.nodes})`);
  }

  /**
   * Throws a RangeError unless the copy of `length` bytes at `offset` in a page and at `bufOffset` in a
   * buffer of `bufLength` bytes stays inside both (what a kmap_local_page + memcpy must respect). No
   * locks; atomic.
   */
  protected physCheckSpan(offset: number, length: number, bufLength: number, bufOffset: number): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      !Number.isInteger(bufOffset) ||
      offset < 0 ||
      length < 0 ||
      bufOffset < 0 ||
      offset + length > this.pageSize ||
      bufOffset + length > bufLength
    )
      throw new RangeError(
        `page access offset ${offset} length ${length} (buffer ${bufLength} from ${bufOffset}) outside a ${this.pageSize}-byte page`,
      );
  }

  /**
   * Checks `pfn` and throws a RangeError when `flag` has PG_head, PG_reserved or PG_lru, which only the
   * allocator and the LRU code change (the setFlag family may not). No locks; atomic.
   */
  protected physCheckFlagWrite(pfn: number, flag: number): void {
    this.physCheckPfn(pfn);
    if (flag & (PG_head | PG_reserved | PG_lru))
      throw new RangeError(`page flags head/reserved/lru are owned by the allocator and the LRU code`);
  }

  /**
   * The frame that keeps `flag` for `pfn`: the page itself for PG_PER_PAGE bits, else its folio's head
   * (folio flags live on the head page, as in struct folio). No locks; atomic.
   */
  protected physFlagIndex(pfn: number, flag: number): number {
    return flag & PG_PER_PAGE ? pfn : this.headArr[pfn];
  }

  /**
   * The text of describePage (dump_page) without its pfn check: state, zone, folio head and order,
   * refcount, mapcount, flags and node, for violation messages. Reads the folio's flags as a dpor
   * access. No locks; atomic.
   */
  protected physDescribe(pfn: number): string {
    const head = this.headArr[pfn];
    const st = ['free', 'allocated', 'tail', 'reserved', 'leaked', 'device-free', 'hole'][this.state[pfn]];
    const zone = pfn >= this.totalPages + 1 ? ` device-${this.deviceRegionOf(pfn)?.kind ?? '?'}` : '';
    return (
      `pfn 0x${pfn.toString(16)} (${st}${zone}, head 0x${head.toString(16)} order ${this.orderArr[head]}, ` +
      `refcount ${this.refcount[head]} mapcount ${this.mapcountArr[pfn] + this.entireMapcountArr[head]}, ` +
      `flags ${pageFlagsToString(this.pageFlags(pfn))}, node ${this.nodeArr[pfn]})`
    );
  }

  /**
   * Reports a page-lifetime error (what bad_page() or a VM_BUG_ON would catch) as data: counts it in
   * `violationCount`, keeps the first MAX_KEPT_VIOLATIONS in `violations` and passes it to the
   * `onViolation` option. Never throws; the caller decides what the bad operation still does. No
   * locks; atomic.
   */
  protected physViolation(kind: PageViolationKind, message: string): void {
    this.violationCount++;
    if (this.violations.length < MAX_KEPT_VIOLATIONS) this.violations.push({ kind, message });
    this.onViolation?.(kind, message);
  }

  /** Reallocates every per-frame array to `capacity` frames (device regions grow the pfn space). */
  protected grow(capacity: number): void {
    const old = this.capacity;
    // Every per-frame typed array is a view of one buffer: an array buffer is an allocation
    // outside the heap with bookkeeping of its own, and a kernel (a schedule's world) builds
    // these arrays once or twice. Doubles first, then 32-bit, then bytes: each view aligned.
    const buf = this.buffers.zeroed(capacity * (8 + 11 * 4 + 4 * 1));
    let at = 0;
    const f64 = (a: Float64Array): Float64Array<ArrayBuffer> => {
      const b = new Float64Array(buf, at, capacity);
      at += 8 * capacity;
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array, fill: number): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(buf, at, capacity);
      at += 4 * capacity;
      b.set(a);
      if (fill !== 0) b.fill(fill, old);
      return b;
    };
    const u32 = (a: Uint32Array): Uint32Array<ArrayBuffer> => {
      const b = new Uint32Array(buf, at, capacity);
      at += 4 * capacity;
      b.set(a);
      return b;
    };
    const u8 = (a: Uint8Array): Uint8Array<ArrayBuffer> => {
      const b = new Uint8Array(buf, at, capacity);
      at += capacity;
      b.set(a);
      return b;
    };
    this.indexArr = f64(this.indexArr);
    this.refcount = i32(this.refcount, 0);
    this.mapcountArr = i32(this.mapcountArr, 0);
    this.entireMapcountArr = i32(this.entireMapcountArr, 0);
    this.folioMapcountArr = i32(this.folioMapcountArr, 0);
    this.pincountArr = i32(this.pincountArr, 0);
    this.flags = u32(this.flags);
    this.headArr = i32(this.headArr, 0);
    for (let p = old; p < capacity; p++) this.headArr[p] = p;
    this.freeNext = i32(this.freeNext, NO_PFN);
    this.lruNextArr = i32(this.lruNextArr, NO_PFN);
    this.lruPrevArr = i32(this.lruPrevArr, NO_PFN);
    this.swapSlotArr = i32(this.swapSlotArr, -1);
    this.nodeArr = u8(this.nodeArr);
    this.orderArr = u8(this.orderArr);
    this.state = u8(this.state);
    if (old === 0) this.state.fill(ST_FREE);
    this.lruWhich = u8(this.lruWhich);
    for (let p = old; p < capacity; p++) {
      this.mappingArr.push(undefined);
      this.contents.push(undefined);
      this.rmap.push(undefined);
    }
    this.capacity = capacity;
  }
}
