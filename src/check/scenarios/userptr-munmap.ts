/**
 * The legacy userptr list (seed 000's linear list behind a classic notifier, GUP pins, no sequence)
 * against munmap: the device pins a page and, with no sequence to tell it an invalidation ran in
 * between, maps it after the process unmapped it. The pin keeps the page allocated, so the device
 * goes on using memory the process no longer has: a stale mapping.
 */
import type { SetupFn } from '../../sim/simulation.js';
import { userptrListScenario } from '../../drivers/legacy/scenarios.js';

/** A GPU writes through a two-page userptr while the process unmaps its first page. */
export function userptrMunmapScenario(): SetupFn {
  return userptrListScenario('munmap');
}
