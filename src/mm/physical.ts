/**
 * PhysicalMemory: the top of the physical-memory layers (see page-frames.ts for the list) with page
 * contents (kmap_local_page + memcpy, copy_highpage, clear_highpage) and the consistency check.
 *
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
import { PG_lru, PG_reserved } from './page-flags.js';
import { ST_FREE, ST_ALLOCATED, ST_TAIL, ST_LEAKED, NO_PFN } from './page-frames.js';
import { NR_LRU_LISTS } from './lru.js';
import { FolioSplit } from './folio-split.js';

export * from './page-flags.js';
export {
  LRU_ACTIVE_ANON,
  LRU_ACTIVE_FILE,
  LRU_INACTIVE_ANON,
  LRU_INACTIVE_FILE,
  LRU_UNEVICTABLE,
  NR_LRU_LISTS,
  type LruList,
} from './lru.js';
export type {
  DeviceMemoryKind,
  DeviceRegion,
  PageViolationKind,
  PhysicalMemoryOptions,
  RmapEntry,
  Zone,
} from './page-frames.js';

/**
 * The page frames of the machine: struct page/struct folio state for every pfn, the page allocator,
 * the zero pages, page contents, the reverse map, the LRU lists and ZONE_DEVICE regions, each mechanism
 * in its own layer (page-frames.ts lists them). No locks; the caller serialises.
 */
export class PhysicalMemory<Mm = unknown> extends FolioSplit<Mm> {
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
      data = new Uint8Array(this.buffers.zeroed(this.pageSize));
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
    this.contents[pfn] = data === undefined ? undefined : this.buffers.copy(data);
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
}
