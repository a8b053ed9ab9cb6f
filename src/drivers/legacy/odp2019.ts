/**
 * `odp2019`: RDMA on-demand paging before its 2019 conversion (seed 004's removed code in
 * umem_odp.c and mlx5/odp.c). Each umem keeps its own fault-versus-invalidate check in the manner
 * of KVM's: `notifiersCount` (raised by invalidate_range_start, lowered by _end), `notifiersSeq`
 * (bumped by _end) and `notifier_completion`, completed when the count drops to zero. The fault
 * (pagefault_mr) reads the sequence, pins the pages with GUP (ib_umem_odp_map_dma_pages), and under
 * `umem_mutex` maps them only when ib_umem_mmu_notifier_retry says no invalidation ran or runs;
 * otherwise -EAGAIN: it waits for the completion with a timeout (MMU_NOTIFIER_TIMEOUT), warns
 * "timeout waiting for mmu notifier" when it expires, and the hardware faults again. The notifier
 * release marks each umem `dying` (smp_wmb, no lock), counts an invalidation that never ends and
 * completes the completion; a fault on a dying explicit MR fails with -EFAULT (the QP goes to
 * error).
 *
 * Switches of the run (switches.ts): `odp2019.mmgetNotZero` (the fix: mmget_not_zero on the owning
 * mm before GUP; off, the fault walks an mm that exit_mmap is freeing: a use-after-free of the VMA,
 * see mm-2019.ts) and `odp2019.mapOnTimeout` (a planted mistake no kernel shipped: the timeout path
 * maps the pages its stale walk pinned: a stale mapping).
 *
 * The pinned pages are the umem's page_list, watched by the page-lifetime checker (watchDmaList).
 *
 * Deviation: one classic notifier per MR (the per-ucontext tree is left out) and the timeout is
 * short virtual time (option `timeoutNs`) so that an exploration reaches it.
 */
import { EAGAIN, EFAULT, EINVAL, EIO } from '../../sim/errno.js';
import { Completion } from '../../sim/sync/completion.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { Srcu } from '../../sim/sync/srcu.js';
import { TouchedMap } from '../../sim/touched-map.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Mm } from '../../mm/mm.js';
import type { Process } from '../../mm/process.js';
import { FOLL_WRITE } from '../../mm/constants.js';
import { pinUserPages, unpinUserPages } from '../../mm/gup.js';
import { MmuNotifier, mmuNotifierSynchronize } from '../../notifier/classic.js';
import type { MmuNotifierRange } from '../../notifier/types.js';
import { unwatchDmaList, watchDmaList, type CheckedDmaList } from '../../check/mirror-checker.js';
import { DeviceMirror, type MirrorAccessKind, type MirrorAtomicOp } from '../mirror/device-mirror.js';
import { DriverError } from '../options.js';
import { parseAttachOptions, registerDriver, type AttachedMirror, type Device } from '../registry.js';
import { findVma2019, installExitMmap2019, touchVma2019 } from './mm-2019.js';
import { ODP2019_MAP_ON_TIMEOUT, ODP2019_MMGET_NOT_ZERO } from './switches.js';

/** An ODP MR with the pre-2019 counter/sequence/completion scheme. */
export class Odp2019Mr extends DeviceMirror {
  /**
   * umem->notifiers_count: invalidations running over the MR (range_start raises it, range_end
   * lowers it; the release raises it for good). A fault maps only while it is zero.
   */
  notifiersCount = 0;
  /** umem->notifiers_seq: bumped by each range_end; a fault maps only if it is unchanged since it read it. */
  notifiersSeq = 0;
  /** umem->dying: set by the release (no lock). */
  dying = false;
  /**
   * umem->notifier_completion: complete while no invalidation runs (re-armed by the first
   * range_start); a fault that met an invalidation waits on it with the timeout.
   */
  readonly notifierCompletion: Completion;
  /** umem_mutex: serialises the count and sequence updates, the zaps and the fault's map step. */
  readonly umemMutex: Mutex;
  /** The umem's page_list: VA → pinned page (a TouchedMap: the checker reads it without the lock). */
  readonly pinned: Map<number, number>;
  /** Faults that met the timeout. */
  timeouts = 0;
  /** On the per-mm tree (false after deregistration). */
  inTree = true;
  /** The QP using this MR: 'rts' until an access fails, then 'error' for good (-EIO). */
  qpState: 'rts' | 'error' = 'rts';
  /** The MR's classic mmu_notifier (Deviation: one per MR instead of the per-ucontext one). */
  readonly notifier: MmuNotifier;
  private readonly dmaList: CheckedDmaList;

  constructor(
    /** The device the MR is registered on. */
    readonly device: Odp2019Device,
    k: Kernel,
    name: string,
    p: Process,
    /** First virtual address of the MR in bytes (page-aligned). */
    readonly start: number,
    /** End of the MR in bytes, exclusive (page-aligned). */
    readonly end: number,
    /** The MR allows writes: faults pin with FOLL_WRITE and map writable. */
    readonly writable: boolean,
  ) {
    super(k, name, p);
    this.notifierCompletion = new Completion(k.sim, `${name}.notifier_completion`);
    this.notifierCompletion.completeAll();
    this.umemMutex = new Mutex(k.sim, `${name}.umem_mutex`);
    this.pinned = new TouchedMap(k.sim, `${name}.page_list`);
    this.dmaList = { name: `${name}.page_list`, mm: this.mm, pages: this.pinned };
    watchDmaList(k, this.dmaList);
    this.notifier = new MmuNotifier(
      {
        invalidateRangeStart: (range) => this.invalidateRangeStart(range),
        invalidateRangeEnd: (range) => this.invalidateRangeEnd(range),
        release: () => this.release(),
      },
      `${name}.mn`,
    );
  }

  /** Unmaps and unpins [s, e) of the umem. The caller holds the umem mutex (asserted). Atomic. */
  private zap(s: number, e: number): void {
    this.sim.assertHeld(this.umemMutex, 'ib_umem_odp_unmap_dma_pages');
    this.unmapRange(s, e);
    for (const [va, pfn] of [...this.pinned])
      if (va >= s && va < e) {
        this.pinned.delete(va);
        unpinUserPages(this.kernel, [pfn]);
      }
  }

  /**
   * ib_umem_notifier_invalidate_range_start → ib_umem_notifier_start_account + mlx5_ib_invalidate_range:
   * under the umem mutex count the invalidation (the first reinitialises the completion) and zap the
   * range. -EAGAIN when not blockable (the 2019 tree walk refused). May sleep.
   */
  async invalidateRangeStart(range: MmuNotifierRange): Promise<number> {
    if (!this.inTree || range.end <= this.start || range.start >= this.end) return 0;
    if (!range.blockable) return -EAGAIN;
    await this.umemMutex.lock();
    if (this.notifiersCount++ === 0) this.notifierCompletion.reinit();
    this.zap(Math.max(range.start, this.start), Math.min(range.end, this.end));
    this.umemMutex.unlock();
    return 0;
  }

  /**
   * ib_umem_notifier_end_account: under the umem mutex bump notifiers_seq, uncount, and complete
   * the completion when the count reaches zero. May sleep.
   */
  async invalidateRangeEnd(range: MmuNotifierRange): Promise<void> {
    if (!this.inTree || range.end <= this.start || range.start >= this.end) return;
    await this.umemMutex.lock();
    this.notifiersSeq++;
    if (--this.notifiersCount === 0) this.notifierCompletion.completeAll();
    this.umemMutex.unlock();
  }

  /**
   * ib_umem_notifier_release_trampoline: start_account (never ended), dying = 1 (no lock), the
   * completion completed to release waiting faults, the whole umem zapped. May sleep.
   */
  async release(): Promise<void> {
    if (!this.inTree) return;
    await this.umemMutex.lock();
    if (this.notifiersCount++ === 0) this.notifierCompletion.reinit();
    this.umemMutex.unlock();
    this.dying = true;
    this.notifierCompletion.completeAll();
    await this.umemMutex.lock();
    this.zap(this.start, this.end);
    this.umemMutex.unlock();
  }

  /**
   * pagefault_mr for one page: read notifiers_seq; ib_umem_odp_map_dma_pages (with
   * `odp2019.mmgetNotZero` mmget_not_zero, else nothing keeps the mm alive; under the mmap read lock
   * find_vma and pin_user_pages); under the umem mutex map the page when ib_umem_mmu_notifier_retry
   * is clear; otherwise -EAGAIN: a dying MR fails with -EFAULT, else wait for the completion with
   * the timeout and fault again (or, with the planted `odp2019.mapOnTimeout`, map the stale pin
   * after a timeout). 0 or -errno. No locks held. May sleep.
   */
  protected override async fault(va: number, write: boolean): Promise<number> {
    // The page-fault handler looks the key up inside a read section of dev->mr_srcu and finds no
    // live MR once the deregistration began; the deregistration waits for the sections.
    const srcu = this.device.mrSrcu;
    const idx = srcu.readLock();
    try {
      return this.inTree ? await this.pagefaultMr(va, write) : -EFAULT;
    } finally {
      srcu.readUnlock(idx);
    }
  }

  /** The body of {@link fault}, inside the mr_srcu read section. May sleep. */
  private async pagefaultMr(va: number, write: boolean): Promise<number> {
    void write; // the access mask comes from the MR (write whenever it is writable)
    if (va < this.start || va >= this.end) return -EFAULT;
    const sim = this.sim;
    const mm = this.mm;
    const currentSeq = this.notifiersSeq;
    const mmget = sim.switchOn(ODP2019_MMGET_NOT_ZERO);
    if (mmget && !mm.mmgetNotZero()) {
      sim.mark('odp2019 fault found the mm exiting');
      return -EINVAL;
    }
    const pages: number[] = [];
    await mm.mmapLock.downRead();
    const vma = await findVma2019(mm, va, 'get_user_pages_remote in ib_umem_odp_map_dma_pages');
    const got =
      vma === undefined ? -EFAULT : await pinUserPages(mm, va, 1, this.writable ? FOLL_WRITE : 0, pages);
    if (vma !== undefined) touchVma2019(mm, vma, 'handle_mm_fault');
    mm.mmapLock.upRead();
    if (mmget) await mm.mmput();
    if (got !== 1) return got < 0 ? got : -EFAULT;
    let stale = false;
    for (;;) {
      await this.umemMutex.lock();
      const retry = this.notifiersCount !== 0 || this.notifiersSeq !== currentSeq;
      if (!retry || stale) {
        const old = this.pinned.get(va);
        if (old !== undefined) unpinUserPages(this.kernel, [old]);
        this.pinned.set(va, pages[0]);
        this.mapPage(va, pages[0], { write: this.writable });
        this.umemMutex.unlock();
        return 0;
      }
      this.umemMutex.unlock();
      if (this.dying) {
        unpinUserPages(this.kernel, pages);
        return -EFAULT; // the MR is being killed: kill the QP as well
      }
      const left = await this.notifierCompletion.waitTimeout(this.device.timeoutNs);
      sim.mark('odp2019 fault met a running invalidation');
      if (left === 0) {
        sim.mark('odp2019 fault timed out on the notifier completion');
        this.timeouts++;
        sim.note('timeout waiting for mmu notifier');
      }
      if (left !== 0 || !sim.switchOn(ODP2019_MAP_ON_TIMEOUT)) {
        unpinUserPages(this.kernel, pages);
        return 0; // -EAGAIN resumes without error: the hardware faults again
      }
      stale = true;
    }
  }

  /**
   * A device access through the MR: outside it, or a write to a read-only MR, or on a QP already
   * in error, it fails; a failed fault moves the QP to error (-EIO from then on). May sleep.
   */
  override async access(
    va: number,
    kind: MirrorAccessKind,
    arg?: number | Uint8Array | MirrorAtomicOp,
  ): Promise<Uint8Array | bigint | number> {
    if (!this.inTree) return -EINVAL;
    if (this.qpState === 'error') return -EIO;
    if (kind !== 'read' && !this.writable) {
      this.qpState = 'error';
      return -EIO;
    }
    const r = await super.access(va, kind, arg);
    if (typeof r === 'number' && r < 0) {
      this.qpState = 'error';
      return -EIO;
    }
    return r;
  }

  /**
   * mlx5_ib_dereg_mr then ib_umem_odp_release: the MR no longer live and the completion completed
   * (a fault waiting on it wakes and finds the MR gone), synchronize_srcu(&dev->mr_srcu) for the
   * faults in flight, then off the tree, the whole umem unmapped and unpinned under the umem mutex,
   * mmu_notifier_unregister_no_release and the notifier SRCU grace period before the umem goes (the
   * 2019 code freed per_mm with mmu_notifier_call_srcu). May sleep.
   */
  async detach(): Promise<void> {
    if (!this.inTree) return;
    this.inTree = false;
    this.notifierCompletion.completeAll();
    await this.device.mrSrcu.synchronize();
    await this.umemMutex.lock();
    this.zap(this.start, this.end);
    this.umemMutex.unlock();
    if (this.notifier.hashed) await this.notifier.unregisterNoRelease();
    await mmuNotifierSynchronize(this.sim);
    unwatchDmaList(this.kernel, this.dmaList);
    this.retire();
  }
}

/** An ODP device of 2019 (mlx5 before the HMM conversion). */
export class Odp2019Device implements Device {
  readonly driver = 'odp2019';
  private count = 0;
  /** dev->mr_srcu: page faults run in its read sections; an MR's deregistration synchronizes on it. */
  readonly mrSrcu: Srcu;

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    /** MMU_NOTIFIER_TIMEOUT in virtual ns. */
    readonly timeoutNs: number,
  ) {
    this.mrSrcu = new Srcu(kernel.sim, `${name}.mr_srcu`);
  }

  /**
   * ib_umem_odp_get + mmu_notifier_register for an MR over [start, start + length): installs the
   * 2019 exit_mmap on the mm (mm-2019.ts). Throws DriverError without a span or when the process
   * has exited. May sleep.
   */
  async attach(p: Process, options: object = {}): Promise<AttachedMirror> {
    const o = parseAttachOptions<{ start?: number; length?: number; access?: 'r' | 'rw' }>(this, options);
    if (o.start === undefined || o.length === undefined)
      throw new DriverError(`${this.name}.attach(): an ODP MR needs start and length`);
    const ps = this.kernel.pageSize;
    const s = o.start - (o.start % ps);
    const e = Math.ceil((o.start + o.length) / ps) * ps;
    const mm = p.mm as Mm;
    if (!mm.mmgetNotZero())
      throw new DriverError(`${this.name}.attach(): process ${p.name} has no address space left`);
    installExitMmap2019(mm);
    const mr = new Odp2019Mr(this, this.kernel, `${this.name}.mr${this.count++}`, p, s, e, o.access !== 'r');
    const ret = await mr.notifier.register(mm);
    await mm.mmput();
    if (ret !== 0) throw new DriverError(`${this.name}.attach(): mmu_notifier_register failed (${ret})`);
    return mr;
  }
}

registerDriver({
  name: 'odp2019',
  summary:
    'legacy ODP (pre-2019): notifiers_seq/notifiers_count with a completion and a wait timeout, no mmget by default',
  era: 'legacy',
  options: {
    timeoutNs: {
      type: 'number',
      integer: true,
      min: 1,
      default: 2_000,
      doc: 'MMU_NOTIFIER_TIMEOUT in virtual ns (short, so that an exploration reaches it)',
    },
  },
  attachOptions: {
    start: { type: 'number', integer: true, min: 0, doc: 'first address of the MR' },
    length: { type: 'number', integer: true, min: 1, doc: 'length in bytes' },
    access: { type: 'enum', values: ['r', 'rw'], default: 'rw', doc: 'MR access: read-only or writable' },
  },
  create(k, name, options) {
    return new Odp2019Device(k, name, options.timeoutNs as number);
  },
});
