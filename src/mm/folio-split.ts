/**
 * Splitting a large folio into order-0 folios (mm/huge_memory.c __split_folio_to_order): the struct
 * page side; the mappings side is split_huge_page in huge-memory.ts.
 */
import { EAGAIN, EBUSY } from '../sim/errno.js';
import { PG_locked, PG_lru, PG_head, PG_PER_PAGE } from './page-flags.js';
import { ST_ALLOCATED } from './page-frames.js';
import { type LruList } from './lru.js';
import { PageRefs } from './page-ref.js';

export class FolioSplit<Mm = unknown> extends PageRefs<Mm> {
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
}
