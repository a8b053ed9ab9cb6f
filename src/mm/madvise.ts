/**
 * madvise (mm/madvise.c): do_madvise → madvise_walk_vmas → madvise_vma_behavior.
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_CLEAR, mmuNotifierRangeInit } from '../notifier/types.js';
import { EAGAIN, EFAULT, EINTR, EINVAL, ENOMEM } from '../sim/errno.js';
import {
  MADV_COLLAPSE,
  MADV_COLD,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_RAND_READ,
  VM_SEQ_READ,
  VM_SPECIAL,
  VM_WRITE,
} from './constants.js';
import { populateVmaRange } from './access.js';
import { collapseHugePage, thpVmaSuitable } from './huge-memory.js';
import { unmapSingleVma } from './memory.js';
import { vmaModifyFlags } from './vma-modify.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

/** Advice taking the mmap lock for write (madvise_need_mmap_write): they change VMA flags. */
function madviseNeedsWrite(behavior: number): boolean {
  switch (behavior) {
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_WILLNEED:
    case MADV_COLD:
    case MADV_PAGEOUT:
    case MADV_POPULATE_READ:
    case MADV_POPULATE_WRITE:
      return false;
    default:
      return true;
  }
}

function madviseBehaviorValid(behavior: number): boolean {
  switch (behavior) {
    case MADV_NORMAL:
    case MADV_RANDOM:
    case MADV_SEQUENTIAL:
    case MADV_WILLNEED:
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_DONTFORK:
    case MADV_DOFORK:
    case MADV_DONTDUMP:
    case MADV_DODUMP:
    case MADV_HUGEPAGE:
    case MADV_NOHUGEPAGE:
    case MADV_COLD:
    case MADV_PAGEOUT:
    case MADV_POPULATE_READ:
    case MADV_POPULATE_WRITE:
    case MADV_COLLAPSE:
      return true;
    default:
      return false;
  }
}

/**
 * madvise(2): advice `behavior` for [start, start + len).
 *
 * Errors as the kernel's: -EINVAL for unknown (or unmodelled: MADV_REMOVE, ...) advice,
 * a misaligned start, or a length that overflows when page-aligned; len 0 (or an empty aligned range)
 * is a no-op (0); -ENOMEM when the range contains unmapped gaps — the advice is still applied to the
 * mapped parts — or no VMA at all; per-VMA errors (-EINVAL for MADV_DONTNEED on VM_LOCKED / VM_PFNMAP /
 * hugetlb VMAs, MADV_FREE on non-anonymous ones, MADV_DONTFORK on VM_IO) stop the walk.
 *
 * Behaviours:
 *  - MADV_DONTNEED (mmap lock for read): per VMA part, zap_page_range_single: a blockable
 *    MMU_NOTIFY_CLEAR invalidation over the part [max(start, vma.start), min(end, vma.end)), owner
 *    null, around the zap. Anonymous memory reads as zeros afterwards; file and shmem memory refaults
 *    from the page cache. Deviation: hugetlb VMAs are refused with -EINVAL, as before Linux 5.18 (which
 *    zaps them). It matters beyond the return value: hugetlb_wp clears and re-sets a huge PMD under the
 *    page-table lock with a scheduling point between, and a lockless DONTNEED walk could then skip
 *    that PMD; every other hugetlb zapper holds the mmap lock for write or runs at exit.
 *  - MADV_FREE (read): deviation: treated as MADV_DONTNEED on private anonymous VMAs (the kernel
 *    raises the same CLEAR invalidation but only marks the pages lazily freeable).
 *  - MADV_HUGEPAGE / MADV_NOHUGEPAGE / NORMAL / RANDOM / SEQUENTIAL / DONTFORK / DOFORK / DONTDUMP /
 *    DODUMP (write): VMA flags only, splitting and merging VMAs (-ENOMEM at the map-count limit); no
 *    invalidation.
 *  - MADV_WILLNEED, MADV_COLD (read): no effect in the model. MADV_PAGEOUT (read): the phase-B
 *    reclaim hook, if installed.
 *  - MADV_POPULATE_READ / WRITE (read): fault the range in (-EFAULT / -ENOMEM / -EINVAL as the kernel
 *    for inaccessible memory).
 *  - MADV_COLLAPSE (read, dropped around each collapse): see madviseCollapse below.
 *
 * Caller holds no mm lock. May sleep.
 */
export async function doMadvise(mm: Mm, start: number, lenIn: number, behavior: number): Promise<number> {
  mm.sim.mightSleep('madvise');
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(lenIn) || start < 0 || lenIn < 0)
    throw new RangeError(`madvise: start and length must be non-negative integers, got ${start}, ${lenIn}`);
  if (!madviseBehaviorValid(behavior)) return -EINVAL;
  const ps = mm.kernel.pageSize;
  if (start % ps !== 0) return -EINVAL;
  const len = Math.ceil(lenIn / ps) * ps;
  const end = start + len;
  if (end === start) return 0;
  if (behavior === MADV_COLLAPSE) return madviseCollapse(mm, start, end);
  const write = madviseNeedsWrite(behavior);
  if (write) {
    if ((await mm.mmapLock.downWriteKillable()) !== 0) return -EINTR;
  } else await mm.mmapLock.downRead();
  const ret = await madviseWalkVmas(mm, start, end, behavior);
  if (write) mm.mmapLock.upWrite();
  else mm.mmapLock.upRead();
  return ret;
}

/** madvise_walk_vmas: applies the advice per VMA part; -ENOMEM for gaps after doing the rest. */
async function madviseWalkVmas(mm: Mm, start: number, end: number, behavior: number): Promise<number> {
  let unmappedError = 0;
  let vma = mm.vmas.find(start);
  let pos = start;
  for (;;) {
    if (vma === undefined || vma.start >= end) {
      return -ENOMEM;
    }
    if (pos < vma.start) {
      unmappedError = -ENOMEM;
      pos = vma.start;
    }
    const tmp = Math.min(vma.end, end);
    const r = await madviseVmaBehavior(mm, vma, pos, tmp, behavior);
    if (r !== 0) return r;
    pos = tmp;
    if (pos >= end) break;
    vma = mm.vmas.find(pos);
    if (vma === undefined || vma.start >= end) return -ENOMEM;
  }
  return unmappedError;
}

async function madviseVmaBehavior(
  mm: Mm,
  vma: Vma,
  start: number,
  end: number,
  behavior: number,
): Promise<number> {
  switch (behavior) {
    case MADV_DONTNEED:
      if (vma.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) return -EINVAL;
      await zapPageRangeSingle(mm, vma, start, end);
      return 0;
    case MADV_FREE:
      if (!vma.anonymous || vma.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) return -EINVAL;
      await zapPageRangeSingle(mm, vma, start, end);
      return 0;
    case MADV_WILLNEED:
    case MADV_COLD:
      return 0;
    case MADV_PAGEOUT:
      if (mm.kernel.pageoutRange !== null) await mm.kernel.pageoutRange(mm, vma, start, end);
      return 0;
    case MADV_POPULATE_READ:
    case MADV_POPULATE_WRITE: {
      if (vma.flags & (VM_IO | VM_PFNMAP)) return -EINVAL;
      const w = behavior === MADV_POPULATE_WRITE;
      if (w && !(vma.flags & VM_WRITE)) return -EFAULT;
      return populateVmaRange(mm, vma, start, end, w);
    }
    default:
      return madviseUpdateFlags(mm, vma, start, end, behavior);
  }
}

/**
 * madvise_collapse (MADV_COLLAPSE): synchronous khugepaged collapse of every whole PMD-aligned PMD of
 * [start, end) into a THP, whatever the THP "enabled" mode and without VM_HUGEPAGE.
 *
 * Under the mmap read lock the VMAs are checked first: a gap gives -ENOMEM, a VMA where THPs are not
 * allowed (not private anonymous, VM_NOHUGEPAGE, hugetlb, special) -EINVAL, each before any collapse.
 * Then, the lock dropped (the kernel drops it too: collapse takes it for write), each PMD is collapsed by
 * collapseHugePage (one already mapped by a huge PMD counts as done). A PMD that cannot be collapsed
 * for a transient reason (-EAGAIN: a page locked, pinned or off the LRU, a swap or device entry) is
 * skipped and the next tried; -ENOMEM or -EINTR stops. Returns 0 when every PMD is a THP afterwards
 * (also when the range holds no whole PMD), else the last failure's errno.
 *
 * Caller holds no mm lock. May sleep.
 * Deviations: file and shmem VMAs are refused (-EINVAL; the kernel collapses their page cache); no
 * swap-in of swapped-out PTEs (a swap entry is -EAGAIN).
 */
async function madviseCollapse(mm: Mm, start: number, end: number): Promise<number> {
  const pmdSize = mm.pageTable.pmdSize;
  const hstart = Math.ceil(start / pmdSize) * pmdSize;
  const hend = Math.floor(end / pmdSize) * pmdSize;
  await mm.mmapLock.downRead();
  let ret = 0;
  for (let pos = start; pos < end && ret === 0;) {
    const vma = mm.vmas.find(pos);
    if (vma === undefined || vma.start >= end) {
      ret = -ENOMEM;
      break;
    }
    if (pos < vma.start) ret = -ENOMEM;
    const lo = Math.max(hstart, Math.ceil(vma.start / pmdSize) * pmdSize);
    if (lo + pmdSize <= Math.min(hend, vma.end) && !thpVmaSuitable(vma, lo, pmdSize)) ret = -EINVAL;
    if (vma.flags & VM_NOHUGEPAGE || !vma.anonymous) ret = -EINVAL;
    pos = vma.end;
  }
  mm.mmapLock.upRead();
  if (ret !== 0) return ret;
  let lastFail = 0;
  for (let haddr = hstart; haddr < hend; haddr += pmdSize) {
    const r = await collapseHugePage(mm, haddr);
    if (r === 0) continue;
    lastFail = r;
    if (r !== -EAGAIN) break;
  }
  return lastFail;
}

/** madvise_update_vma for the flag-only advice. */
async function madviseUpdateFlags(
  mm: Mm,
  vma: Vma,
  start: number,
  end: number,
  behavior: number,
): Promise<number> {
  let flags = vma.flags;
  switch (behavior) {
    case MADV_NORMAL:
      flags &= ~(VM_RAND_READ | VM_SEQ_READ);
      break;
    case MADV_RANDOM:
      flags = (flags & ~VM_SEQ_READ) | VM_RAND_READ;
      break;
    case MADV_SEQUENTIAL:
      flags = (flags & ~VM_RAND_READ) | VM_SEQ_READ;
      break;
    case MADV_DONTFORK:
      if (vma.flags & VM_IO) return -EINVAL;
      flags |= VM_DONTCOPY;
      break;
    case MADV_DOFORK:
      if (vma.flags & VM_IO) return -EINVAL;
      flags &= ~VM_DONTCOPY;
      break;
    case MADV_DONTDUMP:
      flags |= VM_DONTDUMP;
      break;
    case MADV_DODUMP:
      if (vma.flags & VM_SPECIAL && !vma.anonymous) return -EINVAL;
      flags &= ~VM_DONTDUMP;
      break;
    case MADV_HUGEPAGE:
      flags = (flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
      break;
    case MADV_NOHUGEPAGE:
      flags = (flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
      break;
    default:
      return -EINVAL;
  }
  if (flags === vma.flags) return 0;
  const r = await vmaModifyFlags(mm, vma, start, end, flags);
  return typeof r === 'number' ? r : 0;
}

/**
 * zap_page_range_single: a blockable MMU_NOTIFY_CLEAR invalidation over [start, end) (owner null)
 * around unmap_single_vma of `vma` there. Caller holds the mmap lock (read or write; asserted).
 * May sleep.
 */
export async function zapPageRangeSingle(mm: Mm, vma: Vma, start: number, end: number): Promise<void> {
  mm.assertMmapLocked('zap_page_range_single');
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, start, end);
  await mmuNotifierInvalidateRangeStart(range);
  await unmapSingleVma(mm, vma, start, end);
  await mmuNotifierInvalidateRangeEnd(range);
}
