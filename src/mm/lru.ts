/**
 * LRU lists per node (struct lruvec; mm/swap.c folio_add_lru, mm/vmscan.c folio_isolate_lru): newest at
 * the head, oldest at the tail, linked through the per-frame lruNext/lruPrev arrays of PageFrames.
 */
import { PG_lru, PG_active, PG_unevictable } from './page-flags.js';
import { PageFrames, ST_ALLOCATED, NO_PFN, PAGE_LRU, type PhysicalMemoryOptions } from './page-frames.js';

/**
 * enum lru_list (LRU_INACTIVE_ANON): inactive swap-backed folios; new anonymous folios go here and reclaim
 * takes from it.
 */
export const LRU_INACTIVE_ANON = 0;
/** enum lru_list (LRU_ACTIVE_ANON): active swap-backed folios; lruAdd sets PG_active for it. */
export const LRU_ACTIVE_ANON = 1;
/** enum lru_list (LRU_INACTIVE_FILE): inactive page-cache folios (new pages of non-shmem files go here). */
export const LRU_INACTIVE_FILE = 2;
/** enum lru_list (LRU_ACTIVE_FILE): active page-cache folios; lruAdd sets PG_active for it. */
export const LRU_ACTIVE_FILE = 3;
/**
 * enum lru_list (LRU_UNEVICTABLE): folios reclaim leaves alone (the model's shmem pages); lruAdd sets
 * PG_unevictable.
 */
export const LRU_UNEVICTABLE = 4;
/** NR_LRU_LISTS: LRU lists per node; per-list arrays are indexed node * NR_LRU_LISTS + list. */
export const NR_LRU_LISTS = 5;
/** enum lru_list: one of the LRU_* list numbers above (LRU_INACTIVE_ANON … LRU_UNEVICTABLE). */
export type LruList = 0 | 1 | 2 | 3 | 4;

export class PageLru extends PageFrames {
  // --- LRU lists, per node and list: newest at head, oldest at tail ---
  /**
   * Per list, at node * NR_LRU_LISTS + list: head pfn of the newest folio, NO_PFN when the list is empty
   * (the list head in lruvec->lists).
   */
  protected readonly lruHeadArr: Int32Array;
  /** Per list, at node * NR_LRU_LISTS + list: head pfn of the oldest folio, where reclaim scans from. */
  protected readonly lruTailArr: Int32Array;
  /**
   * Per list, at node * NR_LRU_LISTS + list: base pages (not folios) on the list (the lruvec's
   * NR_LRU_BASE + list counter).
   */
  protected readonly lruSizeArr: Int32Array;

  constructor(options: PhysicalMemoryOptions) {
    super(options);
    const nodes = this.nodes;
    this.lruHeadArr = new Int32Array(nodes * NR_LRU_LISTS).fill(NO_PFN);
    this.lruTailArr = new Int32Array(nodes * NR_LRU_LISTS).fill(NO_PFN);
    this.lruSizeArr = new Int32Array(nodes * NR_LRU_LISTS);
  }

  /**
   * folio_add_lru / lruvec_add_folio: puts the folio at the newest end of list `lru` on its node and
   * sets PG_lru (PG_active for an active list, PG_unevictable for LRU_UNEVICTABLE). A folio already on a
   * list, or a free one, is an 'lru-misuse' violation. No locks (the caller holds the lruvec lock).
   */
  lruAdd(pfn: number, lru: LruList): void {
    this.countAccess?.(PAGE_LRU, true);
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
    this.countAccess?.(PAGE_LRU, true);
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (!(this.flags[head] & PG_lru)) return false;
    this.physLruUnlink(head);
    return true;
  }

  /** The LRU list the folio is on, or -1 (folio_lru_list when PG_lru). */
  lruListOf(pfn: number): LruList | -1 {
    this.countAccess?.(PAGE_LRU, false);
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    return this.flags[head] & PG_lru ? (this.lruWhich[head] as LruList) : -1;
  }

  /** Pages (not folios) on `node`'s list `lru` (lruvec_page_state NR_LRU_BASE + lru). */
  lruSize(node: number, lru: LruList): number {
    this.countAccess?.(PAGE_LRU, false);
    this.physCheckNode(node);
    return this.lruSizeArr[node * NR_LRU_LISTS + lru];
  }

  /** The oldest folio (head pfn) on `node`'s list `lru`, where reclaim scans from; -1 if empty. */
  lruOldest(node: number, lru: LruList): number {
    this.countAccess?.(PAGE_LRU, false);
    this.physCheckNode(node);
    return this.lruTailArr[node * NR_LRU_LISTS + lru];
  }

  /** The newest folio on `node`'s list `lru`; -1 if empty. */
  lruNewest(node: number, lru: LruList): number {
    this.countAccess?.(PAGE_LRU, false);
    this.physCheckNode(node);
    return this.lruHeadArr[node * NR_LRU_LISTS + lru];
  }

  /** The next newer folio on the same list, or -1 (walks from lruOldest towards lruNewest). */
  lruNewer(pfn: number): number {
    this.countAccess?.(PAGE_LRU, false);
    this.physCheckPfn(pfn);
    return this.flags[pfn] & PG_lru ? this.lruPrevArr[pfn] : NO_PFN;
  }

  /** The next older folio on the same list, or -1. */
  lruOlder(pfn: number): number {
    this.countAccess?.(PAGE_LRU, false);
    this.physCheckPfn(pfn);
    return this.flags[pfn] & PG_lru ? this.lruNextArr[pfn] : NO_PFN;
  }

  /**
   * lruvec_del_folio + __folio_clear_lru_flags: unlinks the folio at `head` from its list, takes its
   * pages off the list's size and clears PG_lru, PG_active and PG_unevictable. The folio must be on a
   * list (PG_lru; unchecked). Takes no lock; atomic (the LRU lists are updated without a scheduling point).
   */
  protected physLruUnlink(head: number): void {
    this.countAccess?.(PAGE_LRU, true);
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
}
