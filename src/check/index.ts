/**
 * Invariant checkers that watch device mirrors (src/check): coherence between device and CPU page
 * tables, the lifetime of the pages devices map, lost writes (every CPU or device load returns the
 * last store there), and the liveness of device faults. Switched per run with the Kernel option
 * `checks: { coherence, pageLifetime, lostWrites, liveness, maxDeviceFaults, maxDeviceFaultMs }` or
 * the run switches `check.coherence`, `check.pageLifetime`, `check.lostWrites`, `check.liveness`.
 */
export type { CheckOptions } from './options.js';
export { checksOf, CHECK_SWITCHES } from './options.js';
export { lostWritesOf, LostWritesChecker, KIND_LOST_WRITE } from './lost-writes.js';
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
