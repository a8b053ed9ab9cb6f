/**
 * Physical memory: the page frames (struct page / struct folio), the buddy allocator's free lists per
 * NUMA node, the shared zero page, page contents, the reverse map, the LRU lists reclaim scans, and
 * ZONE_DEVICE regions (dev_pagemap) for device-private and device-coherent memory.
 *
 * Frames are kept as struct-of-arrays (typed arrays indexed by pfn) so a page costs a few dozen bytes
 * and no object. Every method is synchronous and takes no locks: the caller serialises, as the kernel's
 * caller holds the PTE lock, the folio lock, the LRU lock or the zone lock. The simulated-thread layer
 * adds the scheduling points and the sleeping primitives (a waiting lock_page on top of
 * {@link PhysicalMemory.trylockPage}).
 *
 * Errors of the caller's arguments (a pfn out of range, an order the model does not support) throw a
 * RangeError: they are bugs in the model. Lifetime errors a kernel would catch with bad_page() or
 * VM_BUG_ON (freeing a mapped page, a refcount underflow, a use of a free page) are reported through
 * `onViolation` as data and never throw, so the simulator can report them with the schedule that led
 * to them.
 */
import { EAGAIN, EBUSY, ENOMEM } from '../sim/errno.js';
import { HPAGE_PMD_ORDER, PAGE_SHIFT } from './constants.js';

// ---------------------------------------------------------------------------------------------
// Page flags (include/linux/page-flags.h). Folio-wide flags live on the head page and every accessor
// resolves a tail pfn to its head, except the per-page ones in PG_PER_PAGE.
// ---------------------------------------------------------------------------------------------

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

/** Flags that must be clear when a folio is freed (PAGE_FLAGS_CHECK_AT_FREE, a subset). */
const PG_CHECK_AT_FREE = PG_locked | PG_writeback | PG_swapcache | PG_mlocked;

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

// ---------------------------------------------------------------------------------------------
// LRU lists (enum lru_list in include/linux/mmzone.h)
// ---------------------------------------------------------------------------------------------

export const LRU_INACTIVE_ANON = 0;
export const LRU_ACTIVE_ANON = 1;
export const LRU_INACTIVE_FILE = 2;
export const LRU_ACTIVE_FILE = 3;
export const LRU_UNEVICTABLE = 4;
export const NR_LRU_LISTS = 5;
export type LruList = 0 | 1 | 2 | 3 | 4;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

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

export type DeviceMemoryKind = 'private' | 'coherent';

/** ZONE_NORMAL (all system RAM of the model, including the zero pages) or ZONE_DEVICE. */
export type Zone = 'normal' | 'device';

/**
 * A ZONE_DEVICE region: struct dev_pagemap with its type (MEMORY_DEVICE_PRIVATE / _COHERENT), owner
 * (pgmap->owner, matched against hmm_range.dev_private_owner) and page_free callback.
 */
export interface DeviceRegion {
  readonly id: number;
  readonly startPfn: number;
  readonly npages: number;
  readonly kind: DeviceMemoryKind;
  readonly owner: unknown;
  readonly node: number;
  /** Pages on the region's free list (not handed out by {@link PhysicalMemory.allocDevicePage}). */
  readonly nrFree: number;
}

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
}

/** One reverse mapping of a page: `mm` maps it at `va`, through a PMD when `pmd` is true. */
export interface RmapEntry<Mm> {
  readonly mm: Mm;
  readonly va: number;
  readonly pfn: number;
  readonly pmd: boolean;
}

interface DeviceRegionState extends DeviceRegion {
  nrFree: number;
  freeHead: number;
  readonly pageFree: ((pfn: number) => void) | undefined;
}

// Frame states. A tail page is TAIL while its folio is allocated; free pages are FREE.
const ST_FREE = 0;
const ST_ALLOCATED = 1;
const ST_TAIL = 2;
const ST_RESERVED = 3;
const ST_LEAKED = 4; // freed with bad state: kept out of circulation, as bad_page() does
const ST_DEVICE_FREE = 5; // a ZONE_DEVICE page on its region's free list
const ST_HOLE = 6; // an alignment hole before a device region: not a valid pfn

// Segment lists (one segment = the part of a naturally aligned HPAGE_PMD_NR block inside one node).
const SEG_NONE = 0;
const SEG_PARTIAL = 1;
const SEG_FULL = 2;

const MAX_NODES = 64;
const MAX_KEPT_VIOLATIONS = 1000;
const NO_PFN = -1;

/**
 * The page frames of the machine: struct page/struct folio state for every pfn, the page allocator
 * (alloc_pages_node / __free_pages with per-node free lists), the zero pages, page contents, the reverse
 * map (what rmap_walk finds through anon_vma / address_space, here kept per page), the LRU lists and
 * ZONE_DEVICE regions.
 *
 * pfn layout: [0, npages) system RAM split evenly across nodes; npages the shared zero page
 * (empty_zero_page); then the device regions, each starting at a HPAGE_PMD_NR-aligned pfn.
 *
 * Refcounts are per folio (kept on the head page; any pfn of the folio may be passed); mapcounts, contents,
 * rmap entries and the PG_PER_PAGE flags are per page. No locks; the caller serialises.
 *
 * `Mm` is the type of the address-space objects recorded in the reverse map (opaque here).
 */
export class PhysicalMemory<Mm = unknown> {
  readonly pageShift: number;
  readonly pageSize: number;
  readonly nodes: number;
  /** Pages of system RAM (ZONE_NORMAL, excluding the zero page). */
  readonly totalPages: number;
  /** pfn of the shared zero page (ZERO_PAGE(0)), reserved at construction. */
  readonly zeroPfn: number;
  /** Violations seen so far (the first {@link MAX_KEPT_VIOLATIONS}); `violationCount` counts all. */
  readonly violations: Array<{ kind: PageViolationKind; message: string }> = [];
  violationCount = 0;

  private readonly onViolation: ((kind: PageViolationKind, message: string) => void) | undefined;
  private readonly shouldFailAlloc: ((order: number, node: number) => boolean) | undefined;

  // --- per-frame state (struct page), indexed by pfn; grown when device regions are added ---
  private capacity = 0;
  private nframes = 0;
  private refcount = new Int32Array(0); // head pages only (folio refcount)
  private mapcountArr = new Int32Array(0); // per page, PTE mappings (page->_mapcount + 1)
  private entireMapcountArr = new Int32Array(0); // head only: PMD mappings (folio->_entire_mapcount + 1)
  private folioMapcountArr = new Int32Array(0); // head only: all mappings (folio->_large_mapcount + 1)
  private pincountArr = new Int32Array(0); // head only: FOLL_PIN references
  private flags = new Uint32Array(0);
  private nodeArr = new Uint8Array(0);
  private orderArr = new Uint8Array(0); // head only
  private headArr = new Int32Array(0); // compound_head: pfn of the folio's head (itself for heads)
  private state = new Uint8Array(0);
  private freeNext = new Int32Array(0); // free-list link (segment or device region)
  private lruNextArr = new Int32Array(0); // towards the oldest
  private lruPrevArr = new Int32Array(0); // towards the newest
  private lruWhich = new Uint8Array(0);
  private swapSlotArr = new Int32Array(0); // head only: folio->swap, -1 when none
  private indexArr = new Float64Array(0); // head only: folio->index
  private mappingArr: unknown[] = []; // head only: folio->mapping (file / address_space), sparse
  private contents: Array<Uint8Array | undefined> = []; // sparse; undefined reads as zeros
  private rmap: Array<unknown[] | undefined> = []; // sparse; [mm, vaCode, mm, vaCode, ...]

  // --- allocator state for system RAM ---
  private readonly segOf: Int32Array; // pfn -> segment
  private readonly segStart: Int32Array;
  private readonly segCap: Int32Array;
  private readonly segNode: Uint8Array;
  private readonly segFreeHead: Int32Array;
  private readonly segFreeCount: Int32Array;
  private readonly segPrev: Int32Array;
  private readonly segNext: Int32Array;
  private readonly segList: Uint8Array;
  private readonly partialHead: Int32Array; // per node
  private readonly fullHead: Int32Array; // per node
  private readonly nodeFree: Int32Array; // per node
  private readonly nodeStartArr: Int32Array; // nodes + 1 boundaries

  // --- LRU lists, per node and list: newest at head, oldest at tail ---
  private readonly lruHeadArr: Int32Array;
  private readonly lruTailArr: Int32Array;
  private readonly lruSizeArr: Int32Array;

  private readonly regions: DeviceRegionState[] = [];
  private hugeZero = NO_PFN;

  private nrFreeCount = 0;
  private nrAllocatedCount = 0;
  private nrLeakedCount = 0;

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

    this.grow(npages + 1);
    this.nframes = npages + 1;

    // Node boundaries: pages split evenly.
    this.nodeStartArr = new Int32Array(nodes + 1);
    for (let n = 0; n <= nodes; n++) this.nodeStartArr[n] = Math.floor((n * npages) / nodes);

    // Segments: the intersection of each aligned HPAGE_PMD_NR block with one node.
    const nr = 1 << HPAGE_PMD_ORDER;
    const starts: number[] = [];
    for (let n = 0; n < nodes; n++) {
      const lo = this.nodeStartArr[n];
      const hi = this.nodeStartArr[n + 1];
      for (let p = lo; p < hi; p = Math.min(hi, (Math.floor(p / nr) + 1) * nr)) starts.push(p);
    }
    const nseg = starts.length;
    this.segOf = new Int32Array(npages);
    this.segStart = new Int32Array(nseg);
    this.segCap = new Int32Array(nseg);
    this.segNode = new Uint8Array(nseg);
    this.segFreeHead = new Int32Array(nseg);
    this.segFreeCount = new Int32Array(nseg);
    this.segPrev = new Int32Array(nseg).fill(-1);
    this.segNext = new Int32Array(nseg).fill(-1);
    this.segList = new Uint8Array(nseg);
    this.partialHead = new Int32Array(nodes).fill(-1);
    this.fullHead = new Int32Array(nodes).fill(-1);
    this.nodeFree = new Int32Array(nodes);
    let node = 0;
    for (let s = 0; s < nseg; s++) {
      const start = starts[s];
      while (start >= this.nodeStartArr[node + 1]) node++;
      const end = Math.min(this.nodeStartArr[node + 1], (Math.floor(start / nr) + 1) * nr);
      this.segStart[s] = start;
      this.segCap[s] = end - start;
      this.segNode[s] = node;
      for (let p = start; p < end; p++) {
        this.segOf[p] = s;
        this.nodeArr[p] = node;
        this.freeNext[p] = p + 1 < end ? p + 1 : NO_PFN;
      }
      this.segFreeHead[s] = start;
      this.segFreeCount[s] = end - start;
      this.nodeFree[node] += end - start;
    }
    // Link segments so the lowest pfns are handed out first.
    for (let s = nseg - 1; s >= 0; s--) this.segRelist(s);
    this.nrFreeCount = npages;

    this.lruHeadArr = new Int32Array(nodes * NR_LRU_LISTS).fill(NO_PFN);
    this.lruTailArr = new Int32Array(nodes * NR_LRU_LISTS).fill(NO_PFN);
    this.lruSizeArr = new Int32Array(nodes * NR_LRU_LISTS);

    this.zeroPfn = npages;
    this.state[this.zeroPfn] = ST_RESERVED;
    this.flags[this.zeroPfn] = PG_reserved | PG_uptodate;
    this.refcount[this.zeroPfn] = 1;
  }

  // ===========================================================================================
  // Counters and geometry
  // ===========================================================================================

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

  /** Free pages on `node` (NR_FREE_PAGES of the node). */
  nrFreeOnNode(node: number): number {
    this.physCheckNode(node);
    return this.nodeFree[node];
  }

  /** The pfn range [start, end) of system RAM on `node` (pgdat->node_start_pfn, node_spanned_pages). */
  nodeRange(node: number): { start: number; end: number } {
    this.physCheckNode(node);
    return { start: this.nodeStartArr[node], end: this.nodeStartArr[node + 1] };
  }

  // ===========================================================================================
  // Allocation (alloc_pages_node, __free_pages)
  // ===========================================================================================

  /**
   * alloc_pages_node(node, gfp, order): allocates a folio of order 0 or HPAGE_PMD_ORDER (naturally
   * aligned, contiguous, on one node) and returns its head pfn, or -ENOMEM. Tries `node` first, then the
   * following nodes (wrapping round) unless `thisNode` (__GFP_THISNODE). The folio starts with refcount 1,
   * no mappings, no flags but PG_head for a large folio, and contents that read as zeros.
   * Deviation: only orders 0 and 9 (no mTHP); no reclaim or compaction on failure (the caller reclaims).
   * No locks (the zone lock is implied); atomic.
   */
  allocPages(order: number, node = 0, thisNode = false): number {
    if (order !== 0 && order !== HPAGE_PMD_ORDER)
      throw new RangeError(`allocPages: order ${order} not supported (0 or ${HPAGE_PMD_ORDER})`);
    this.physCheckNode(node);
    if (this.shouldFailAlloc !== undefined && this.shouldFailAlloc(order, node)) return -ENOMEM;
    for (let i = 0; i < this.nodes; i++) {
      const n = (node + i) % this.nodes;
      const pfn = order === 0 ? this.physAllocOrder0(n) : this.physAllocPmdOrder(n);
      if (pfn >= 0) return pfn;
      if (thisNode) break;
    }
    return -ENOMEM;
  }

  /** alloc_page: {@link allocPages} of order 0. Returns the pfn or -ENOMEM. No locks; atomic. */
  allocPage(node = 0, thisNode = false): number {
    return this.allocPages(0, node, thisNode);
  }

  /**
   * mm_get_huge_zero_folio: the huge zero folio (order HPAGE_PMD_ORDER, PG_reserved), allocated on first
   * use. Returns its head pfn or -ENOMEM. Deviation: once allocated it is never freed (the kernel's
   * shrinker may free it when unused). No locks; atomic.
   */
  hugeZeroPfn(): number {
    if (this.hugeZero !== NO_PFN) return this.hugeZero;
    const pfn = this.allocPages(HPAGE_PMD_ORDER, 0);
    if (pfn < 0) return pfn;
    const nr = 1 << HPAGE_PMD_ORDER;
    this.state[pfn] = ST_RESERVED;
    this.flags[pfn] |= PG_reserved | PG_uptodate;
    for (let i = 1; i < nr; i++) this.flags[pfn + i] |= PG_reserved;
    this.hugeZero = pfn;
    return pfn;
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
    const st = this.state[pfn];
    return st === ST_FREE || st === ST_DEVICE_FREE || (st === ST_TAIL && this.isFreeHead(this.headArr[pfn]));
  }

  private isFreeHead(head: number): boolean {
    const st = this.state[head];
    return st === ST_FREE || st === ST_DEVICE_FREE;
  }

  // ===========================================================================================
  // Folio geometry
  // ===========================================================================================

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

  // ===========================================================================================
  // Reference counts (folio_get, folio_put, folio_try_get, folio_ref_freeze, pinning)
  // ===========================================================================================

  /** folio_ref_count of the folio containing `pfn` (0 when free or frozen). */
  refcountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.refcount[this.headArr[pfn]];
  }

  /**
   * get_page / folio_get / folio_ref_add: takes `n` references on the folio. A get on a free or frozen
   * folio is a use-after-free violation and takes nothing. No-op on reserved (zero) pages, which the
   * kernel does not refcount when it maps them. No locks; atomic.
   */
  getPage(pfn: number, n = 1): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] === ST_RESERVED) return;
    if (this.state[head] !== ST_ALLOCATED || this.refcount[head] <= 0) {
      this.physViolation('use-after-free', `get_page on ${this.physDescribe(pfn)}`);
      return;
    }
    this.refcount[head] += n;
  }

  /**
   * folio_try_get (get_page_unless_zero): takes a reference unless the folio is free or frozen.
   * Returns whether it did. Always true for reserved pages. No locks; atomic.
   */
  tryGetPage(pfn: number): boolean {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] === ST_RESERVED) return true;
    if (this.state[head] !== ST_ALLOCATED || this.refcount[head] <= 0) return false;
    this.refcount[head]++;
    return true;
  }

  /**
   * put_page / folio_put / folio_put_refs: drops `n` references; at zero the folio is freed (removed
   * from its LRU list, contents dropped, returned to its free list; a device page goes back to its
   * region after the region's page_free). Freeing a folio that is still mapped, pinned, locked, under
   * writeback, in the swap cache or still in the reverse map is a 'bad-page' violation and the folio is
   * leaked, as bad_page() does. A put below zero is a 'refcount-underflow' violation. No-op on reserved
   * pages. No locks; atomic.
   */
  putPage(pfn: number, n = 1): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    const st = this.state[head];
    if (st === ST_RESERVED) return;
    if (st !== ST_ALLOCATED || this.refcount[head] < n) {
      this.physViolation('refcount-underflow', `put_page(${n}) on ${this.physDescribe(pfn)}`);
      return;
    }
    this.refcount[head] -= n;
    if (this.refcount[head] === 0) this.physFreeFolio(head);
  }

  /**
   * folio_ref_freeze: if the folio's refcount equals `expected`, sets it to 0 (frozen: tryGetPage fails,
   * nothing frees it) and returns true. Migration and split use it to own a folio exclusively.
   * No locks; atomic.
   */
  freezeRefcount(pfn: number, expected: number): boolean {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] !== ST_ALLOCATED || this.refcount[head] !== expected || expected <= 0) return false;
    this.refcount[head] = 0;
    return true;
  }

  /** folio_ref_unfreeze: sets a frozen folio's refcount to `count` (> 0). No locks; atomic. */
  unfreezeRefcount(pfn: number, count: number): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] !== ST_ALLOCATED || this.refcount[head] !== 0 || count <= 0)
      throw new RangeError(`unfreezeRefcount(${count}): ${this.physDescribe(pfn)} is not frozen`);
    this.refcount[head] = count;
  }

  /**
   * try_grab_folio(FOLL_PIN): pins the folio (pin_user_pages). Deviation: a pin is one reference plus
   * one count in a separate pincount, for every order (the kernel adds GUP_PIN_COUNTING_BIAS to the
   * refcount of small folios). Returns false, taking nothing, if the folio is free or frozen.
   * No locks; atomic.
   */
  pinPage(pfn: number): boolean {
    if (!this.tryGetPage(pfn)) return false;
    const head = this.headArr[pfn];
    if (this.state[head] !== ST_RESERVED) this.pincountArr[head]++;
    return true;
  }

  /** unpin_user_page: drops a pin and its reference. No locks; atomic. */
  unpinPage(pfn: number): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] === ST_RESERVED) return;
    if (this.pincountArr[head] <= 0) {
      this.physViolation('pincount-underflow', `unpin_user_page on ${this.physDescribe(pfn)}`);
      return;
    }
    this.pincountArr[head]--;
    this.putPage(head);
  }

  /** folio_maybe_dma_pinned (exact in the model): the folio has FOLL_PIN references. */
  maybeDmaPinned(pfn: number): boolean {
    this.physCheckPfn(pfn);
    return this.pincountArr[this.headArr[pfn]] > 0;
  }

  /** Number of FOLL_PIN pins on the folio. */
  pincountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.pincountArr[this.headArr[pfn]];
  }

  // ===========================================================================================
  // Flags (PageFoo / SetPageFoo / ClearPageFoo / TestSetPageFoo; folio_test_foo ...)
  // ===========================================================================================

  /** The PG_* word of the page: its folio's flags plus its own per-page flags. */
  pageFlags(pfn: number): number {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    return (this.flags[head] & ~PG_PER_PAGE) | (this.flags[pfn] & PG_PER_PAGE);
  }

  /** folio_test_*: whether any bit of `flag` is set (per page for PG_PER_PAGE bits). No locks. */
  testFlag(pfn: number, flag: number): boolean {
    return (this.pageFlags(pfn) & flag) !== 0;
  }

  /** folio_set_*: sets `flag` (not PG_head/PG_reserved, which the allocator owns). No locks. */
  setFlag(pfn: number, flag: number): void {
    this.physCheckFlagWrite(pfn, flag);
    this.flags[this.physFlagIndex(pfn, flag)] |= flag;
  }

  /** folio_clear_*: clears `flag`. No locks. */
  clearFlag(pfn: number, flag: number): void {
    this.physCheckFlagWrite(pfn, flag);
    this.flags[this.physFlagIndex(pfn, flag)] &= ~flag;
  }

  /** folio_test_set_*: sets `flag`, returning whether it was already set. No locks; atomic. */
  testAndSetFlag(pfn: number, flag: number): boolean {
    this.physCheckFlagWrite(pfn, flag);
    const i = this.physFlagIndex(pfn, flag);
    const old = (this.flags[i] & flag) !== 0;
    this.flags[i] |= flag;
    return old;
  }

  /** folio_test_clear_*: clears `flag`, returning whether it was set. No locks; atomic. */
  testAndClearFlag(pfn: number, flag: number): boolean {
    this.physCheckFlagWrite(pfn, flag);
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
    if (!(this.flags[head] & PG_locked)) {
      this.physViolation('unlock-unlocked', `unlock_page on ${this.physDescribe(pfn)}`);
      return;
    }
    this.flags[head] &= ~PG_locked;
  }

  // ===========================================================================================
  // Mapping, index and swap entry (folio->mapping, folio->index, folio->swap)
  // ===========================================================================================

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

  // ===========================================================================================
  // Contents (kmap_local_page + memcpy, copy_highpage, clear_highpage)
  // ===========================================================================================

  /**
   * The page's bytes, or undefined when it reads as zeros. The array is the model's backing store:
   * read it, do not keep or modify it (use writeBytes / setPageContents). No locks.
   */
  pageContents(pfn: number): Uint8Array | undefined {
    this.physCheckPfn(pfn);
    return this.contents[pfn];
  }

  /**
   * Copies `length` bytes of the page from `offset` into `dst` at `dstOffset` (a read through
   * kmap_local_page). Reading a free page is a use-after-free violation (it reads zeros). Device-private
   * pages hold contents too (the device's view); the CPU may not map them, which is the caller's rule.
   * No locks.
   */
  readBytes(
    pfn: number,
    offset: number,
    dst: Uint8Array,
    dstOffset = 0,
    length = dst.length - dstOffset,
  ): void {
    this.physCheckPfn(pfn);
    this.physCheckSpan(offset, length, dst.length, dstOffset);
    if (this.isFree(pfn)) this.physViolation('use-after-free', `read of ${this.physDescribe(pfn)}`);
    const data = this.contents[pfn];
    if (data === undefined) dst.fill(0, dstOffset, dstOffset + length);
    else dst.set(data.subarray(offset, offset + length), dstOffset);
  }

  /**
   * Copies `length` bytes from `src` at `srcOffset` into the page at `offset`, allocating the page's
   * contents on first write. A write to a reserved (zero) page or a free page is a violation and is
   * dropped. No locks.
   */
  writeBytes(
    pfn: number,
    offset: number,
    src: Uint8Array,
    srcOffset = 0,
    length = src.length - srcOffset,
  ): void {
    this.physCheckPfn(pfn);
    this.physCheckSpan(offset, length, src.length, srcOffset);
    if (this.flags[pfn] & PG_reserved) {
      this.physViolation('zero-page-write', `write of ${length} bytes to ${this.physDescribe(pfn)}`);
      return;
    }
    if (this.isFree(pfn)) {
      this.physViolation('use-after-free', `write of ${length} bytes to ${this.physDescribe(pfn)}`);
      return;
    }
    let data = this.contents[pfn];
    if (data === undefined) {
      if (length === 0) return;
      data = new Uint8Array(this.pageSize);
      this.contents[pfn] = data;
    }
    data.set(src.subarray(srcOffset, srcOffset + length), offset);
  }

  /**
   * Replaces the page's contents with a copy of `data` (pageSize bytes), or with zeros when undefined:
   * swap-in (swap_read_folio) and device copies. Same violations as writeBytes. No locks.
   */
  setPageContents(pfn: number, data: Uint8Array | undefined): void {
    this.physCheckPfn(pfn);
    if (data !== undefined && data.length !== this.pageSize)
      throw new RangeError(`setPageContents: ${data.length} bytes, page size is ${this.pageSize}`);
    if (this.flags[pfn] & PG_reserved) {
      this.physViolation('zero-page-write', `set contents of ${this.physDescribe(pfn)}`);
      return;
    }
    if (this.isFree(pfn)) {
      this.physViolation('use-after-free', `set contents of ${this.physDescribe(pfn)}`);
      return;
    }
    this.contents[pfn] = data === undefined ? undefined : data.slice();
  }

  /** copy_highpage(dst, src): COW, migration and collapse copies. No locks. */
  copyPage(dstPfn: number, srcPfn: number): void {
    this.physCheckPfn(srcPfn);
    if (this.isFree(srcPfn)) this.physViolation('use-after-free', `copy from ${this.physDescribe(srcPfn)}`);
    this.setPageContents(dstPfn, this.contents[srcPfn]);
  }

  /** clear_highpage: the page reads as zeros again (its bytes are dropped). No locks. */
  clearPage(pfn: number): void {
    this.setPageContents(pfn, undefined);
  }

  // ===========================================================================================
  // Mapcount and reverse map (folio_add_*_rmap_*, folio_remove_rmap_*, rmap_walk)
  // ===========================================================================================

  /**
   * folio_add_anon_rmap_pte / folio_add_file_rmap_pte / folio_add_new_anon_rmap: `mm` maps this page
   * through a PTE (present, device-private or device-exclusive) at `va`. Increments the page's mapcount
   * and the folio's, and records (mm, va) in the reverse map. No-op on reserved pages (the zero page is
   * not rmapped). A free page is a use-after-free violation. No locks (the caller holds the PTE lock).
   */
  rmapAddPte(pfn: number, mm: Mm, va: number): void {
    this.physRmapAdd(pfn, mm, va, false);
  }

  /**
   * folio_remove_rmap_pte: the inverse of rmapAddPte. A missing entry is an 'rmap-missing' violation,
   * a mapcount below zero a 'mapcount-underflow'. No locks (the caller holds the PTE lock).
   */
  rmapRemovePte(pfn: number, mm: Mm, va: number): void {
    this.physRmapRemove(pfn, mm, va, false);
  }

  /**
   * folio_add_anon_rmap_pmd / folio_add_file_rmap_pmd: `mm` maps the whole folio through a PMD at the
   * PMD-aligned `va`. Increments the folio's entire mapcount and records (mm, va) on the head page.
   * No locks (the caller holds the PMD lock).
   */
  rmapAddPmd(pfn: number, mm: Mm, va: number): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.orderArr[head] !== HPAGE_PMD_ORDER && this.state[head] !== ST_RESERVED)
      throw new RangeError(`rmapAddPmd: ${this.physDescribe(pfn)} is not a PMD-order folio`);
    this.physRmapAdd(head, mm, va, true);
  }

  /** folio_remove_rmap_pmd: the inverse of rmapAddPmd. No locks (the caller holds the PMD lock). */
  rmapRemovePmd(pfn: number, mm: Mm, va: number): void {
    this.physCheckPfn(pfn);
    this.physRmapRemove(this.headArr[pfn], mm, va, true);
  }

  /**
   * page_mapcount: how many page-table entries map this page (its own PTE mappings plus the folio's
   * PMD mappings).
   */
  mapcountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.mapcountArr[pfn] + this.entireMapcountArr[this.headArr[pfn]];
  }

  /** folio_entire_mapcount: PMD mappings of the folio. */
  entireMapcountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.entireMapcountArr[this.headArr[pfn]];
  }

  /** folio_mapcount: all mappings of the folio (each PTE of any page, each PMD once). */
  folioMapcountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.folioMapcountArr[this.headArr[pfn]];
  }

  /** folio_mapped. */
  folioMapped(pfn: number): boolean {
    return this.folioMapcountOf(pfn) > 0;
  }

  /** Number of reverse mappings recorded on this page (PMD mappings are recorded on the head). */
  rmapCount(pfn: number): number {
    this.physCheckPfn(pfn);
    const list = this.rmap[pfn];
    return list === undefined ? 0 : list.length >> 1;
  }

  /** The mm of the page's `i`-th reverse mapping (0 <= i < rmapCount). Allocation-free walk helper. */
  rmapMmAt(pfn: number, i: number): Mm {
    return this.physRmapSlot(pfn, i)[2 * i] as Mm;
  }

  /** The virtual address of the page's `i`-th reverse mapping (PMD-aligned for a PMD mapping). */
  rmapVaAt(pfn: number, i: number): number {
    const code = this.physRmapSlot(pfn, i)[2 * i + 1] as number;
    return code < 0 ? -code - 1 : code;
  }

  /** Whether the page's `i`-th reverse mapping is a PMD mapping of the whole folio. */
  rmapIsPmdAt(pfn: number, i: number): boolean {
    return (this.physRmapSlot(pfn, i)[2 * i + 1] as number) < 0;
  }

  /**
   * rmap_walk over a folio: every (mm, va) that maps any page of the folio containing `pfn`, in page
   * order then insertion order (PMD mappings on the head first). Allocates; for reclaim, migration and
   * checkers, not for hot paths. No locks (the caller holds the folio lock).
   */
  folioRmapList(pfn: number): Array<RmapEntry<Mm>> {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    const nr = 1 << this.orderArr[head];
    const out: Array<RmapEntry<Mm>> = [];
    for (let p = head; p < head + nr; p++) {
      const list = this.rmap[p];
      if (list === undefined) continue;
      for (let i = 0; i < list.length; i += 2) {
        const code = list[i + 1] as number;
        out.push({ mm: list[i] as Mm, va: code < 0 ? -code - 1 : code, pfn: p, pmd: code < 0 });
      }
    }
    return out;
  }

  // ===========================================================================================
  // Split (split_huge_page / __split_folio_to_order)
  // ===========================================================================================

  /**
   * split_huge_page(page): turns the PMD-order folio containing `pfn` into order-0 folios. The caller
   * holds one reference and the folio lock; `extraPerPage` is the references each page keeps besides its
   * mappings (1 for the page cache or swap cache, else 0). Fails with -EBUSY if the folio is still mapped
   * by a PMD (split the PMD first) and with -EAGAIN if its refcount is not exactly
   * 1 + mappings + extraPerPage * nr or it is pinned (can_split_folio: someone else holds a reference).
   * On success each page's refcount is its mapcount + extraPerPage, and the page `pfn` also keeps the
   * caller's reference and the lock (the others are unlocked, as __split_huge_page does); pages left with
   * no reference are freed. Flags, mapping, index, swap slots and the LRU list are inherited; contents and
   * rmap are per page already. Returns 0 (also for an order-0 folio). No locks (the caller holds the
   * folio lock; the kernel also unmaps the folio around the split, which is the caller's job).
   */
  splitFolio(pfn: number, extraPerPage = 0): number {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    const order = this.orderArr[head];
    if (this.state[head] !== ST_ALLOCATED) throw new RangeError(`splitFolio: ${this.physDescribe(pfn)}`);
    if (order === 0) return 0;
    const nr = 1 << order;
    if (this.entireMapcountArr[head] > 0) return -EBUSY;
    const expected = 1 + this.folioMapcountArr[head] + extraPerPage * nr;
    if (this.refcount[head] !== expected || this.pincountArr[head] > 0) return -EAGAIN;
    const folioFlags = this.flags[head] & ~PG_PER_PAGE;
    const onLru = (folioFlags & PG_lru) !== 0;
    const lru = this.lruWhich[head] as LruList;
    if (onLru) this.physLruUnlink(head);
    const slot = this.swapSlotArr[head];
    const mapping = this.mappingArr[head];
    const index = this.indexArr[head];
    for (let i = 0; i < nr; i++) {
      const p = head + i;
      this.headArr[p] = p;
      this.orderArr[p] = 0;
      this.state[p] = ST_ALLOCATED;
      this.flags[p] = folioFlags | (this.flags[p] & PG_PER_PAGE & ~PG_head);
      this.refcount[p] = this.mapcountArr[p] + extraPerPage + (p === pfn ? 1 : 0);
      if (p !== pfn) this.flags[p] &= ~PG_locked;
      this.folioMapcountArr[p] = this.mapcountArr[p];
      this.entireMapcountArr[p] = 0;
      this.pincountArr[p] = 0;
      this.swapSlotArr[p] = slot < 0 ? -1 : slot + i;
      this.indexArr[p] = index + i;
      if (mapping !== undefined) this.mappingArr[p] = mapping;
      if (onLru) {
        this.flags[p] &= ~PG_lru;
        this.lruAdd(p, lru);
      }
    }
    for (let p = head; p < head + nr; p++) if (this.refcount[p] === 0) this.physFreeFolio(p);
    return 0;
  }

  // ===========================================================================================
  // LRU lists (lruvec: folio_add_lru, folio_isolate_lru, lru_add / rotate)
  // ===========================================================================================

  /**
   * folio_add_lru / lruvec_add_folio: puts the folio at the newest end of list `lru` on its node and
   * sets PG_lru (PG_active for an active list, PG_unevictable for LRU_UNEVICTABLE). A folio already on a
   * list, or a free one, is an 'lru-misuse' violation. No locks (the caller holds the lruvec lock).
   */
  lruAdd(pfn: number, lru: LruList): void {
    this.physCheckPfn(pfn);
    if (!(lru >= 0 && lru < NR_LRU_LISTS)) throw new RangeError(`lruAdd: bad list ${lru}`);
    const head = this.headArr[pfn];
    if (this.state[head] !== ST_ALLOCATED || this.flags[head] & PG_lru) {
      this.physViolation('lru-misuse', `lru_add of ${this.physDescribe(pfn)}`);
      return;
    }
    const li = this.nodeArr[head] * NR_LRU_LISTS + lru;
    const first = this.lruHeadArr[li];
    this.lruPrevArr[head] = NO_PFN;
    this.lruNextArr[head] = first;
    if (first !== NO_PFN) this.lruPrevArr[first] = head;
    else this.lruTailArr[li] = head;
    this.lruHeadArr[li] = head;
    this.lruSizeArr[li] += 1 << this.orderArr[head];
    this.lruWhich[head] = lru;
    let f = this.flags[head] | PG_lru;
    f = lru === LRU_ACTIVE_ANON || lru === LRU_ACTIVE_FILE ? f | PG_active : f & ~PG_active;
    f = lru === LRU_UNEVICTABLE ? f | PG_unevictable : f & ~PG_unevictable;
    this.flags[head] = f;
  }

  /**
   * folio_isolate_lru: takes the folio off its LRU list and clears PG_lru. Returns false if it was not
   * on a list. No locks (the caller holds the lruvec lock).
   */
  lruIsolate(pfn: number): boolean {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (!(this.flags[head] & PG_lru)) return false;
    this.physLruUnlink(head);
    return true;
  }

  /** The LRU list the folio is on, or -1 (folio_lru_list when PG_lru). */
  lruListOf(pfn: number): LruList | -1 {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    return this.flags[head] & PG_lru ? (this.lruWhich[head] as LruList) : -1;
  }

  /** Pages (not folios) on `node`'s list `lru` (lruvec_page_state NR_LRU_BASE + lru). */
  lruSize(node: number, lru: LruList): number {
    this.physCheckNode(node);
    return this.lruSizeArr[node * NR_LRU_LISTS + lru];
  }

  /** The oldest folio (head pfn) on `node`'s list `lru`, where reclaim scans from; -1 if empty. */
  lruOldest(node: number, lru: LruList): number {
    this.physCheckNode(node);
    return this.lruTailArr[node * NR_LRU_LISTS + lru];
  }

  /** The newest folio on `node`'s list `lru`; -1 if empty. */
  lruNewest(node: number, lru: LruList): number {
    this.physCheckNode(node);
    return this.lruHeadArr[node * NR_LRU_LISTS + lru];
  }

  /** The next newer folio on the same list, or -1 (walks from lruOldest towards lruNewest). */
  lruNewer(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.flags[pfn] & PG_lru ? this.lruPrevArr[pfn] : NO_PFN;
  }

  /** The next older folio on the same list, or -1. */
  lruOlder(pfn: number): number {
    this.physCheckPfn(pfn);
    return this.flags[pfn] & PG_lru ? this.lruNextArr[pfn] : NO_PFN;
  }

  // ===========================================================================================
  // ZONE_DEVICE (memremap_pages, dev_pagemap, zone_device_page_init, free_zone_device_folio)
  // ===========================================================================================

  /**
   * memremap_pages: adds `npages` of device memory of `kind` (MEMORY_DEVICE_PRIVATE or
   * MEMORY_DEVICE_COHERENT) owned by `owner` (pgmap->owner). The pfns are new, above every existing frame,
   * starting HPAGE_PMD_NR-aligned; they start on the region's free list (the driver's free list in the
   * kernel). `pageFree` is dev_pagemap_ops.page_free, called when a page's refcount drops to zero.
   * Device-private pages are not CPU-addressable (only device-private entries may point at them) but
   * hold contents for the model. No locks.
   */
  addDeviceRegion(
    npages: number,
    kind: DeviceMemoryKind,
    owner: unknown,
    options: { node?: number; pageFree?: (pfn: number) => void } = {},
  ): DeviceRegion {
    if (!Number.isInteger(npages) || npages < 1 || npages > 2 ** 26)
      throw new RangeError(`addDeviceRegion: npages must be an integer in [1, 2^26], got ${npages}`);
    if (kind !== 'private' && kind !== 'coherent')
      throw new RangeError(`addDeviceRegion: bad kind ${String(kind)}`);
    const node = options.node ?? 0;
    this.physCheckNode(node);
    const nr = 1 << HPAGE_PMD_ORDER;
    const startPfn = Math.ceil(this.nframes / nr) * nr;
    const end = startPfn + npages;
    if (end > 2 ** 31 - 1) throw new RangeError('addDeviceRegion: pfn space exhausted');
    if (end > this.capacity) this.grow(Math.max(end, Math.min(this.capacity * 2, end + (1 << 22))));
    for (let p = this.nframes; p < startPfn; p++) this.state[p] = ST_HOLE;
    const region: DeviceRegionState = {
      id: this.regions.length,
      startPfn,
      npages,
      kind,
      owner,
      node,
      nrFree: npages,
      freeHead: startPfn,
      pageFree: options.pageFree,
    };
    for (let p = startPfn; p < end; p++) {
      this.state[p] = ST_DEVICE_FREE;
      this.nodeArr[p] = node;
      this.freeNext[p] = p + 1 < end ? p + 1 : NO_PFN;
    }
    this.nframes = end;
    this.regions.push(region);
    return region;
  }

  /**
   * Takes a page off the region's free list and initialises it as zone_device_page_init does: refcount
   * 1, no flags, contents zero. The page is not locked (the caller locks it if it follows the kernel's
   * migrate_vma protocol). Returns the pfn or -ENOMEM. No locks (the driver's lock in the kernel).
   */
  allocDevicePage(region: DeviceRegion): number {
    const r = this.regions[region.id];
    if (r === undefined || r.startPfn !== region.startPfn)
      throw new RangeError('allocDevicePage: unknown region');
    if (this.shouldFailAlloc !== undefined && this.shouldFailAlloc(0, r.node)) return -ENOMEM;
    const pfn = r.freeHead;
    if (pfn === NO_PFN) return -ENOMEM;
    r.freeHead = this.freeNext[pfn];
    r.nrFree--;
    this.physInitFolio(pfn, 0);
    return pfn;
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

  /** page_zonenum: ZONE_DEVICE for device pages, ZONE_NORMAL otherwise. */
  zoneOf(pfn: number): Zone {
    return this.deviceRegionOf(pfn) === undefined ? 'normal' : 'device';
  }

  /** is_device_private_page. */
  isDevicePrivate(pfn: number): boolean {
    return this.deviceRegionOf(pfn)?.kind === 'private';
  }

  /** is_device_coherent_page. */
  isDeviceCoherent(pfn: number): boolean {
    return this.deviceRegionOf(pfn)?.kind === 'coherent';
  }

  /** page_pgmap(page)->owner, or undefined for system RAM. */
  deviceOwnerOf(pfn: number): unknown {
    return this.deviceRegionOf(pfn)?.owner;
  }

  /**
   * Checks the internal consistency of the frames (the debug checks of free lists, LRU lists and
   * mapcounts the kernel runs under CONFIG_DEBUG_VM): free counts per node and per block, free-list
   * membership, LRU list links and sizes, and that every folio's mapcount is the sum of its mappings
   * and matches its rmap entries. O(frames); for tests and checkers. Throws an Error naming the first
   * broken invariant.
   */
  validate(): void {
    const fail = (what: string): never => {
      throw new Error(`PhysicalMemory.validate: ${what}`);
    };
    const nodeFree = new Array<number>(this.nodes).fill(0);
    let free = 0;
    let allocated = 0;
    let leaked = 0;
    for (let p = 0; p < this.totalPages; p++) {
      const st = this.state[p];
      if (st === ST_FREE) {
        free++;
        nodeFree[this.nodeArr[p]]++;
      } else if (st === ST_LEAKED) leaked++;
      else allocated++;
    }
    if (free !== this.nrFreeCount) fail(`${free} free frames, nrFree says ${this.nrFreeCount}`);
    if (allocated !== this.nrAllocatedCount)
      fail(`${allocated} allocated frames, nrAllocated says ${this.nrAllocatedCount}`);
    if (leaked !== this.nrLeakedCount) fail(`${leaked} leaked frames, nrLeaked says ${this.nrLeakedCount}`);
    for (let n = 0; n < this.nodes; n++)
      if (nodeFree[n] !== this.nodeFree[n])
        fail(`node ${n} has ${nodeFree[n]} free frames, counter says ${this.nodeFree[n]}`);
    for (let s = 0; s < this.segStart.length; s++) {
      let count = 0;
      for (let p = this.segFreeHead[s]; p !== NO_PFN; p = this.freeNext[p]) {
        if (++count > this.segCap[s]) fail(`free list of block ${s} loops`);
        if (this.state[p] !== ST_FREE || this.segOf[p] !== s)
          fail(`pfn ${p} on block ${s}'s free list is not free there`);
      }
      if (count !== this.segFreeCount[s])
        fail(`block ${s} lists ${count} free pages, counter says ${this.segFreeCount[s]}`);
    }
    for (let li = 0; li < this.lruHeadArr.length; li++) {
      let pages = 0;
      let prev = NO_PFN;
      let steps = 0;
      for (let p = this.lruHeadArr[li]; p !== NO_PFN; p = this.lruNextArr[p]) {
        if (++steps > this.nframes) fail(`LRU list ${li} loops`);
        if (
          !(this.flags[p] & PG_lru) ||
          this.lruWhich[p] !== li % NR_LRU_LISTS ||
          this.lruPrevArr[p] !== prev
        )
          fail(`LRU list ${li} links ${this.physDescribe(p)} wrongly`);
        pages += 1 << this.orderArr[p];
        prev = p;
      }
      if (prev !== this.lruTailArr[li]) fail(`LRU list ${li} tail is wrong`);
      if (pages !== this.lruSizeArr[li])
        fail(`LRU list ${li} holds ${pages} pages, size says ${this.lruSizeArr[li]}`);
    }
    for (let head = 0; head < this.nframes; head++) {
      if (this.state[head] !== ST_ALLOCATED) continue;
      const nr = 1 << this.orderArr[head];
      let ptes = 0;
      let rmapPtes = 0;
      let rmapPmds = 0;
      for (let p = head; p < head + nr; p++) {
        if (p !== head && (this.state[p] !== ST_TAIL || this.headArr[p] !== head))
          fail(`pfn ${p} is not a tail of ${head}`);
        if (this.mapcountArr[p] < 0) fail(`pfn ${p} has a negative mapcount`);
        ptes += this.mapcountArr[p];
        const list = this.rmap[p];
        if (list !== undefined)
          for (let i = 1; i < list.length; i += 2)
            if ((list[i] as number) < 0) rmapPmds++;
            else rmapPtes++;
      }
      if (ptes + this.entireMapcountArr[head] !== this.folioMapcountArr[head])
        fail(`folio ${head}: folio mapcount ${this.folioMapcountArr[head]} is not the sum of its mappings`);
      if (ptes !== rmapPtes || this.entireMapcountArr[head] !== rmapPmds)
        fail(`folio ${head}: mapcounts do not match its rmap entries`);
      if (this.refcount[head] < 0 || this.pincountArr[head] < 0)
        fail(`folio ${head}: negative refcount or pincount`);
    }
  }

  /** One-line description of a frame for traces and violation messages (dump_page). */
  describePage(pfn: number): string {
    this.physCheckPfn(pfn);
    return this.physDescribe(pfn);
  }

  // ===========================================================================================
  // Internal: allocator (phys* helpers)
  // ===========================================================================================

  private physAllocOrder0(node: number): number {
    let s = this.partialHead[node];
    if (s < 0) s = this.fullHead[node];
    if (s < 0) return NO_PFN;
    const pfn = this.segFreeHead[s];
    this.segFreeHead[s] = this.freeNext[pfn];
    this.segFreeCount[s]--;
    this.segRelist(s);
    this.nodeFree[node]--;
    this.nrFreeCount--;
    this.nrAllocatedCount++;
    this.physInitFolio(pfn, 0);
    return pfn;
  }

  private physAllocPmdOrder(node: number): number {
    const s = this.fullHead[node];
    if (s < 0) return NO_PFN;
    const nr = 1 << HPAGE_PMD_ORDER;
    this.segFreeHead[s] = NO_PFN;
    this.segFreeCount[s] = 0;
    this.segRelist(s);
    this.nodeFree[node] -= nr;
    this.nrFreeCount -= nr;
    this.nrAllocatedCount += nr;
    const pfn = this.segStart[s];
    this.physInitFolio(pfn, HPAGE_PMD_ORDER);
    return pfn;
  }

  /** prep_new_page: the state of a freshly allocated folio. */
  private physInitFolio(head: number, order: number): void {
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

  /** free_pages_prepare + the free path: checks (bad_page), LRU removal, then the free list. */
  /**
   * Observer of folio frees (the checkers' page lifetime of DMA lists): called with the head pfn and
   * the number of pages just before a folio goes back to the allocator. Observes only.
   */
  onFreeFolio: ((head: number, nr: number) => void) | null = null;

  private physFreeFolio(head: number): void {
    const nr = 1 << this.orderArr[head];
    if (this.onFreeFolio !== null) this.onFreeFolio(head, nr);
    const problems: string[] = [];
    if (this.folioMapcountArr[head] !== 0 || this.entireMapcountArr[head] !== 0)
      problems.push(`mapcount ${this.folioMapcountArr[head]}`);
    if (this.pincountArr[head] !== 0) problems.push(`pincount ${this.pincountArr[head]}`);
    if (this.flags[head] & PG_CHECK_AT_FREE)
      problems.push(`flags ${pageFlagsToString(this.flags[head] & PG_CHECK_AT_FREE)}`);
    for (let p = head; p < head + nr; p++) {
      if (this.mapcountArr[p] !== 0 && problems.length === 0) problems.push(`page ${p} mapcount`);
      const list = this.rmap[p];
      if (list !== undefined && list.length > 0 && problems.length === 0)
        problems.push(`page ${p} still in rmap`);
    }
    if (this.flags[head] & PG_lru) this.physLruUnlink(head);
    if (problems.length > 0) {
      this.physViolation(
        'bad-page',
        `freeing ${this.physDescribe(head)}: ${problems.join(', ')}; page leaked`,
      );
      for (let p = head; p < head + nr; p++) this.state[p] = ST_LEAKED;
      if (head < this.totalPages) {
        this.nrAllocatedCount -= nr;
        this.nrLeakedCount += nr;
      }
      return;
    }
    for (let p = head; p < head + nr; p++) {
      this.contents[p] = undefined;
      this.rmap[p] = undefined;
      this.mappingArr[p] = undefined;
      this.flags[p] = 0;
      this.swapSlotArr[p] = -1;
    }
    if (head >= this.totalPages) {
      this.physFreeDevicePage(head);
      return;
    }
    const s = this.segOf[head];
    const node = this.segNode[s];
    for (let p = head + nr - 1; p >= head; p--) {
      this.state[p] = ST_FREE;
      this.headArr[p] = p;
      this.orderArr[p] = 0;
      this.freeNext[p] = this.segFreeHead[s];
      this.segFreeHead[s] = p;
    }
    this.segFreeCount[s] += nr;
    this.segRelist(s);
    this.nodeFree[node] += nr;
    this.nrFreeCount += nr;
    this.nrAllocatedCount -= nr;
  }

  /** free_zone_device_folio: pgmap->ops->page_free, then back on the region's free list. */
  private physFreeDevicePage(pfn: number): void {
    const r = this.deviceRegionOf(pfn) as DeviceRegionState | undefined;
    if (r === undefined) throw new Error(`internal: device page ${pfn} has no region`);
    this.state[pfn] = ST_DEVICE_FREE;
    this.freeNext[pfn] = r.freeHead;
    r.freeHead = pfn;
    r.nrFree++;
    r.pageFree?.(pfn);
  }

  /** Moves segment `s` to the list its free count calls for (head of the list when it moves). */
  private segRelist(s: number): void {
    const count = this.segFreeCount[s];
    const cap = this.segCap[s];
    const want =
      count === 0 ? SEG_NONE : count === cap && cap === 1 << HPAGE_PMD_ORDER ? SEG_FULL : SEG_PARTIAL;
    const have = this.segList[s];
    if (want === have) return;
    const node = this.segNode[s];
    if (have !== SEG_NONE) {
      const heads = have === SEG_FULL ? this.fullHead : this.partialHead;
      const prev = this.segPrev[s];
      const next = this.segNext[s];
      if (prev >= 0) this.segNext[prev] = next;
      else heads[node] = next;
      if (next >= 0) this.segPrev[next] = prev;
    }
    this.segPrev[s] = -1;
    this.segNext[s] = -1;
    this.segList[s] = want;
    if (want !== SEG_NONE) {
      const heads = want === SEG_FULL ? this.fullHead : this.partialHead;
      const first = heads[node];
      this.segNext[s] = first;
      if (first >= 0) this.segPrev[first] = s;
      heads[node] = s;
    }
  }

  private physLruUnlink(head: number): void {
    const li = this.nodeArr[head] * NR_LRU_LISTS + this.lruWhich[head];
    const prev = this.lruPrevArr[head];
    const next = this.lruNextArr[head];
    if (prev !== NO_PFN) this.lruNextArr[prev] = next;
    else this.lruHeadArr[li] = next;
    if (next !== NO_PFN) this.lruPrevArr[next] = prev;
    else this.lruTailArr[li] = prev;
    this.lruPrevArr[head] = NO_PFN;
    this.lruNextArr[head] = NO_PFN;
    this.lruSizeArr[li] -= 1 << this.orderArr[head];
    this.flags[head] &= ~(PG_lru | PG_active | PG_unevictable);
  }

  // ===========================================================================================
  // Internal: rmap
  // ===========================================================================================

  private physRmapAdd(pfn: number, mm: Mm, va: number, pmd: boolean): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] === ST_RESERVED) return;
    if (this.state[head] !== ST_ALLOCATED) {
      this.physViolation(
        'use-after-free',
        `rmap add (${pmd ? 'pmd' : 'pte'}) at 0x${va.toString(16)} of ${this.physDescribe(pfn)}`,
      );
      return;
    }
    if (!(va >= 0) || !Number.isInteger(va)) throw new RangeError(`rmap: bad va ${va}`);
    let list = this.rmap[pfn];
    if (list === undefined) {
      list = [];
      this.rmap[pfn] = list;
    }
    list.push(mm, pmd ? -va - 1 : va);
    if (pmd) this.entireMapcountArr[head]++;
    else this.mapcountArr[pfn]++;
    this.folioMapcountArr[head]++;
  }

  private physRmapRemove(pfn: number, mm: Mm, va: number, pmd: boolean): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] === ST_RESERVED) return;
    const what = `rmap remove (${pmd ? 'pmd' : 'pte'}) at 0x${va.toString(16)} of ${this.physDescribe(pfn)}`;
    const list = this.rmap[pfn];
    const code = pmd ? -va - 1 : va;
    let i = -1;
    if (list !== undefined) {
      for (let j = 0; j < list.length; j += 2) {
        if (list[j] === mm && list[j + 1] === code) {
          i = j;
          break;
        }
      }
    }
    if (i < 0 || list === undefined) {
      this.physViolation('rmap-missing', what);
      return;
    }
    const last = list.length - 2;
    list[i] = list[last];
    list[i + 1] = list[last + 1];
    list.length = last;
    if (last === 0) this.rmap[pfn] = undefined;
    const counter = pmd ? this.entireMapcountArr : this.mapcountArr;
    const idx = pmd ? head : pfn;
    if (counter[idx] <= 0 || this.folioMapcountArr[head] <= 0) {
      this.physViolation('mapcount-underflow', what);
      return;
    }
    counter[idx]--;
    this.folioMapcountArr[head]--;
  }

  private physRmapSlot(pfn: number, i: number): unknown[] {
    this.physCheckPfn(pfn);
    const list = this.rmap[pfn];
    if (list === undefined || !(i >= 0 && 2 * i < list.length))
      throw new RangeError(`rmap index ${i} out of range for pfn ${pfn}`);
    return list;
  }

  // ===========================================================================================
  // Internal: checks, growth, reporting
  // ===========================================================================================

  private physCheckPfn(pfn: number): void {
    if (!(pfn >= 0 && pfn < this.nframes) || (pfn | 0) !== pfn || this.state[pfn] === ST_HOLE)
      throw new RangeError(
        `pfn ${pfn} out of range [0, ${this.nframes}) or in a hole before a device region`,
      );
  }

  private physCheckNode(node: number): void {
    if (!(node >= 0 && node < this.nodes) || (node | 0) !== node)
      throw new RangeError(`node ${node} out of range [0, ${this.nodes})`);
  }

  private physCheckSpan(offset: number, length: number, bufLength: number, bufOffset: number): void {
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

  private physCheckFlagWrite(pfn: number, flag: number): void {
    this.physCheckPfn(pfn);
    if (flag & (PG_head | PG_reserved | PG_lru))
      throw new RangeError(`page flags head/reserved/lru are owned by the allocator and the LRU code`);
  }

  private physFlagIndex(pfn: number, flag: number): number {
    return flag & PG_PER_PAGE ? pfn : this.headArr[pfn];
  }

  private physDescribe(pfn: number): string {
    const head = this.headArr[pfn];
    const st = ['free', 'allocated', 'tail', 'reserved', 'leaked', 'device-free', 'hole'][this.state[pfn]];
    const zone = pfn >= this.totalPages + 1 ? ` device-${this.deviceRegionOf(pfn)?.kind ?? '?'}` : '';
    return (
      `pfn 0x${pfn.toString(16)} (${st}${zone}, head 0x${head.toString(16)} order ${this.orderArr[head]}, ` +
      `refcount ${this.refcount[head]} mapcount ${this.mapcountArr[pfn] + this.entireMapcountArr[head]}, ` +
      `flags ${pageFlagsToString(this.pageFlags(pfn))}, node ${this.nodeArr[pfn]})`
    );
  }

  private physViolation(kind: PageViolationKind, message: string): void {
    this.violationCount++;
    if (this.violations.length < MAX_KEPT_VIOLATIONS) this.violations.push({ kind, message });
    this.onViolation?.(kind, message);
  }

  /** Reallocates every per-frame array to `capacity` frames (device regions grow the pfn space). */
  private grow(capacity: number): void {
    const old = this.capacity;
    const i32 = (a: Int32Array, fill: number): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(capacity);
      b.set(a);
      if (fill !== 0) b.fill(fill, old);
      return b;
    };
    const u8 = (a: Uint8Array): Uint8Array<ArrayBuffer> => {
      const b = new Uint8Array(capacity);
      b.set(a);
      return b;
    };
    this.refcount = i32(this.refcount, 0);
    this.mapcountArr = i32(this.mapcountArr, 0);
    this.entireMapcountArr = i32(this.entireMapcountArr, 0);
    this.folioMapcountArr = i32(this.folioMapcountArr, 0);
    this.pincountArr = i32(this.pincountArr, 0);
    const flags = new Uint32Array(capacity);
    flags.set(this.flags);
    this.flags = flags;
    this.nodeArr = u8(this.nodeArr);
    this.orderArr = u8(this.orderArr);
    this.headArr = i32(this.headArr, 0);
    for (let p = old; p < capacity; p++) this.headArr[p] = p;
    this.state = u8(this.state);
    if (old === 0) this.state.fill(ST_FREE);
    this.freeNext = i32(this.freeNext, NO_PFN);
    this.lruNextArr = i32(this.lruNextArr, NO_PFN);
    this.lruPrevArr = i32(this.lruPrevArr, NO_PFN);
    this.lruWhich = u8(this.lruWhich);
    this.swapSlotArr = i32(this.swapSlotArr, -1);
    for (let p = old; p < capacity; p++) {
      this.mappingArr.push(undefined);
      this.contents.push(undefined);
      this.rmap.push(undefined);
    }
    const index = new Float64Array(capacity);
    index.set(this.indexArr);
    this.indexArr = index;
    this.capacity = capacity;
  }
}
