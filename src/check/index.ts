/**
 * Invariant checkers that watch device mirrors (src/check): coherence between device and CPU page
 * tables, and the lifetime of the pages devices map. Switched per run with the Kernel option
 * `checks: { coherence, pageLifetime }`.
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
  type CheckedMirror,
} from './mirror-checker.js';
