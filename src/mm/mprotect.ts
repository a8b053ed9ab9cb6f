/**
 * mprotect (mm/mprotect.c): do_mprotect_pkey → mprotect_fixup → change_protection.
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_PROTECTION_VMA, mmuNotifierRangeInit, type MmuNotifierRange } from '../notifier/types.js';
import { EACCES, EINTR, EINVAL, ENOMEM } from '../sim/errno.js';
import {
  HPAGE_PMD_NR,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_ACCESS_FLAGS,
  VM_SHARED,
  VM_WRITE,
  calcVmProtBits,
} from './constants.js';
import {
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_PRESENT,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_ZERO,
} from './page-table.js';
import { PG_anon, PG_anon_exclusive } from './physical.js';
import { pmdpModify, ptepModify } from './memory.js';
import { splitHugePmd } from './huge-memory.js';
import { vmaModifyFlags } from './vma-modify.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

/** PROT_SEM: accepted and ignored (arch_validate_prot). */
const PROT_SEM = 0x8;
/** PUD_SIZE for 4 KiB pages (1 GiB) in pages of the PMD level: PTRS_PER_PMD PMDs per PUD. */
const PMDS_PER_PUD = 512;
/** PGDIR_SIZE / PMD_SIZE on x86-64 4-level paging: 512 GiB per top-level entry (p4d folded). */
const PMDS_PER_PGD = 512 * 512;

/**
 * mprotect(2) (do_mprotect_pkey with pkey -1): changes the protection of [start, start + len).
 *
 * Errors as the kernel's, in its order: -EINVAL for a misaligned start or unknown PROT bits; len 0 is a
 * no-op (0); -ENOMEM when the aligned end overflows, when no VMA contains `start`, or when the range
 * has a hole (VMAs before the hole keep their new protection); -EACCES when a VMA lacks the VM_MAY*
 * permission for the new protection; -ENOMEM when a split would exceed vm.max_map_count.
 *
 * Each VMA part whose flags change is split off and merged as needed (mprotect_fixup) and its PTEs
 * changed (see {@link changeProtection}: PROTECTION_VMA invalidations over the populated part).
 * Takes the mmap lock for write (killable: -EINTR). Caller holds no mm lock. May sleep.
 */
export async function doMprotect(mm: Mm, start: number, len: number, prot: number): Promise<number> {
  mm.sim.mightSleep('mprotect');
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(len) || start < 0 || len < 0)
    throw new RangeError(`mprotect: start and length must be non-negative integers, got ${start}, ${len}`);
  const ps = mm.kernel.pageSize;
  if (start % ps !== 0) return -EINVAL;
  if (len === 0) return 0;
  const end = start + Math.ceil(len / ps) * ps;
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) return -EINVAL;
  if ((await mm.mmapLock.downWriteKillable()) !== 0) return -EINTR;
  const ret = await mprotectLocked(mm, start, end, prot & ~PROT_SEM);
  mm.mmapLock.upWrite();
  return ret;
}

async function mprotectLocked(mm: Mm, start: number, end: number, prot: number): Promise<number> {
  let vma = mm.vmas.find(start);
  if (vma === undefined || vma.start > start) return -ENOMEM;
  let nstart = start;
  let tmp = vma.start;
  let error = 0;
  while (vma !== undefined && vma.start < end) {
    if (vma.start !== tmp) {
      error = -ENOMEM;
      break;
    }
    const newFlags = calcVmProtBits(prot) | (vma.flags & ~VM_ACCESS_FLAGS);
    // newflags >> 4 moves VM_MAY* onto VM_*: each requested permission needs its VM_MAY*.
    if (newFlags & ~(newFlags >> 4) & VM_ACCESS_FLAGS) {
      error = -EACCES;
      break;
    }
    tmp = Math.min(vma.end, end);
    const r = await mprotectFixup(mm, vma, nstart, tmp, newFlags);
    if (r < 0) {
      error = r;
      break;
    }
    // vma_iter_end: the end of the VMA now covering the part (it may have merged with the next one).
    tmp = mm.vmas.lookup(tmp - 1)!.end;
    nstart = tmp;
    vma = mm.vmas.find(tmp);
  }
  if (error === 0 && tmp < end) error = -ENOMEM;
  return error;
}

/**
 * mprotect_fixup: gives [start, end) of `vma` the flags `newFlags`. Nothing happens when they are the
 * VMA's flags already (no split, no invalidation). Otherwise the part is split off / merged
 * (vma_modify_flags; -ENOMEM at the map-count limit), its flags set, and change_protection run over
 * it. Returns 0 or -errno. Caller holds the mmap lock for write (asserted). May sleep.
 */
export async function mprotectFixup(
  mm: Mm,
  vma: Vma,
  start: number,
  end: number,
  newFlags: number,
): Promise<number> {
  mm.assertMmapWriteLocked('mprotect_fixup');
  if (newFlags === vma.flags) return 0;
  const part = await vmaModifyFlags(mm, vma, start, end, newFlags);
  if (typeof part === 'number') return part;
  await changeProtection(mm, part, start, end);
  return 0;
}

/**
 * change_protection → change_protection_range: applies `vma`'s (new) protection to the PTEs of
 * [start, end). As the kernel's change_pud_range, the invalidation is raised lazily, per top-level
 * (512 GiB) entry: one blockable MMU_NOTIFY_PROTECTION_VMA over [a, e) (owner null), where a is the
 * start of the first PUD (1 GiB) region in range that has page tables (or the range start, if that
 * region has them) and e the end of the range within that top-level entry. A range without page tables
 * raises none.
 *
 * PTE changes: writes are removed from present PTEs when the VMA lost VM_WRITE; when it has VM_WRITE,
 * present PTEs become writable directly where the kernel allows it (shared mappings, whose pages are
 * tmpfs-like; private exclusive anonymous pages: MM_CP_TRY_CHANGE_WRITABLE), others keep faulting for
 * COW. Writable migration, device-private and device-exclusive entries become read-only in any case.
 * A huge PMD only partly in range is split first (CLEAR). Each change is a scheduling point.
 *
 * Deviation: the model frees a PTE table as soon as it is empty (the kernel keeps it until
 * free_pgtables), so a region whose pages were all zapped raises no invalidation here while the
 * kernel would still raise one.
 *
 * Returns the number of entries changed. Caller holds the mmap lock for write. May sleep.
 */
export async function changeProtection(mm: Mm, vma: Vma, start: number, end: number): Promise<number> {
  mm.assertMmapWriteLocked('change_protection');
  const pt = mm.pageTable;
  const pmdSize = pt.pmdSize;
  const pudSize = pmdSize * PMDS_PER_PUD;
  const pgdSize = pmdSize * PMDS_PER_PGD;
  let changed = 0;
  for (let a = start; a < end;) {
    const e = Math.min(end, (Math.floor(a / pgdSize) + 1) * pgdSize);
    let rangeStart = -1;
    for (let pud = Math.floor(a / pudSize) * pudSize; pud < e; pud += pudSize) {
      if (pt.nextPopulatedPmd(pud, pud + pudSize) >= 0) {
        rangeStart = Math.max(a, pud);
        break;
      }
    }
    if (rangeStart >= 0) {
      const range = mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_VMA, 0, mm, rangeStart, e);
      await mmuNotifierInvalidateRangeStart(range);
      changed += await changePteRange(mm, vma, rangeStart, e, range);
      await mmuNotifierInvalidateRangeEnd(range);
    }
    a = e;
  }
  return changed;
}

/** change_pmd_range / change_pte_range over [start, end) inside an open invalidation. */
async function changePteRange(
  mm: Mm,
  vma: Vma,
  start: number,
  end: number,
  _range: MmuNotifierRange,
): Promise<number> {
  const pt = mm.pageTable;
  const phys = mm.kernel.phys;
  const writable = (vma.flags & VM_WRITE) !== 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  let changed = 0;
  const entries: number[] = [];
  for (let addr = start; addr < end;) {
    const pmd = pt.nextPopulatedPmd(addr, end);
    if (pmd < 0) break;
    const a = Math.max(addr, pmd);
    const b = Math.min(end, pmd + pt.pmdSize);
    if (pt.isHugeAt(a)) {
      if (a !== pmd || b !== pmd + pt.pmdSize) {
        await splitHugePmd(mm, vma, a);
      } else {
        await mm.ptl.lock();
        if (pt.isHugeAt(a)) {
          const has = (pt.flagsAt(pmd) & PTE_WRITE) !== 0;
          const want = hugeWantWrite(mm, pmd, writable, shared);
          if (has && (!writable || pt.kindAt(pmd) !== PTE_KIND_PRESENT)) {
            await pmdpModify(mm, pmd, PTE_WRITE, 0);
            changed++;
          } else if (!has && want) {
            await pmdpModify(mm, pmd, 0, PTE_WRITE);
            changed++;
          }
        }
        mm.ptl.unlock();
        addr = b;
        continue;
      }
    }
    await mm.ptl.lock();
    entries.length = 0;
    pt.walk(a, b, (va) => {
      entries.push(va);
    });
    for (const va of entries) {
      const kind = pt.kindAt(va);
      const flags = pt.flagsAt(va);
      if (kind === PTE_KIND_PRESENT) {
        let want = false;
        if (writable && !(flags & (PTE_SPECIAL | PTE_ZERO))) {
          if (shared) want = true;
          else {
            const pfn = pt.pfnAt(va);
            want = phys.testFlag(pfn, PG_anon) && phys.testFlag(pfn, PG_anon_exclusive);
          }
        }
        const has = (flags & PTE_WRITE) !== 0;
        if (has && !writable) {
          await ptepModify(mm, va, PTE_WRITE, 0);
          changed++;
        } else if (!has && want) {
          await ptepModify(mm, va, 0, PTE_WRITE);
          changed++;
        }
      } else if (
        (kind === PTE_KIND_MIGRATION ||
          kind === PTE_KIND_DEVICE_PRIVATE ||
          kind === PTE_KIND_DEVICE_EXCLUSIVE) &&
        flags & PTE_WRITE
      ) {
        await ptepModify(mm, va, PTE_WRITE, 0);
        changed++;
      }
    }
    mm.ptl.unlock();
    addr = b;
  }
  return changed;
}

/** Whether a huge present PMD may be made writable directly (as a PTE of the same folio would). */
function hugeWantWrite(mm: Mm, pmd: number, writable: boolean, shared: boolean): boolean {
  const pt = mm.pageTable;
  if (!writable || pt.kindAt(pmd) !== PTE_KIND_PRESENT || pt.flagsAt(pmd) & (PTE_ZERO | PTE_SPECIAL))
    return false;
  if (shared) return true;
  const head = pt.pfnAt(pmd);
  const phys = mm.kernel.phys;
  if (!phys.testFlag(head, PG_anon)) return false;
  for (let i = 0; i < HPAGE_PMD_NR; i++) if (!phys.testFlag(head + i, PG_anon_exclusive)) return false;
  return true;
}
