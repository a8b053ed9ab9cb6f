/**
 * Reference counts and pins (include/linux/page_ref.h, mm.h: folio_get, folio_put, folio_try_get,
 * folio_ref_freeze; mm/gup.c: FOLL_PIN). The last put frees the folio through the allocator.
 */
import { ST_ALLOCATED, ST_RESERVED } from './page-frames.js';
import { PageAlloc } from './page-alloc.js';

export class PageRefs<Mm = unknown> extends PageAlloc<Mm> {
  /** folio_ref_count of the folio containing `pfn` (0 when free or frozen). */
  refcountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    this.countAccess?.(this.headArr[pfn], false);
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
    this.countAccess?.(head, true);
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
    this.countAccess?.(head, true);
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
    this.countAccess?.(head, true);
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
    this.countAccess?.(head, true);
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
    this.countAccess?.(head, true);
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
    this.countAccess?.(this.headArr[pfn], false);
    return this.pincountArr[this.headArr[pfn]] > 0;
  }

  /** Number of FOLL_PIN pins on the folio. */
  pincountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    this.countAccess?.(this.headArr[pfn], false);
    return this.pincountArr[this.headArr[pfn]];
  }
}
