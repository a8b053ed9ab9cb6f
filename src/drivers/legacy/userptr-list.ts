/**
 * `userptr-list`: the pre-2019 userptr design the consolidation series replaced (seed 000: drivers
 * kept "simple linear search lists" of registered ranges behind a classic mmu_notifier; radeon_mn's
 * conversion message: the old code "could not be race-free, since it had no range_end yet still used
 * GUP").
 *
 * Each `attach(p, { start, length })` registers a userptr in the device's linear list. The device's
 * one classic notifier walks the whole list on every invalidation (O(n)), and for each overlapping
 * userptr unmaps the device entries and unpins the pages under the driver lock. A device fault pins
 * the page with pin_user_pages under the mmap lock, drops the mmap lock, then takes the driver lock
 * and maps the pinned page. There is no sequence: an invalidation that runs between the pin and the
 * map finds nothing to zap, and the device then maps a page the CPU no longer maps (the pin keeps it
 * allocated, so it is a stale mapping, not a use-after-free). Kept to show that race.
 */
import { EAGAIN, EFAULT } from '../../sim/errno.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { TouchedMap } from '../../sim/touched-map.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { FOLL_WRITE } from '../../mm/constants.js';
import { pinUserPages, unpinUserPages } from '../../mm/gup.js';
import { mmuNotifierRegister, mmuNotifierUnregister, type MmuNotifier } from '../../notifier/classic.js';
import type { MmuNotifierRange } from '../../notifier/types.js';
import { DeviceMirror } from '../mirror/device-mirror.js';
import { unwatchDmaList, watchDmaList, type CheckedDmaList } from '../../check/mirror-checker.js';
import { DriverError } from '../options.js';
import { parseAttachOptions, registerDriver, type AttachedMirror, type Device } from '../registry.js';

/** One registered user range. */
export class Userptr extends DeviceMirror {
  /** Pinned pages by VA: the DMA list the page-lifetime checker watches (a TouchedMap of it). */
  readonly pinned: Map<number, number>;
  /** Set by detach: the userptr is off the list and later faults give -EFAULT. */
  detached = false;

  constructor(
    /** The device whose list holds the userptr. */
    readonly device: UserptrListDevice,
    kernel: Kernel,
    name: string,
    process: Process,
    /** First virtual address of the userptr in bytes (page-aligned). */
    readonly start: number,
    /** End of the userptr in bytes, exclusive (page-aligned). */
    readonly end: number,
  ) {
    super(kernel, name, process);
    this.pinned = new TouchedMap(kernel.sim, `${name}.pages`);
    this.dmaList = { name: `${name}.pages`, mm: this.mm, pages: this.pinned };
    watchDmaList(kernel, this.dmaList);
  }

  /** The pinned-page list as the page-lifetime checker watches it (no listed page may be freed). */
  private readonly dmaList: CheckedDmaList;

  /**
   * The device fault: pin_user_pages(FOLL_WRITE) on the page under the mmap read lock, then under
   * the driver lock map it, unless the userptr was detached meanwhile (-EFAULT, the page unpinned).
   * No sequence check (the design's flaw). 0 or -errno. May sleep.
   */
  protected override async fault(va: number, write: boolean): Promise<number> {
    void write;
    if (this.detached || va < this.start || va >= this.end) return -EFAULT;
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EFAULT;
    const pages: number[] = [];
    await mm.mmapLock.downRead();
    const got = await pinUserPages(mm, va, 1, FOLL_WRITE, pages);
    mm.mmapLock.upRead();
    await mm.mmput();
    if (got !== 1) return got < 0 ? got : -EFAULT;
    await this.device.lock.lock();
    if (this.detached) {
      // Detached while the page was being pinned: the list no longer holds this userptr, and
      // nothing would ever unpin a page mapped now.
      this.device.lock.unlock();
      unpinUserPages(this.kernel, pages);
      return -EFAULT;
    }
    const old = this.pinned.get(va);
    if (old !== undefined) unpinUserPages(this.kernel, [old]);
    this.pinned.set(va, pages[0]);
    this.mapPage(va, pages[0], { write: true });
    this.device.lock.unlock();
    return 0;
  }

  /** Unmaps and unpins [start, end) of this userptr. The caller holds the driver lock. Atomic. */
  zap(start: number, end: number): void {
    this.sim.assertHeld(this.device.lock, 'userptr zap');
    this.unmapRange(start, end);
    for (const [va, pfn] of [...this.pinned])
      if (va >= start && va < end) {
        this.pinned.delete(va);
        unpinUserPages(this.kernel, [pfn]);
      }
  }

  /**
   * Unregisters the userptr: off the list, unmapped, unpinned; the last userptr of its mm also
   * unregisters the device's notifier on that mm (as radeon_mn_unregister freed an emptied
   * radeon_mn). May sleep.
   */
  async detach(): Promise<void> {
    if (this.detached) return;
    const dev = this.device;
    await dev.mnLock.lock();
    await dev.lock.lock();
    this.detached = true;
    this.zap(this.start, this.end);
    const i = dev.list.indexOf(this);
    if (i >= 0) dev.list.splice(i, 1);
    const lastOfMm = !dev.list.some((u) => u.mm === this.mm);
    dev.lock.unlock();
    if (lastOfMm) await dev.unregisterNotifier(this.mm);
    dev.mnLock.unlock();
    unwatchDmaList(this.kernel, this.dmaList);
    this.retire();
  }
}

/** The device: its lock, its linear list, its one classic notifier per mm. */
export class UserptrListDevice implements Device {
  readonly driver = 'userptr-list';
  /** The driver lock: guards the list, each userptr's pinned pages and its device mappings. */
  readonly lock: Mutex;
  /**
   * rdev->mn_lock: serialises notifier registration and unregistration against attach and detach,
   * so an mm has at most one notifier and it lives exactly while the mm has a userptr. Taken
   * before the driver lock; never held by an invalidation.
   */
  readonly mnLock: Mutex;
  /** The registered userptrs (a linear list, walked on every invalidation). */
  readonly list: Userptr[] = [];
  private readonly notifiers = new Map<object, MmuNotifier>();
  /** List entries visited by invalidations (the O(n) walk). */
  visited = 0;
  /** Userptrs attached so far (names stay unique after a detach). */
  private userptrs = 0;
  /** Notifiers registered so far, over all mms (a re-registration after the last detach counts). */
  notifierRegistrations = 0;

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
  ) {
    this.lock = new Mutex(kernel.sim, `${name}.lock`);
    this.mnLock = new Mutex(kernel.sim, `${name}.mn_lock`);
  }

  /** Whether the device has a notifier registered on `mm` (one per mm with a userptr). */
  hasNotifier(mm: object): boolean {
    return this.notifiers.has(mm);
  }

  /**
   * Unregisters and forgets the device's notifier on `mm` (mmu_notifier_unregister: after it
   * returns no invalidation callback of it runs). Caller holds mnLock, not the driver lock (an
   * invalidation in flight takes it). May sleep.
   */
  async unregisterNotifier(mm: Userptr['mm']): Promise<void> {
    this.kernel.sim.assertHeld(this.mnLock, 'userptr-list unregisterNotifier');
    const mn = this.notifiers.get(mm);
    if (mn === undefined) return;
    this.notifiers.delete(mm);
    await mmuNotifierUnregister(mn, mm);
  }

  /**
   * Registers a userptr over [start, start + length), and the device's notifier on the process's
   * mm with the mm's first userptr (radeon_mn_register / radeon_mn_get). Takes mnLock, then the
   * driver lock. May sleep.
   */
  async attach(p: Process, options: object = {}): Promise<AttachedMirror> {
    const o = parseAttachOptions<{ start?: number; length?: number }>(this, options);
    if (o.start === undefined || o.length === undefined)
      throw new DriverError(`${this.name}.attach(): a userptr needs start and length`);
    const ps = this.kernel.pageSize;
    const s = o.start - (o.start % ps);
    const e = Math.ceil((o.start + o.length) / ps) * ps;
    await this.mnLock.lock();
    try {
      if (!this.notifiers.has(p.mm)) {
        const mn = await mmuNotifierRegister(p.mm, {
          invalidateRangeStart: (range) => this.invalidateRangeStart(range),
        });
        this.notifiers.set(p.mm, mn);
        this.notifierRegistrations++;
      }
      const u = new Userptr(this, this.kernel, `${this.name}.userptr${this.userptrs++}`, p, s, e);
      await this.lock.lock();
      this.list.push(u);
      this.lock.unlock();
      return u;
    } finally {
      this.mnLock.unlock();
    }
  }

  /**
   * The classic notifier's invalidate_range_start: under the driver lock walk the whole list and
   * zap every userptr of this mm overlapping the range. Blocks (no non-blockable support: -EAGAIN).
   */
  async invalidateRangeStart(range: MmuNotifierRange): Promise<number> {
    if (!range.blockable) return -EAGAIN;
    await this.lock.lock();
    for (const u of this.list) {
      this.visited++;
      if (u.mm === range.mm && u.start < range.end && u.end > range.start)
        u.zap(Math.max(u.start, range.start), Math.min(u.end, range.end));
    }
    this.lock.unlock();
    return 0;
  }
}

registerDriver({
  name: 'userptr-list',
  summary:
    'legacy userptr: a linear list behind a classic notifier, pages pinned without a sequence (pre-2019)',
  era: 'legacy',
  options: {},
  attachOptions: {
    start: { type: 'number', integer: true, min: 0, doc: 'first address of the userptr' },
    length: { type: 'number', integer: true, min: 1, doc: 'length in bytes' },
  },
  create(k, name) {
    return new UserptrListDevice(k, name);
  },
});
