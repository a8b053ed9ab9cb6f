/**
 * The page-fault handler (mm/memory.c: handle_mm_fault and what it dispatches to): anonymous first
 * touch and the zero page (do_anonymous_page), copy-on-write (do_wp_page / wp_page_copy), file and
 * shmem faults (do_read_fault / do_cow_fault / do_shared_fault), swap-in (do_swap_page), device-private
 * pages migrated back through their pagemap's migrate_to_ram, device-exclusive entries revoked
 * (remove_device_exclusive_entry), and waits on migration entries.
 *
 * Every handler follows the kernel's pattern: read the PTE without the lock (orig_pte), prepare
 * (allocate, copy, raise the invalidation) without the page-table lock, then take it and install only
 * if the PTE is unchanged (pte_same); otherwise undo and return 0 so the access is retried.
 */
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from '../notifier/invalidate.js';
import { MMU_NOTIFY_CLEAR, mmuNotifierRangeInit } from '../notifier/types.js';
import {
  FAULT_FLAG_ALLOW_RETRY,
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  FAULT_FLAG_RETRY_NOWAIT,
  FAULT_FLAG_WRITE,
  VM_ACCESS_FLAGS,
  VM_FAULT_ERROR,
  VM_FAULT_FALLBACK,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_MAYSHARE,
  VM_NOHUGEPAGE,
  VM_SHARED,
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
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_UFFD_WP,
  PTE_WRITE,
  PTE_YOUNG,
  PTE_ZERO,
} from './page-table.js';
import {
  LRU_INACTIVE_ANON,
  PG_anon,
  PG_anon_exclusive,
  PG_dirty,
  PG_swapbacked,
  PG_swapcache,
  PG_uptodate,
} from './physical.js';
import { anonVmaPrepare, folioAddNewAnonRmap, folioPrepareNewAnon } from './rmap.js';
import { addToSwapCache, deleteFromSwapCache, folioFreeSwap, lookupSwapCache } from './swap-state.js';
import { folioPutAfterUnmap, pmdpGetAndClear, pmdpModify, pmdpSet, ptepModify, ptepSet } from './memory.js';
import { splitHugePmd } from './huge-memory.js';
import { hugetlbFault } from './hugetlb.js';
import { pteTag } from './mm-struct.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';
import type { VmFault, VmOperations } from './vm-ops.js';

/** Retries of one handler step that found a transient state (a racing swap-in); reported beyond. */
const MAX_FAULT_LOOPS = 10_000;

/**
 * handle_mm_fault(vma, address, flags): resolves a fault at `address` of `vma` and returns a
 * vm_fault_t (0 when the translation was installed or the access should simply be retried; error bits
 * VM_FAULT_SIGSEGV / SIGBUS / OOM; VM_FAULT_RETRY when the handler had to wait and, because `flags`
 * has FAULT_FLAG_ALLOW_RETRY, released the mmap lock first).
 *
 * Locks: the caller holds `mm.mmapLock` (read or write; asserted). Without FAULT_FLAG_ALLOW_RETRY the
 * lock stays held throughout, even while waiting on a page lock (as GUP and hmm_range_fault call it).
 * May sleep.
 *
 * Model guard (the kernel relies on its callers): a write fault on a VMA without VM_WRITE, or any fault
 * on a PROT_NONE VMA, returns VM_FAULT_SIGSEGV. Deviations: no THP allocation on fault (huge entries
 * that exist are handled: write faults on a shared huge page split it, as the kernel does when it
 * cannot reuse the folio); no NUMA hinting faults; no userfaultfd.
 */
export async function handleMmFault(mm: Mm, vma: Vma, address: number, flags: number): Promise<number> {
  const sim = mm.sim;
  sim.mightSleep('handle_mm_fault');
  mm.assertMmapLocked('handle_mm_fault');
  const ps = mm.kernel.pageSize;
  const va = Math.floor(address / ps) * ps;
  if (!vma.contains(va) || vma.detached) sim.bug(`handle_mm_fault at 0x${va.toString(16)} outside ${vma}`);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if (!(vma.flags & VM_ACCESS_FLAGS) || (write && !(vma.flags & VM_WRITE))) return VM_FAULT_SIGSEGV;
  if (vma.flags & VM_HUGETLB) return hugetlbFault(mm, vma, va, flags);
  const pt = mm.pageTable;
  // The lockless reads of the PMD and PTE below (ptep_get_lockless): a read dpor must order
  // against the step that sets or clears the entry (found by the commutation check).
  mm.sim.touch(pteTag(mm, va), true);
  if (pt.isHugeAt(va)) {
    const ret = await faultHugePmd(mm, vma, va, flags);
    if (ret >= 0) return ret;
  } else if (pt.pmdNone(va) && thpFaultAllowed(mm, vma, pt.pmdStart(va))) {
    const ret = await doHugePmdAnonymousPage(mm, vma, pt.pmdStart(va), flags);
    if (ret !== VM_FAULT_FALLBACK) return ret;
  }
  const vmf: VmFault = {
    mm,
    vma,
    address: va,
    flags,
    origKind: pt.kindAt(va),
    origPfn: pt.pfnAt(va),
    origFlags: pt.flagsAt(va),
    page: -1,
  };
  return handlePteFault(vmf);
}

/** handle_pte_fault: dispatch on the PTE read without the lock. */
async function handlePteFault(vmf: VmFault): Promise<number> {
  const mm = vmf.mm;
  if (vmf.origKind === PTE_KIND_NONE) return vmf.vma.anonymous ? doAnonymousPage(vmf) : doFault(vmf);
  if (vmf.origKind !== PTE_KIND_PRESENT) return doSwapPage(vmf);
  await mm.ptl.lock();
  if (!faultPteSame(vmf)) {
    mm.ptl.unlock();
    return 0;
  }
  const write = (vmf.flags & FAULT_FLAG_WRITE) !== 0;
  if (write && !(vmf.origFlags & PTE_WRITE)) return doWpPage(vmf);
  // Spurious fault (someone else resolved it first): ptep_set_access_flags.
  const want = PTE_YOUNG | (write ? PTE_DIRTY : 0);
  if ((vmf.origFlags & want) !== want) mm.pageTable.updateFlags(vmf.address, 0, want);
  mm.ptl.unlock();
  return 0;
}

/** pte_same(ptep_get(vmf->pte), vmf->orig_pte). Caller holds the page-table lock (asserted). */
function faultPteSame(vmf: VmFault): boolean {
  vmf.mm.sim.assertHeld(vmf.mm.ptl, 'pte_same');
  return faultPteUnchanged(vmf);
}

/**
 * The same comparison without the page-table lock: the wake-up condition of a task sleeping on a folio
 * lock for an entry it saw (migration_entry_wait_on_locked), a lockless read as in the kernel. Atomic.
 */
function faultPteUnchanged(vmf: VmFault): boolean {
  const pt = vmf.mm.pageTable;
  const va = vmf.address;
  return (
    !pt.isHugeAt(va) &&
    pt.kindAt(va) === vmf.origKind &&
    pt.pfnAt(va) === vmf.origPfn &&
    pt.flagsAt(va) === vmf.origFlags
  );
}

/** The PTE flags a new private anonymous page gets: writable if the VMA is, dirty and young. */
function anonPteFlags(vma: Vma): number {
  return (vma.flags & VM_WRITE ? PTE_WRITE : 0) | PTE_DIRTY | PTE_YOUNG;
}

/**
 * do_anonymous_page: first touch of private anonymous memory. A read maps the shared zero page
 * (special, read-only, no reference or rmap); a write prepares the anon_vma, allocates a zeroed page
 * and maps it writable, dirty and exclusive. Caller holds the mmap lock. May sleep (allocation).
 */
export async function doAnonymousPage(vmf: VmFault): Promise<number> {
  vmf.mm.assertMmapLocked('do_anonymous_page');
  const { mm, vma, address } = vmf;
  const k = mm.kernel;
  if (mm.unstable) return VM_FAULT_SIGBUS; // check_stable_address_space: reaped by the OOM killer
  if ((vma.flags & VM_SHARED) !== 0) mm.sim.bug(`do_anonymous_page on shared ${vma}`);
  if (!(vmf.flags & FAULT_FLAG_WRITE)) {
    await mm.ptl.lock();
    if (mm.pageTable.kindAt(address) === PTE_KIND_NONE)
      await ptepSet(mm, address, PTE_KIND_PRESENT, k.phys.zeroPfn, PTE_SPECIAL | PTE_ZERO);
    mm.ptl.unlock();
    return 0;
  }
  anonVmaPrepare(mm, vma);
  const pfn = await k.allocUserPage();
  if (pfn < 0) return VM_FAULT_OOM;
  await mm.ptl.lock();
  if (mm.pageTable.kindAt(address) !== PTE_KIND_NONE) {
    mm.sim.mark('anonymous fault lost the race');
    mm.ptl.unlock();
    k.phys.putPage(pfn);
    return 0;
  }
  folioAddNewAnonRmap(k, mm, vma, pfn, address);
  await ptepSet(mm, address, PTE_KIND_PRESENT, pfn, anonPteFlags(vma));
  mm.ptl.unlock();
  return 0;
}

/**
 * do_wp_page: a write to a present read-only PTE. Entered with `mm.ptl` held (released here).
 * Shared mappings: the page is made writable and dirty in place (wp_page_shared → wp_page_reuse).
 * Private mappings: an exclusive anonymous page, or one whose only reference is this mapping
 * (wp_can_reuse_anon_folio, after dropping an unneeded swap-cache copy), is reused in place;
 * otherwise — the zero page, a shared anonymous page, a file page — it is copied (wp_page_copy).
 * May sleep.
 */
export async function doWpPage(vmf: VmFault): Promise<number> {
  const { mm, vma, address } = vmf;
  const phys = mm.kernel.phys;
  mm.sim.assertHeld(mm.ptl, 'do_wp_page');
  const pfn = vmf.origPfn;
  const special = (vmf.origFlags & (PTE_SPECIAL | PTE_ZERO)) !== 0;
  if (vma.flags & (VM_SHARED | VM_MAYSHARE)) {
    if (special) {
      mm.ptl.unlock();
      return VM_FAULT_SIGBUS;
    }
    await ptepModify(mm, address, 0, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
    phys.setFlag(pfn, PG_dirty);
    mm.ptl.unlock();
    return 0;
  }
  if (!special && phys.testFlag(pfn, PG_anon)) {
    let reuse = phys.testFlag(pfn, PG_anon_exclusive);
    if (!reuse && phys.refcountOf(pfn) <= 1 + (phys.testFlag(pfn, PG_swapcache) ? 1 : 0)) {
      if (phys.testFlag(pfn, PG_swapcache) && mm.kernel.folioTrylock(pfn)) {
        folioFreeSwap(mm.kernel, pfn);
        mm.kernel.folioUnlock(pfn);
      }
      if (phys.refcountOf(pfn) === 1) {
        phys.setFlag(pfn, PG_anon_exclusive);
        reuse = true;
      }
    }
    if (reuse) {
      await ptepModify(mm, address, 0, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
      mm.ptl.unlock();
      return 0;
    }
  }
  if (!special) phys.getPage(pfn);
  mm.ptl.unlock();
  return wpPageCopy(vmf);
}

/**
 * wp_page_copy: copy-on-write. Allocates a page (zeroed when the old one is the zero page, else a
 * copy), raises a blockable MMU_NOTIFY_CLEAR invalidation over the page ([addr, addr + PAGE_SIZE),
 * owner null), and under the page-table lock replaces the old PTE (if unchanged) with the new
 * exclusive, writable, dirty page: the new page gains the rmap, the old one loses its mapping and its
 * reference. Entered without the page-table lock, holding a reference on the old page (unless it is
 * the zero page), which it drops. May sleep.
 */
export async function wpPageCopy(vmf: VmFault): Promise<number> {
  vmf.mm.assertMmapLocked('wp_page_copy');
  const { mm, vma, address } = vmf;
  const k = mm.kernel;
  const phys = k.phys;
  const old = vmf.origPfn;
  const oldIsZero = (vmf.origFlags & (PTE_SPECIAL | PTE_ZERO)) !== 0;
  mm.sim.mark('cow break');
  anonVmaPrepare(mm, vma);
  const pfn = await k.allocUserPage();
  if (pfn < 0) {
    if (!oldIsZero) phys.putPage(old);
    return VM_FAULT_OOM;
  }
  if (!oldIsZero) phys.copyPage(pfn, old);
  folioPrepareNewAnon(k, vma, pfn, address);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, address, address + k.pageSize);
  await mmuNotifierInvalidateRangeStart(range);
  await mm.ptl.lock();
  if (faultPteSame(vmf)) {
    phys.rmapAddPte(pfn, mm, address);
    phys.lruAdd(pfn, LRU_INACTIVE_ANON);
    await ptepSet(mm, address, PTE_KIND_PRESENT, pfn, anonPteFlags(vma));
    if (!oldIsZero) {
      phys.rmapRemovePte(old, mm, address);
      folioPutAfterUnmap(k, old);
    }
  } else {
    mm.sim.mark('cow break lost the race');
    phys.clearFlag(pfn, PG_anon | PG_anon_exclusive);
    phys.setMapping(pfn, undefined, 0);
    phys.putPage(pfn);
  }
  mm.ptl.unlock();
  await mmuNotifierInvalidateRangeEnd(range);
  if (!oldIsZero) folioPutAfterUnmap(k, old);
  return 0;
}

/**
 * do_fault: a first touch of a file or shmem mapping, through the VMA's ->fault. A read maps the
 * page-cache page (do_read_fault: writable only for a shared writable mapping); a write to a private
 * mapping copies it into a new anonymous page (do_cow_fault); a write to a shared mapping maps it
 * writable and dirty (do_shared_fault). Caller holds the mmap lock. May sleep.
 */
export async function doFault(vmf: VmFault): Promise<number> {
  vmf.mm.assertMmapLocked('do_fault');
  const { mm, vma, address } = vmf;
  const k = mm.kernel;
  const phys = k.phys;
  const ops = vma.ops as VmOperations | undefined;
  if (ops?.fault === undefined) return VM_FAULT_SIGBUS;
  if (
    mm.unstable &&
    vma.anonymous === false &&
    (vma.flags & VM_SHARED) === 0 &&
    vmf.flags & FAULT_FLAG_WRITE
  ) {
    return VM_FAULT_SIGBUS; // a private COW of a file page in a reaped mm, as finish_fault checks
  }
  const write = (vmf.flags & FAULT_FLAG_WRITE) !== 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  let cow = -1;
  if (write && !shared) {
    anonVmaPrepare(mm, vma);
    cow = await k.allocUserPage();
    if (cow < 0) return VM_FAULT_OOM;
  }
  vmf.page = -1;
  const ret = await ops.fault(vmf);
  if (ret & VM_FAULT_ERROR || vmf.page < 0) {
    if (cow >= 0) phys.putPage(cow);
    return ret & VM_FAULT_ERROR ? ret : VM_FAULT_SIGBUS;
  }
  let page = vmf.page;
  vmf.page = -1;
  let pteFlags: number;
  if (cow >= 0) {
    phys.copyPage(cow, page);
    phys.putPage(page);
    page = cow;
    folioPrepareNewAnon(k, vma, page, address);
    pteFlags = anonPteFlags(vma);
  } else {
    pteFlags = PTE_YOUNG | (shared && vma.flags & VM_WRITE ? PTE_WRITE : 0) | (write ? PTE_DIRTY : 0);
  }
  // finish_fault
  await mm.ptl.lock();
  if (mm.pageTable.kindAt(address) !== PTE_KIND_NONE) {
    mm.ptl.unlock();
    if (cow >= 0) {
      phys.clearFlag(page, PG_anon | PG_anon_exclusive);
      phys.setMapping(page, undefined, 0);
    }
    phys.putPage(page);
    return 0;
  }
  phys.rmapAddPte(page, mm, address);
  if (cow >= 0) phys.lruAdd(page, LRU_INACTIVE_ANON);
  else if (write) phys.setFlag(page, PG_dirty);
  await ptepSet(mm, address, PTE_KIND_PRESENT, page, pteFlags);
  mm.ptl.unlock();
  return 0;
}

/**
 * do_swap_page: a fault on a non-present, non-none PTE.
 *  - migration entry: waits until the migrating folio is unlocked (migration_entry_wait), returns 0;
 *  - device-exclusive entry: remove_device_exclusive_entry (see {@link removeDeviceExclusiveEntry});
 *  - device-private entry: with the page locked (trylock; otherwise waits for the unlock and retries)
 *    and referenced, calls the pagemap's migrateToRam and returns its result (0: retry the access);
 *  - swap entry: swap-in (see {@link swapIn}).
 * Caller holds the mmap lock. May sleep.
 */
export async function doSwapPage(vmf: VmFault): Promise<number> {
  vmf.mm.assertMmapLocked('do_swap_page');
  const { mm, address } = vmf;
  const k = mm.kernel;
  const phys = k.phys;
  switch (vmf.origKind) {
    case PTE_KIND_MIGRATION: {
      mm.sim.mark('migration entry waited on');
      await k.folioWaitUnlocked(vmf.origPfn, () => !faultPteUnchanged(vmf));
      return 0;
    }
    case PTE_KIND_DEVICE_EXCLUSIVE:
      return removeDeviceExclusiveEntry(vmf);
    case PTE_KIND_DEVICE_PRIVATE: {
      await mm.ptl.lock();
      if (!faultPteSame(vmf)) {
        mm.ptl.unlock();
        return 0;
      }
      const pfn = vmf.origPfn;
      if (!k.folioTrylock(pfn)) {
        mm.ptl.unlock();
        await k.folioWaitUnlocked(pfn, () => !faultPteUnchanged(vmf));
        return 0;
      }
      phys.getPage(pfn);
      mm.ptl.unlock();
      const ops = k.pagemapOpsOf(pfn);
      let ret = VM_FAULT_SIGBUS;
      if (ops !== undefined) {
        ret = await ops.migrateToRam({
          mm,
          vma: vmf.vma,
          address,
          pfn,
          write: (vmf.flags & FAULT_FLAG_WRITE) !== 0,
          flags: vmf.flags,
        });
      }
      k.folioUnlock(pfn);
      phys.putPage(pfn);
      return ret;
    }
    case PTE_KIND_SWAP:
      return swapIn(vmf);
    default:
      return VM_FAULT_SIGBUS;
  }
}

/**
 * folio_lock_or_retry: 0 with the folio locked, or — when it is contended and the fault allows
 * retrying — VM_FAULT_RETRY after releasing the mmap lock and waiting for the unlock (nothing is
 * locked then). Without FAULT_FLAG_ALLOW_RETRY it sleeps for the lock holding the mmap lock.
 */
async function folioLockOrRetry(vmf: VmFault, pfn: number): Promise<number> {
  const k = vmf.mm.kernel;
  if (k.folioTrylock(pfn)) return 0;
  if (vmf.flags & FAULT_FLAG_ALLOW_RETRY) {
    if (vmf.flags & FAULT_FLAG_RETRY_NOWAIT) return VM_FAULT_RETRY;
    vmf.mm.mmapLock.upRead();
    await k.folioWaitUnlocked(pfn);
    return VM_FAULT_RETRY;
  }
  await k.folioLock(pfn);
  return 0;
}

/**
 * remove_device_exclusive_entry (v6.15+ semantics): a CPU access revokes a device's exclusive access.
 * Takes a reference (none to take: the entry is gone, retry) and the folio lock (or retries), raises a
 * blockable MMU_NOTIFY_CLEAR invalidation over the page with owner null, and if the entry is unchanged
 * restores the ordinary present PTE (writable and dirty if the exclusive entry was writable; old;
 * soft-dirty and uffd-wp kept). The page keeps the mapping and reference the entry held. Caller holds
 * the mmap lock. May sleep.
 */
export async function removeDeviceExclusiveEntry(vmf: VmFault): Promise<number> {
  vmf.mm.assertMmapLocked('remove_device_exclusive_entry');
  const { mm, address } = vmf;
  const k = mm.kernel;
  const pfn = vmf.origPfn;
  if (!k.phys.tryGetPage(pfn)) return 0;
  const locked = await folioLockOrRetry(vmf, pfn);
  if (locked !== 0) {
    k.phys.putPage(pfn);
    return locked;
  }
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, address, address + k.pageSize, null);
  await mmuNotifierInvalidateRangeStart(range);
  await mm.ptl.lock();
  if (faultPteSame(vmf)) {
    const f = vmf.origFlags;
    const flags = (f & (PTE_SOFT_DIRTY | PTE_UFFD_WP)) | (f & PTE_WRITE ? PTE_WRITE | PTE_DIRTY : 0);
    await ptepSet(mm, address, PTE_KIND_PRESENT, pfn, flags);
  }
  mm.ptl.unlock();
  k.folioUnlock(pfn);
  k.phys.putPage(pfn);
  await mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * do_swap_page for a swap entry: finds the folio in the swap cache or reads the slot into a new page
 * (swapcache_prepare, add_to_swap_cache, swap_read_folio — the read is a scheduling point, the page is
 * locked during it), locks it (or retries), and if the PTE is unchanged maps it: the swap entry's
 * count is dropped (swap_free), the folio leaves the swap cache once no swap entry references the
 * slot, and it is exclusive when the swap PTE said so or this mapping holds its only reference; it is
 * mapped writable only for a write fault on an exclusive page (otherwise a write fault is retried and
 * goes through do_wp_page). Caller holds the mmap lock. May sleep.
 *
 * Deviations: no SWP_SYNCHRONOUS_IO bypass and no readahead; the folio is dropped from the swap cache
 * as soon as its slot is unreferenced (the kernel keeps it cached until memory pressure).
 */
export async function swapIn(vmf: VmFault): Promise<number> {
  vmf.mm.assertMmapLocked('swap_in');
  const { mm, vma, address } = vmf;
  const k = mm.kernel;
  const phys = k.phys;
  const slot = vmf.origPfn;
  mm.sim.mark('swap-in');
  let pfn = -1;
  for (let loop = 0; pfn < 0; loop++) {
    if (loop > MAX_FAULT_LOOPS)
      mm.sim.report('livelock', `swap-in of slot ${slot} at 0x${address.toString(16)} never settles`);
    const cached = lookupSwapCache(k, slot);
    if (cached !== undefined) {
      mm.sim.mark('swap-in found the folio in the swap cache');
      phys.getPage(cached);
      pfn = cached;
      break;
    }
    if (k.swap.isFree(slot)) {
      // The slot was released under the page-table lock by whoever is replacing this entry: wait
      // for it on that lock, then retry (a free slot behind an unchanged entry would be a bug).
      await mm.ptl.lock();
      const stale = faultPteSame(vmf);
      mm.ptl.unlock();
      if (stale)
        mm.sim.bug(`do_swap_page: swap entry at 0x${address.toString(16)} refers to free slot ${slot}`);
      return 0;
    }
    const page = await k.allocUserPage();
    if (page < 0) return VM_FAULT_OOM;
    if (lookupSwapCache(k, slot) !== undefined || k.swap.isFree(slot)) {
      phys.putPage(page);
      continue;
    }
    const r = k.swap.setCache(slot);
    if (r !== 0) {
      // Someone else holds SWAP_HAS_CACHE without a folio in the cache yet: let it finish.
      phys.putPage(page);
      await mm.sim.yield('swapcache_prepare_wait');
      continue;
    }
    anonVmaPrepare(mm, vma);
    folioPrepareNewAnon(k, vma, page, address);
    phys.clearFlag(page, PG_anon_exclusive | PG_uptodate);
    k.folioTrylock(page);
    addToSwapCache(k, page, slot);
    phys.lruAdd(page, LRU_INACTIVE_ANON);
    await mm.sim.point('swap_read_folio', pteTag(mm, address));
    phys.setPageContents(page, k.swap.read(slot));
    phys.setFlag(page, PG_uptodate);
    k.folioUnlock(page);
    pfn = page;
  }
  const locked = await folioLockOrRetry(vmf, pfn);
  if (locked !== 0) {
    phys.putPage(pfn);
    return locked;
  }
  await mm.ptl.lock();
  if (!faultPteSame(vmf) || !phys.testFlag(pfn, PG_swapcache) || phys.swapSlotOf(pfn) !== slot) {
    mm.ptl.unlock();
    mm.sim.mark('swap-in lost the race');
    // The entry went away meanwhile (zapped, or swapped in by another thread). Model hygiene: a
    // folio left in the swap cache with nothing referencing its slot is dropped now (the kernel
    // leaves it to reclaim), so that racing swap-ins leak nothing.
    if (phys.testFlag(pfn, PG_swapcache) && !phys.folioMapped(pfn)) folioFreeSwap(k, pfn);
    k.folioUnlock(pfn);
    phys.putPage(pfn);
    return 0;
  }
  const write = (vmf.flags & FAULT_FLAG_WRITE) !== 0;
  k.swap.free(slot);
  if (k.swap.count(slot) === 0) deleteFromSwapCache(k, pfn);
  const exclusive = (vmf.origFlags & PTE_EXCLUSIVE) !== 0 || phys.refcountOf(pfn) === 1;
  if (exclusive) phys.setFlag(pfn, PG_anon_exclusive);
  else phys.clearFlag(pfn, PG_anon_exclusive);
  phys.rmapAddPte(pfn, mm, address);
  let flags = PTE_YOUNG | (vmf.origFlags & PTE_SOFT_DIRTY);
  if (write && exclusive && vma.flags & VM_WRITE) flags |= PTE_WRITE | PTE_DIRTY;
  await ptepSet(mm, address, PTE_KIND_PRESENT, pfn, flags);
  mm.ptl.unlock();
  k.folioUnlock(pfn);
  return 0;
}

/**
 * The huge-PMD part of handle_mm_fault (do_huge_pmd_wp_page, huge device-private / migration PMDs):
 * returns a vm_fault_t, or -1 to fall back to the PTE path after the PMD was split. A write to a
 * read-only PMD-mapped anonymous folio that is exclusive is made writable in place; any other case the
 * model handles by splitting the PMD (raising CLEAR) and handling the fault at PTE level.
 */
async function faultHugePmd(mm: Mm, vma: Vma, va: number, flags: number): Promise<number> {
  const pt = mm.pageTable;
  const phys = mm.kernel.phys;
  const haddr = pt.pmdStart(va);
  const kind = pt.kindAt(haddr);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if (kind === PTE_KIND_MIGRATION) return pmdMigrationEntryWait(mm, haddr);
  if (kind === PTE_KIND_DEVICE_PRIVATE) return doHugePmdDevicePrivate(mm, vma, va, flags);
  if (kind === PTE_KIND_PRESENT) {
    const f = pt.flagsAt(haddr);
    if (!write || f & PTE_WRITE) return 0;
    if (f & PTE_ZERO) {
      const ret = await doHugeZeroWpPmd(mm, vma, haddr);
      if (ret !== VM_FAULT_FALLBACK) return ret;
    }
    const head = pt.pfnAt(haddr);
    if (!(f & PTE_ZERO) && !(vma.flags & VM_SHARED) && phys.testFlag(head, PG_anon)) {
      let all = true;
      for (let i = 0; i < HPAGE_PMD_NR && all; i++) all = phys.testFlag(head + i, PG_anon_exclusive);
      if (all) {
        await mm.ptl.lock();
        if (pt.isHugeAt(haddr) && pt.pfnAt(haddr) === head && pt.kindAt(haddr) === PTE_KIND_PRESENT)
          await pmdpModify(mm, haddr, 0, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
        mm.ptl.unlock();
        return 0;
      }
    }
  }
  mm.sim.mark('fault split a huge pmd');
  await splitHugePmd(mm, vma, haddr);
  return -1;
}

/**
 * pmd_migration_entry_wait: a fault on a PMD migration entry (a THP being migrated whole) sleeps until
 * the folio is unlocked or the PMD changed, then the access is retried (0). Caller holds the mmap lock.
 * May sleep.
 */
async function pmdMigrationEntryWait(mm: Mm, haddr: number): Promise<number> {
  mm.assertMmapLocked('pmd_migration_entry_wait');
  const pt = mm.pageTable;
  const head = pt.pfnAt(haddr);
  const changed = (): boolean =>
    !pt.isHugeAt(haddr) || pt.kindAt(haddr) !== PTE_KIND_MIGRATION || pt.pfnAt(haddr) !== head;
  mm.sim.mark('migration entry waited on');
  await mm.kernel.folioWaitUnlocked(head, changed);
  return 0;
}

/**
 * do_huge_pmd_device_private: a CPU fault on a PMD-level device-private entry (a PMD-order device folio
 * mapped whole). Under the PMD lock the entry is rechecked; the folio is trylocked (contended: wait for
 * the unlock and retry, 0) and referenced; then, the lock dropped, the pagemap's migrateToRam is called
 * with the head page and `pmd: true`, so that the driver may migrate the whole folio (or split it), and
 * its vm_fault_t returned (0: retry). Caller holds the mmap lock. May sleep.
 */
async function doHugePmdDevicePrivate(mm: Mm, vma: Vma, va: number, flags: number): Promise<number> {
  mm.assertMmapLocked('do_huge_pmd_device_private');
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const haddr = pt.pmdStart(va);
  const head = pt.pfnAt(haddr);
  const same = (): boolean =>
    pt.isHugeAt(haddr) && pt.kindAt(haddr) === PTE_KIND_DEVICE_PRIVATE && pt.pfnAt(haddr) === head;
  await mm.ptl.lock();
  if (!same()) {
    mm.ptl.unlock();
    return 0;
  }
  if (!k.folioTrylock(head)) {
    mm.ptl.unlock();
    await k.folioWaitUnlocked(head, () => !same());
    return 0;
  }
  phys.getPage(head);
  mm.ptl.unlock();
  const ops = k.pagemapOpsOf(head);
  let ret = VM_FAULT_SIGBUS;
  if (ops !== undefined)
    ret = await ops.migrateToRam({
      mm,
      vma,
      address: va,
      pfn: head,
      write: (flags & FAULT_FLAG_WRITE) !== 0,
      flags,
      pmd: true,
    });
  k.folioUnlock(head);
  phys.putPage(head);
  return ret;
}

/**
 * thp_vma_allowable_order for a fault, in the "madvise" THP mode: a private anonymous VMA with
 * VM_HUGEPAGE (and not VM_NOHUGEPAGE) that covers the whole PMD-aligned range at `haddr`.
 */
function thpFaultAllowed(mm: Mm, vma: Vma, haddr: number): boolean {
  return (
    vma.anonymous &&
    (vma.flags & (VM_HUGEPAGE | VM_NOHUGEPAGE | VM_SHARED)) === VM_HUGEPAGE &&
    haddr >= vma.start &&
    haddr + mm.pageTable.pmdSize <= vma.end
  );
}

/** The flags of a new anonymous PMD-order folio: PG_anon etc. on the head, exclusive on every page. */
function thpPrepareNewAnon(mm: Mm, vma: Vma, head: number, haddr: number): void {
  const phys = mm.kernel.phys;
  phys.setFlag(head, PG_anon | PG_swapbacked | PG_uptodate);
  phys.setMapping(head, vma.anonVma, vma.pgoff + (haddr - vma.start) / mm.kernel.pageSize);
  for (let i = 0; i < HPAGE_PMD_NR; i++) phys.setFlag(head + i, PG_anon_exclusive);
}

/**
 * do_huge_pmd_anonymous_page: first touch of an empty PMD of a THP-enabled VMA. A read maps the huge
 * zero page (read-only, special); a write allocates a PMD-order folio and maps it writable, dirty and
 * exclusive by one huge PMD. Returns VM_FAULT_FALLBACK when no folio (or huge zero page) can be
 * allocated, so the PTE path handles the fault. Caller holds the mmap lock. May sleep.
 */
export async function doHugePmdAnonymousPage(
  mm: Mm,
  vma: Vma,
  haddr: number,
  flags: number,
): Promise<number> {
  mm.assertMmapLocked('do_huge_pmd_anonymous_page');
  const k = mm.kernel;
  if (mm.unstable) return VM_FAULT_SIGBUS; // check_stable_address_space
  const phys = k.phys;
  const pt = mm.pageTable;
  if (!(flags & FAULT_FLAG_WRITE)) {
    const zero = phys.hugeZeroPfn();
    if (zero < 0) return VM_FAULT_FALLBACK;
    await mm.ptl.lock();
    if (!pt.isHugeAt(haddr) && pt.pmdNone(haddr))
      await pmdpSet(mm, haddr, PTE_KIND_PRESENT, zero, PTE_SPECIAL | PTE_ZERO);
    mm.ptl.unlock();
    return 0;
  }
  anonVmaPrepare(mm, vma);
  const head = phys.allocPages(HPAGE_PMD_ORDER);
  if (head < 0) return VM_FAULT_FALLBACK;
  thpPrepareNewAnon(mm, vma, head, haddr);
  await mm.ptl.lock();
  if (pt.isHugeAt(haddr) || !pt.pmdNone(haddr)) {
    mm.ptl.unlock();
    thpDiscard(mm, head);
    return 0;
  }
  phys.rmapAddPmd(head, mm, haddr);
  phys.lruAdd(head, LRU_INACTIVE_ANON);
  await pmdpSet(mm, haddr, PTE_KIND_PRESENT, head, anonPteFlags(vma));
  mm.ptl.unlock();
  return 0;
}

/**
 * do_huge_zero_wp_pmd (v6.12+): a write to the huge zero page allocates a PMD-order folio and replaces
 * the huge zero PMD with it, inside a blockable MMU_NOTIFY_CLEAR invalidation over the PMD
 * ([haddr, haddr + PMD_SIZE), owner null). VM_FAULT_FALLBACK when no folio can be allocated (the caller
 * then splits the PMD and handles the write at PTE level). Caller holds the mmap lock. May sleep.
 */
async function doHugeZeroWpPmd(mm: Mm, vma: Vma, haddr: number): Promise<number> {
  mm.assertMmapLocked('do_huge_zero_wp_pmd');
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  anonVmaPrepare(mm, vma);
  const head = phys.allocPages(HPAGE_PMD_ORDER);
  if (head < 0) return VM_FAULT_FALLBACK;
  thpPrepareNewAnon(mm, vma, head, haddr);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + pt.pmdSize);
  await mmuNotifierInvalidateRangeStart(range);
  await mm.ptl.lock();
  if (pt.isHugeAt(haddr) && pt.kindAt(haddr) === PTE_KIND_PRESENT && pt.flagsAt(haddr) & PTE_ZERO) {
    await pmdpGetAndClear(mm, haddr);
    phys.rmapAddPmd(head, mm, haddr);
    phys.lruAdd(head, LRU_INACTIVE_ANON);
    await pmdpSet(mm, haddr, PTE_KIND_PRESENT, head, anonPteFlags(vma));
  } else {
    mm.ptl.unlock();
    await mmuNotifierInvalidateRangeEnd(range);
    thpDiscard(mm, head);
    return 0;
  }
  mm.ptl.unlock();
  await mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/** Frees a prepared PMD-order folio that lost its race. */
function thpDiscard(mm: Mm, head: number): void {
  const phys = mm.kernel.phys;
  for (let i = 0; i < HPAGE_PMD_NR; i++) phys.clearFlag(head + i, PG_anon_exclusive);
  phys.clearFlag(head, PG_anon);
  phys.setMapping(head, undefined, 0);
  phys.putPage(head);
}
