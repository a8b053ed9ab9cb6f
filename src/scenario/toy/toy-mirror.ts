/**
 * A small model device driver on the interval notifier API (the collision-retry pattern of
 * Documentation/mm/hmm.rst), the CPU
 * side it mirrors, and the stale-mapping checker, for the exploration tests.
 *
 * The "CPU page table" is a Map va → value. A CPU invalidation is
 * start → change the values of its pages → end. A driver keeps device entries (va → value)
 * in a Map guarded by its mutex; it fills them with the fault loop
 *   seq = readBegin(); read the CPU value; lock; if readRetry(seq) { unlock; retry }
 *   program the device entry; unlock
 * and its invalidate callback does lock; setSeq(curSeq); zap the range; unlock. The
 * two-pass variant splits that callback: lock; setSeq; start the device flush; unlock, then,
 * once every subscription had its first pass, wait for the flush; lock; zap; unlock.
 *
 * Planted mistakes (FoundationDB BUGGIFY style, off by default) change exactly one step.
 */
import { EAGAIN } from '../../sim/errno.js';
import type { Simulation } from '../../sim/simulation.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { TouchedMap } from '../../sim/touched-map.js';
import type { MmStruct } from '../../mm/mm-struct.js';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_UNMAP,
  mmuIntervalNotifierFind,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierSynchronize,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierRangeInit,
  mmuNotifierRelease,
  type MmuIntervalNotifier,
  type MmuIntervalNotifierFinish,
  type MmuIntervalNotifierOps,
  type MmuNotifierRange,
} from '../../notifier/index.js';

export const PAGE = 4096;

/** Violation kind of the checker. */
export const KIND_STALE = 'stale-mapping';

/** The planted driver mistakes. */
export interface DriverMistakes {
  /** The invalidate callback never calls setSeq. */
  noSetSeq?: boolean;
  /** setSeq is called after the driver lock was dropped. */
  setSeqOutsideLock?: boolean;
  /** readRetry is evaluated before taking the driver lock. */
  readRetryOutsideLock?: boolean;
  /** The device entry is programmed before readRetry is checked. */
  programBeforeRetry?: boolean;
  /**
   * The fault path takes the driver lock first and holds it across readBegin (one lock for
   * the whole fault): readBegin may sleep for an invalidation whose callback waits for that
   * lock. Lockdep's map reports the inversion even in runs where the deadlock did not happen.
   */
  lockAcrossReadBegin?: boolean;
  /**
   * With `twoPass`: one finish token embedded in the driver and returned by every first
   * pass, where each in-flight invalidation needs its own. Two overlapping invalidations
   * queue it twice (the kernel's list corruption), and the second overwrites the range the
   * first one's finish pass zaps.
   */
  sharedFinishToken?: boolean;
  /**
   * With `twoPass`: the first pass accepts a non-blockable range (OOM reaper) and leaves the
   * zap to the finish pass, which cannot fail and so takes the driver mutex: it may sleep
   * where the reaper must not (the victim may hold that lock while it waits for memory).
   * The correct driver refuses non-blockable ranges in its first pass, as xe does.
   */
  finishOnNonblock?: boolean;
  /**
   * Setup reads (pins) the pages and programs them, but subscribes only in between: the
   * collision check after the insert cannot see an invalidation that hit the pages before
   * the subscription existed. hfi1's TID setup had this race (fixed in 2023 with a covering
   * notifier inserted before the pages are pinned).
   */
  walkBeforeInsert?: boolean;
}

/** How a model driver is built, and what it gets wrong. */
export interface DriverOptions extends DriverMistakes {
  /**
   * Use the two-pass callbacks (invalidate_start / invalidate_finish, as xe does for
   * multi-GPU): the first pass takes the lock, sets the sequence and starts the device's
   * TLB flush; the finish pass waits for the flush and zaps the entries.
   */
  twoPass?: boolean;
}

/** The finish token of the two-pass model driver: the range its finish pass zaps. */
interface ModelFinish extends MmuIntervalNotifierFinish {
  start: number;
  end: number;
}

/** Retries of one fault before it is reported as not converging (a limit on everything). */
const MAX_FAULT_TRIES = 16;

/** What the checker sees of a device: its name and its device page table. */
export interface DeviceMirror {
  readonly name: string;
  readonly entries: ReadonlyMap<number, number>;
}

/** The value of a page once the address space is gone (exit_mmap zapped it). */
export const GONE = 0;

/**
 * The CPU side: page values, open invalidation windows, and the stale-mapping checker.
 * Installs the mm's exit_mmap: the notifier release, then every page zapped.
 */
/**
 * One signature for a device mapping a page the CPU changed, whether the check catches it inside
 * the invalidation window or after it: the same bug (a missed collision) seen at two moments.
 */
const STALE_MAP_KEY = 'device maps a page the CPU changed';

export class CpuWorld {
  private readonly values = new Map<number, number>();
  /** va → number of invalidations between "start returned" and "end called". */
  private readonly windows = new Map<number, number>();
  /** va → the step at which the CPU last changed it (the step a stale mapping conflicts with). */
  private readonly changedAt = new Map<number, number>();
  /** The drivers mirroring this world; change it through addDriver / removeDriver. */
  readonly drivers: DeviceMirror[] = [];
  private nextValue = 1000;

  /**
   * Registers a driver. Not a dpor object: a driver's table starts empty, and the walks that
   * find it or not see the same (each read of a table is its own touch, see ModelDriver.entries).
   */
  addDriver(d: DeviceMirror): void {
    this.drivers.push(d);
  }

  /** Unregisters a driver (whose teardown emptied its table first). */
  removeDriver(d: DeviceMirror): void {
    const i = this.drivers.indexOf(d);
    if (i >= 0) this.drivers.splice(i, 1);
  }

  /** The registered drivers, for a walk. */
  private registered(): readonly DeviceMirror[] {
    return this.drivers;
  }

  constructor(
    readonly sim: Simulation,
    readonly mm: MmStruct,
    npages: number,
  ) {
    for (let i = 0; i < npages; i++) this.values.set(i * PAGE, i + 1);
    // Named first, then stored (see the no-restricted-syntax rule in eslint.config.js).
    const exitMmap = async (m: MmStruct): Promise<void> => {
      await mmuNotifierRelease(m);
      for (const va of this.values.keys()) this.values.set(va, GONE);
      this.checkAll();
    };
    mm.exitMmap = exitMmap;
  }

  /** The CPU translation of `va` (what a fault would find). */
  read(va: number): number {
    const v = this.values.get(va);
    if (v === undefined) throw new Error(`CpuWorld: no page at 0x${va.toString(16)}`);
    return v;
  }

  /** One CPU invalidation of pages [first, first + npages): start, change each page, end. */
  async invalidate(first: number, npages: number, event: number = MMU_NOTIFY_CLEAR): Promise<void> {
    const range = mmuNotifierRangeInit(event, 0, this.mm, first * PAGE, (first + npages) * PAGE);
    await mmuNotifierInvalidateRangeStart(range);
    await this.changeAndEnd(range);
  }

  /**
   * The OOM reaper's form: under the mmap lock taken for read with a trylock, a
   * non-blockable start that may be refused (-EAGAIN), in which case the pages are left
   * alone and no end is called. Returns 0 or -EAGAIN (also when the trylock failed).
   */
  async invalidateNonblock(first: number, npages: number): Promise<number> {
    const mm = this.mm;
    if (!(await mm.mmapLock.downReadTrylock())) return -EAGAIN;
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, first * PAGE, (first + npages) * PAGE);
    const ret = await mmuNotifierInvalidateRangeStartNonblock(range);
    if (ret === 0) await this.changeAndEnd(range);
    mm.mmapLock.upRead();
    return ret;
  }

  private async changeAndEnd(range: MmuNotifierRange): Promise<void> {
    const sim = this.sim;
    for (let va = range.start; va < range.end; va += PAGE) this.openWindow(va, 1);
    for (let va = range.start; va < range.end; va += PAGE) {
      // Once start has returned, no device may map a page of the range.
      for (const d of this.registered()) {
        if (d.entries.has(va)) {
          sim.report(KIND_STALE, `${d.name} still maps 0x${va.toString(16)} while the CPU changes it`, {
            key: STALE_MAP_KEY,
            objects: [d.name, `0x${va.toString(16)}`],
          });
        }
      }
      // The write's own step: recorded when the point is reached, before other threads run.
      const written = sim.point('cpu_pte_write', `0x${va.toString(16)}`);
      const step = sim.steps;
      await written;
      this.values.set(va, this.nextValue++);
      this.changedAt.set(va, step);
    }
    for (let va = range.start; va < range.end; va += PAGE) this.openWindow(va, -1);
    await mmuNotifierInvalidateRangeEnd(range);
    this.checkAll();
  }

  /** Called by a driver when it programs a device entry. */
  checkProgram(d: DeviceMirror, va: number, value: number): void {
    const open = this.windowCount(va);
    if (open > 0) {
      this.sim.report(KIND_STALE, `${d.name} maps 0x${va.toString(16)} inside an open invalidation`, {
        key: STALE_MAP_KEY,
        objects: [d.name, `0x${va.toString(16)}`],
      });
    }
    if (value !== this.read(va)) {
      this.sim.report(
        KIND_STALE,
        `${d.name} maps 0x${va.toString(16)} to ${value} but the CPU has ${this.read(va)}`,
        {
          key: STALE_MAP_KEY,
          objects: [d.name, `0x${va.toString(16)}`],
          conflictStep: this.changedAt.get(va),
        },
      );
    }
  }

  /**
   * Opens (`delta` 1) or closes (-1) an invalidation window on page `va`. For dpor, a write of
   * the page's object (the one its CPU and device writes name): the checks read it from other
   * threads, outside any lock.
   */
  private openWindow(va: number, delta: number): void {
    this.sim.touch(`0x${va.toString(16)}`);
    this.windows.set(va, (this.windows.get(va) ?? 0) + delta);
  }

  /** Invalidation windows open on page `va` (a read of the page's object for dpor). */
  private windowCount(va: number): number {
    this.sim.touch(`0x${va.toString(16)}`, true);
    return this.windows.get(va) ?? 0;
  }

  /** No device entry outside an open invalidation may differ from the CPU. */
  checkAll(): void {
    for (const d of this.registered()) {
      for (const [va, value] of d.entries) {
        if (this.windowCount(va) === 0 && value !== this.read(va)) {
          this.sim.report(
            KIND_STALE,
            `${d.name} holds 0x${va.toString(16)} → ${value} but the CPU has ${this.read(va)}`,
            {
              key: 'device holds stale value',
              objects: [d.name, `0x${va.toString(16)}`],
              conflictStep: this.changedAt.get(va),
            },
          );
        }
      }
    }
  }
}

/** A device mirroring pages [firstPage, firstPage + npages) of the world's mm. */
export class ModelDriver {
  /**
   * Device page table: va → value. Guarded by `lock`; the CPU side's checks read it without,
   * so every access is a dpor touch of the device (a TouchedMap).
   */
  readonly entries: Map<number, number>;
  readonly lock: Mutex;
  sub: MmuIntervalNotifier | null = null;
  private readonly sim: Simulation;

  constructor(
    readonly world: CpuWorld,
    readonly name: string,
    readonly firstPage: number,
    readonly npages: number,
    readonly mistakes: DriverOptions = {},
    /** Pass the lock to the core so readRetry/setSeq assert it (off to let the race show). */
    readonly assertLocks = false,
  ) {
    this.sim = world.sim;
    this.entries = new TouchedMap(world.sim, `${name}.pt`);
    this.lock = new Mutex(world.sim, `${name}.lock`);
    world.sim.kalloc(this, `driver ${name}`);
    world.mm.mmgrab(); // the driver's pin on the mm structure, dropped by teardown
  }

  /**
   * Subscribes to the driver's pages, as the process's own ioctl would: inside an
   * mmget_not_zero reference. Returns false (the driver stays idle) once the mm is gone.
   * May sleep.
   */
  async init(): Promise<boolean> {
    const mm = this.world.mm;
    if (!mm.mmgetNotZero()) return false;
    this.world.addDriver(this);
    const ops: MmuIntervalNotifierOps = this.mistakes.twoPass
      ? {
          invalidateStart: (sub, range, curSeq) => this.invalidateStart(sub, range, curSeq),
          invalidateFinish: (finish) => this.invalidateFinish(finish as ModelFinish),
        }
      : { invalidate: (sub, range, curSeq) => this.invalidate(sub, range, curSeq) };
    const early = this.mistakes.walkBeforeInsert ? await this.pinAll() : null;
    this.sub = await mmuIntervalNotifierInsert(mm, this.firstPage * PAGE, this.npages * PAGE, ops, {
      name: this.name,
      userLock: this.assertLocks ? this.lock : undefined,
    });
    if (early !== null) {
      // The collision check opens only now, after the pages were read: it passes.
      const seq = await this.sub.readBegin();
      await this.lock.lock();
      if (!this.sub.readRetry(seq)) for (const [va, value] of early) await this.program(va, value);
      this.lock.unlock();
    }
    await mm.mmput();
    return true;
  }

  /** Reads every page of the driver's span, one scheduling point apart (get_user_pages). */
  private async pinAll(): Promise<Map<number, number>> {
    const values = new Map<number, number>();
    for (let page = this.firstPage; page < this.firstPage + this.npages; page++) {
      const va = page * PAGE;
      await this.sim.point('cpu_pte_read', `0x${va.toString(16)}`);
      values.set(va, this.world.read(va));
    }
    return values;
  }

  private async invalidate(
    sub: MmuIntervalNotifier,
    range: MmuNotifierRange,
    curSeq: number,
  ): Promise<boolean> {
    const sim = this.sim;
    sim.use(this, 'invalidate callback');
    if (range.blockable) await this.lock.lock();
    else if (!(await this.lock.trylock())) return false;
    sim.use(this, 'invalidate callback, locked');
    const m = this.mistakes;
    if (!m.noSetSeq && !m.setSeqOutsideLock) sub.setSeq(curSeq);
    for (const va of [...this.entries.keys()])
      if (va >= range.start && va < range.end && this.entries.delete(va) && sim.tracing)
        sim.traceEvent('device_unmap', `0x${va.toString(16)}`, this.name);
    this.lock.unlock();
    if (m.setSeqOutsideLock && !m.noSetSeq) {
      await sim.point('set_seq', this.name);
      sub.setSeq(curSeq);
    }
    return true;
  }

  /** The token a correct two-pass driver returns is per call; the mistaken one is shared. */
  private readonly sharedFinish: ModelFinish = { start: 0, end: 0 };

  /**
   * First pass: set the sequence under the lock and start the device's flush. Refuses a
   * non-blockable range: the finish pass has to sleep, and cannot refuse.
   */
  private async invalidateStart(
    sub: MmuIntervalNotifier,
    range: MmuNotifierRange,
    curSeq: number,
  ): Promise<boolean | ModelFinish> {
    const sim = this.sim;
    sim.use(this, 'invalidate_start callback');
    if (!range.blockable) {
      // The finish pass must wait for the device and take the lock: refuse up front.
      if (!this.mistakes.finishOnNonblock) return false;
      if (!(await this.lock.trylock())) return false;
    } else {
      await this.lock.lock();
    }
    sub.setSeq(curSeq);
    const finish = this.mistakes.sharedFinishToken ? this.sharedFinish : { start: 0, end: 0 };
    finish.start = range.start;
    finish.end = range.end;
    this.lock.unlock();
    return finish;
  }

  /** Finish pass: wait for the device's flush, then zap under the lock. */
  private async invalidateFinish(finish: ModelFinish): Promise<void> {
    const sim = this.sim;
    sim.use(this, 'invalidate_finish callback');
    await sim.point('device_tlb_flush_wait', this.name);
    await this.lock.lock();
    for (const va of [...this.entries.keys()])
      if (va >= finish.start && va < finish.end && this.entries.delete(va) && this.sim.tracing)
        this.sim.traceEvent('device_unmap', `0x${va.toString(16)}`, this.name);
    this.lock.unlock();
  }

  /**
   * Writes a device page-table entry: a scheduling point (another CPU may run while the
   * device is being programmed, the driver lock held), then the checker sees the entry.
   */
  private async program(va: number, value: number): Promise<void> {
    await this.sim.point('device_pte_write', `0x${va.toString(16)}`);
    if (this.sim.tracing)
      this.sim.traceEvent('device_map', `0x${va.toString(16)}`, `${this.name} → ${value}`);
    this.world.checkProgram(this, va, value);
    this.entries.set(va, value);
  }

  /**
   * A device fault on page `page`: the collision-retry loop, inside an mmget_not_zero
   * reference (never act on an mm whose last user is gone: its teardown may be running). Returns false when the mm is gone.
   * May sleep.
   */
  async fault(page: number): Promise<boolean> {
    const mm = this.world.mm;
    if (this.sub === null || !mm.mmgetNotZero()) return false;
    await this.faultLoop(page);
    await mm.mmput();
    return true;
  }

  private async faultLoop(page: number): Promise<void> {
    const sim = this.sim;
    const sub = this.sub!;
    const va = page * PAGE;
    const m = this.mistakes;
    for (let tries = 0; tries < MAX_FAULT_TRIES; tries++) {
      if (tries > 0) sim.mark('device fault retried');
      if (m.lockAcrossReadBegin) {
        await this.lock.lock();
        const seq = await sub.readBegin();
        const value = this.world.read(va);
        const retry = sub.readRetry(seq);
        if (!retry) await this.program(va, value);
        this.lock.unlock();
        if (retry) continue;
        return;
      }
      const seq = await sub.readBegin();
      await sim.point('cpu_pte_read', `0x${va.toString(16)}`);
      const value = this.world.read(va); // the speculative walk (hmm_range_fault)
      if (m.readRetryOutsideLock) {
        if (sub.readRetry(seq)) continue;
        await this.lock.lock();
        await this.program(va, value);
        this.lock.unlock();
        return;
      }
      await this.lock.lock();
      if (m.programBeforeRetry) await this.program(va, value);
      if (sub.readRetry(seq)) {
        this.lock.unlock();
        continue;
      }
      if (!m.programBeforeRetry) await this.program(va, value);
      this.lock.unlock();
      return;
    }
    sim.check(
      false,
      `${this.name}: fault on 0x${va.toString(16)} did not converge in ${MAX_FAULT_TRIES} tries`,
    );
  }

  /** Stops the device, drops its entries, unsubscribes, and frees the driver. May sleep. */
  async teardown(): Promise<void> {
    await this.lock.lock();
    this.entries.clear();
    this.lock.unlock();
    if (this.sub !== null) await this.sub.remove();
    this.world.removeDriver(this);
    this.world.mm.mmdrop();
    this.sim.kfree(this);
  }
}

/**
 * A GPU-style driver (nouveau's proposed conversion to mmu_interval_notifier_find/put): no pre-registered region. A fault
 * finds the subscription covering the page (mmuIntervalNotifierFind) or inserts a
 * one-page one; an UNMAP invalidation drops the subscription from its own callback with
 * removeDeferred; `release` retires it. Unload removes the rest, waits with
 * mmuIntervalNotifierSynchronize, checks every subscription was released, and frees them.
 */
export class GpuDriver implements DeviceMirror {
  readonly entries = new Map<number, number>();
  readonly lock: Mutex;
  /** Subscriptions the driver still uses. Guarded by `lock`. */
  private readonly live = new Set<MmuIntervalNotifier>();
  private readonly retired: MmuIntervalNotifier[] = [];
  private inserted = 0;
  private readonly sim: Simulation;

  readonly ops: MmuIntervalNotifierOps = {
    invalidate: async (sub, range, curSeq) => {
      this.sim.use(this, 'gpu invalidate');
      if (range.blockable) await this.lock.lock();
      else if (!(await this.lock.trylock())) return false;
      sub.setSeq(curSeq);
      for (const va of [...this.entries.keys()]) {
        const hit = va >= range.start && va < range.end && va >= sub.start && va <= sub.last;
        if (hit && this.entries.delete(va) && this.sim.tracing)
          this.sim.traceEvent('device_unmap', `0x${va.toString(16)}`, this.name);
      }
      if (range.event === MMU_NOTIFY_UNMAP && this.live.delete(sub)) await sub.removeDeferred();
      this.lock.unlock();
      return true;
    },
    release: (sub) => {
      this.sim.use(this, 'gpu release');
      this.retired.push(sub);
    },
  };

  constructor(
    readonly world: CpuWorld,
    readonly name: string,
  ) {
    this.sim = world.sim;
    this.entries = new TouchedMap(world.sim, `${name}.pt`);
    this.lock = new Mutex(world.sim, `${name}.lock`);
    world.sim.kalloc(this, `driver ${name}`);
    world.mm.mmgrab();
    world.addDriver(this);
  }

  /** A GPU fault on `page`: find or create its subscription, then the retry loop. May sleep. */
  async fault(page: number): Promise<boolean> {
    const sim = this.sim;
    const mm = this.world.mm;
    const va = page * PAGE;
    if (!mm.mmgetNotZero()) return false;
    for (let tries = 0; tries < MAX_FAULT_TRIES; tries++) {
      if (tries > 0) sim.mark('device fault retried');
      await this.lock.lock();
      let sub = await mmuIntervalNotifierFind(mm, this.ops, va, va);
      if (sub !== null && !this.live.has(sub)) sub = null; // being dropped by an UNMAP
      this.lock.unlock();
      if (sub === null) {
        sub = await mmuIntervalNotifierInsert(mm, va, PAGE, this.ops, { name: `${this.name}@${page}` });
        sim.kalloc(sub, `gpu subscription ${page}`);
        this.inserted++;
        await this.lock.lock();
        this.live.add(sub);
        this.lock.unlock();
      }
      // `sub` stays allocated until unload: release only retires it.
      const seq = await sub.readBegin();
      await sim.point('cpu_pte_read', `0x${va.toString(16)}`);
      const value = this.world.read(va);
      await this.lock.lock();
      if (!this.live.has(sub) || sub.readRetry(seq)) {
        this.lock.unlock();
        continue;
      }
      if (sim.tracing) sim.traceEvent('device_map', `0x${va.toString(16)}`, `${this.name} → ${value}`);
      this.world.checkProgram(this, va, value);
      this.entries.set(va, value);
      this.lock.unlock();
      await mm.mmput();
      return true;
    }
    sim.check(false, `${this.name}: fault on 0x${va.toString(16)} did not converge`);
    return false;
  }

  /** Driver unload: drop every subscription, barrier, free. May sleep. */
  async unload(): Promise<void> {
    const mm = this.world.mm;
    await this.lock.lock();
    this.entries.clear();
    const subs = [...this.live];
    this.live.clear();
    for (const sub of subs) await sub.removeDeferred();
    this.lock.unlock();
    await mmuIntervalNotifierSynchronize(mm);
    this.sim.check(
      this.retired.length === this.inserted,
      `${this.name}: ${this.inserted} subscriptions inserted but ${this.retired.length} released after synchronize`,
    );
    for (const sub of this.retired) this.sim.kfree(sub);
    this.world.removeDriver(this);
    mm.mmdrop();
    this.sim.kfree(this);
  }
}
