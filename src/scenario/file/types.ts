/**
 * The scenario file format: one typed definition. The JSON Schema in schema.ts is written against
 * these types (ajv's JSONSchemaType checks at compile time that schema and types agree), so a
 * document that validates is a value of `ScenarioFile`.
 *
 * Addresses are never raw numbers: an operation names a mapping (`at`) and a page offset in it
 * (`page`, default 0) and a page count (`pages`, default 1).
 */

/** Driver names a device may use (the drivers registry of src/drivers). */
export const DRIVER_NAMES = [
  'dmirror',
  'odp',
  'gpusvm',
  'odp2019',
  'hmm-mirror-2019',
  'userptr-list',
] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

/** Memory protections of a mapping (PROT_*). `none` alone is PROT_NONE. */
export const PROT_NAMES = ['none', 'read', 'write', 'exec'] as const;
export type ProtName = (typeof PROT_NAMES)[number];

/** mmap flags (MAP_*). One of private or shared is required. */
export const MAP_FLAG_NAMES = ['private', 'shared', 'anonymous', 'populate', 'noreserve', 'locked'] as const;
export type MapFlagName = (typeof MAP_FLAG_NAMES)[number];

/** madvise advice (MADV_*). */
export const ADVICE_NAMES = ['dontneed', 'free', 'hugepage', 'nohugepage', 'pageout', 'cold'] as const;
export type AdviceName = (typeof ADVICE_NAMES)[number];

/** Checkers a scenario can ask for. */
export const CHECKER_NAMES = [
  'coherence',
  'page-lifetime',
  'lost-writes',
  'liveness',
  'kernel-assertions',
  'read-values',
] as const;
export type CheckerName = (typeof CHECKER_NAMES)[number];

/** Exploration strategies. `swarm` is the runtime's default mix of random and pct. */
export const STRATEGY_NAMES = ['random', 'pct', 'dfs', 'dpor', 'swarm'] as const;
export type StrategyFileName = (typeof STRATEGY_NAMES)[number];

/** Operations that take no argument, written as a bare word (`- fork`). */
export const BARE_OPS = ['fork', 'exit', 'reclaim', 'oom-kill', 'yield'] as const;
export type BareOp = (typeof BARE_OPS)[number];

/** Where in a mapping: the mapping's name, a page offset and a page count. */
export interface Place {
  at: string;
  page?: number;
  pages?: number;
  /** Acts on this process instead of the thread's own (a declared process or a fork child). */
  process?: string;
}

export interface MmapOp {
  /** The name later operations use for the new mapping. */
  name: string;
  pages: number;
  prot: ProtName[];
  flags: MapFlagName[];
  /** A file (declared under `files:`) instead of anonymous memory. */
  file?: string;
  process?: string;
}

export interface WriteOp extends Place {
  /** The value written to the first byte of each page. */
  byte: number;
}

export interface ReadOp extends Place {
  /** When given, every page's first byte must read as this value, else a violation. */
  byte?: number;
}

export interface ForkOp {
  /** Name of the child, so later operations can act on it (`process: child`). */
  child?: string;
  process?: string;
}

export interface MprotectOp extends Place {
  prot: ProtName[];
}

export interface MadviseOp extends Place {
  advice: AdviceName;
}

export interface MremapOp extends Place {
  /** New size in pages of the whole mapping (page must be 0). */
  newPages: number;
  /** MREMAP_MAYMOVE; default true. */
  mayMove?: boolean;
}

export interface ProcessRefOp {
  process?: string;
}

export interface ExitOp extends ProcessRefOp {
  code?: number;
}

export interface ReclaimOp {
  /** Pages to reclaim; default every page of memory. */
  pages?: number;
}

export interface MigrateOp extends Place {
  node: number;
}

export interface SleepOp {
  ns: number;
}

/** A thread operation: a bare word or an object with exactly one key. */
export interface OpObject {
  mmap?: MmapOp;
  write?: WriteOp;
  read?: ReadOp;
  fork?: ForkOp;
  munmap?: Place;
  mprotect?: MprotectOp;
  madvise?: MadviseOp;
  mremap?: MremapOp;
  exit?: ExitOp;
  reclaim?: ReclaimOp;
  migrate?: MigrateOp;
  'oom-kill'?: ProcessRefOp;
  sleep?: SleepOp;
}
export type Op = BareOp | OpObject;

export interface MappingDef {
  name: string;
  pages: number;
  prot: ProtName[];
  flags: MapFlagName[];
  file?: string;
}

export interface ThreadDef {
  name: string;
  ops: Op[];
}

export interface ProcessDef {
  name: string;
  mappings?: MappingDef[];
  threads?: ThreadDef[];
}

export interface FileDef {
  name: string;
  pages: number;
}

export interface KernelDef {
  memoryPages?: number;
  swapPages?: number;
  hugetlbPages?: number;
  nodes?: number;
}

export interface AttachMapping {
  process: string;
  mapping: string;
  access?: 'r' | 'rw';
}

export interface DeviceDef {
  name: string;
  driver: DriverName;
  /** A process name (a whole-address-space bind) or a process and mapping (a memory region). */
  attach: string | AttachMapping;
  options?: Record<string, unknown>;
  /**
   * Options of device.attach beyond what `attach` gives (the driver's attach options, e.g. odp's
   * `implicit: true` for an implicit MR over the whole address space); `start` and `length` come
   * from the mapping.
   */
  attachOptions?: Record<string, unknown>;
}

export interface DeviceAtomic extends Place {
  add: number;
}

/**
 * Device steps that take no argument, written as a bare word: `attach` mirrors the process now
 * (device.attach with the device's declared `attach` target; a device with an `attach` step in any
 * of its access threads is not attached at start), `detach` stops mirroring (mirror.detach():
 * hmm_mirror_unregister, ib_umem_odp_release, the GPU VM's unbind).
 */
export const DEVICE_BARE_OPS = ['attach', 'detach'] as const;
export type DeviceBareOp = (typeof DEVICE_BARE_OPS)[number];

export interface DeviceOpObject {
  read?: ReadOp;
  write?: WriteOp;
  atomic?: DeviceAtomic;
  sleep?: SleepOp;
}

/** A device step: a bare word (`attach`, `detach`) or an object with exactly one key. */
export type DeviceOp = DeviceBareOp | DeviceOpObject;

export interface AccessDef {
  device: string;
  /** Thread name; default `<device>:<index>`. */
  name?: string;
  ops: DeviceOp[];
}

export interface ExploreDef {
  strategy?: StrategyFileName;
  schedules?: number;
  seed?: number;
  depth?: number;
  preemptionBound?: number;
  maxSteps?: number;
}

/** A scenario file. `expect` is `none` or the violation kind a correct exploration must find. */
export interface ScenarioFile {
  name?: string;
  description: string;
  summary?: string;
  kernel?: KernelDef;
  files?: FileDef[];
  processes: ProcessDef[];
  devices?: DeviceDef[];
  accesses?: AccessDef[];
  checkers?: CheckerName[];
  expect?: string;
  explore?: ExploreDef;
  /**
   * Behaviour switches of every run (src/sim/switches.ts: fixes of the legacy designs, planted
   * mistakes of the core), by registered name; recorded in each run's replay token.
   */
  switches?: Record<string, boolean>;
}
