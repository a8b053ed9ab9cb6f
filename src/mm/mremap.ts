/**
 * mremap (mm/mremap.c): the syscall, mremap_to, vma_to_resize, move_vma, move_page_tables.
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_UNMAP, mmuNotifierRangeInit } from '../notifier/types.js';
import { EFAULT, EINTR, EINVAL, ENOMEM } from '../sim/errno.js';
import { MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, VM_DONTEXPAND, VM_PFNMAP } from './constants.js';
import {
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_SPECIAL,
  PTE_ZERO,
} from './page-table.js';
import { migrationEntryAdd, migrationEntryRemove } from './rmap.js';
import { pmdpGetAndClear, pmdpSet, ptepGetAndClear, ptepSet } from './memory.js';
import { splitHugePmd } from './huge-memory.js';
import { munmapLocked } from './munmap.js';
import { vmaMergeAround, vmaOpenRefs } from './vma-modify.js';
import { Vma } from './vma.js';
import type { Mm } from './mm.js';

/**
 * mremap(2): resizes and/or moves [addr, addr + oldLen) to `newLen` bytes; returns the (new) address
 * or -errno. Takes the mmap lock for write (killable: -EINTR). Caller holds no mm lock. May sleep.
 *
 * Argument errors as the kernel's, in its order: unknown flags, MREMAP_FIXED without MREMAP_MAYMOVE,
 * MREMAP_DONTUNMAP without MREMAP_MAYMOVE or with a size change, a misaligned address, a zero new
 * length: -EINVAL. No VMA at `addr`, or the old range crossing the end of its VMA: -EFAULT.
 *
 *  - MREMAP_FIXED / MREMAP_DONTUNMAP: mremap_to (new address misaligned, beyond TASK_SIZE or
 *    overlapping the old range: -EINVAL; too close to the map-count limit: -ENOMEM): with FIXED the
 *    target range is unmapped first (UNMAP over [newAddr, newAddr + newLen) if a VMA is there), a
 *    shrinking old range loses its tail (UNMAP over the tail), then move_vma.
 *  - shrinking in place: munmap of the tail (UNMAP over [addr + newLen, addr + oldLen)); same size:
 *    nothing.
 *  - growing: in place when the old range ends its VMA and the space after it is free (vma_expand, no
 *    invalidation); otherwise, with MREMAP_MAYMOVE, move_vma to a free range; else -ENOMEM.
 *
 * move_vma: a new VMA at the destination (merged if possible), move_page_tables (one blockable
 * MMU_NOTIFY_UNMAP over the old [addr, addr + oldLen), owner null, around moving every entry with its
 * rmap), then — unless MREMAP_DONTUNMAP — munmap of the old range (a second UNMAP over it, as
 * do_vmi_munmap raises; nothing is left to zap).
 *
 * Deviation: oldLen 0 (duplicating a shared mapping) is refused with -EINVAL for every mapping.
 */
export async function doMremap(
  mm: Mm,
  addr: number,
  oldLenIn: number,
  newLenIn: number,
  flags: number,
  newAddr = 0,
): Promise<number> {
  mm.sim.mightSleep('mremap');
  for (const [what, v] of [
    ['addr', addr],
    ['old length', oldLenIn],
    ['new length', newLenIn],
    ['new address', newAddr],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`mremap: ${what} must be a non-negative integer`);
  const ps = mm.kernel.pageSize;
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) return -EINVAL;
  if (flags & MREMAP_FIXED && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP && (!(flags & MREMAP_MAYMOVE) || oldLenIn !== newLenIn)) return -EINVAL;
  if (addr % ps !== 0) return -EINVAL;
  const oldLen = Math.ceil(oldLenIn / ps) * ps;
  const newLen = Math.ceil(newLenIn / ps) * ps;
  if (newLen === 0) return -EINVAL;
  if ((await mm.mmapLock.downWriteKillable()) !== 0) return -EINTR;
  const ret = await mremapLocked(mm, addr, oldLen, newLen, flags, newAddr);
  mm.mmapLock.upWrite();
  return ret;
}

async function mremapLocked(
  mm: Mm,
  addr: number,
  oldLen: number,
  newLen: number,
  flags: number,
  newAddr: number,
): Promise<number> {
  const vma = mm.vmas.lookup(addr);
  if (vma === undefined) return -EFAULT;
  if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) return mremapTo(mm, addr, oldLen, newAddr, newLen, flags);
  if (oldLen >= newLen) {
    if (oldLen === newLen) return addr;
    const r = await munmapLocked(mm, addr + newLen, oldLen - newLen, false);
    return r < 0 ? r : addr;
  }
  const v = vmaToResize(mm, addr, oldLen, newLen, flags);
  if (typeof v === 'number') return v;
  if (oldLen === v.end - addr) {
    const end = v.end + (newLen - oldLen);
    if (end <= mm.vmas.taskSize && mm.vmas.isFree(v.end, end)) {
      mm.vmas.adjust(v, v.start, end);
      vmaMergeAround(mm, v);
      return addr;
    }
  }
  if (!(flags & MREMAP_MAYMOVE)) return -ENOMEM;
  const target = mm.vmas.getUnmappedArea(newLen);
  if (target < 0) return target;
  return moveVma(mm, v, addr, oldLen, newLen, target, flags);
}

/** mremap_to: the MREMAP_FIXED / MREMAP_DONTUNMAP path. */
async function mremapTo(
  mm: Mm,
  addr: number,
  oldLen: number,
  newAddr: number,
  newLen: number,
  flags: number,
): Promise<number> {
  const ps = mm.kernel.pageSize;
  const taskSize = mm.vmas.taskSize;
  if (newAddr % ps !== 0) return -EINVAL;
  if (newLen > taskSize || newAddr > taskSize - newLen) return -EINVAL;
  if (addr + oldLen > newAddr && newAddr + newLen > addr) return -EINVAL;
  if (mm.vmas.count + 2 >= mm.kernel.maxMapCount - 3) return -ENOMEM;
  if (flags & MREMAP_FIXED) {
    const r = await munmapLocked(mm, newAddr, newLen, false);
    if (r < 0) return r;
  }
  if (oldLen > newLen) {
    const r = await munmapLocked(mm, addr + newLen, oldLen - newLen, false);
    if (r < 0) return r;
    oldLen = newLen;
  }
  const v = vmaToResize(mm, addr, oldLen, newLen, flags);
  if (typeof v === 'number') return v;
  let target = newAddr;
  if (!(flags & MREMAP_FIXED)) {
    target = mm.vmas.getUnmappedArea(newLen, { hint: newAddr === 0 ? undefined : newAddr });
    if (target < 0) return target;
  }
  return moveVma(mm, v, addr, oldLen, newLen, target, flags);
}

/** vma_to_resize: the VMA holding [addr, addr + oldLen), checked for growing to newLen. */
function vmaToResize(mm: Mm, addr: number, oldLen: number, newLen: number, flags: number): Vma | number {
  const vma = mm.vmas.lookup(addr);
  if (vma === undefined) return -EFAULT;
  if (oldLen === 0) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP && vma.flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EINVAL;
  if (oldLen > vma.end - addr) return -EFAULT;
  if (newLen === oldLen) return vma;
  if (vma.flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EFAULT;
  return vma;
}

/**
 * move_vma: copy_vma at `newAddr` (merged with neighbours if compatible), move_page_tables for the old
 * range, then munmap of the old range unless MREMAP_DONTUNMAP. Returns newAddr or -ENOMEM (map count).
 * Caller holds the mmap lock for write (asserted). May sleep.
 */
export async function moveVma(
  mm: Mm,
  vma: Vma,
  oldAddr: number,
  oldLen: number,
  newLen: number,
  newAddr: number,
  flags: number,
): Promise<number> {
  mm.assertMmapWriteLocked('move_vma');
  const ps = mm.kernel.pageSize;
  if (mm.vmas.count >= mm.kernel.maxMapCount - 3) return -ENOMEM;
  let pgoff = vma.pgoff + (oldAddr - vma.start) / ps;
  if (vma.anonymous && vma.anonVma === 0) pgoff = newAddr / ps;
  const newVma = new Vma({
    start: newAddr,
    end: newAddr + newLen,
    flags: vma.flags,
    pgoff,
    file: vma.file,
    ops: vma.ops,
    privateData: vma.privateData,
    anonVma: vma.anonVma,
    name: vma.name,
  });
  mm.vmas.insert(newVma);
  vmaOpenRefs(newVma);
  vmaMergeAround(mm, newVma);
  await movePageTables(mm, oldAddr, newAddr, oldLen);
  if (!(flags & MREMAP_DONTUNMAP)) {
    const r = await munmapLocked(mm, oldAddr, oldLen, false);
    if (r < 0) return r;
  }
  return newAddr;
}

/**
 * move_page_tables: moves every entry of [oldAddr, oldAddr + len) to the same offset at newAddr (whose
 * page tables must be empty), inside one blockable MMU_NOTIFY_UNMAP invalidation over
 * [oldAddr, oldAddr + len) (owner null), raised even when nothing is mapped. Present pages and device
 * entries move their reverse mapping, migration entries their record; a huge PMD moves whole when both
 * sides are PMD-aligned and it is entirely inside (move_huge_pmd), otherwise it is split first (CLEAR).
 * Each moved entry is two scheduling points (clear, set). Caller holds the mmap lock for write. May
 * sleep.
 */
export async function movePageTables(mm: Mm, oldAddr: number, newAddr: number, len: number): Promise<void> {
  mm.assertMmapWriteLocked('move_page_tables');
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const pmdSize = pt.pmdSize;
  const oldEnd = oldAddr + len;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, oldAddr, oldEnd);
  await mmuNotifierInvalidateRangeStart(range);
  const entries: number[] = [];
  for (let addr = oldAddr; addr < oldEnd;) {
    const pmd = pt.nextPopulatedPmd(addr, oldEnd);
    if (pmd < 0) break;
    const a = Math.max(addr, pmd);
    const b = Math.min(oldEnd, pmd + pmdSize);
    if (pt.isHugeAt(a)) {
      const dst = newAddr + (a - oldAddr);
      if (a === pmd && b === pmd + pmdSize && dst % pmdSize === 0) {
        await mm.ptl.lock();
        if (pt.isHugeAt(a)) {
          const old = await pmdpGetAndClear(mm, a);
          await pmdpSet(mm, dst, old.kind, old.pfn, old.flags);
          if (old.kind === PTE_KIND_MIGRATION) {
            migrationEntryRemove(k, old.pfn, mm, a, true);
            migrationEntryAdd(k, old.pfn, mm, dst, true);
          } else if (!(old.kind === PTE_KIND_PRESENT && old.flags & (PTE_ZERO | PTE_SPECIAL))) {
            phys.rmapRemovePmd(old.pfn, mm, a);
            phys.rmapAddPmd(old.pfn, mm, dst);
          }
        }
        mm.ptl.unlock();
        addr = b;
        continue;
      }
      const vma = mm.vmas.lookup(a);
      if (vma !== undefined) await splitHugePmd(mm, vma, a);
    }
    await mm.ptl.lock();
    entries.length = 0;
    pt.walk(a, b, (va) => {
      entries.push(va);
    });
    for (const va of entries) {
      if (pt.kindAt(va) === PTE_KIND_NONE) continue;
      const dst = newAddr + (va - oldAddr);
      if (pt.kindAt(dst) !== PTE_KIND_NONE)
        mm.sim.bug(`move_ptes: destination 0x${dst.toString(16)} is populated`);
      const old = await ptepGetAndClear(mm, va);
      await ptepSet(mm, dst, old.kind, old.pfn, old.flags);
      switch (old.kind) {
        case PTE_KIND_PRESENT:
          if (old.flags & (PTE_ZERO | PTE_SPECIAL)) break;
          phys.rmapRemovePte(old.pfn, mm, va);
          phys.rmapAddPte(old.pfn, mm, dst);
          break;
        case PTE_KIND_DEVICE_PRIVATE:
        case PTE_KIND_DEVICE_EXCLUSIVE:
          phys.rmapRemovePte(old.pfn, mm, va);
          phys.rmapAddPte(old.pfn, mm, dst);
          break;
        case PTE_KIND_MIGRATION:
          migrationEntryRemove(k, old.pfn, mm, va);
          migrationEntryAdd(k, old.pfn, mm, dst);
          break;
        default:
          break;
      }
    }
    mm.ptl.unlock();
    addr = b;
  }
  await mmuNotifierInvalidateRangeEnd(range);
}
