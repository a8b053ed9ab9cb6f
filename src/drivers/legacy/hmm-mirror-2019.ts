/**
 * `hmm-mirror-2019`: a device mirroring a process through the 2019 hmm_mirror API (seed 004, "Use
 * HMM for ODP v4" and its review): `attach(p)` is hmm_mirror_register (struct hmm found or made
 * through mm->hmm, see hmm-2019.ts), `detach()` is hmm_mirror_unregister, and a device fault is the
 * 2019 driver pattern: hmm_range_register, hmm_range_fault under the mmap read lock, then under
 * the driver's update lock program the device only while hmm_range_valid, else fault again.
 *
 * The flaw of this file, fixed by switch `hmm2019.mmgetInFault`: hmm_range_fault walks the VMAs
 * holding the mmap lock and a grab on the mm, not a user reference. The 2019 exit_mmap does not take
 * the mmap lock (mm-2019.ts): it runs the release (which sets the unlocked `hmm->dead`) and frees the
 * VMAs while a fault that read `dead` before it walks them. The fix takes mmget_not_zero around the
 * fault.
 *
 * A second 2019 flaw, fixed by switch `hmm2019.seqRetry`: the last invalidate_range_end sets
 * `range->valid` back to true, so an invalidation that starts and ends between hmm_range_fault and
 * the driver's check goes unnoticed and the device maps the page the CPU just replaced.
 *
 * Deviation: hmm_range_fault's walk is find_vma plus get_user_pages of the page (its reference
 * dropped at once, as hmm takes none); the device page table is the DeviceMirror's.
 */
import { EBUSY, EFAULT } from '../../sim/errno.js';
import { Mutex } from '../../sim/sync/mutex.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Mm } from '../../mm/mm.js';
import type { Process } from '../../mm/process.js';
import { FOLL_WRITE } from '../../mm/constants.js';
import { getUserPages, putUserPages } from '../../mm/gup.js';
import { DeviceMirror } from '../mirror/device-mirror.js';
import { DriverError } from '../options.js';
import { parseAttachOptions, registerDriver, type AttachedMirror, type Device } from '../registry.js';
import {
  hmmGet,
  hmmGetOrCreate,
  hmmPut,
  type Hmm2019,
  type Hmm2019MirrorOps,
  type Hmm2019Range,
} from './hmm-2019.js';
import { findVma2019, installExitMmap2019, touchVma2019 } from './mm-2019.js';
import { HMM2019_MMGET_IN_FAULT, HMM2019_SEQ_RETRY } from './switches.js';

/** struct hmm_mirror of one device on one process. */
export class HmmMirror2019 extends DeviceMirror implements Hmm2019MirrorOps {
  /** The struct hmm this mirror hangs off (mirror->hmm). */
  hmm: Hmm2019 | null = null;
  /** Set by detach (hmm_mirror_unregister): later faults give -EFAULT. */
  detached = false;

  constructor(
    /** The device the mirror belongs to (its lock is the update lock). */
    readonly device: HmmMirror2019Device,
    kernel: Kernel,
    name: string,
    process: Process,
  ) {
    super(kernel, name, process);
  }

  /** sync_cpu_device_pagetables: under the driver lock zap [start, end). May sleep. */
  async syncCpuDevicePagetables(start: number, end: number): Promise<void> {
    await this.device.lock.lock();
    this.unmapRange(start, end);
    this.device.lock.unlock();
  }

  /** hmm_mirror_ops.release: the mm is going away; zap everything. May sleep. */
  async release(): Promise<void> {
    await this.device.lock.lock();
    this.unmapRange(0, Number.MAX_SAFE_INTEGER);
    this.device.lock.unlock();
  }

  /**
   * hmm_range_fault of 2019 for one page: -EFAULT once `hmm->dead` (read without a lock); find_vma
   * and its dereference (mm-2019.ts); -EBUSY when the range was invalidated; then the page faulted
   * in (get_user_pages, reference dropped). Gives the pfn or -errno. The caller holds the mmap lock
   * for read. May sleep.
   */
  private async hmmRangeFault(hmm: Hmm2019, range: Hmm2019Range, write: boolean): Promise<number> {
    const mm = this.mm;
    mm.assertMmapLocked('hmm_range_fault');
    hmm.touchState(true);
    if (hmm.dead) return -EFAULT;
    this.sim.note('hmm->dead is false');
    const vma = await findVma2019(mm, range.start, 'hmm_range_fault');
    if (vma === undefined) return -EFAULT;
    hmm.touchState(true);
    if (!range.valid) return -EBUSY;
    const pages: number[] = [];
    const got = await getUserPages(mm, range.start, 1, write ? FOLL_WRITE : 0, pages);
    touchVma2019(mm, vma, 'handle_mm_fault');
    putUserPages(this.kernel, pages);
    if (got !== 1) return got < 0 ? got : -EFAULT;
    return pages[0];
  }

  /**
   * The device fault: (with `hmm2019.mmgetInFault` mmget_not_zero) hmm_range_register (valid when
   * no invalidation is in flight; a struct hmm reference held until hmm_range_unregister); wait until valid; the mmap read lock around hmmRangeFault; -EBUSY
   * faults again; under the driver lock -EFAULT once the mirror is unregistered, else map the page
   * only while the range is still valid (and, with
   * `hmm2019.seqRetry`, no invalidation started since the walk), else fault again;
   * hmm_range_unregister. 0 or -errno. No locks held. May sleep.
   */
  protected override async fault(va: number, write: boolean): Promise<number> {
    const hmm = this.hmm;
    if (hmm === null || this.detached) return -EFAULT;
    const sim = this.sim;
    const mm = this.mm;
    const mmget = sim.switchOn(HMM2019_MMGET_IN_FAULT);
    if (mmget && !mm.mmgetNotZero()) {
      sim.mark('hmm2019 fault found the mm exiting');
      return -EFAULT;
    }
    sim.use(hmm, 'hmm_range_register');
    // hmm_range_register: range->hmm with a reference of its own, dropped by hmm_range_unregister;
    // the mirror's reference may go with a detach meanwhile.
    hmmGet(hmm);
    await hmm.lock.lock();
    hmm.touchState();
    const range: Hmm2019Range = { start: va, end: va + this.kernel.pageSize, valid: hmm.notifiers === 0 };
    hmm.ranges.add(range);
    hmm.lock.unlock();
    const seqRetry = sim.switchOn(HMM2019_SEQ_RETRY);
    let ret: number;
    for (;;) {
      hmm.touchState(true);
      if (!range.valid && !hmm.dead)
        await hmm.wq.waitEvent(() => {
          hmm.touchState(true);
          return range.valid || hmm.dead;
        }, 'hmm_range_wait_until_valid');
      const seq = hmm.seq;
      await mm.mmapLock.downRead();
      const pfn = await this.hmmRangeFault(hmm, range, write);
      mm.mmapLock.upRead();
      if (pfn === -EBUSY) continue;
      if (pfn < 0) {
        hmm.touchState(true);
        if (hmm.dead) sim.mark('hmm2019 fault found the mm exiting');
        ret = pfn;
        break;
      }
      await this.device.lock.lock();
      if (this.detached) {
        // Unregistered while this fault walked (the driver's teardown takes the same lock, as
        // nouveau's svmm->vmm = NULL did): there is nothing to program any more.
        this.device.lock.unlock();
        ret = -EFAULT;
        break;
      }
      hmm.touchState(true);
      if (!range.valid || (seqRetry && hmm.seq !== seq)) {
        sim.mark('hmm2019 fault retried after an invalidation');
        this.device.lock.unlock();
        continue;
      }
      this.mapPage(va, pfn, { write });
      this.device.lock.unlock();
      ret = 0;
      break;
    }
    sim.use(hmm, 'hmm_range_unregister');
    await hmm.lock.lock();
    hmm.ranges.delete(range);
    hmm.lock.unlock();
    await hmmPut(hmm);
    if (mmget) await mm.mmput();
    return ret;
  }

  /**
   * hmm_mirror_unregister: off the mirror list (mirrors_sem for write), the device's entries
   * zapped, then hmm_put (the last reference frees the struct hmm; see hmm-2019.ts). May sleep.
   */
  async detach(): Promise<void> {
    if (this.detached) return;
    this.detached = true;
    const hmm = this.hmm;
    if (hmm !== null) {
      await hmm.mirrorsSem.downWrite();
      const i = hmm.mirrors.indexOf(this);
      if (i >= 0) hmm.mirrors.splice(i, 1);
      hmm.mirrorsSem.upWrite();
    }
    await this.release();
    this.retire();
    if (hmm !== null) {
      this.hmm = null;
      await hmmPut(hmm);
    }
  }
}

/** A device using the 2019 hmm_mirror API: its update lock (nouveau's svmm mutex of the time). */
export class HmmMirror2019Device implements Device {
  readonly driver = 'hmm-mirror-2019';
  /** The driver's update lock: the device page-table zaps and the fault's valid-check-and-map step. */
  readonly lock: Mutex;
  private count = 0;

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
  ) {
    this.lock = new Mutex(kernel.sim, `${name}.lock`);
  }

  /**
   * hmm_mirror_register(mirror, p's mm): installs the 2019 exit_mmap on the mm, finds or makes the
   * struct hmm (mm->hmm), adds the mirror to its list under mirrors_sem. Throws DriverError when
   * the process has exited. May sleep.
   */
  async attach(p: Process, options: object = {}): Promise<AttachedMirror> {
    parseAttachOptions<Record<string, never>>(this, options);
    const mm = p.mm as Mm;
    if (!mm.mmgetNotZero())
      throw new DriverError(`${this.name}.attach(): process ${p.name} has no address space left`);
    installExitMmap2019(mm);
    const m = new HmmMirror2019(this, this.kernel, `${this.name}.mirror${this.count++}`, p);
    const hmm = await hmmGetOrCreate(this.kernel.sim, mm);
    if (typeof hmm === 'number') {
      await mm.mmput();
      throw new DriverError(`${this.name}.attach(): hmm_mirror_register failed (${hmm})`);
    }
    m.hmm = hmm;
    await hmm.mirrorsSem.downWrite();
    hmm.mirrors.push(m);
    hmm.mirrorsSem.upWrite();
    await mm.mmput();
    return m;
  }
}

registerDriver({
  name: 'hmm-mirror-2019',
  summary:
    'legacy hmm_mirror (2019): struct hmm via mm->hmm, unlocked dead flag, no mmget in hmm_range_fault, no SRCU fence',
  era: 'legacy',
  options: {},
  attachOptions: {},
  create(k, name) {
    return new HmmMirror2019Device(k, name);
  },
});
