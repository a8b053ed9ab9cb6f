/**
 * The small adapter between scenario files and the device driver registry (src/drivers:
 * `k.createDevice(driver, options)`), which is built separately. When the registry is absent the
 * loader refuses device scenarios with a clear "driver X is not available in this build" error.
 *
 * The registry is found in either of two ways: `Kernel.prototype.createDevice` exists (the drivers
 * module installed it), or a factory was installed here with {@link setDeviceFactory}.
 */
import { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import type { DriverName } from './types.js';
import { listDrivers } from '../../drivers/registry.js';

/** How a device accesses a page: the forms of DESIGN.md's drivers API. */
export type DeviceAccessKind = 'read' | 'write' | 'atomic';

/** A device's view of one attached address space or memory region. */
export interface DeviceAttachment {
  access(va: number, kind: 'read', n: number): Promise<Uint8Array | number>;
  access(va: number, kind: 'write', bytes: Uint8Array): Promise<number>;
  access(va: number, kind: 'atomic', op: { add: number }): Promise<unknown>;
  detach?(): Promise<unknown>;
}

/** A device as the registry returns it. */
export interface DeviceHandle {
  attach(
    p: Process,
    options?: { start?: number; length?: number; access?: 'r' | 'rw'; [k: string]: unknown },
  ): Promise<DeviceAttachment>;
}

export type DeviceFactory = (
  k: Kernel,
  driver: DriverName,
  options: Record<string, unknown>,
) => Promise<DeviceHandle>;

let factory: DeviceFactory | null = null;

/**
 * Installs a device factory that answers for every driver name, in place of Kernel.createDevice and
 * the driver registry (tests use it to stand in fake devices); null restores the registry.
 */
export function setDeviceFactory(f: DeviceFactory | null): void {
  factory = f;
}

interface KernelWithDevices {
  createDevice?: (driver: string, options: Record<string, unknown>) => Promise<DeviceHandle>;
}

/** The factory in effect, or null when this build has no driver registry. */
export function deviceFactory(): DeviceFactory | null {
  if (factory !== null) return factory;
  const proto = Kernel.prototype as unknown as KernelWithDevices;
  if (typeof proto.createDevice === 'function') {
    return (k, driver, options) =>
      (k as unknown as Required<KernelWithDevices>).createDevice(driver, options);
  }
  return null;
}

/**
 * Whether this build registers the driver `name` (a factory installed with setDeviceFactory
 * answers for every name).
 */
export function driverAvailable(name: string): boolean {
  if (factory !== null) return true;
  return listDrivers().some((d) => d.name === name);
}
