/**
 * Turns a validated scenario file into the setup function of a `Scenario`: a Kernel with the file's
 * configuration, its processes, an `init` thread that maps every declared mapping, creates the
 * devices and attaches those that no access thread attaches with an `attach` step, and then starts
 * the threads, each of which executes its operations (a device thread may `attach` and `detach`).
 *
 * Operations act through the same system-call forms a user program uses (Process.mmap, write, read,
 * fork, ...). A call that fails with -errno is not a violation (racing an munmap may legitimately
 * segfault); it is counted. A `read` with an expected byte that reads another value is a
 * violation of kind `unexpected-read`.
 */
import { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { migrateRange } from '../../mm/migrate.js';
import {
  MADV_COLD,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_MAYMOVE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.js';
import type { MemFile } from '../../mm/file.js';
import type { SetupFn, Simulation } from '../../sim/simulation.js';
import { deviceFactory, type DeviceAttachment, type DeviceHandle } from './devices.js';
import { opParts } from './validate.js';
import type { AdviceName, DeviceOp, MapFlagName, Op, Place, ProtName, ScenarioFile } from './types.js';

/** Counters of one run of a file scenario (read by `mirrorlab run`). */
export interface FileRunCounters {
  ops: number;
  /** System calls that returned -errno, by errno value. */
  errors: Record<string, number>;
  /** Operations skipped because their mapping or process did not exist yet (or any more). */
  skipped: number;
  deviceAccesses: number;
  /** CPU page-table entries changed (Kernel.hooks.onPteChange). */
  pteChanges: number;
}

/** Per run (Simulation.runLocal): the file scenario's counters and its kernel. */
const COUNTERS = Symbol('file scenario counters');
const KERNEL = Symbol('file scenario kernel');

/** The counters of a run of a file scenario in `sim`, if it ran one. */
export function fileRunCounters(sim: Simulation): FileRunCounters | undefined {
  return sim.runLocal<FileRunCounters>(COUNTERS);
}

/** The kernel a file scenario built in `sim`, for observers (statistics providers). */
export function fileScenarioKernel(sim: Simulation): Kernel | undefined {
  return sim.runLocal<Kernel>(KERNEL);
}

const PROT: Record<ProtName, number> = {
  none: PROT_NONE,
  read: PROT_READ,
  write: PROT_WRITE,
  exec: PROT_EXEC,
};
const FLAGS: Record<MapFlagName, number> = {
  private: MAP_PRIVATE,
  shared: MAP_SHARED,
  anonymous: MAP_ANONYMOUS,
  populate: MAP_POPULATE,
  noreserve: MAP_NORESERVE,
  locked: MAP_LOCKED,
};
const ADVICE: Record<AdviceName, number> = {
  dontneed: MADV_DONTNEED,
  free: MADV_FREE,
  hugepage: MADV_HUGEPAGE,
  nohugepage: MADV_NOHUGEPAGE,
  pageout: MADV_PAGEOUT,
  cold: MADV_COLD,
};

const bits = <T extends string>(table: Record<T, number>, names: readonly T[]): number =>
  names.reduce((acc, n) => acc | table[n], 0);

/** Where each named mapping of a process currently is. */
type AddressTable = Map<string, { addr: number; pages: number }>;

class World {
  readonly procs = new Map<string, Process>();
  readonly tables = new Map<Process, AddressTable>();
  readonly files = new Map<string, MemFile>();
  readonly attachments = new Map<string, { att: DeviceAttachment; proc: Process }>();
  readonly handles = new Map<string, DeviceHandle>();
  readonly ps: number;
  /** The `read-values` checker: on unless the file lists checkers without it. */
  readonly checkReads: boolean;

  constructor(
    readonly sim: Simulation,
    readonly k: Kernel,
    readonly doc: ScenarioFile,
    readonly c: FileRunCounters,
  ) {
    this.ps = k.pageSize;
    this.checkReads = doc.checkers === undefined || doc.checkers.includes('read-values');
  }

  table(p: Process): AddressTable {
    let t = this.tables.get(p);
    if (t === undefined) this.tables.set(p, (t = new Map()));
    return t;
  }

  fail(ret: number): void {
    this.c.errors[String(ret)] = (this.c.errors[String(ret)] ?? 0) + 1;
  }

  /** The address range of a place, or null (counted as skipped) when its mapping is not there. */
  range(p: Process, place: Place): { va: number; pages: number } | null {
    const m = this.table(p).get(place.at);
    if (m === undefined) {
      this.c.skipped++;
      return null;
    }
    return { va: m.addr + (place.page ?? 0) * this.ps, pages: place.pages ?? 1 };
  }

  async mmap(
    p: Process,
    name: string,
    pages: number,
    prot: ProtName[],
    flags: MapFlagName[],
    file?: string,
  ): Promise<void> {
    const ret = await p.mmap({
      length: pages * this.ps,
      prot: bits(PROT, prot),
      flags: bits(FLAGS, flags),
      file: file !== undefined ? this.files.get(file) : undefined,
    });
    if (ret < 0) this.fail(ret);
    else this.table(p).set(name, { addr: ret, pages });
  }

  checkRead(got: Uint8Array | number, expected: number | undefined, what: string): void {
    if (expected === undefined || typeof got === 'number' || !this.checkReads) {
      if (typeof got === 'number') this.fail(got);
      return;
    }
    if (got[0] !== expected) {
      this.sim.report('unexpected-read', `${what} read ${got[0]}, expected ${expected}`, {
        key: `unexpected read ${what.replace(/0x[0-9a-f]+/g, '')}`,
      });
    }
  }

  async runOp(self: Process, op: Op): Promise<void> {
    const [kind, arg = {}] = opParts(op);
    const a = arg as Record<string, unknown>;
    const p = typeof a.process === 'string' ? this.procs.get(a.process) : self;
    this.c.ops++;
    if (p === undefined) {
      this.c.skipped++;
      return;
    }
    const ps = this.ps;
    switch (kind) {
      case 'mmap':
        return this.mmap(
          p,
          a.name as string,
          a.pages as number,
          a.prot as ProtName[],
          a.flags as MapFlagName[],
          a.file as string | undefined,
        );
      case 'write': {
        const r = this.range(p, a as unknown as Place);
        if (r === null) return;
        for (let i = 0; i < r.pages; i++) {
          const ret = await p.write(r.va + i * ps, Uint8Array.of(a.byte as number));
          if (ret < 0) this.fail(ret);
        }
        return;
      }
      case 'read': {
        const r = this.range(p, a as unknown as Place);
        if (r === null) return;
        for (let i = 0; i < r.pages; i++) {
          const va = r.va + i * ps;
          const got = await p.read(va, 1);
          this.checkRead(
            got,
            a.byte as number | undefined,
            `CPU read of ${String(a.at)} page ${((a.page as number) ?? 0) + i} in ${p.name}[${p.pid}]`,
          );
        }
        return;
      }
      case 'fork': {
        const child = await p.forkOrErrno();
        if (typeof child === 'number') return this.fail(child);
        this.tables.set(child, new Map(this.table(p)));
        if (typeof a.child === 'string') this.procs.set(a.child, child);
        return;
      }
      case 'munmap':
      case 'mprotect':
      case 'madvise':
      case 'migrate': {
        const r = this.range(p, a as unknown as Place);
        if (r === null) return;
        const len = r.pages * ps;
        let ret: number;
        if (kind === 'munmap') ret = await p.munmap(r.va, len);
        else if (kind === 'mprotect') ret = await p.mprotect(r.va, len, bits(PROT, a.prot as ProtName[]));
        else if (kind === 'madvise') ret = await p.madvise(r.va, len, ADVICE[a.advice as AdviceName]);
        else ret = await migrateRange(p, r.va, r.va + len, a.node as number);
        if (ret < 0) this.fail(ret);
        return;
      }
      case 'mremap': {
        const m = this.table(p).get(a.at as string);
        if (m === undefined) {
          this.c.skipped++;
          return;
        }
        const flags = a.mayMove === false ? 0 : MREMAP_MAYMOVE;
        const ret = await p.mremap(m.addr, m.pages * ps, (a.newPages as number) * ps, flags);
        if (ret < 0) this.fail(ret);
        else this.table(p).set(a.at as string, { addr: ret, pages: a.newPages as number });
        return;
      }
      case 'exit': {
        const ret = await p.exit((a.code as number | undefined) ?? 0);
        if (ret < 0) this.fail(ret);
        return;
      }
      case 'oom-kill': {
        const ret = await this.k.oomKill(p);
        if (ret < 0) this.fail(ret);
        return;
      }
      case 'reclaim':
        await this.k.reclaim((a.pages as number | undefined) ?? this.k.options.memoryPages);
        return;
      case 'sleep':
        return this.sim.sleep(a.ns as number, 'scenario sleep');
      case 'yield':
        return this.sim.yield();
      default:
        throw new Error(`scenario op '${kind}' has no implementation`);
    }
  }

  /**
   * A device step. `attach` mirrors the device's declared target now (skipped while attached, or
   * when its mapping is not there); `detach` stops mirroring (skipped when not attached); the
   * accesses of a device that is not attached are skipped.
   */
  async runDeviceOp(device: string, op: DeviceOp): Promise<void> {
    const [kind, arg] = opParts(op as Op);
    const a = arg ?? {};
    this.c.ops++;
    if (kind === 'sleep') return this.sim.sleep(a.ns as number, 'device sleep');
    if (kind === 'attach') {
      if (this.attachments.has(device)) this.c.skipped++;
      else await this.attachDevice(device);
      return;
    }
    const dev = this.attachments.get(device);
    if (dev === undefined) {
      this.c.skipped++;
      return;
    }
    if (kind === 'detach') {
      this.attachments.delete(device);
      if (dev.att.detach === undefined) throw new Error(`device '${device}' has no detach`);
      await dev.att.detach();
      return;
    }
    const r = this.range(dev.proc, a as unknown as Place);
    if (r === null) return;
    for (let i = 0; i < r.pages; i++) {
      const va = r.va + i * this.ps;
      this.c.deviceAccesses++;
      if (kind === 'read') {
        const got = await dev.att.access(va, 'read', 1);
        this.checkRead(
          got,
          a.byte as number | undefined,
          `device ${device} read of ${String(a.at)} page ${((a.page as number) ?? 0) + i}`,
        );
      } else if (kind === 'write') {
        const ret = await dev.att.access(va, 'write', Uint8Array.of(a.byte as number));
        if (typeof ret === 'number' && ret < 0) this.fail(ret);
      } else {
        const ret = await dev.att.access(va, 'atomic', { add: a.add as number });
        if (typeof ret === 'number' && ret < 0) this.fail(ret);
      }
    }
  }

  /** device.attach of the file's device `name` to its declared target (skipped without its mapping). */
  async attachDevice(name: string): Promise<void> {
    const d = this.doc.devices!.find((x) => x.name === name)!;
    const handle = this.handles.get(name)!;
    const a = typeof d.attach === 'string' ? { process: d.attach } : d.attach;
    const proc = this.procs.get(a.process)!;
    let att: DeviceAttachment;
    if ('mapping' in a) {
      const m = this.table(proc).get(a.mapping);
      if (m === undefined) {
        this.c.skipped++;
        return;
      }
      // `access` only when the file names it: not every driver's attach takes it (a
      // legacy userptr is a plain range).
      att = await handle.attach(proc, {
        ...(d.attachOptions ?? {}),
        start: m.addr,
        length: m.pages * this.ps,
        ...(a.access !== undefined ? { access: a.access } : {}),
      });
    } else {
      att = await (d.attachOptions !== undefined
        ? handle.attach(proc, d.attachOptions)
        : handle.attach(proc));
    }
    this.attachments.set(name, { att, proc });
  }

  /** The `init` thread: files, declared mappings, devices, then every worker thread. */
  async init(): Promise<void> {
    const { doc, sim, k } = this;
    for (const f of doc.files ?? []) this.files.set(f.name, k.createFile(f.name, f.pages * this.ps));
    for (const pd of doc.processes) {
      const p = this.procs.get(pd.name)!;
      for (const m of pd.mappings ?? []) await this.mmap(p, m.name, m.pages, m.prot, m.flags, m.file);
    }
    const devices = doc.devices ?? [];
    if (devices.length > 0) {
      const make = deviceFactory();
      if (make === null) throw new Error(`driver '${devices[0].driver}' is not available in this build`);
      // A device with an `attach` step is attached by that step, not here.
      const byStep = new Set(
        (doc.accesses ?? []).filter((acc) => acc.ops.includes('attach')).map((acc) => acc.device),
      );
      for (const d of devices) {
        this.handles.set(d.name, await make(k, d.driver, { name: d.name, ...(d.options ?? {}) }));
        if (!byStep.has(d.name)) await this.attachDevice(d.name);
      }
    }
    for (const pd of doc.processes) {
      const p = this.procs.get(pd.name)!;
      for (const t of pd.threads ?? []) {
        sim.spawn(t.name, async () => {
          for (const op of t.ops) await this.runOp(p, op);
        });
      }
    }
    (doc.accesses ?? []).forEach((acc, i) => {
      sim.spawn(acc.name ?? `${acc.device}:${i}`, async () => {
        for (const op of acc.ops) await this.runDeviceOp(acc.device, op);
      });
    });
  }
}

/** The setup function of a validated scenario file. */
export function buildSetup(doc: ScenarioFile): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, {
      memoryPages: doc.kernel?.memoryPages ?? 1024,
      swapPages: doc.kernel?.swapPages ?? 0,
      hugetlbPages: doc.kernel?.hugetlbPages ?? 0,
      nodes: doc.kernel?.nodes ?? 1,
    });
    const c: FileRunCounters = { ops: 0, errors: {}, skipped: 0, deviceAccesses: 0, pteChanges: 0 };
    sim.setRunLocal(COUNTERS, c);
    sim.setRunLocal(KERNEL, k);
    k.hooks.onPteChange.push(() => {
      c.pteChanges++;
    });
    const w = new World(sim, k, doc, c);
    for (const pd of doc.processes) w.procs.set(pd.name, k.createProcess(pd.name));
    sim.spawn('init', () => w.init());
  };
}
