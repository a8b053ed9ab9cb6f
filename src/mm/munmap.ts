/**
 * munmap (mm/vma.c): do_vmi_munmap → do_vmi_align_munmap → vms_gather_munmap_vmas /
 * vms_complete_munmap_vmas → unmap_vmas.
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_UNMAP, mmuNotifierRangeInit } from '../notifier/types.js';
import { EINTR, EINVAL, ENOMEM } from '../sim/errno.js';
import { unmapSingleVma } from './memory.js';
import { splitVma, vmaFree } from './vma-modify.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

/**
 * munmap(2): takes the mmap lock for write (killable: -EINTR) and unmaps [start, start + len) with
 * {@link munmapLocked}, downgrading the lock to read for the zap and releasing it at the end, as the
 * syscall does (do_vmi_munmap with unlock = true). Returns 0 or -errno. Caller holds no mm lock.
 * May sleep.
 */
export async function doMunmap(mm: Mm, start: number, len: number): Promise<number> {
  mm.sim.mightSleep('munmap');
  checkMunmapArgs(start, len);
  if ((await mm.mmapLock.downWriteKillable()) !== 0) return -EINTR;
  const ret = await munmapLocked(mm, start, len, true);
  if (ret < 0) mm.mmapLock.upWrite();
  return ret;
}

/**
 * do_vmi_munmap: unmaps [start, start + PAGE_ALIGN(len)).
 *
 * Errors as the kernel's: -EINVAL for a misaligned start, a range beyond TASK_SIZE, or an empty
 * range; -ENOMEM when splitting a VMA in two would exceed vm.max_map_count. A range with no VMA is not
 * an error (0, no invalidation).
 *
 * Otherwise: splits the VMAs at the edges, detaches every VMA in the range (from then on faults there
 * see no VMA), optionally downgrades the mmap lock to read (`unlock`, as the syscall does), raises ONE
 * blockable MMU_NOTIFY_UNMAP invalidation over exactly the requested [start, end) (unmap_vmas; owner
 * null), zaps each detached VMA's pages inside it, ends the invalidation, then frees the VMAs (file
 * references). With `unlock` the mmap lock is released on success (not on failure, as the kernel).
 *
 * Locks: the caller holds the mmap lock for write (asserted). May sleep.
 */
export async function munmapLocked(mm: Mm, start: number, len: number, unlock: boolean): Promise<number> {
  mm.assertMmapWriteLocked('do_vmi_munmap');
  const ps = mm.kernel.pageSize;
  const taskSize = mm.vmas.taskSize;
  if (start % ps !== 0 || start > taskSize || len > taskSize - start) return -EINVAL;
  const end = start + Math.ceil(len / ps) * ps;
  if (end === start) return -EINVAL;
  let first = mm.vmas.find(start);
  if (first === undefined || first.start >= end) {
    if (unlock) mm.mmapLock.upWrite();
    return 0;
  }
  // vms_gather_munmap_vmas: split the first and last VMAs at the edges, then detach.
  if (start > first.start) {
    if (end < first.end && mm.vmas.count >= mm.kernel.maxMapCount) return -ENOMEM;
    const upper = await splitVma(mm, first, start, false);
    if (typeof upper === 'number') return upper;
    first = upper;
  }
  const detached: Vma[] = [];
  for (let vma: Vma | undefined = first; vma !== undefined && vma.start < end; vma = mm.vmas.find(vma.end)) {
    if (vma.end > end) {
      const r = await splitVma(mm, vma, end, false);
      if (typeof r === 'number') return r;
    }
    detached.push(vma);
  }
  for (const vma of detached) mm.vmas.remove(vma);
  if (unlock) mm.mmapLock.downgradeWrite();
  // vms_clear_ptes → unmap_vmas
  await unmapVmas(mm, detached, start, end);
  for (const vma of detached) vmaFree(vma);
  if (unlock) mm.mmapLock.upRead();
  return 0;
}

/**
 * unmap_vmas: one blockable MMU_NOTIFY_UNMAP invalidation over [start, end) (owner null) around the
 * zap of every VMA of `vmas` clipped to the range. Caller holds the mmap lock (read or write) or the mm
 * is unreachable. May sleep.
 */
export async function unmapVmas(mm: Mm, vmas: readonly Vma[], start: number, end: number): Promise<void> {
  mm.assertMmapLocked('unmap_vmas');
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, start, end);
  await mmuNotifierInvalidateRangeStart(range);
  for (const vma of vmas) await unmapSingleVma(mm, vma, start, end);
  await mmuNotifierInvalidateRangeEnd(range);
}

function checkMunmapArgs(start: number, len: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(len) || start < 0 || len < 0)
    throw new RangeError(`munmap: start and length must be non-negative integers, got ${start}, ${len}`);
}
