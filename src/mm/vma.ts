/**
 * Virtual memory areas: `Vma` (struct vm_area_struct) and `VmaTree`, the per-mm set of VMAs the kernel
 * keeps in its maple tree (mm->mm_mt), here a sorted array searched by bisection.
 *
 * Everything is synchronous and takes no locks: the caller serialises as the kernel's caller holds the
 * mmap lock (for read to look up, for write to insert, remove, split, merge or adjust). Argument errors
 * (misaligned or overlapping ranges, a VMA not in the tree) throw: they are bugs in the model. Conditions
 * a system call reports (no room: -ENOMEM, a bad length: -EINVAL) are returned as negative errnos.
 */
import { EINVAL, ENOMEM } from '../sim/errno.js';
import {
  DEFAULT_MMAP_BASE,
  DEFAULT_MMAP_MIN_ADDR,
  PAGE_SHIFT,
  VM_EXEC,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_SPECIAL,
  VM_WRITE,
  taskSize,
} from './constants.js';

/** The fields a VMA is created with (vm_area_alloc + vma_set_range + vm_flags_init ...). */
export interface VmaInit {
  /** vm_start: first byte, page-aligned. */
  start: number;
  /** vm_end: first byte after the area, page-aligned, > start. */
  end: number;
  /** vm_flags: VM_* bits. */
  flags: number;
  /** vm_pgoff: offset of `start` in the file, in pages; for private anonymous memory start >> PAGE_SHIFT. */
  pgoff?: number;
  /** vm_file: the mapped file (a shmem file for shared anonymous memory), opaque here. */
  file?: unknown;
  /** vm_ops: the file's or driver's vm_operations_struct, opaque here. */
  ops?: object;
  /** vm_private_data. */
  privateData?: unknown;
  /** The anon_vma this VMA's anonymous pages belong to, by id; 0 until anon_vma_prepare. */
  anonVma?: number;
  /** anon_vma_name or the special names ([heap], [stack]); shown by toString. */
  name?: string;
}

/**
 * struct vm_area_struct: [start, end) with flags, file offset, file, vm_ops, private data and anon_vma.
 * A VMA is detached until VmaTree.insert and again after VmaTree.remove (vma->detached). Change start,
 * end and pgoff only through the tree (split, adjust, mergeAround); flags and anonVma may be changed in
 * place under the mmap lock for write (vm_flags_set / vm_flags_reset, anon_vma_prepare).
 */
export class Vma {
  /** vm_start: the first byte of the area, page-aligned. */
  start: number;
  /** vm_end: the first byte after the area, page-aligned; the area is [start, end). */
  end: number;
  /** vm_flags: VM_* bits (VM_READ, VM_WRITE, VM_SHARED, ...). */
  flags: number;
  /**
   * vm_pgoff: the offset of `start` in the mapped file (a shmem file for shared anonymous memory), in
   * pages; for private anonymous memory the page number of the address it was mapped at
   * (start >> PAGE_SHIFT).
   */
  pgoff: number;
  /** vm_file: the mapped file (a shmem file for shared anonymous memory), undefined for private anonymous. */
  file: unknown;
  /** vm_ops: the file's or driver's vm_operations_struct (a VmOperations), undefined if anonymous. */
  ops: object | undefined;
  /** vm_private_data: the driver's data for this mapping, opaque to the model. */
  privateData: unknown;
  /**
   * The anon_vma the VMA's anonymous pages belong to, as an id from Kernel.allocAnonVma (folio->mapping
   * of those pages); 0 until anonVmaPrepare gives it one.
   */
  anonVma: number;
  /** anon_vma_name, or a special name such as [heap] or [stack]; shown by toString. */
  name: string | undefined;
  /** Not in any tree (vma->detached). */
  detached = true;

  /** vm_area_alloc with the given fields. */
  constructor(init: VmaInit) {
    this.start = init.start;
    this.end = init.end;
    this.flags = init.flags;
    this.pgoff = init.pgoff ?? 0;
    this.file = init.file;
    this.ops = init.ops;
    this.privateData = init.privateData;
    this.anonVma = init.anonVma ?? 0;
    this.name = init.name;
  }

  /** vma_is_anonymous: no file and no vm_ops (shared anonymous memory is shmem, so not anonymous). */
  get anonymous(): boolean {
    return this.file === undefined && this.ops === undefined;
  }

  /** vma->vm_end - vma->vm_start, in bytes. */
  get length(): number {
    return this.end - this.start;
  }

  /** Whether `addr` lies in [start, end). */
  contains(addr: number): boolean {
    return addr >= this.start && addr < this.end;
  }

  /** vm_area_dup: a detached copy with the same fields (fork, split). */
  clone(): Vma {
    return new Vma({
      start: this.start,
      end: this.end,
      flags: this.flags,
      pgoff: this.pgoff,
      file: this.file,
      ops: this.ops,
      privateData: this.privateData,
      anonVma: this.anonVma,
      name: this.name,
    });
  }

  /** A /proc/pid/maps line: `7f0000000000-7f0000002000 rw-p 7f0000000 [anon:name]` (pgoff in pages). */
  toString(): string {
    const perms =
      (this.flags & VM_READ ? 'r' : '-') +
      (this.flags & VM_WRITE ? 'w' : '-') +
      (this.flags & VM_EXEC ? 'x' : '-') +
      (this.flags & VM_SHARED ? 's' : 'p');
    const name = this.name ?? (this.anonymous ? '' : '[file]');
    return `${this.start.toString(16)}-${this.end.toString(16)} ${perms} ${this.pgoff.toString(16)}${name ? ' ' + name : ''}`;
  }
}

/** The layout of a new VmaTree; an Mm passes its Kernel's values. */
export interface VmaTreeOptions {
  /** Base page shift; 12 (4 KiB) by default. */
  pageShift?: number;
  /** mm->mmap_base: where the top-down search starts (0x7f0000000000 by default). */
  mmapBase?: number;
  /** vm.mmap_min_addr (0x10000 by default). */
  mmapMinAddr?: number;
}

/** Options of {@link VmaTree.getUnmappedArea}: get_unmapped_area's hint, alignment and direction. */
export interface UnmappedAreaOptions {
  /** The caller's address hint (mmap's addr without MAP_FIXED): used when the range there is free. */
  hint?: number;
  /** Alignment in bytes (a power of two, >= page size): e.g. the PMD size for THP-aligned mappings. */
  align?: number;
  /** Search downwards from mmapBase (the default, mm_get_unmapped_area_vmflags top-down) or upwards. */
  topDown?: boolean;
}

/**
 * The VMAs of one mm in address order (mm->mm_mt with mm->map_count). No locks; the caller serialises
 * (holds the mmap lock: read for lookups, write for changes).
 */
export class VmaTree {
  /** Base page shift (PAGE_SHIFT) VMA bounds are aligned to; 12 by default. */
  readonly pageShift: number;
  /** Bytes per base page (PAGE_SIZE): VMA bounds are multiples of it. */
  readonly pageSize: number;
  /** mm->mmap_base: where getUnmappedArea's top-down search starts (0x7f0000000000 by default). */
  readonly mmapBase: number;
  /** vm.mmap_min_addr: the lowest address a mapping may start at (0x10000 by default). */
  readonly mmapMinAddr: number;
  /** TASK_SIZE: no VMA ends above it. */
  readonly taskSize: number;
  private readonly vmas: Vma[] = [];

  /** An empty tree (mm_init's mt_init). */
  constructor(options: VmaTreeOptions = {}) {
    const pageShift = options.pageShift ?? PAGE_SHIFT;
    if (!Number.isInteger(pageShift) || pageShift < 9 || pageShift > 21)
      throw new RangeError(`VmaTree: pageShift must be an integer in [9, 21], got ${pageShift}`);
    this.pageShift = pageShift;
    this.pageSize = 2 ** pageShift;
    this.taskSize = taskSize(this.pageSize);
    this.mmapBase = options.mmapBase ?? DEFAULT_MMAP_BASE;
    this.mmapMinAddr = options.mmapMinAddr ?? DEFAULT_MMAP_MIN_ADDR;
    if (
      this.mmapBase % this.pageSize !== 0 ||
      this.mmapBase > this.taskSize ||
      this.mmapBase < this.mmapMinAddr
    )
      throw new RangeError(
        `VmaTree: mmapBase 0x${this.mmapBase.toString(16)} is not a page-aligned user address`,
      );
  }

  /** mm->map_count. */
  get count(): number {
    return this.vmas.length;
  }

  /** for_each_vma: the VMAs in address order. Do not change the tree while iterating (use toArray). */
  [Symbol.iterator](): IterableIterator<Vma> {
    return this.vmas.values();
  }

  /** A snapshot of the VMAs in address order. */
  toArray(): Vma[] {
    return this.vmas.slice();
  }

  /** find_vma: the first VMA with end > addr (it may start above addr), or undefined. */
  find(addr: number): Vma | undefined {
    return this.vmas[this.vmaIndexAfter(addr)];
  }

  /** vma_lookup: the VMA containing addr, or undefined. */
  lookup(addr: number): Vma | undefined {
    const vma = this.vmas[this.vmaIndexAfter(addr)];
    return vma !== undefined && vma.start <= addr ? vma : undefined;
  }

  /** find_exact_vma: the VMA spanning exactly [start, end), or undefined. */
  findExact(start: number, end: number): Vma | undefined {
    const vma = this.lookup(start);
    return vma !== undefined && vma.start === start && vma.end === end ? vma : undefined;
  }

  /** find_vma_intersection, all of them: the VMAs overlapping [start, end), in address order. */
  intersecting(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = this.vmaIndexAfter(start); i < this.vmas.length && this.vmas[i].start < end; i++)
      out.push(this.vmas[i]);
    return out;
  }

  /** Whether no VMA overlaps [start, end). */
  isFree(start: number, end: number): boolean {
    const vma = this.vmas[this.vmaIndexAfter(start)];
    return vma === undefined || vma.start >= end;
  }

  /** vma_prev: the VMA before `vma` in the tree, or undefined. */
  prev(vma: Vma): Vma | undefined {
    return this.vmas[this.vmaIndexOf(vma, 'prev') - 1];
  }

  /** vma_next: the VMA after `vma` in the tree, or undefined. */
  next(vma: Vma): Vma | undefined {
    return this.vmas[this.vmaIndexOf(vma, 'next') + 1];
  }

  /**
   * linear_page_index: the page index of `addr` in the VMA's file (or anon) space:
   * pgoff + (addr - start) / PAGE_SIZE.
   */
  linearPageIndex(vma: Vma, addr: number): number {
    return vma.pgoff + Math.floor((addr - vma.start) / this.pageSize);
  }

  /**
   * vma_link / insert_vm_struct: adds a detached VMA. Throws if it is misaligned, empty, outside
   * [0, TASK_SIZE), already attached or overlaps an existing VMA. Does not merge (call mergeAround).
   */
  insert(vma: Vma): void {
    if (!vma.detached) throw new Error(`insert: VMA ${vma.toString()} is already in a tree`);
    this.vmaCheckRange(vma.start, vma.end, 'insert');
    this.vmaCheckPgoff(vma.pgoff, 'insert');
    const i = this.vmaIndexAfter(vma.start);
    const other = this.vmas[i];
    if (other !== undefined && other.start < vma.end)
      throw new Error(`insert: ${vma.toString()} overlaps the existing VMA ${other.toString()}`);
    this.vmas.splice(i, 0, vma);
    vma.detached = false;
  }

  /** vma_iter_clear + remove_vma (the tree part): takes the VMA out and marks it detached. */
  remove(vma: Vma): void {
    const i = this.vmaIndexOf(vma, 'remove');
    this.vmas.splice(i, 1);
    vma.detached = true;
  }

  /**
   * __split_vma: splits `vma` at `addr` (start < addr < end, page-aligned). `vma` keeps [start, addr);
   * the returned new VMA (a clone) is [addr, end) with pgoff advanced by the pages below addr. The caller
   * checks map_count against vm.max_map_count first (-ENOMEM) and splits any huge PMD straddling addr
   * (vma_adjust_trans_huge).
   */
  split(vma: Vma, addr: number): Vma {
    const i = this.vmaIndexOf(vma, 'split');
    if (!(addr > vma.start && addr < vma.end) || addr % this.pageSize !== 0)
      throw new RangeError(
        `split: 0x${addr.toString(16)} is not a page-aligned address inside ${vma.toString()}`,
      );
    const upper = vma.clone();
    upper.start = addr;
    upper.pgoff = vma.pgoff + (addr - vma.start) / this.pageSize;
    vma.end = addr;
    this.vmas.splice(i + 1, 0, upper);
    upper.detached = false;
    return upper;
  }

  /**
   * vma_expand / vma_shrink: moves the VMA's bounds to [start, end), keeping the file offset of every
   * page that stays (pgoff changes by the pages the start moves). Throws if the new range is misaligned,
   * empty, or overlaps a neighbour.
   */
  adjust(vma: Vma, start: number, end: number): void {
    const i = this.vmaIndexOf(vma, 'adjust');
    this.vmaCheckRange(start, end, 'adjust');
    const prev = this.vmas[i - 1];
    const next = this.vmas[i + 1];
    if ((prev !== undefined && prev.end > start) || (next !== undefined && next.start < end))
      throw new Error(
        `adjust: [0x${start.toString(16)}, 0x${end.toString(16)}) overlaps a neighbour of ${vma.toString()}`,
      );
    const pgoff = vma.pgoff + (start - vma.start) / this.pageSize;
    this.vmaCheckPgoff(pgoff, 'adjust');
    vma.pgoff = pgoff;
    vma.start = start;
    vma.end = end;
  }

  /**
   * is_mergeable_vma + is_mergeable_anon_vma + the pgoff check of can_vma_merge_before/after: whether
   * `prev` and `next`, adjacent in this order, could be one VMA: same flags (VM_SOFTDIRTY aside), no
   * VM_SPECIAL, same file, vm_ops, private data and name, contiguous pgoff, and compatible anon_vma
   * (equal, or one of them not yet prepared). Deviation: the kernel also refuses an unprepared/prepared
   * pair when the prepared one was forked (anon_vma_chain not singular); the model does not track chains.
   */
  mergeable(prev: Vma, next: Vma): boolean {
    return (
      prev.end === next.start &&
      (prev.flags & ~VM_SOFTDIRTY) === (next.flags & ~VM_SOFTDIRTY) &&
      (prev.flags & VM_SPECIAL) === 0 &&
      prev.file === next.file &&
      prev.ops === next.ops &&
      prev.privateData === next.privateData &&
      prev.name === next.name &&
      (prev.anonVma === next.anonVma || prev.anonVma === 0 || next.anonVma === 0) &&
      prev.pgoff + (prev.end - prev.start) / this.pageSize === next.pgoff
    );
  }

  /**
   * vma_merge (vma_merge_new_range / vma_merge_existing_range after a change to all of `vma`): merges
   * `vma` with its neighbours where mergeable. With the previous VMA, the previous one survives and
   * grows; with only the next one, the next one survives and grows downwards (as the kernel expands
   * `next` over the middle); merged-away VMAs are removed (detached). The survivor inherits a prepared
   * anon_vma. Returns the VMA that now covers vma's range.
   */
  mergeAround(vma: Vma): Vma {
    let i = this.vmaIndexOf(vma, 'mergeAround');
    let cur = vma;
    const prev = this.vmas[i - 1];
    if (prev !== undefined && this.mergeable(prev, cur)) {
      prev.end = cur.end;
      if (prev.anonVma === 0) prev.anonVma = cur.anonVma;
      this.vmas.splice(i, 1);
      cur.detached = true;
      cur = prev;
      i--;
    }
    const next = this.vmas[i + 1];
    if (next !== undefined && this.mergeable(cur, next)) {
      if (cur === prev) {
        cur.end = next.end;
        if (cur.anonVma === 0) cur.anonVma = next.anonVma;
        this.vmas.splice(i + 1, 1);
        next.detached = true;
      } else {
        next.start = cur.start;
        next.pgoff = cur.pgoff;
        if (next.anonVma === 0) next.anonVma = cur.anonVma;
        this.vmas.splice(i, 1);
        cur.detached = true;
        cur = next;
      }
    }
    return cur;
  }

  /**
   * get_unmapped_area for a non-MAP_FIXED mmap: returns a free, aligned range start for `length` bytes,
   * or -EINVAL (length not a positive multiple of the page size, bad alignment) or -ENOMEM (no room).
   * Uses the hint when [hint rounded up to a page, + length) is free and inside
   * [mmapMinAddr, TASK_SIZE); otherwise searches top-down from mmapBase (the highest fitting gap), then
   * bottom-up above mmapBase, as the kernel falls back to; with topDown false, bottom-up from mmapMinAddr.
   * Deviation: no stack guard gap.
   */
  getUnmappedArea(length: number, options: UnmappedAreaOptions = {}): number {
    if (!Number.isInteger(length) || length <= 0 || length % this.pageSize !== 0) return -EINVAL;
    const align = options.align ?? this.pageSize;
    if (
      !Number.isInteger(align) ||
      align < this.pageSize ||
      align % this.pageSize !== 0 ||
      !isPowerOfTwo(align)
    )
      return -EINVAL;
    if (length > this.taskSize - this.mmapMinAddr) return -ENOMEM;
    const hint = options.hint;
    if (hint !== undefined && hint > 0 && Number.isFinite(hint)) {
      const addr = Math.ceil(hint / this.pageSize) * this.pageSize;
      if (
        addr % align === 0 &&
        addr >= this.mmapMinAddr &&
        addr + length <= this.taskSize &&
        this.isFree(addr, addr + length)
      )
        return addr;
    }
    if (options.topDown ?? true) {
      const addr = this.vmaGapTopDown(length, align, this.mmapMinAddr, this.mmapBase);
      if (addr >= 0) return addr;
      return this.vmaGapBottomUp(length, align, this.mmapBase, this.taskSize);
    }
    return this.vmaGapBottomUp(length, align, this.mmapMinAddr, this.taskSize);
  }

  /**
   * validate_mm: checks the tree's invariants (sorted, non-overlapping, aligned, attached, inside
   * [0, TASK_SIZE)) and throws an Error naming the first broken one. O(n); for tests and checkers.
   */
  validate(): void {
    let prevEnd = 0;
    for (const vma of this.vmas) {
      if (vma.detached) throw new Error(`validate_mm: ${vma.toString()} is in the tree but marked detached`);
      if (!(vma.start < vma.end) || vma.start % this.pageSize !== 0 || vma.end % this.pageSize !== 0)
        throw new Error(`validate_mm: ${vma.toString()} has a bad range`);
      if (vma.start < prevEnd) throw new Error(`validate_mm: ${vma.toString()} overlaps or is out of order`);
      if (vma.end > this.taskSize) throw new Error(`validate_mm: ${vma.toString()} ends above TASK_SIZE`);
      prevEnd = vma.end;
    }
  }

  // ===========================================================================================
  // Internal (vma* helpers)
  // ===========================================================================================

  /** Index of the first VMA with end > addr (vmas.length if none). */
  private vmaIndexAfter(addr: number): number {
    let lo = 0;
    let hi = this.vmas.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.vmas[mid].end > addr) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private vmaIndexOf(vma: Vma, what: string): number {
    const i = this.vmaIndexAfter(vma.start);
    if (this.vmas[i] !== vma) throw new Error(`${what}: VMA ${vma.toString()} is not in this tree`);
    return i;
  }

  private vmaCheckRange(start: number, end: number, what: string): void {
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(end) ||
      start < 0 ||
      !(start < end) ||
      end > this.taskSize ||
      start % this.pageSize !== 0 ||
      end % this.pageSize !== 0
    )
      throw new RangeError(
        `${what}: [${String(start)}, ${String(end)}) is not a non-empty page-aligned range below TASK_SIZE 0x${this.taskSize.toString(16)}`,
      );
  }

  private vmaCheckPgoff(pgoff: number, what: string): void {
    if (!Number.isInteger(pgoff) || pgoff < 0)
      throw new RangeError(`${what}: pgoff ${pgoff} must be a non-negative integer`);
  }

  /** unmapped_area_topdown: the highest aligned start in [low, high) whose range fits a gap, or -ENOMEM. */
  private vmaGapTopDown(length: number, align: number, low: number, high: number): number {
    const vmas = this.vmas;
    for (let i = vmas.length - 1; i >= -1; i--) {
      const gapStart = Math.max(low, i >= 0 ? vmas[i].end : 0);
      const gapEnd = Math.min(high, i + 1 < vmas.length ? vmas[i + 1].start : Infinity);
      if (i >= 0 && vmas[i].end > high) continue;
      if (gapEnd - gapStart < length) {
        if (gapEnd <= low) break;
        continue;
      }
      const addr = Math.floor((gapEnd - length) / align) * align;
      if (addr >= gapStart) return addr;
    }
    return -ENOMEM;
  }

  /** unmapped_area: the lowest aligned start in [low, high) whose range fits a gap, or -ENOMEM. */
  private vmaGapBottomUp(length: number, align: number, low: number, high: number): number {
    const vmas = this.vmas;
    for (let i = this.vmaIndexAfter(low) - 1; i < vmas.length; i++) {
      const gapStart = Math.max(low, i >= 0 ? vmas[i].end : 0);
      const gapEnd = Math.min(high, i + 1 < vmas.length ? vmas[i + 1].start : Infinity);
      if (gapStart >= high) break;
      const addr = Math.ceil(gapStart / align) * align;
      if (addr + length <= gapEnd) return addr;
    }
    return -ENOMEM;
  }
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n));
}
