/**
 * The behaviour switches of the legacy designs (options of a run, recorded in its replay token).
 * Each `fix` switch applies the fix upstream later made; off (the default) is the 2019 code, so an
 * exploration of a legacy driver finds its race and the same run with the switch on is silent.
 * `odp2019.mapOnTimeout` is the one planted mistake (no kernel shipped it), off by default.
 */
import { defineSwitch } from '../../sim/switches.js';

/**
 * hmm_range_fault holds a user reference (mmget_not_zero) on the mm while it walks the VMAs, so
 * exit_mmap cannot free them under it (asked for in seed 004's review: "we should put the
 * mmget_notzero back in").
 */
export const HMM2019_MMGET_IN_FAULT = defineSwitch(
  'hmm2019.mmgetInFault',
  false,
  'fix: the 2019 hmm_range_fault takes mmget_not_zero around its VMA walk',
);

/**
 * struct hmm is freed after an SRCU grace period, and callbacks take kref_get_unless_zero (2019,
 * "mm/hmm: fix use after free with struct hmm in the mmu notifiers").
 */
export const HMM2019_SRCU_FREE = defineSwitch(
  'hmm2019.srcuFree',
  false,
  'fix: struct hmm freed after an SRCU grace period (mmu_notifier_call_srcu), not at once',
);

/** The callbacks find their struct hmm with container_of(mn), not through mm->hmm (same patch). */
export const HMM2019_CONTAINER_OF = defineSwitch(
  'hmm2019.containerOf',
  false,
  'fix: the notifier callbacks find their struct hmm with container_of, not mm->hmm',
);

/**
 * The device fault also checks a sequence of invalidations taken before hmm_range_fault, not only
 * `range->valid`, which the last invalidate_range_end sets back to true: an invalidation that
 * started and ended between the walk and the check went unnoticed. Seed 000: drivers using
 * hmm_mirror moved to the interval notifier "with the modification to store a sequence number to
 * close that race described in the hmm commit" (mmu_interval_read_begin / read_retry, 2019).
 */
export const HMM2019_SEQ_RETRY = defineSwitch(
  'hmm2019.seqRetry',
  false,
  'fix: the 2019 device fault checks an invalidation sequence, not only range->valid',
);

/**
 * ODP's fault takes mmget_not_zero on the owning mm before GUP (seed 004: "It was a bug report
 * that triggered the race the mmget_not_zero is fixing").
 */
export const ODP2019_MMGET_NOT_ZERO = defineSwitch(
  'odp2019.mmgetNotZero',
  false,
  'fix: the ODP fault takes mmget_not_zero on the owning mm before walking it',
);

/**
 * Planted mistake (not upstream code): after wait_for_completion_timeout expires, the fault maps
 * the pages its stale walk pinned instead of faulting again.
 */
export const ODP2019_MAP_ON_TIMEOUT = defineSwitch(
  'odp2019.mapOnTimeout',
  false,
  'planted mistake: the timeout path maps the pages its stale walk pinned',
);

declare module '../../sim/switches.js' {
  interface SwitchRegistry {
    /** Fix: hmm_range_fault holds mmget_not_zero around its VMA walk (`HMM2019_MMGET_IN_FAULT`). */
    'hmm2019.mmgetInFault': boolean;
    /** Fix: struct hmm is freed after an SRCU grace period (`HMM2019_SRCU_FREE`). */
    'hmm2019.srcuFree': boolean;
    /** Fix: callbacks find struct hmm with container_of, not mm->hmm (`HMM2019_CONTAINER_OF`). */
    'hmm2019.containerOf': boolean;
    /** Fix: the device fault checks an invalidation sequence, not only range->valid (`HMM2019_SEQ_RETRY`). */
    'hmm2019.seqRetry': boolean;
    /** Fix: the ODP fault takes mmget_not_zero on the owning mm (`ODP2019_MMGET_NOT_ZERO`). */
    'odp2019.mmgetNotZero': boolean;
    /** Planted mistake: the timeout path maps its stale walk's pages (`ODP2019_MAP_ON_TIMEOUT`). */
    'odp2019.mapOnTimeout': boolean;
  }
}
