/**
 * Invariant checkers that watch device mirrors (src/check): coherence between device and CPU page
 * tables, the lifetime of the pages devices map, and the liveness of device faults. Switched per run
 * with the Kernel option `checks: { coherence, pageLifetime, liveness, maxDeviceFaults, maxDeviceFaultMs }`.
 */
export type { CheckOptions } from './options.js';
export { checksOf } from './options.js';
export { coherenceProblem, lifetimeProblem, type DeviceEntry } from './coherence.js';
export {
  watchMirror,
  unwatchMirror,
  checkDeviceMap,
  checkDeviceAccess,
  mirrorChecksOn,
  watchDmaList,
  unwatchDmaList,
  checkDmaList,
  type CheckedMirror,
  type CheckedDmaList,
} from './mirror-checker.js';
export { livenessOf, reportFaultLivelock, type LivenessBounds } from './liveness.js';
export { MUST_FIND, type MustFind } from './must-find.js';
