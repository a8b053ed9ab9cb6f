/**
 * One interface for every device driver (DESIGN.md "Drivers API"): a driver registers under a
 * name; `k.createDevice(driver, options)` makes a device; `device.attach(p, options)` mirrors a
 * process (an ODP memory region, a GPU VM bind, a legacy mirror) and gives an object with
 * `access(va, 'read' | 'write' | 'atomic', ...)` and `detach()`. Scenarios, the showcase and
 * users swap drivers by name. Driver-specific operations (prefetch, migrate to VRAM, evict,
 * implicit children) are methods of the driver's own objects.
 *
 * `Kernel.prototype.createDevice` is installed here (imports point down: src/mm does not know
 * the drivers; importing src/drivers adds the method, as the HMM test device adds
 * `createDmirror`).
 */
import { Kernel } from '../mm/kernel.js';
import type { Process } from '../mm/process.js';
import {
  DriverError,
  describeDriverOptions,
  parseDriverOptions,
  type DriverOptionSchema,
} from './options.js';

export { DriverError } from './options.js';

/** What a device access does: a load, a store, or an atomic read-modify-write. */
export type DeviceAccessKind = 'read' | 'write' | 'atomic';

/** The argument of an atomic access: add to the 64-bit word at `va` (fetch-and-add). */
export interface DeviceAtomicOp {
  /** Fetch-and-add: the amount added (modulo 2^64); takes precedence over compare/swap. */
  add?: number | bigint;
  /** Compare-and-swap: store `swap` when the word equals `compare`. */
  compare?: number | bigint;
  /** Compare-and-swap: the value stored when the word equals `compare`. */
  swap?: number | bigint;
}

/**
 * What `device.attach(p)` gives: the device's mirror of one process. Drivers return a
 * DeviceMirror subclass (src/drivers/mirror), so the checkers see every device mapping.
 */
export interface AttachedMirror {
  /** Names the mirror in traces and violations. */
  readonly name: string;
  /**
   * A device access through the device's translation: `read` with a byte count gives the bytes;
   * `write` with the bytes gives 0; `atomic` with `{ add }` gives the old 64-bit value as a
   * bigint. A failed access gives -errno (the device error the driver reports: a QP in error,
   * a cancelled GPU fault). May sleep.
   */
  access(va: number, kind: DeviceAccessKind, arg?: number | Uint8Array | DeviceAtomicOp): Promise<unknown>;
  /** Stops mirroring: no device access and no callback after it returns. May sleep. */
  detach(): Promise<void>;
}

/** A device made by a driver. */
export interface Device {
  /** Names the device in traces and violations. */
  readonly name: string;
  /** The registered driver name. */
  readonly driver: string;
  /** The kernel the device is attached to. */
  readonly kernel: Kernel;
  /** Mirrors `p` on this device (options per driver; see `mirrorlab list --drivers`). May sleep. */
  attach(p: Process, options?: object): Promise<AttachedMirror>;
}

/** A driver's registration: its name, what it is, its options, and how to make a device. */
export interface DriverDefinition {
  /** The unique name the driver registers under (`k.createDevice(name)`). */
  name: string;
  /** One line for listings. */
  summary: string;
  /** 'modern' (today's upstream design), 'legacy' (a design the consolidation removed), 'test'. */
  era: 'modern' | 'legacy' | 'test';
  /** Options of createDevice (the device name `name` is accepted by every driver). */
  options: DriverOptionSchema;
  /** Options of attach. */
  attachOptions: DriverOptionSchema;
  /** Makes a device from validated options (defaults filled in). */
  create(k: Kernel, name: string, options: Record<string, unknown>): Device | Promise<Device>;
}

const drivers = new Map<string, DriverDefinition>();
/** Per run: devices created per kernel and driver, for default names (Simulation.runMap). */
const DEVICE_COUNT = Symbol('devices per driver');

/** Adds a driver (names are unique). */
export function registerDriver(d: DriverDefinition): void {
  if (drivers.has(d.name)) throw new DriverError(`driver '${d.name}' is registered twice`);
  if ('name' in d.options)
    throw new DriverError(`driver '${d.name}': the option 'name' is reserved (every device has one)`);
  drivers.set(d.name, d);
}

/** Every registered driver, in registration order. */
export function listDrivers(): DriverDefinition[] {
  return [...drivers.values()];
}

/** The driver named `name`, or a DriverError listing those that exist. */
export function getDriver(name: string): DriverDefinition {
  const d = typeof name === 'string' ? drivers.get(name) : undefined;
  if (d === undefined) {
    throw new DriverError(
      `unknown driver ${typeof name === 'string' ? `'${name}'` : String(name)}; drivers: ${[...drivers.keys()].join(', ')}`,
    );
  }
  return d;
}

/** The options of a driver, one line each (for listings and help). */
export function driverHelp(name: string): string[] {
  const d = getDriver(name);
  return [
    `${d.name} (${d.era}): ${d.summary}`,
    '  createDevice options:',
    ...describeDriverOptions({ name: { type: 'string', doc: 'the device name' }, ...d.options }).map(
      (l) => `    ${l}`,
    ),
    '  attach options:',
    ...describeDriverOptions(d.attachOptions).map((l) => `    ${l}`),
  ];
}

/**
 * Makes a device of `driver` on `k`. Throws DriverError for an unknown driver or a bad option
 * (the message lists the drivers or the options that exist). Callable from setup or from a
 * simulated thread; never sleeps unless the driver's create does.
 */
export async function createDevice(k: Kernel, driver: string, options: object = {}): Promise<Device> {
  const d = getDriver(driver);
  const where = `createDevice('${d.name}')`;
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options)))
    throw new DriverError(`${where}: options must be an object, got ${String(options)}`);
  const { name, ...rest } = (options ?? {}) as { name?: unknown };
  if (name !== undefined && (typeof name !== 'string' || name.length === 0))
    throw new DriverError(`${where}: option 'name' must be a non-empty string, got ${String(name)}`);
  const parsed = parseDriverOptions<Record<string, unknown>>(where, d.options, rest);
  const deviceCount = k.sim.runMap<Kernel, Map<string, number>>(DEVICE_COUNT);
  let counts = deviceCount.get(k);
  if (counts === undefined) deviceCount.set(k, (counts = new Map()));
  const n = counts.get(d.name) ?? 0;
  counts.set(d.name, n + 1);
  return d.create(k, name ?? `${d.name}${n}`, parsed);
}

/** Validates attach options for a driver's device (used by the drivers' attach). */
export function parseAttachOptions<T extends object>(device: Device, given: unknown): T {
  const d = getDriver(device.driver);
  return parseDriverOptions<T>(`${device.name}.attach()`, d.attachOptions, given);
}

declare module '../mm/kernel.js' {
  interface Kernel {
    /**
     * A device of the registered driver `driver` (see src/drivers/registry.ts): e.g.
     * `await k.createDevice('odp', { name: 'mlx0' })`. Throws DriverError for an unknown
     * driver or a bad option.
     */
    createDevice(driver: string, options?: object): Promise<Device>;
  }
}

Kernel.prototype.createDevice = function (this: Kernel, driver: string, options?: object): Promise<Device> {
  return createDevice(this, driver, options);
};
