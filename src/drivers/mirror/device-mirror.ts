/**
 * The base every device driver shares (DESIGN.md "Drivers"): the device page table (VA page → page
 * and permission), the updates a driver makes to it (`mapPage`, `unmapRange`), a lookup, and the
 * device's own memory accesses (`access`), which go through that table and call the driver's
 * `fault` hook when it has no usable entry.
 *
 * The checkers of src/check watch every instance from its construction: each `mapPage`, each
 * access and every CPU page-table change of the mirrored mm is checked for coherence and page
 * lifetime, and every load (device or CPU) of the mirrored memory for lost writes. A user's own driver extends this class and is checked the same way without
 * registering anything.
 *
 * The device page table holds no page references (as test_hmm's XArray and a GPU's page tables
 * do not): correctness rests on the driver zapping entries from its invalidation callback.
 */
import type { Kernel } from '../../mm/kernel.js';
import type { Mm } from '../../mm/mm.js';
import type { Process } from '../../mm/process.js';
import type { Simulation } from '../../sim/simulation.js';
import { EFAULT, EINVAL } from '../../sim/errno.js';
import { defineSwitch } from '../../sim/switches.js';
import { TouchedMap } from '../../sim/touched-map.js';
import { checkDeviceAccess, checkDeviceMap, unwatchMirror, watchMirror } from '../../check/mirror-checker.js';
import type { CheckedMirror } from '../../check/mirror-checker.js';
import type { DeviceEntry } from '../../check/coherence.js';
import { livenessOf, reportFaultLivelock, type LivenessBounds } from '../../check/liveness.js';
import { lostWritesOf, type LostWritesChecker } from '../../check/lost-writes.js';

/** What a device access does: a load, a store, or an atomic read-modify-write. */
export type MirrorAccessKind = 'read' | 'write' | 'atomic';

/** The argument of an atomic access on the 64-bit little-endian word at `va`. */
export interface MirrorAtomicOp {
  /** Fetch-and-add. */
  add?: number | bigint;
  /** Compare-and-swap: store `swap` when the word equals `compare`. */
  compare?: number | bigint;
  /** Compare-and-swap: the value stored when the word equals `compare`. */
  swap?: number | bigint;
}

/** A device page-table entry as `lookup` reports it. */
export interface MirrorLookup {
  /** The page the entry maps. */
  pfn: number;
  /** Mapped writable. */
  write: boolean;
  /** Mapped for atomic access (after make_device_exclusive). */
  atomic: boolean;
}

/**
 * Planted mistake (off by default): the device's MMU ignores the write permission of its own page
 * table, so a store through a read-only entry lands in the page (a zero page, a COW-shared page)
 * instead of faulting. The entry itself is correct, so the coherence checker has nothing to object
 * to; only what the page then holds shows it (the lost-writes checker).
 */
export const MIRROR_IGNORE_READ_ONLY = defineSwitch(
  'mirror.ignoreReadOnly',
  false,
  'planted bug: device stores through read-only device page-table entries land instead of faulting',
);

declare module '../../sim/switches.js' {
  interface SwitchRegistry {
    /** Planted bug: device stores through read-only entries land (`MIRROR_IGNORE_READ_ONLY`). */
    'mirror.ignoreReadOnly': boolean;
  }
}

/** Device faults one page access may take before the base reports a livelock (default of checks.maxDeviceFaults). */
export const MAX_DEVICE_FAULTS_PER_ACCESS = 1000;

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * A device that mirrors one process's address space. Subclasses implement `fault` (populate the
 * device page table for `va`, normally with the hmm_range_fault loop of Documentation/mm/hmm.rst)
 * and may override `dataPfn` (where a mapped page's bytes live: a device-private page's backing
 * store).
 */
export abstract class DeviceMirror implements CheckedMirror {
  /** The simulation the device runs in (`kernel.sim`). */
  readonly sim: Simulation;
  /** The mirrored address space (`process.mm`): insert interval notifiers on it, take its mmap lock. */
  readonly mm: Mm;
  /**
   * The device page table: page-aligned VA → entry. Read by the checkers; change it through
   * mapPage / unmapRange. Every access is a dpor touch of the device (a TouchedMap), so driver
   * code that looks entries up itself is ordered against the zaps without a touch of its own.
   */
  readonly entries: Map<number, DeviceEntry>;
  /**
   * Set by retire(): the checkers no longer watch this device, its page table is gone, and a later
   * mapPage is a use after free.
   */
  private retired = false;
  private readonly liveness: LivenessBounds;
  /** The lost-writes checker of the run, or null when it is off (one test per copy on the hot path). */
  private readonly lostWrites: LostWritesChecker | null;

  /**
   * `kernel`, the device's `name` (used in violations), and the process whose address space it
   * mirrors. Starts the checkers on this device. Callable from setup or a thread; never sleeps.
   */
  constructor(
    /** The kernel whose memory the device mirrors. */
    readonly kernel: Kernel,
    /** The device's name, as violations and diagrams print it. */
    readonly name: string,
    /** The process whose address space the device mirrors. */
    readonly process: Process,
  ) {
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError('DeviceMirror: the device name must be a non-empty string');
    this.sim = kernel.sim;
    this.entries = new TouchedMap(this.sim, name);
    this.mm = process.mm as Mm;
    this.liveness = livenessOf(kernel);
    this.lostWrites = lostWritesOf(kernel);
    watchMirror(kernel, this);
  }

  /**
   * The driver's device fault path: make the device page table hold a usable entry for `va` (writable
   * when `write`), or fail. Returns 0 or -errno. Called by `access` with no locks held. May sleep.
   */
  protected abstract fault(va: number, write: boolean): Promise<number>;

  /** Where the bytes of mapped page `pfn` live (a device-private page's backing page). Atomic. */
  protected dataPfn(pfn: number): number {
    return pfn;
  }

  /**
   * A device page-table update: maps page-aligned `va` to `pfn`, writable with `write`, atomic with
   * `atomic`. Checked at once (coherence and page lifetime). The caller holds the driver's update
   * lock, under which it checked mmu_interval_read_retry (the checker cannot see driver locks). After
   * retire() it maps nothing and reports a use-after-free: the mirror was torn down under a fault.
   * Atomic (never sleeps).
   */
  mapPage(va: number, pfn: number, options: { write?: boolean; atomic?: boolean } = {}): void {
    this.dmCheckVa(va, 'mapPage');
    if (!Number.isSafeInteger(pfn) || pfn < 0)
      throw new RangeError(`${this.name}.mapPage: bad pfn ${String(pfn)}`);
    if (this.retired) {
      // The device page table went with the teardown: a fault that raced it is writing freed
      // memory, and nothing will ever zap the entry (no notifier listens any more).
      this.sim.report(
        'use-after-free',
        `${this.name} maps 0x${va.toString(16)} after its teardown: a device fault raced the detach`,
        { key: `${this.name} map after teardown` },
      );
      return;
    }
    const e: DeviceEntry = {
      pfn,
      write: options.write === true,
      atomic: options.atomic === true,
      step: this.sim.steps,
      thread: this.sim.current?.name ?? '-',
    };
    this.entries.set(va, e);
    this.sim.touch(this.name); // for dpor: a device page-table write
    if (this.sim.tracing)
      this.sim.traceEvent(
        'device_map',
        hex(va),
        `${this.name} → pfn ${pfn}${e.write ? ' rw' : ''}${e.atomic ? ' atomic' : ''}; mm ${this.mm.name}`,
      );
    checkDeviceMap(this.kernel, this, va, e);
  }

  /**
   * A device page-table zap (and device TLB flush) of [start, end), end exclusive. Returns the number of
   * entries removed. Atomic.
   */
  unmapRange(start: number, end: number): number {
    const ps = this.kernel.pageSize;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start)
      throw new RangeError(`${this.name}.unmapRange: bad range [${String(start)}, ${String(end)})`);
    // For dpor: a device page-table write (a read when there is nothing to zap).
    this.sim.touch(this.name, this.entries.size === 0);
    if (this.entries.size === 0) return 0;
    let n = 0;
    if ((end - start) / ps <= this.entries.size) {
      for (let va = start - (start % ps); va < end; va += ps) if (this.entries.delete(va)) n++;
    } else {
      for (const va of this.entries.keys())
        if (va >= start && va < end) {
          this.entries.delete(va);
          n++;
        }
    }
    if (n > 0 && this.sim.tracing)
      this.sim.traceEvent('device_unmap', `[${hex(start)}, ${hex(end)})`, this.name);
    return n;
  }

  /** The device page-table entry for `va` (any address inside the page), or undefined. Atomic. */
  lookup(va: number): MirrorLookup | undefined {
    const ps = this.kernel.pageSize;
    const e = this.entries.get(va - (va % ps));
    return e === undefined ? undefined : { pfn: e.pfn, write: e.write, atomic: e.atomic };
  }

  /**
   * A device memory access through the device page table, faulting through `fault` as needed:
   * `read` of `arg` bytes gives a Uint8Array; `write` of `arg` (bytes) gives 0; `atomic` on the 64-bit
   * word at `va` with `{ add }` or `{ compare, swap }` gives the old value as a bigint. A failed fault
   * gives its -errno; a bad argument gives -EINVAL. Each page is used at one scheduling point
   * ('device_access'), checked against the CPU translation there. No locks held. May sleep.
   */
  async access(
    va: number,
    kind: MirrorAccessKind,
    arg?: number | Uint8Array | MirrorAtomicOp,
  ): Promise<Uint8Array | bigint | number> {
    if (!Number.isSafeInteger(va) || va < 0) return -EINVAL;
    if (kind === 'read') {
      const n = arg;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return -EINVAL;
      const out = new Uint8Array(n);
      const ret = await this.dmCopy(va, out, false);
      return ret < 0 ? ret : out;
    }
    if (kind === 'write') {
      if (!(arg instanceof Uint8Array)) return -EINVAL;
      return this.dmCopy(va, arg, true);
    }
    if (kind === 'atomic') {
      if (arg === undefined || typeof arg !== 'object' || arg instanceof Uint8Array || va % 8 !== 0)
        return -EINVAL;
      return this.dmAtomic(va, arg);
    }
    return -EINVAL;
  }

  /**
   * For drivers that copy through their table themselves (test_hmm's do_read / do_write): the
   * access check of entry `e` at page `va`. Atomic.
   */
  protected checkEntry(va: number, e: DeviceEntry, write: boolean): void {
    if (!this.retired) checkDeviceAccess(this.kernel, this, va, e, write);
  }

  /**
   * For drivers that copy through their table themselves (test_hmm's do_read / do_write): tells the
   * lost-writes checker that the device copied `n` bytes between page-aligned `va` + `off` (bytes
   * of page `dataPfn`) and `buf[at..at + n)`, a store when `write`. Call it right after the copy, in
   * the same atomic step. Atomic.
   */
  protected noteCopy(
    va: number,
    off: number,
    dataPfn: number,
    buf: Uint8Array,
    at: number,
    n: number,
    write: boolean,
  ): void {
    if (this.lostWrites !== null && !this.retired)
      this.lostWrites.deviceCopy(this.mm, this.name, va, off, dataPfn, buf, at, n, write);
  }

  /**
   * Stops the checkers watching this device and empties its page table (the device is gone). The
   * driver calls it after its notifier was removed. Atomic.
   */
  protected retire(): void {
    this.sim.touch(this.name); // for dpor: a device page-table write
    this.entries.clear();
    if (!this.retired) unwatchMirror(this.kernel, this);
    this.retired = true;
  }

  /** The usable entry for page `pva`, faulting until there is one; -errno on failure. */
  private async dmEntry(pva: number, write: boolean, atomic: boolean): Promise<DeviceEntry | number> {
    const t0 = this.sim.now();
    const live = this.liveness;
    for (let faults = 0; ; faults++) {
      await this.sim.point('device_access', `${this.name} ${hex(pva)}`);
      const e = this.entries.get(pva);
      if (
        e !== undefined &&
        (!write || e.write || (atomic && e.atomic) || this.sim.switchOn(MIRROR_IGNORE_READ_ONLY))
      ) {
        if (!this.retired) checkDeviceAccess(this.kernel, this, pva, e, write);
        return e;
      }
      if (live.on) {
        const ms = (this.sim.now() - t0) / 1_000_000;
        if (faults >= live.maxDeviceFaults || ms > live.maxDeviceFaultMs)
          reportFaultLivelock(
            this.sim,
            this.name,
            hex(pva),
            faults >= live.maxDeviceFaults ? `${live.maxDeviceFaults} faults` : `${live.maxDeviceFaultMs} ms`,
            `${faults} faults in ${ms.toFixed(3)} ms of virtual time, ${write ? 'write' : 'read'} access`,
            'device access',
          );
      }
      const ret = await this.fault(pva, write);
      if (ret < 0) return ret;
      if (ret !== 0) return -EFAULT;
    }
  }

  private async dmCopy(va: number, buf: Uint8Array, write: boolean): Promise<number> {
    const ps = this.kernel.pageSize;
    const phys = this.kernel.phys;
    let done = 0;
    while (done < buf.length) {
      const a = va + done;
      const off = a % ps;
      const n = Math.min(ps - off, buf.length - done);
      const e = await this.dmEntry(a - off, write, false);
      if (typeof e === 'number') return e;
      const data = this.dataPfn(e.pfn);
      if (write) phys.writeBytes(data, off, buf, done, n);
      else phys.readBytes(data, off, buf, done, n);
      if (this.lostWrites !== null && !this.retired)
        this.lostWrites.deviceCopy(this.mm, this.name, a - off, off, data, buf, done, n, write);
      done += n;
    }
    return 0;
  }

  private async dmAtomic(va: number, op: MirrorAtomicOp): Promise<bigint | number> {
    const ps = this.kernel.pageSize;
    const e = await this.dmEntry(va - (va % ps), true, true);
    if (typeof e === 'number') return e;
    const data = this.dataPfn(e.pfn);
    const word = new Uint8Array(8);
    const pva = va - (va % ps);
    this.kernel.phys.readBytes(data, va % ps, word);
    this.noteCopy(pva, va % ps, data, word, 0, 8, false);
    const view = new DataView(word.buffer);
    const old = view.getBigUint64(0, true);
    let next = old;
    if (op.add !== undefined) next = BigInt.asUintN(64, old + BigInt(op.add));
    else if (op.compare !== undefined && op.swap !== undefined) {
      if (old === BigInt.asUintN(64, BigInt(op.compare))) next = BigInt.asUintN(64, BigInt(op.swap));
    } else return -EINVAL;
    if (next !== old) {
      view.setBigUint64(0, next, true);
      this.kernel.phys.writeBytes(data, va % ps, word);
      this.noteCopy(pva, va % ps, data, word, 0, 8, true);
    }
    return old;
  }

  private dmCheckVa(va: number, what: string): void {
    if (!Number.isSafeInteger(va) || va < 0 || va % this.kernel.pageSize !== 0)
      throw new RangeError(`${this.name}.${what}: address ${String(va)} is not page aligned`);
  }

  toString(): string {
    return this.name;
  }
}
