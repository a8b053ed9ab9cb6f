/**
 * One swap device (struct swap_info_struct): a fixed number of page-sized slots, the per-slot use count
 * with its SWAP_HAS_CACHE bit (swap_map), slot allocation, and the slots' contents.
 *
 * A slot's life, as in the kernel:
 *   alloc()          folio_alloc_swap: count 0 + HAS_CACHE (the folio enters the swap cache)
 *   dup(slot)        swap_duplicate: +1 per swap PTE (try_to_unmap installing it, fork copying it)
 *   free(slot)       swap_free / free_swap_and_cache: -1 when a swap PTE goes away
 *   setCache(slot)   swapcache_prepare: swap-in takes HAS_CACHE (-EEXIST: someone else is swapping in)
 *   clearCache(slot) put_swap_folio / swapcache_clear: the folio leaves the swap cache
 * The slot is free again once its count is 0 and it has no cache. Contents are dropped then.
 *
 * Synchronous, no locks: the caller serialises (the kernel's si->lock / cluster lock, or the PTE lock
 * for dup/free). Misuse the kernel reports with a warning ("Bad swap offset entry", an underflow) is
 * reported through `onViolation` and otherwise ignored; slot numbers out of range throw RangeError.
 */
import { EEXIST, ENOENT, ENOMEM } from '../sim/errno.js';
import { PLAIN_BUFFERS, type BufferSource } from '../sim/buffers.js';
import { PAGE_SHIFT } from './constants.js';

/**
 * Misuse of a swap slot, reported as data (the kernel warns about a bad swap entry or an underflow):
 * a reference or the cache bit dropped when not held ('swap-count-underflow'), or a duplicate, free,
 * read, write or cache clear of a free slot ('swap-use-after-free').
 */
export type SwapViolationKind = 'swap-count-underflow' | 'swap-use-after-free';

/** The size of a new SwapSpace and its hooks. The Kernel builds it from KernelOptions.swapPages. */
export interface SwapSpaceOptions {
  /** Number of slots (swap size in pages); 0 is allowed and means every allocation fails. */
  nslots: number;
  /** Page shift of the slots' contents; 12 by default. */
  pageShift?: number;
  /** Receives slot misuse; without it it is only kept in {@link SwapSpace.violations}. */
  onViolation?: (kind: SwapViolationKind, message: string) => void;
  /** Where the slot tables and contents take their array buffers (plain allocation by default). */
  buffers?: BufferSource;
}

const MAX_KEPT_VIOLATIONS = 1000;

/**
 * A swap device with `nslots` slots (swap_info_struct + swap_map). Allocation hands out the lowest
 * free slot first, then reuses freed slots last-freed first (deterministic; the kernel's cluster
 * allocator differs in order only). No locks; the caller serialises.
 */
export class SwapSpace {
  /** Slots on the device (its size in pages, si->max); valid slots are [0, size). */
  readonly size: number;
  /** Bytes in one slot: a base page (PAGE_SIZE). */
  readonly pageSize: number;
  /** Slot misuse seen so far (the first 1000); `violationCount` counts all. */
  readonly violations: Array<{
    /** What was misused: a count or cache bit dropped when not held, or a free slot used. */
    kind: SwapViolationKind;
    /** What happened, naming the operation and the slot. */
    message: string;
  }> = [];
  /** Slot misuse reported so far, including what `violations` no longer keeps. */
  violationCount = 0;

  private readonly onViolation: ((kind: SwapViolationKind, message: string) => void) | undefined;
  private readonly counts: Int32Array;
  private readonly cache: Uint8Array;
  private readonly inUse: Uint8Array;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly data: Array<Uint8Array | undefined>;
  private readonly buffers: BufferSource;

  /** swapon: a device of `nslots` free slots. */
  constructor(options: SwapSpaceOptions) {
    const { nslots } = options;
    if (!Number.isInteger(nslots) || nslots < 0 || nslots > 2 ** 30)
      throw new RangeError(`SwapSpace: nslots must be an integer in [0, 2^30], got ${nslots}`);
    const pageShift = options.pageShift ?? PAGE_SHIFT;
    if (!Number.isInteger(pageShift) || pageShift < 9 || pageShift > 21)
      throw new RangeError(`SwapSpace: pageShift must be an integer in [9, 21], got ${pageShift}`);
    this.size = nslots;
    this.pageSize = 2 ** pageShift;
    this.onViolation = options.onViolation;
    this.buffers = options.buffers ?? PLAIN_BUFFERS;
    // The four slot tables share one buffer (an array buffer is an allocation of its own).
    const tables = this.buffers.zeroed(10 * nslots);
    this.counts = new Int32Array(tables, 0, nslots);
    this.freeStack = new Int32Array(tables, 4 * nslots, nslots);
    this.cache = new Uint8Array(tables, 8 * nslots, nslots);
    this.inUse = new Uint8Array(tables, 9 * nslots, nslots);
    for (let i = 0; i < nslots; i++) this.freeStack[i] = nslots - 1 - i;
    this.freeTop = nslots;
    this.data = new Array<Uint8Array | undefined>(nslots).fill(undefined);
  }

  /** Free slots (si->pages - si->inuse_pages). */
  get nrFree(): number {
    return this.freeTop;
  }

  /** Slots in use (si->inuse_pages). */
  get nrUsed(): number {
    return this.size - this.freeTop;
  }

  /**
   * folio_alloc_swap (get_swap_pages for one page): takes a free slot with count 0 and SWAP_HAS_CACHE
   * set, for the folio about to enter the swap cache. Returns the slot or -ENOMEM when the device is full.
   */
  alloc(): number {
    if (this.freeTop === 0) return -ENOMEM;
    const slot = this.freeStack[--this.freeTop];
    this.inUse[slot] = 1;
    this.counts[slot] = 0;
    this.cache[slot] = 1;
    return slot;
  }

  /** Whether the slot is free (swap_map[slot] == 0). */
  isFree(slot: number): boolean {
    this.swapCheckSlot(slot);
    return this.inUse[slot] === 0;
  }

  /** swap_count(swap_map[slot]): swap PTEs (and other references) on the slot, without the cache bit. */
  count(slot: number): number {
    this.swapCheckSlot(slot);
    return this.counts[slot];
  }

  /** swap_map[slot] & SWAP_HAS_CACHE: whether a folio in the swap cache holds the slot. */
  hasCache(slot: number): boolean {
    this.swapCheckSlot(slot);
    return this.cache[slot] === 1;
  }

  /**
   * swap_duplicate: one more reference (a swap PTE installed by reclaim or copied by fork). Returns 0,
   * or -ENOENT if the slot is free (a stale swap entry; also reported as a violation).
   */
  dup(slot: number): number {
    this.swapCheckSlot(slot);
    if (this.inUse[slot] === 0) {
      this.swapViolation('swap-use-after-free', `swap_duplicate of free slot ${slot}`);
      return -ENOENT;
    }
    this.counts[slot]++;
    return 0;
  }

  /**
   * swap_free (swap_entry_put): drops one reference; the slot is freed when no reference and no cache
   * remain. An underflow or a free slot is a violation and changes nothing.
   */
  free(slot: number): void {
    this.swapCheckSlot(slot);
    if (this.inUse[slot] === 0) {
      this.swapViolation('swap-use-after-free', `swap_free of free slot ${slot}`);
      return;
    }
    if (this.counts[slot] === 0) {
      this.swapViolation('swap-count-underflow', `swap_free of slot ${slot} with count 0`);
      return;
    }
    this.counts[slot]--;
    this.swapMaybeRelease(slot);
  }

  /**
   * swapcache_prepare: takes SWAP_HAS_CACHE for a swap-in. Returns 0, -EEXIST if the slot already has a
   * cache folio (someone else is reading it in or it is still cached), or -ENOENT if the slot is free.
   */
  setCache(slot: number): number {
    this.swapCheckSlot(slot);
    if (this.inUse[slot] === 0) return -ENOENT;
    if (this.cache[slot] === 1) return -EEXIST;
    this.cache[slot] = 1;
    return 0;
  }

  /**
   * put_swap_folio / swapcache_clear: drops SWAP_HAS_CACHE; the slot is freed if its count is 0.
   * Clearing a free slot (a use-after-free) or a slot without the bit (an underflow) is a
   * violation and changes nothing.
   */
  clearCache(slot: number): void {
    this.swapCheckSlot(slot);
    if (this.inUse[slot] === 0) {
      this.swapViolation('swap-use-after-free', `swapcache_clear of free slot ${slot}`);
      return;
    }
    if (this.cache[slot] === 0) {
      this.swapViolation('swap-count-underflow', `swapcache_clear of slot ${slot} without SWAP_HAS_CACHE`);
      return;
    }
    this.cache[slot] = 0;
    this.swapMaybeRelease(slot);
  }

  /**
   * swap_writepage: stores a copy of `data` (pageSize bytes) as the slot's contents; undefined stores
   * zeros. Writing a free slot is a violation and is dropped.
   */
  write(slot: number, data: Uint8Array | undefined): void {
    this.swapCheckSlot(slot);
    if (data !== undefined && data.length !== this.pageSize)
      throw new RangeError(`SwapSpace.write: ${data.length} bytes, page size is ${this.pageSize}`);
    if (this.inUse[slot] === 0) {
      this.swapViolation('swap-use-after-free', `write of free slot ${slot}`);
      return;
    }
    this.data[slot] = data === undefined ? undefined : this.buffers.copy(data);
  }

  /**
   * swap_read_folio's source: the slot's contents (undefined reads as zeros). The array is the
   * device's: copy it into the page (PhysicalMemory.setPageContents copies), do not modify it.
   * Reading a free slot is a violation and reads zeros.
   */
  read(slot: number): Uint8Array | undefined {
    this.swapCheckSlot(slot);
    if (this.inUse[slot] === 0) {
      this.swapViolation('swap-use-after-free', `read of free slot ${slot}`);
      return undefined;
    }
    return this.data[slot];
  }

  private swapMaybeRelease(slot: number): void {
    if (this.counts[slot] !== 0 || this.cache[slot] !== 0) return;
    this.inUse[slot] = 0;
    this.data[slot] = undefined;
    this.freeStack[this.freeTop++] = slot;
  }

  private swapCheckSlot(slot: number): void {
    if (!(slot >= 0 && slot < this.size) || (slot | 0) !== slot)
      throw new RangeError(`swap slot ${slot} out of range [0, ${this.size})`);
  }

  private swapViolation(kind: SwapViolationKind, message: string): void {
    this.violationCount++;
    if (this.violations.length < MAX_KEPT_VIOLATIONS) this.violations.push({ kind, message });
    this.onViolation?.(kind, message);
  }
}
