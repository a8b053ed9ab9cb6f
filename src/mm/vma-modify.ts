/**
 * Changing the VMA layout of an mm (parts of mm/vma.c): split with the map-count limit, merge with
 * neighbours, vma_modify_flags, and freeing detached VMAs — keeping the file references and vm_ops
 * open/close calls that go with them.
 */
import { ENOMEM } from '../sim/errno.js';
import type { Mm } from './mm.js';
import { splitHugePmd } from './huge-memory.js';
import type { Vma } from './vma.js';
import type { MmapableFile, VmOperations } from './vm-ops.js';

/** get_file + vm_ops->open for a VMA that now exists besides its original (split, fork, mremap). */
export function vmaOpenRefs(vma: Vma): void {
  (vma.file as MmapableFile | undefined)?.get();
  (vma.ops as VmOperations | undefined)?.open?.(vma);
}

/**
 * remove_vma: vm_ops->close and fput for a VMA already taken out of the tree (and whose pages are
 * already unmapped). Atomic.
 */
export function vmaFree(vma: Vma): void {
  (vma.ops as VmOperations | undefined)?.close?.(vma);
  (vma.file as MmapableFile | undefined)?.put();
}

/**
 * vma_adjust_trans_huge: before a VMA boundary moves to `addr`, a huge PMD straddling it is split
 * (raising CLEAR over that PMD). May sleep.
 */
export async function vmaAdjustTransHuge(mm: Mm, vma: Vma, addr: number): Promise<void> {
  const pt = mm.pageTable;
  if (addr % pt.pmdSize === 0 || addr <= 0) return;
  if (pt.isHugeAt(pt.pmdStart(addr))) await splitHugePmd(mm, vma, addr);
}

/**
 * split_vma / __split_vma: splits `vma` at `addr`; `vma` keeps the lower part and the upper part is
 * returned. With `checkCount`, fails with -ENOMEM when map_count has reached vm.max_map_count (the
 * kernel's split_vma; __split_vma skips the check). Caller holds the mmap lock for write. May sleep
 * (a straddling huge PMD is split first).
 */
export async function splitVma(mm: Mm, vma: Vma, addr: number, checkCount: boolean): Promise<Vma | number> {
  mm.assertMmapWriteLocked('split_vma');
  if (checkCount && mm.vmas.count >= mm.kernel.maxMapCount) return -ENOMEM;
  await vmaAdjustTransHuge(mm, vma, addr);
  const upper = mm.vmas.split(vma, addr);
  vmaOpenRefs(upper);
  return upper;
}

/**
 * vma_merge_new_range / vma_merge_existing_range after `vma` changed: merges it with mergeable
 * neighbours; merged-away VMAs are freed (their file reference dropped). Returns the VMA now covering
 * vma's range. Caller holds the mmap lock for write. Atomic.
 */
export function vmaMergeAround(mm: Mm, vma: Vma): Vma {
  mm.assertMmapWriteLocked('vma_merge');
  const prev = mm.vmas.prev(vma);
  const next = mm.vmas.next(vma);
  const merged = mm.vmas.mergeAround(vma);
  for (const v of [prev, vma, next]) if (v !== undefined && v !== merged && v.detached) vmaFree(v);
  return merged;
}

/**
 * vma_modify_flags: gives [start, end) of `vma` (inside it) the flags `newFlags`, splitting off the
 * parts outside (split_vma, -ENOMEM at the map-count limit) and merging with neighbours. Returns the
 * VMA covering [start, end) or -ENOMEM (the layout may then be partly split, as in the kernel).
 * Caller holds the mmap lock for write. May sleep.
 */
export async function vmaModifyFlags(
  mm: Mm,
  vma: Vma,
  start: number,
  end: number,
  newFlags: number,
): Promise<Vma | number> {
  mm.assertMmapWriteLocked('vma_modify_flags');
  let cur = vma;
  if (cur.start < start) {
    const upper = await splitVma(mm, cur, start, true);
    if (typeof upper === 'number') return upper;
    cur = upper;
  }
  if (cur.end > end) {
    const r = await splitVma(mm, cur, end, true);
    if (typeof r === 'number') return r;
  }
  cur.flags = newFlags;
  return vmaMergeAround(mm, cur);
}
