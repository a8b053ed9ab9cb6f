/**
 * Behaviour switches of the 'gpusvm' driver (options of a run, recorded in its replay token; see
 * src/sim/switches.ts): real bugs of the designs it models, each off by default (the upstream fix),
 * and one design mistake drm_gpusvm avoids. The exploration tests must find each with the switch on
 * and stay silent with it off.
 */
import { defineSwitch } from '../../sim/switches.js';

/**
 * 2022, nouveau "nouveau/svm: Fix to migrate all requested pages": nouveau_dmem_migrate_vma
 * (SVM_BIND to VRAM) works in batches, and computed each batch's end from the start of the whole
 * request instead of from the batch's own start. Every batch after the first was empty
 * (migrate_vma_setup refused it, and SVM_BIND ignores errors), so only the first batch of a request
 * reached VRAM. The fix ends each batch at the batch start plus the batch size, clamped to the end of
 * the request.
 */
export const NOUVEAU_PARTIAL_MIGRATE = defineSwitch(
  'gpusvm.nouveauPartialMigrate',
  false,
  "planted real bug (2022): nouveau's SVM_BIND batch loop migrates only the first batch",
);

/**
 * 2025, drm_gpusvm/xe "Add timeslicing support": an atomic that needs VRAM migrates its range to
 * VRAM, and before the GPU's replayed access lands a CPU touch migrates it back (migrate_to_ram), so
 * the GPU faults again and the page ping-pongs forever. The fix records a timeslice expiration when
 * a range moves to VRAM; migrate_to_ram inside the timeslice returns without migrating and the CPU
 * re-faults until it expires. On = the pre-fix driver, which ignores the timeslice.
 */
export const XE_NO_TIMESLICE = defineSwitch(
  'gpusvm.xeNoTimeslice',
  false,
  'planted real bug (2025): migrate_to_ram ignores the VRAM timeslice; atomics ping-pong forever',
);

/**
 * A design mistake drm_gpusvm avoids (issue 11, must-find 10): on UNMAP the invalidate callback
 * removes the emptied ranges and calls mmu_interval_notifier_remove on its own notifier, where
 * drm_gpusvm marks the ranges unmapped and leaves the removal to the garbage collector worker.
 * remove waits for the invalidation in progress, which is the one calling it.
 */
export const GPUSVM_REMOVE_IN_CALLBACK = defineSwitch(
  'gpusvm.removeInCallback',
  false,
  'planted mistake: the UNMAP callback removes its own notifier instead of deferring to the GC',
);

declare module '../../sim/switches.js' {
  interface SwitchRegistry {
    /** Planted real bug (2022): SVM_BIND migrates only the first batch (`NOUVEAU_PARTIAL_MIGRATE`). */
    'gpusvm.nouveauPartialMigrate': boolean;
    /** Planted real bug (2025): migrate_to_ram ignores the VRAM timeslice (`XE_NO_TIMESLICE`). */
    'gpusvm.xeNoTimeslice': boolean;
    /** Planted mistake: the UNMAP callback removes its own notifier (`GPUSVM_REMOVE_IN_CALLBACK`). */
    'gpusvm.removeInCallback': boolean;
  }
}
