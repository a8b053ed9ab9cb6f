/**
 * Shapes of the HMM API: struct hmm_range and struct migrate_vma.
 */
import type { MmuIntervalNotifier } from '../notifier/interval.js';
import type { Vma } from '../mm/vma.js';
import type { Mm } from '../mm/mm.js';

/** An hmm_pfns / src / dst array: one number per base page. */
export type PfnArray = number[] | Float64Array;

/**
 * struct hmm_range. `hmmPfns` has (end - start) / PAGE_SIZE entries: per-page requests on input
 * (HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE, honoured where `pfnFlagsMask` selects them, plus sticky
 * bits), pfn + flags + order on output.
 */
export interface HmmRange {
  /** The interval subscription covering the range; its mm is the address space walked. */
  notifier: MmuIntervalNotifier;
  /** What notifier.readBegin() returned for this attempt. */
  notifierSeq: number;
  /** First address, page aligned. */
  start: number;
  /** End address (exclusive), page aligned. */
  end: number;
  /**
   * range->hmm_pfns: one word per page, requests on input and pfn, flags and map order on output
   * (see the interface comment).
   */
  hmmPfns: PfnArray;
  /** Requests applied to every page. */
  defaultFlags: number;
  /** Which bits of each input entry are honoured. */
  pfnFlagsMask: number;
  /** Compared with a device-private page's pagemap owner: matching pages are reported, not faulted. */
  devPrivateOwner?: unknown;
}

/**
 * struct migrate_vma. The caller fills mm, vma, start, end, src, dst, pgmapOwner, flags (and faultPage
 * from migrateToRam); migrateVmaSetup fills src, cpages and npages; the driver fills dst.
 */
export interface MigrateVma {
  /** The address space (vma->vm_mm: the model's Vma has no back pointer). */
  mm: Mm;
  /** The VMA to migrate from; [start, end) must lie inside it (migrate->vma). */
  vma: Vma;
  /** First address, inclusive (migrate->start); setup rounds it down to a page. */
  start: number;
  /** End address, exclusive (migrate->end); setup rounds it down to a page. */
  end: number;
  /** Migrate-pfn words (see migratePfn): filled by setup. */
  src: PfnArray;
  /** Migrate-pfn words the driver fills (0 = skip this page). */
  dst: PfnArray;
  /** Out: entries collected and unmapped as migratable. */
  cpages: number;
  /** Out: entries filled in src. */
  npages: number;
  /** Passed as the owner of the MIGRATE invalidations; selects device pages of this owner. */
  pgmapOwner: unknown;
  /** MIGRATE_VMA_SELECT_* bits. */
  flags: number;
  /** The faulting device page (pfn) when called from migrateToRam; -1 or absent otherwise. */
  faultPage?: number;
}
