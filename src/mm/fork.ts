/**
 * fork's address-space copy (kernel/fork.c dup_mmap, mm/memory.c copy_page_range and its helpers,
 * mm/huge_memory.c copy_huge_pmd).
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_PROTECTION_PAGE, mmuNotifierRangeInit } from '../notifier/types.js';
import { EINTR, ENOMEM } from '../sim/errno.js';
import {
  HPAGE_PMD_NR,
  VM_DONTCOPY,
  VM_MAYWRITE,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_SHARED,
  VM_UFFD_WP,
  VM_WIPEONFORK,
  VM_WRITE,
} from './constants.js';
import {
  PTE_DIRTY,
  PTE_EXCLUSIVE,
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_KIND_SWAP,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
  PTE_ZERO,
  type PteKind,
} from './page-table.js';
import { LRU_INACTIVE_ANON, PG_anon, PG_anon_exclusive } from './physical.js';
import { folioPrepareNewAnon, migrationEntryAdd } from './rmap.js';
import { pmdpModify, ptChanged, ptepModify, ptepSet } from './memory.js';
import { vmaOpenRefs } from './vma-modify.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';

/** is_cow_mapping: private and possibly writable. */
export function isCowMapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/**
 * dup_mmap: copies `parent`'s address space into the new, empty `child`. Takes the parent's mmap lock
 * for write (killable: -EINTR) and the child's (nested). For each VMA (VM_DONTCOPY ones skipped): a
 * copy in the child (file reference, vm_ops->open, a fresh anon_vma if the parent's VMA had one) and,
 * unless VM_WIPEONFORK, copy_page_range. Returns 0, -EINTR, or -ENOMEM (a page the child needed a copy
 * of could not be allocated; the child's mm is then torn down by the caller). Caller holds no mm lock.
 * May sleep.
 */
export async function dupMmap(child: Mm, parent: Mm): Promise<number> {
  parent.sim.mightSleep('dup_mmap');
  if ((await parent.mmapLock.downWriteKillable()) !== 0) return -EINTR;
  await child.mmapLock.downWrite();
  let ret = 0;
  for (const vma of parent.vmas.toArray()) {
    if (vma.flags & VM_DONTCOPY) continue;
    const tmp = vma.clone();
    if (vma.anonVma !== 0) tmp.anonVma = parent.kernel.allocAnonVma();
    vmaOpenRefs(tmp);
    if (vma.flags & VM_WIPEONFORK) tmp.anonVma = 0;
    child.vmas.insert(tmp);
    if (!(vma.flags & VM_WIPEONFORK)) {
      ret = await copyPageRange(child, tmp, parent, vma);
      if (ret < 0) break;
    }
  }
  child.mmapLock.upWrite();
  parent.mmapLock.upWrite();
  return ret;
}

/**
 * vma_needs_copy: page tables are copied only for VMAs whose pages cannot simply be refaulted: those
 * with anonymous pages (an anon_vma), PFN/mixed maps, uffd-wp.
 */
function vmaNeedsCopy(vma: Vma): boolean {
  return (vma.flags & (VM_PFNMAP | VM_MIXEDMAP | VM_UFFD_WP)) !== 0 || vma.anonVma !== 0;
}

/**
 * copy_page_range: copies the entries of `srcVma` into `dstVma` of the child. Nothing happens unless
 * vma_needs_copy. For a COW mapping (private and VM_MAYWRITE) a blockable
 * MMU_NOTIFY_PROTECTION_PAGE invalidation over the whole source VMA [vm_start, vm_end) (owner null) is
 * raised on the parent around the copy, whatever is mapped.
 *
 * Per entry (copy_present_pte / copy_nonpresent_pte), with both page-table locks held:
 *  - present anonymous page of a COW mapping: shared with the child (reference, rmap; no longer
 *    PageAnonExclusive) and write-protected in the parent and the child — except a page that may be
 *    DMA-pinned and exclusive, which the child gets a copy of at once (copy_present_page);
 *  - other present pages (file, shmem in a PFN/mixed map): shared (reference, rmap); the zero page and
 *    special PTEs are copied as they are;
 *  - swap entry: swap_duplicate; the parent's and child's entries lose the exclusive bit;
 *  - migration entry: copied (and recorded); for COW it becomes read-only (not exclusive) in both;
 *  - device-private entry: reference and rmap for the child; for COW, read-only in both;
 *  - device-exclusive entry: first restored to the present PTE in the parent (v6.15+, within the
 *    PROTECTION_PAGE window), then copied as present.
 * The child's accessed bit is cleared; for shared mappings its dirty bit too. Each change to the
 * parent is a scheduling point. Huge PMDs are shared whole (copy_huge_pmd).
 *
 * Returns 0 or -ENOMEM. Caller holds both mmap locks for write. May sleep.
 */
export async function copyPageRange(dst: Mm, dstVma: Vma, src: Mm, srcVma: Vma): Promise<number> {
  src.assertMmapWriteLocked('copy_page_range');
  if (!vmaNeedsCopy(srcVma)) return 0;
  const cow = isCowMapping(srcVma.flags);
  const range = cow
    ? mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_PAGE, 0, src, srcVma.start, srcVma.end)
    : null;
  if (range !== null) await mmuNotifierInvalidateRangeStart(range);
  let ret = 0;
  const pt = src.pageTable;
  const entries: number[] = [];
  for (let addr = srcVma.start; addr < srcVma.end && ret === 0;) {
    const pmd = pt.nextPopulatedPmd(addr, srcVma.end);
    if (pmd < 0) break;
    const a = Math.max(addr, pmd);
    const b = Math.min(srcVma.end, pmd + pt.pmdSize);
    await dst.ptl.lock();
    await src.ptl.lock();
    if (pt.isHugeAt(a)) {
      await copyHugePmd(dst, src, srcVma, pt.pmdStart(a), cow);
    } else {
      entries.length = 0;
      pt.walk(a, b, (va) => {
        entries.push(va);
      });
      for (const va of entries) {
        ret = await copyOnePte(dst, dstVma, src, srcVma, va, cow);
        if (ret < 0) break;
      }
    }
    src.ptl.unlock();
    dst.ptl.unlock();
    addr = b;
  }
  if (range !== null) await mmuNotifierInvalidateRangeEnd(range);
  return ret;
}

/** Installs an entry in the child (unreachable: no scheduling point needed) and tells the hooks. */
function childSet(dst: Mm, va: number, kind: PteKind, pfn: number, flags: number): void {
  dst.pageTable.set(va, kind, pfn, flags);
  ptChanged(dst, va, false);
}

async function copyOnePte(
  dst: Mm,
  dstVma: Vma,
  src: Mm,
  srcVma: Vma,
  va: number,
  cow: boolean,
): Promise<number> {
  const k = src.kernel;
  const phys = k.phys;
  const pt = src.pageTable;
  let kind = pt.kindAt(va);
  const pfn = pt.pfnAt(va);
  let flags = pt.flagsAt(va);
  if (kind === PTE_KIND_NONE) return 0;
  if (kind === PTE_KIND_DEVICE_EXCLUSIVE) {
    // restore_exclusive_pte in the parent, then copy as present.
    const restored = flags & PTE_WRITE ? PTE_WRITE | PTE_DIRTY : 0;
    await ptepSet(src, va, PTE_KIND_PRESENT, pfn, restored);
    kind = PTE_KIND_PRESENT;
    flags = restored;
  }
  switch (kind) {
    case PTE_KIND_PRESENT: {
      if (flags & (PTE_SPECIAL | PTE_ZERO)) {
        childSet(dst, va, kind, pfn, flags & ~PTE_YOUNG);
        return 0;
      }
      const anon = phys.testFlag(pfn, PG_anon);
      if (anon && cow && phys.maybeDmaPinned(pfn) && phys.testFlag(pfn, PG_anon_exclusive)) {
        // copy_present_page: the child gets its own copy now.
        const copy = phys.allocPage();
        if (copy < 0) return -ENOMEM;
        phys.copyPage(copy, pfn);
        folioPrepareNewAnon(k, dstVma, copy, va);
        phys.rmapAddPte(copy, dst, va);
        phys.lruAdd(copy, LRU_INACTIVE_ANON);
        childSet(dst, va, kind, copy, (dstVma.flags & VM_WRITE ? PTE_WRITE : 0) | PTE_DIRTY);
        return 0;
      }
      phys.getPage(pfn);
      phys.rmapAddPte(pfn, dst, va);
      if (anon) phys.clearFlag(pfn, PG_anon_exclusive);
      let childFlags = flags & ~PTE_YOUNG;
      if (cow && flags & PTE_WRITE) {
        await ptepModify(src, va, PTE_WRITE, 0);
        childFlags &= ~PTE_WRITE;
      }
      if (srcVma.flags & VM_SHARED) childFlags &= ~PTE_DIRTY;
      childSet(dst, va, kind, pfn, childFlags);
      return 0;
    }
    case PTE_KIND_SWAP: {
      if (k.swap.dup(pfn) < 0) return 0;
      if (flags & PTE_EXCLUSIVE) await ptepModify(src, va, PTE_EXCLUSIVE, 0);
      childSet(dst, va, kind, pfn, flags & ~PTE_EXCLUSIVE);
      return 0;
    }
    case PTE_KIND_MIGRATION: {
      let childFlags = flags;
      if (cow && flags & (PTE_WRITE | PTE_EXCLUSIVE)) {
        await ptepModify(src, va, PTE_WRITE | PTE_EXCLUSIVE, 0);
        childFlags &= ~(PTE_WRITE | PTE_EXCLUSIVE);
      }
      childSet(dst, va, kind, pfn, childFlags & ~PTE_YOUNG);
      migrationEntryAdd(k, pfn, dst, va);
      return 0;
    }
    case PTE_KIND_DEVICE_PRIVATE: {
      phys.getPage(pfn);
      phys.rmapAddPte(pfn, dst, va);
      phys.clearFlag(pfn, PG_anon_exclusive);
      let childFlags = flags & ~PTE_EXCLUSIVE;
      if (cow && flags & PTE_WRITE) {
        await ptepModify(src, va, PTE_WRITE, 0);
        childFlags &= ~PTE_WRITE;
      }
      childSet(dst, va, kind, pfn, childFlags);
      return 0;
    }
    default:
      return 0;
  }
}

/**
 * copy_huge_pmd: a PMD-mapped folio is shared with the child (reference, PMD rmap, no page stays
 * PageAnonExclusive) and, for COW, write-protected in both; a huge zero PMD is copied as is; a huge
 * migration entry is copied read-only for COW; a huge device-private entry gains a reference and rmap.
 * Deviation: a possibly pinned THP is shared like any other (the kernel splits it and copies per
 * page). Caller holds both page-table locks.
 */
async function copyHugePmd(dst: Mm, src: Mm, srcVma: Vma, haddr: number, cow: boolean): Promise<void> {
  src.sim.assertHeld(src.ptl, 'copy_huge_pmd');
  dst.sim.assertHeld(dst.ptl, 'copy_huge_pmd');
  const k = src.kernel;
  const phys = k.phys;
  const pt = src.pageTable;
  const kind = pt.kindAt(haddr);
  const head = pt.pfnAt(haddr);
  const flags = pt.flagsAt(haddr);
  let childFlags = flags & ~PTE_YOUNG;
  if (kind === PTE_KIND_PRESENT && flags & PTE_ZERO) {
    dst.pageTable.setHuge(haddr, kind, head, childFlags);
    ptChanged(dst, haddr, true);
    return;
  }
  if (kind === PTE_KIND_PRESENT || kind === PTE_KIND_DEVICE_PRIVATE) {
    phys.getPage(head);
    phys.rmapAddPmd(head, dst, haddr);
    for (let i = 0; i < HPAGE_PMD_NR; i++) phys.clearFlag(head + i, PG_anon_exclusive);
  } else if (kind === PTE_KIND_MIGRATION) {
    migrationEntryAdd(k, head, dst, haddr, true);
  }
  if (cow && flags & (PTE_WRITE | (kind === PTE_KIND_MIGRATION ? PTE_EXCLUSIVE : 0))) {
    await pmdpModify(src, haddr, PTE_WRITE | (kind === PTE_KIND_MIGRATION ? PTE_EXCLUSIVE : 0), 0);
    childFlags &= ~(PTE_WRITE | PTE_EXCLUSIVE);
  }
  if (srcVma.flags & VM_SHARED) childFlags &= ~PTE_DIRTY;
  dst.pageTable.setHuge(haddr, kind, head, childFlags);
  ptChanged(dst, haddr, true);
}
