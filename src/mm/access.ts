/**
 * The CPU touching user memory: the hardware translation of one access (a lockless walk, as the MMU
 * does), the user page-fault path around handle_mm_fault (arch do_user_addr_fault with its retry), and
 * populate (GUP-style faulting of a range for MAP_POPULATE / MADV_POPULATE_*).
 */
import { EFAULT, ENOMEM } from '../sim/errno.js';
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  VM_ACCESS_FLAGS,
  VM_FAULT_COMPLETED,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_WRITE,
} from './constants.js';
import { PTE_DIRTY, PTE_KIND_PRESENT, PTE_WRITE, PTE_YOUNG } from './page-table.js';
import { handleMmFault } from './fault.js';
import { pteTag } from './mm-struct.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

/**
 * An observer of what user memory holds (src/check's lost-writes checker installs one as
 * `kernel.hooks.userMemory`). The CPU access path reports every copy to it, and Process reports the
 * program's calls that replace or discard contents (mmap over a range, munmap, madvise, mremap),
 * fork and exit. Model code never reads it to decide anything; none of its methods may sleep.
 */
export interface UserMemoryObserver {
  /**
   * A CPU access copied `n` bytes between page-aligned `va` + `off` of `mm` (physical page `pfn`) and
   * `buf[at..at + n)`: a store when `write`, else a load (called after the copy).
   */
  cpuCopy(
    mm: Mm,
    va: number,
    off: number,
    pfn: number,
    buf: Uint8Array,
    at: number,
    n: number,
    write: boolean,
  ): void;
  /** A process's address space was created (not yet populated; a fork child is filled by forkEnd). */
  newMm(mm: Mm): void;
  /**
   * The program starts a call that may replace or discard what [start, end) of `mm` holds; a second
   * range (mremap's destination) may be given. Returns a handle for contentsEnd.
   */
  contentsBegin(mm: Mm, start: number, end: number, start2?: number, end2?: number): object;
  /** The call of `handle` returned `ret`; `what` says what it did to the contents. */
  contentsEnd(mm: Mm, handle: object, what: UserMemoryChange, ret: number): void;
  /** `parent` starts dup_mmap into `child`. Returns a handle for forkEnd. */
  forkBegin(parent: Mm): object;
  /** dup_mmap of `handle` finished: `child` (null when the fork failed) holds a copy. */
  forkEnd(parent: Mm, handle: object, child: Mm | null): void;
  /** The process of `mm` exits or is killed: the program discards all of it. */
  exit(mm: Mm): void;
}

/** What a program call did to the contents of its range (see UserMemoryObserver.contentsEnd). */
export type UserMemoryChange =
  | {
      /** mmap(2): a new mapping, which may replace what was mapped in its range. */
      kind: 'mmap';
      /** The length passed to mmap, in bytes (before rounding up to pages). */
      length: number;
    }
  | {
      /** munmap(2) of the range. */
      kind: 'munmap';
    }
  | {
      /** madvise(2) over the range. */
      kind: 'madvise';
      /** The MADV_* advice given. */
      advice: number;
    }
  | {
      /** mremap(2): the range may have moved, grown or shrunk. */
      kind: 'mremap';
      /** The old address passed to mremap. */
      oldAddr: number;
      /** The old length passed, in bytes (before rounding up to pages). */
      oldLength: number;
      /** The new length passed, in bytes (before rounding up to pages). */
      newLength: number;
      /** The MREMAP_* flags passed. */
      flags: number;
    };

declare module './kernel.js' {
  interface KernelHooks {
    /** The user-memory contents observer (src/check's lost-writes checker), if one is installed. */
    userMemory?: UserMemoryObserver;
  }
}

/** Faults one page access may take before the model reports a livelock. */
export const MAX_FAULTS_PER_ACCESS = 1000;

/**
 * The MMU's view of `va` for a read or write: the pfn the access goes to, or -1 when it must fault.
 * Walks the page table without locks, as hardware does, and sets the accessed (and, for writes, dirty)
 * bit of the entry it uses. A present entry gives read access; writes need PTE_WRITE.
 *
 * Deviation: the model's PTEs carry no read/PROT_NONE bit, so the VMA's access flags stand in for the
 * entry's protection bits (the kernel keeps PTEs of a PROT_NONE VMA present but inaccessible). The VMA
 * is looked up without the mmap lock; the VMA tree is consistent at every scheduling point.
 */
export function cpuTranslate(mm: Mm, va: number, write: boolean): number {
  const vma = mm.vmas.lookup(va);
  if (vma === undefined || !(vma.flags & VM_ACCESS_FLAGS) || (write && !(vma.flags & VM_WRITE))) return -1;
  const pt = mm.pageTable;
  if (pt.kindAt(va) !== PTE_KIND_PRESENT) return -1;
  const flags = pt.flagsAt(va);
  if (write && !(flags & PTE_WRITE)) return -1;
  const want = write ? PTE_YOUNG | PTE_DIRTY : PTE_YOUNG;
  if ((flags & want) !== want) {
    if (pt.isHugeAt(va)) pt.updateHugeFlags(pt.pmdStart(va), 0, want);
    else pt.updateFlags(va, 0, want);
  }
  return pt.pfnAt(va);
}

/**
 * access_error (x86): a write needs VM_WRITE; any other access needs some access permission
 * (PROT_NONE faults).
 */
export function accessError(vma: Vma, write: boolean): boolean {
  if (write) return !(vma.flags & VM_WRITE);
  return !(vma.flags & VM_ACCESS_FLAGS);
}

/**
 * do_user_addr_fault: a user-mode fault at `va`. Takes the mmap lock for read, finds the VMA
 * (none: SIGSEGV), checks access (access_error: SIGSEGV), and calls handle_mm_fault with
 * FAULT_FLAG_ALLOW_RETRY | KILLABLE | USER; when it returns VM_FAULT_RETRY (lock already released),
 * retries with FAULT_FLAG_TRIED. Returns 0, -EFAULT (the segmentation fault or bus error, as a value)
 * or -ENOMEM (VM_FAULT_OOM). Caller holds no mm lock. May sleep.
 */
export async function doUserAddrFault(mm: Mm, va: number, write: boolean): Promise<number> {
  const sim = mm.sim;
  sim.mightSleep('do_user_addr_fault');
  let flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_USER | (write ? FAULT_FLAG_WRITE : 0);
  for (let tries = 0; ; tries++) {
    if (tries > MAX_FAULTS_PER_ACCESS)
      sim.report('livelock', `user fault at 0x${va.toString(16)} in ${mm.name} retried ${tries} times`, {
        key: 'user fault retry livelock',
      });
    await mm.mmapLock.downRead();
    const vma = mm.vmas.lookup(va);
    if (vma === undefined || accessError(vma, write)) {
      mm.mmapLock.upRead();
      return -EFAULT;
    }
    const ret = await handleMmFault(mm, vma, va, flags);
    if (ret & VM_FAULT_RETRY) {
      flags |= FAULT_FLAG_TRIED;
      continue;
    }
    if (!(ret & VM_FAULT_COMPLETED)) mm.mmapLock.upRead();
    if (ret & VM_FAULT_OOM) return -ENOMEM;
    if (ret & VM_FAULT_ERROR) return -EFAULT;
    return 0;
  }
}

/**
 * A CPU access of `length` bytes at `addr`: copies from user memory into `buf` (read) or from `buf`
 * into user memory (write), starting at `bufOffset`. Each page is one scheduling point ('cpu_read' /
 * 'cpu_write') followed by an atomic translate-and-copy; a failed translation takes a user fault and
 * retries. Returns 0, or -EFAULT / -ENOMEM from the fault (bytes before the faulting page have been
 * copied, as a partial copy_to_user). Caller holds no mm lock. May sleep.
 */
export async function accessUserMemory(
  mm: Mm,
  addr: number,
  length: number,
  write: boolean,
  buf: Uint8Array,
  bufOffset = 0,
): Promise<number> {
  const sim = mm.sim;
  const k = mm.kernel;
  const ps = k.pageSize;
  const end = addr + length;
  const label = write ? 'cpu_write' : 'cpu_read';
  for (let pos = addr; pos < end;) {
    const va = Math.floor(pos / ps) * ps;
    const off = pos - va;
    const n = Math.min(ps - off, end - pos);
    await sim.point(label, pteTag(mm, va));
    for (let faults = 0; ; faults++) {
      const pfn = cpuTranslate(mm, va, write);
      if (pfn >= 0) {
        const at = bufOffset + (pos - addr);
        if (write) k.phys.writeBytes(pfn, off, buf, at, n);
        else k.phys.readBytes(pfn, off, buf, at, n);
        const obs = k.hooks.userMemory;
        if (obs !== undefined) obs.cpuCopy(mm, va, off, pfn, buf, at, n, write);
        break;
      }
      if (faults >= MAX_FAULTS_PER_ACCESS)
        sim.report('livelock', `CPU ${label} at 0x${va.toString(16)} in ${mm.name} faulted ${faults} times`, {
          key: `cpu access livelock ${label}`,
        });
      const ret = await doUserAddrFault(mm, va, write);
      if (ret < 0) return ret;
    }
    pos += n;
  }
  return 0;
}

/**
 * populate_vma_page_range / faultin_page over [start, end) of `vma`: faults every page that is not
 * yet accessible as requested (write when `write`), without FAULT_FLAG_ALLOW_RETRY so the mmap lock
 * stays held. Returns 0, -EFAULT or -ENOMEM. Caller holds the mmap lock for read. May sleep.
 */
export async function populateVmaRange(
  mm: Mm,
  vma: Vma,
  start: number,
  end: number,
  write: boolean,
): Promise<number> {
  mm.assertMmapLocked('populate_vma_page_range');
  const ps = mm.kernel.pageSize;
  for (let va = Math.max(start, vma.start); va < Math.min(end, vma.end); va += ps) {
    for (let tries = 0; ; tries++) {
      if (tries > MAX_FAULTS_PER_ACCESS)
        mm.sim.report('livelock', `populate at 0x${va.toString(16)} in ${mm.name} never settles`);
      await mm.sim.point('gup', pteTag(mm, va));
      const pt = mm.pageTable;
      if (pt.kindAt(va) === PTE_KIND_PRESENT && (!write || pt.flagsAt(va) & PTE_WRITE)) break;
      const ret = await handleMmFault(mm, vma, va, write ? FAULT_FLAG_WRITE : 0);
      if (ret & VM_FAULT_OOM) return -ENOMEM;
      if (ret & VM_FAULT_ERROR) return -EFAULT;
    }
  }
  return 0;
}
