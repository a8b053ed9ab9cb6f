/**
 * Device drivers (src/drivers): the registry every driver registers in (`k.createDevice(driver,
 * options)`), the shared device fault loop with its retry policies, and the drivers.
 */
export {
  registerDriver,
  listDrivers,
  getDriver,
  driverHelp,
  createDevice,
  DriverError,
  type Device,
  type AttachedMirror,
  type DriverDefinition,
  type DeviceAccessKind,
  type DeviceAtomicOp,
} from './registry.js';
export type { DriverOptionSpec, DriverOptionSchema } from './options.js';
export {
  deviceFaultLoop,
  FaultLoopStats,
  FAULT_RETRY_POLICIES,
  type FaultRetryPolicy,
  type FaultRetryOptions,
  type FaultWalk,
  type FaultCommit,
} from './fault-retry.js';
export * from './odp/index.js';
export * from './gpusvm/index.js';
export * from './legacy/index.js';
export * from './mirror/index.js';
export * from './dmirror/index.js';
