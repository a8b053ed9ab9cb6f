/**
 * mmap (mm/mmap.c, mm/vma.c): ksys_mmap_pgoff → vm_mmap_pgoff → do_mmap → mmap_region.
 */
import { EBADF, EEXIST, EINTR, EINVAL, ENOMEM, EPERM } from '../sim/errno.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_HUGETLB,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_TYPE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_DONTEXPAND,
  VM_HUGETLB,
  VM_MAYSHARE,
  VM_MAY_ALL,
  VM_NORESERVE,
  VM_SHARED,
  VM_WRITE,
  calcVmFlagBits,
  calcVmProtBits,
} from './constants.js';
import { Vma } from './vma.js';
import { populateVmaRange } from './access.js';
import { munmapLocked } from './munmap.js';
import { vmaFree, vmaMergeAround } from './vma-modify.js';
import { hugetlbMmapAllowed } from './hugetlb.js';
import type { Mm } from './mm.js';
import type { MmapableFile } from './vm-ops.js';

/** EOPNOTSUPP (asm-generic/errno.h), for MAP_SHARED_VALIDATE with unknown flags. */
export const EOPNOTSUPP = 95;

/** The MAP_* flags the model knows (LEGACY_MAP_MASK plus MAP_FIXED_NOREPLACE). */
const MAP_KNOWN =
  MAP_SHARED |
  MAP_PRIVATE |
  MAP_FIXED |
  MAP_ANONYMOUS |
  0x0100 /* MAP_GROWSDOWN */ |
  0x0800 /* MAP_DENYWRITE */ |
  0x1000 /* MAP_EXECUTABLE */ |
  0x2000 /* MAP_LOCKED */ |
  MAP_NORESERVE |
  MAP_POPULATE |
  0x10000 /* MAP_NONBLOCK */ |
  0x20000 /* MAP_STACK */ |
  MAP_HUGETLB |
  MAP_FIXED_NOREPLACE;

/** The arguments of mmap(2). `file` is ignored with MAP_ANONYMOUS, as the kernel ignores the fd. */
export interface MmapArgs {
  /** Hint (or the exact address with MAP_FIXED); 0/undefined lets the kernel choose. */
  addr?: number;
  /** Bytes to map, rounded up to whole pages; 0 is -EINVAL. */
  length: number;
  /** PROT_* bits of the new mapping. */
  prot: number;
  /** MAP_* flags; exactly one of MAP_SHARED, MAP_PRIVATE and MAP_SHARED_VALIDATE. */
  flags: number;
  /** The file to map (the fd); required without MAP_ANONYMOUS (-EBADF), ignored with it. */
  file?: MmapableFile;
  /** File offset in bytes; must be page-aligned. */
  offset?: number;
}

/**
 * mmap(2) (vm_mmap_pgoff): validates the arguments, takes the mmap lock for write (killable: -EINTR),
 * maps (see {@link doMmapLocked}), releases the lock and, with MAP_POPULATE, faults the range in under
 * the mmap lock for read (mm_populate; its failure is ignored, as the kernel's is). Returns the address
 * or -errno. Caller holds no mm lock. May sleep.
 */
export async function doMmap(mm: Mm, args: MmapArgs): Promise<number> {
  const sim = mm.sim;
  sim.mightSleep('vm_mmap_pgoff');
  if (args === null || typeof args !== 'object') throw new TypeError('mmap: arguments must be an object');
  const { length, prot, flags } = args;
  const offset = args.offset ?? 0;
  if (!Number.isSafeInteger(length) || length < 0)
    throw new RangeError(`mmap: length must be a non-negative integer, got ${length}`);
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new RangeError(`mmap: offset must be a non-negative integer, got ${offset}`);
  if (!Number.isInteger(prot) || !Number.isInteger(flags))
    throw new TypeError('mmap: prot and flags must be integers');
  if (offset % mm.kernel.pageSize !== 0) return -EINVAL;
  const lock = await mm.mmapLock.downWriteKillable();
  if (lock !== 0) return -EINTR;
  const addr = await doMmapLocked(mm, args);
  mm.mmapLock.upWrite();
  if (addr >= 0 && flags & MAP_POPULATE && !(flags & 0x10000) /* MAP_NONBLOCK */) {
    await mm.mmapLock.downRead();
    for (const vma of mm.vmas.intersecting(addr, addr + pageAlign(mm, length))) {
      const write = (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
      if ((await populateVmaRange(mm, vma, addr, addr + pageAlign(mm, length), write)) < 0) break;
    }
    mm.mmapLock.upRead();
  }
  return addr;
}

/**
 * do_mmap + mmap_region, with the mmap lock held for write (asserted). Checks, in the kernel's order:
 * the mapping type (-EINVAL; MAP_SHARED_VALIDATE with unknown flags: -EOPNOTSUPP), a file unless
 * MAP_ANONYMOUS (-EBADF), a zero length (-EINVAL), a length beyond TASK_SIZE (-ENOMEM), the map count
 * (more than vm.max_map_count VMAs: -ENOMEM); then get_unmapped_area: with MAP_FIXED the address must
 * fit below TASK_SIZE (-ENOMEM), be page-aligned (-EINVAL) and not below mmap_min_addr (-EPERM);
 * MAP_FIXED_NOREPLACE fails with -EEXIST over an existing mapping; otherwise the hint (rounded up to
 * mmap_min_addr) is used when free, else a top-down search (-ENOMEM when full).
 *
 * mmap_region: with MAP_FIXED, existing mappings in the range are unmapped first (split at the edges,
 * -ENOMEM at the map-count limit; a blockable MMU_NOTIFY_UNMAP invalidation over exactly
 * [addr, addr + len) around the zap, as do_vmi_munmap raises, and only if some VMA was there). Shared
 * anonymous memory gets an unlinked shmem file of the mapping's size; file mappings call the file's
 * mmap. The new VMA is merged with compatible neighbours.
 *
 * MAP_HUGETLB (anonymous): the length is rounded up to the huge page size, a MAP_FIXED address must be
 * huge-page aligned (-EINVAL), the VMA is VM_HUGETLB | VM_DONTEXPAND and faults take pages from the
 * hugetlb pool (hugetlb.ts); -ENOMEM when the pool is empty. Deviation: no reservation accounting.
 */
export async function doMmapLocked(mm: Mm, args: MmapArgs): Promise<number> {
  mm.assertMmapWriteLocked('do_mmap');
  const k = mm.kernel;
  const ps = k.pageSize;
  const taskSize = mm.vmas.taskSize;
  let flags = args.flags;
  const prot = args.prot;
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== MAP_SHARED_VALIDATE) return -EINVAL;
  if (type === MAP_SHARED_VALIDATE && flags & ~MAP_KNOWN) return -EOPNOTSUPP;
  const anonymous = (flags & MAP_ANONYMOUS) !== 0;
  const file = anonymous ? undefined : args.file;
  if (!anonymous && file === undefined) return -EBADF;
  const hugetlb = (flags & MAP_HUGETLB) !== 0;
  if (hugetlb && !hugetlbMmapAllowed(k)) return -ENOMEM;
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL;
  let addr = args.addr ?? 0;
  if (!Number.isSafeInteger(addr) || addr < 0) return -EINVAL;
  if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
  const lenIn = args.length;
  if (lenIn === 0) return -EINVAL;
  if (!(flags & MAP_FIXED)) {
    addr = Math.floor(addr / ps) * ps;
    if (addr !== 0 && addr < mm.vmas.mmapMinAddr) addr = Math.ceil(mm.vmas.mmapMinAddr / ps) * ps;
  }
  const len = hugetlb ? Math.ceil(lenIn / k.hugePageSize) * k.hugePageSize : pageAlign(mm, lenIn);
  if (len > taskSize) return -ENOMEM;
  const pgoffIn = (args.offset ?? 0) / ps;
  if (mm.vmas.count > k.maxMapCount) return -ENOMEM;
  // get_unmapped_area
  if (flags & MAP_FIXED) {
    if (addr > taskSize - len) return -ENOMEM;
    if (addr % (hugetlb ? k.hugePageSize : ps) !== 0) return -EINVAL;
    if (addr < mm.vmas.mmapMinAddr) return -EPERM;
  } else {
    const found = mm.vmas.getUnmappedArea(len, {
      hint: addr === 0 || (hugetlb && addr % k.hugePageSize !== 0) ? undefined : addr,
      align: hugetlb ? k.hugePageSize : undefined,
    });
    if (found < 0) return found;
    addr = found;
  }
  const end = addr + len;
  if (flags & MAP_FIXED_NOREPLACE && !mm.vmas.isFree(addr, end)) return -EEXIST;

  let vmFlags = calcVmProtBits(prot) | calcVmFlagBits(flags) | VM_MAY_ALL;
  if (type === MAP_SHARED || type === MAP_SHARED_VALIDATE) vmFlags |= VM_SHARED | VM_MAYSHARE;
  if (flags & MAP_NORESERVE) vmFlags |= VM_NORESERVE;
  if (hugetlb) vmFlags |= VM_HUGETLB | VM_DONTEXPAND;
  const pgoff = anonymous ? (vmFlags & VM_SHARED ? 0 : addr / ps) : pgoffIn;

  // mmap_region: clear what is in the way (MAP_FIXED).
  if (!mm.vmas.isFree(addr, end)) {
    const r = await munmapLocked(mm, addr, len, false);
    if (r < 0) return r;
  }
  const vma = new Vma({ start: addr, end, flags: vmFlags, pgoff });
  let mapped: MmapableFile | undefined = file;
  if (anonymous && vmFlags & VM_SHARED && !hugetlb) mapped = k.createShmemFile(len);
  if (mapped !== undefined) {
    vma.file = mapped;
    mapped.get();
    const r = await mapped.mmap(mm, vma);
    if (r < 0) {
      vmaFree(vma);
      return r;
    }
  }
  mm.vmas.insert(vma);
  vmaMergeAround(mm, vma);
  return addr;
}

/** PAGE_ALIGN(len). */
export function pageAlign(mm: Mm, len: number): number {
  const ps = mm.kernel.pageSize;
  return Math.ceil(len / ps) * ps;
}
