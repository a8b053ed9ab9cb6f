/**
 * The coherence rule between a device page table and the CPU's: a device mapping of VA → page with
 * permission P may exist only while the CPU translation of VA yields that page with at least P.
 *
 * What a CPU entry yields (the kernel's definitions):
 *   - present: its page, readable, writable with PTE_WRITE. The PTE is the translation, not the
 *     VMA: munmap and mprotect change the VMA under the mmap write lock before their invalidation
 *     zaps the PTEs, and a device may legitimately hold its mapping until that invalidation.
 *     Deviation: the model's PTEs carry no PROT_NONE bit (mprotect(PROT_NONE) leaves read-only PTEs
 *     as they are), so a device read mapping kept after mprotect(PROT_NONE) is not reported;
 *   - migration entry: its source page, read-only for device accesses (a device write to a page
 *     being copied is a lost write); a mapping may keep the write permission the entry records
 *     (test_hmm skips its own MIGRATE invalidations and keeps such entries until it reprograms
 *     them). A mapping of another page under a migration entry (or over an empty entry a migration
 *     is about to fill) is the migration's destination programmed before finalize (test_hmm's
 *     finalize_and_map): allowed while that device page is locked, i.e. still a migration
 *     destination; the PTE change that ends the migration re-checks it;
 *   - device-private entry: its device page, writable with the entry's write bit;
 *   - device-exclusive entry: its page, to the device holding it (atomic), writable with the entry's
 *     write bit;
 *   - none, swap: nothing; a use of a locked page over an empty entry is in flight (a migration
 *     collector clears the PTE under the page lock before it installs the migration entry; a
 *     destination is locked until finalize) and is judged when the entry settles. Only reads of a
 *     system page in flight are allowed (a write would land after the copy); a device destination
 *     may be written (the data goes where the CPU will find it, or the settle check reports it).
 * An atomic (exclusive) device mapping needs a device-exclusive entry for its page.
 */
import type { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import { PG_locked } from '../mm/physical.js';
import {
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_PRESENT,
  PTE_WRITE,
} from '../mm/page-table.js';

/** One device page-table entry as the checkers see it. */
export interface DeviceEntry {
  /** The page as the CPU page table names it (a device-private page, not its backing store). */
  pfn: number;
  /** Mapped writable; the CPU translation must then allow writes too. */
  write: boolean;
  /** Mapped for atomic access (test_hmm's DPT_XA_TAG_ATOMIC after make_device_exclusive). */
  atomic: boolean;
  /** The scheduling step that installed it, and by which thread, for violation messages. */
  step: number;
  /** Name of the thread that installed it. */
  thread: string;
}

/**
 * Whether `mm`'s CPU translation of page-aligned `va` covers `e`: null when it does, else a short
 * reason. Reads the page table without locks (the caller is a hook at a scheduling point). Atomic.
 */
export function coherenceProblem(
  k: Kernel,
  mm: Mm,
  va: number,
  e: DeviceEntry,
  writeAccess = false,
): string | null {
  const pt = mm.pageTable;
  const kind = pt.kindAt(va);
  if (kind === 0) {
    if (isLockedInFlight(k, e.pfn) && (!writeAccess || k.phys.zoneOf(e.pfn) === 'device')) return null;
    return 'the CPU has no entry';
  }
  const pfn = pt.pfnAt(va);
  const flags = pt.flagsAt(va);
  if (e.atomic) {
    if (kind !== PTE_KIND_DEVICE_EXCLUSIVE || pfn !== e.pfn) return 'the page is no longer device-exclusive';
    return null;
  }
  switch (kind) {
    case PTE_KIND_PRESENT: {
      if (pfn !== e.pfn) return 'the CPU maps another page';
      if (e.write && !(flags & PTE_WRITE)) return 'the CPU entry is read-only';
      return null;
    }
    case PTE_KIND_MIGRATION:
      if (pfn === e.pfn) {
        if (writeAccess) return 'the device writes a page that is being migrated';
        if (e.write && !(flags & PTE_WRITE)) return 'the migration entry is read-only';
        return null;
      }
      if (!isLockedInFlight(k, e.pfn) || (writeAccess && k.phys.zoneOf(e.pfn) !== 'device'))
        return 'the CPU entry is a migration entry of another page';
      return null;
    case PTE_KIND_DEVICE_PRIVATE:
      if (pfn !== e.pfn) return 'the CPU maps another device page';
      if (e.write && !(flags & PTE_WRITE)) return 'the device-private entry is read-only';
      return null;
    case PTE_KIND_DEVICE_EXCLUSIVE:
      if (pfn !== e.pfn) return 'the CPU maps another page';
      if (e.write && !(flags & PTE_WRITE)) return 'the device-exclusive entry is read-only';
      return null;
    default:
      return 'the CPU entry is not present';
  }
}

/**
 * Page lifetime: null while `e.pfn` is allocated, else 'the page was freed'. Reuse of a freed page is
 * seen by this check while the page is free and by the coherence check once it is mapped again
 * (the CPU translation of VA no longer yields it). Atomic.
 */
export function lifetimeProblem(k: Kernel, e: DeviceEntry): string | null {
  return k.phys.isFree(e.pfn) ? 'the page was freed' : null;
}

/**
 * A locked page whose CPU entry is in flight: a migration destination not yet finalized, or a
 * source whose PTE the collector cleared under the page lock and is about to turn into a
 * migration entry. The entry the CPU ends with is checked when it is installed.
 */
function isLockedInFlight(k: Kernel, pfn: number): boolean {
  const phys = k.phys;
  return !phys.isFree(pfn) && phys.testFlag(pfn, PG_locked);
}
