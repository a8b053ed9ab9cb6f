/**
 * The page allocator (mm/page_alloc.c: alloc_pages_node, __free_pages, free_pages_prepare) with its
 * per-node free lists of segments (the part of a HPAGE_PMD_NR-aligned block inside one node), and the
 * huge zero folio.
 */
import { ENOMEM } from '../sim/errno.js';
import { HPAGE_PMD_ORDER } from './constants.js';
import {
  PG_locked,
  PG_lru,
  PG_mlocked,
  PG_reserved,
  PG_swapcache,
  PG_uptodate,
  PG_writeback,
  pageFlagsToString,
} from './page-flags.js';
import {
  ST_FREE,
  ST_RESERVED,
  ST_LEAKED,
  NO_PFN,
  PAGE_ALLOCATOR,
  type PhysicalMemoryOptions,
} from './page-frames.js';
import { DeviceMemory } from './memremap.js';

// Segment lists (one segment = the part of a naturally aligned HPAGE_PMD_NR block inside one node).
const SEG_NONE = 0;
const SEG_PARTIAL = 1;
const SEG_WHOLE_FREE = 2;

/** Flags that must be clear when a folio is freed (PAGE_FLAGS_CHECK_AT_FREE, a subset). */
const PG_CHECK_AT_FREE = PG_locked | PG_writeback | PG_swapcache | PG_mlocked;

export class PageAlloc<Mm = unknown> extends DeviceMemory<Mm> {
  // --- allocator state for system RAM ---
  // A segment is the part of one naturally aligned HPAGE_PMD_NR block that lies in one node; it
  // stands in for the buddy allocator's free areas (segments are numbered in pfn order).
  /** Per pfn of system RAM: the segment the page belongs to. */
  protected readonly segOf: Int32Array;
  /** Per segment: its first pfn. */
  protected readonly segStart: Int32Array;
  /** Per segment: its size in pages (HPAGE_PMD_NR, fewer where a node boundary or the end of RAM cuts it). */
  protected readonly segCap: Int32Array;
  /** Per segment: its NUMA node. */
  protected readonly segNode: Uint8Array;
  /** Per segment: the first pfn of its free list (linked through freeNext), NO_PFN when none is free. */
  protected readonly segFreeHead: Int32Array;
  /** Per segment: the pages on its free list. */
  protected readonly segFreeCount: Int32Array;
  /** Per segment: the previous segment on the same node's partial or whole-free list, -1 at the front. */
  protected readonly segPrev: Int32Array;
  /** Per segment: the next segment on the same node's partial or whole-free list, -1 at the end. */
  protected readonly segNext: Int32Array;
  /**
   * Per segment: which node list it is on: SEG_NONE (nothing free, on no list), SEG_PARTIAL (some pages
   * free, or a short segment) or SEG_WHOLE_FREE (a whole HPAGE_PMD_NR block free).
   */
  protected readonly segList: Uint8Array;
  /**
   * Per node: the first segment with free pages that is not a whole free block, -1 when none. Order-0
   * allocations take from these first, so whole blocks are broken up last.
   */
  protected readonly partialHead: Int32Array;
  /**
   * Per node: the first segment whose whole HPAGE_PMD_NR block is free, -1 when none;
   * what a PMD-order allocation takes.
   */
  protected readonly wholeFreeHead: Int32Array;
  /** Per node: free pages of system RAM on the node (its NR_FREE_PAGES). */
  protected readonly nodeFree: Int32Array;

  constructor(options: PhysicalMemoryOptions) {
    super(options);
    const npages = this.totalPages;
    const nodes = this.nodes;
    // Segments: the intersection of each aligned HPAGE_PMD_NR block with one node.
    const nr = 1 << HPAGE_PMD_ORDER;
    const starts: number[] = [];
    for (let n = 0; n < nodes; n++) {
      const lo = this.nodeStartArr[n];
      const hi = this.nodeStartArr[n + 1];
      for (let p = lo; p < hi; p = Math.min(hi, (Math.floor(p / nr) + 1) * nr)) starts.push(p);
    }
    const nseg = starts.length;
    this.segOf = new Int32Array(this.buffers.zeroed(4 * npages));
    this.segStart = new Int32Array(nseg);
    this.segCap = new Int32Array(nseg);
    this.segNode = new Uint8Array(nseg);
    this.segFreeHead = new Int32Array(nseg);
    this.segFreeCount = new Int32Array(nseg);
    this.segPrev = new Int32Array(nseg).fill(-1);
    this.segNext = new Int32Array(nseg).fill(-1);
    this.segList = new Uint8Array(nseg);
    this.partialHead = new Int32Array(nodes).fill(-1);
    this.wholeFreeHead = new Int32Array(nodes).fill(-1);
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
  }

  /** Free pages on `node` (NR_FREE_PAGES of the node). */
  nrFreeOnNode(node: number): number {
    this.physCheckNode(node);
    return this.nodeFree[node];
  }

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
    // The free lists: which pfn an allocation gets depends on every earlier alloc and free.
    this.countAccess?.(PAGE_ALLOCATOR, true);
    if (this.shouldFailAlloc !== undefined && this.shouldFailAlloc(order, node)) return -ENOMEM;
    for (let i = 0; i < this.nodes; i++) {
      const n = (node + i) % this.nodes;
      const pfn = order === 0 ? this.physAllocOrder0(n) : this.physAllocPmdOrder(n);
      if (pfn >= 0) {
        // Every page of the folio changes state (a stale pfn's isFree reads its own page).
        const access = this.countAccess;
        if (access !== null) for (let p = pfn + (1 << order) - 1; p >= pfn; p--) access(p, true);
        return pfn;
      }
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

  /**
   * __rmqueue_smallest at order 0 on `node` only: the first page of the free list of the first partly
   * free segment, else of a wholly free one, so whole PMD blocks are broken up last (Deviation: segment
   * lists instead of buddy orders). Initialises the page as a new folio and updates the free counts.
   * Returns its pfn or NO_PFN (-1) when the node has no free page; no fault injection and no other node
   * (allocPages does both). No locks (the zone lock is implied); atomic.
   */
  protected physAllocOrder0(node: number): number {
    let s = this.partialHead[node];
    if (s < 0) s = this.wholeFreeHead[node];
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

  /**
   * __rmqueue_smallest at HPAGE_PMD_ORDER on `node` only: takes a wholly free, naturally aligned
   * HPAGE_PMD_NR block (a full segment) and initialises it as a PMD-order folio. Returns the head pfn
   * or NO_PFN (-1) when no whole block is free (no compaction). No locks (the zone lock is implied);
   * atomic.
   */
  protected physAllocPmdOrder(node: number): number {
    const s = this.wholeFreeHead[node];
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

  /** Observers of folio frees, in the order they were added (see observeFreeFolio). */
  private readonly freeFolioObservers: ((head: number, nr: number) => void)[] = [];

  /**
   * Adds an observer of folio frees (the checkers' page lifetime of DMA lists): called with the
   * head pfn and the number of pages just before a folio goes back to the allocator. Observers
   * observe only. Gives the function that removes this observer. Not a kernel interface.
   */
  observeFreeFolio(fn: (head: number, nr: number) => void): () => void {
    this.freeFolioObservers.push(fn);
    return () => {
      const i = this.freeFolioObservers.indexOf(fn);
      if (i >= 0) this.freeFolioObservers.splice(i, 1);
    };
  }

  /** free_pages_prepare + the free path: checks (bad_page), LRU removal, then the free list. */
  protected physFreeFolio(head: number): void {
    this.countAccess?.(PAGE_ALLOCATOR, true);
    const nr = 1 << this.orderArr[head];
    // Every page of the folio changes state: a later isFree or flag read of a tail pfn names
    // that page (its head is itself once free).
    const access = this.countAccess;
    if (access !== null) for (let p = head; p < head + nr; p++) access(p, true);
    const observers = this.freeFolioObservers;
    for (let i = 0; i < observers.length; i++) observers[i](head, nr);
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
      this.physFreeDevicePage(head, nr);
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

  /** Moves segment `s` to the list its free count calls for (head of the list when it moves). */
  protected segRelist(s: number): void {
    const count = this.segFreeCount[s];
    const cap = this.segCap[s];
    const want =
      count === 0 ? SEG_NONE : count === cap && cap === 1 << HPAGE_PMD_ORDER ? SEG_WHOLE_FREE : SEG_PARTIAL;
    const have = this.segList[s];
    if (want === have) return;
    const node = this.segNode[s];
    if (have !== SEG_NONE) {
      const heads = have === SEG_WHOLE_FREE ? this.wholeFreeHead : this.partialHead;
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
      const heads = want === SEG_WHOLE_FREE ? this.wholeFreeHead : this.partialHead;
      const first = heads[node];
      this.segNext[s] = first;
      if (first >= 0) this.segPrev[first] = s;
      heads[node] = s;
    }
  }
}
