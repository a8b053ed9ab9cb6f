/**
 * The shared base of every device driver: the device page table and device accesses, watched by
 * the checkers of src/check.
 */
export {
  DeviceMirror,
  MAX_DEVICE_FAULTS_PER_ACCESS,
  MIRROR_IGNORE_READ_ONLY,
  type MirrorAccessKind,
  type MirrorAtomicOp,
  type MirrorLookup,
} from './device-mirror.js';
