/**
 * An ODP memory region (struct mlx5_ib_mr with its ib_umem_odp; drivers/infiniband/hw/mlx5/odp.c
 * and mr.c): the hardware key, its use count, the MTT (the DeviceMirror page table), the page-fault
 * handler, the invalidation callback, prefetch and deregistration.
 *
 * Device accesses go through `access` (the DeviceMirror base): an MTT miss raises a page fault that
 * the handler resolves the way mlx5 does, then the hardware re-executes the access. A fault that
 * fails is resumed with the error bit: the QP moves to the error state and every later access on
 * it fails with -EIO.
 */
import { EACCES, EFAULT, EINVAL, EIO, ENOENT, EPERM } from '../../sim/errno.js';
import { WaitQueue } from '../../sim/sync/waitqueue.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import type { MmuIntervalNotifier } from '../../notifier/interval.js';
import type { MmuNotifierRange } from '../../notifier/types.js';
import { hmmRangeFault } from '../../hmm/range-fault.js';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToPfn,
} from '../../hmm/pfn.js';
import type { HmmRange } from '../../hmm/types.js';
import { DeviceMirror, type MirrorAccessKind, type MirrorAtomicOp } from '../mirror/device-mirror.js';
import { deviceFaultLoop } from '../fault-retry.js';
import { IbUmemOdp } from './umem.js';
import { unwatchDmaList, watchDmaList, type CheckedDmaList } from '../../check/mirror-checker.js';
import { CHILD_GONE } from './constants.js';
import type { OdpDevice } from './device.js';

/** The fault flags of pagefault_real_mr. */
export interface OdpFaultFlags {
  /** MLX5_PF_FLAGS_DOWNGRADE: map read-only even when the MR is writable (plain prefetch). */
  downgrade?: boolean;
  /** MLX5_PF_FLAGS_SNAPSHOT: do not fault, map only what is present. */
  snapshot?: boolean;
  /** MLX5_PF_FLAGS_ENABLE: enable the mkey in the same UMR (registration). */
  enable?: boolean;
}

/** ibv_advise_mr advice. */
export type OdpAdvice = 'prefetch' | 'prefetch-write' | 'prefetch-no-fault';

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * struct mlx5_ib_mr of an ODP MR (explicit, or an implicit child). Made by `OdpDevice.regMr`
 * (`device.attach(p, { start, length })`).
 */
export class OdpMr extends DeviceMirror {
  /** The MR's ib_umem_odp: its span, pfn/DMA list, umem mutex and interval notifier. */
  readonly umem: IbUmemOdp;
  private usecountValue = 0;
  /**
   * mmkey.usecount: the published reference plus one per fault handler / prefetch work. An
   * atomic the fault, prefetch and destroy paths share without a lock: every read and change is
   * a dpor touch of `usecountWait`'s name.
   */
  get usecount(): number {
    this.sim.touch(this.usecountWait.name, true);
    return this.usecountValue;
  }
  /** Stores mmkey.usecount (a dpor write touch); usecountPut drops a reference and wakes waiters. */
  set usecount(n: number) {
    this.sim.touch(this.usecountWait.name);
    this.usecountValue = n;
  }
  /** Woken when usecount drops. */
  readonly usecountWait: WaitQueue;
  /** The hardware key has been revoked (UMR disable): any later UMR on it puts the UMR QP in error. */
  keyRevoked = false;
  /** The mkey is enabled (the registration's UMR ran). */
  enabled = false;
  /** Deregistration finished: no callback and no device access after this. */
  deregistered = false;
  /** The QP using this MR: 'rts' until a fault fails, then 'error' for good. */
  qpState: 'rts' | 'error' = 'rts';
  /** The errno of the fault that moved the QP to error. */
  qpErrno = 0;
  /** For an implicit child: its slot and its parent's view of it. */
  parent: {
    /** The child's slot index in the parent: its span starts at slot × the child span (bytes). */
    slot: number;
    /** The child the parent's xarray holds for the slot now. */
    current(): OdpMr | undefined;
    /**
     * The parent's destroy_unused_implicit_child_mr ({@link ImplicitOdpMr.childDestroyed}): called by
     * the child's invalidation that left it empty, with the child's umem mutex held. Atomic.
     */
    childDestroyed(child: OdpMr): void;
  } | null = null;
  /** Model tracking: counters of what the invalidation and fault paths did. */
  readonly seen = {
    /** Invalidations skipped because nothing was DMA-mapped yet (npages == 0). */
    emptyInvalidations: 0,
    /** Invalidations that zapped MTT entries (one UMR each). */
    zaps: 0,
    /** Invalidations skipped because odp->private was null (the MR revoked or not set up). */
    revokedSkips: 0,
    /** Device page faults through `access` that the handler resolved. */
    faultsResolved: 0,
  };

  constructor(
    /** The device the MR is registered on. */
    readonly device: OdpDevice,
    kernel: Kernel,
    name: string,
    process: Process,
    /** mmkey.key: the MR's key, its index in the device's odp_mkeys. */
    readonly key: number,
    /** First virtual address of the MR in bytes (page-aligned). */
    readonly start: number,
    /** End of the MR in bytes, exclusive (page-aligned). */
    readonly end: number,
    /** The MR allows writes: faults request write access and write/atomic accesses are allowed. */
    readonly writable: boolean,
  ) {
    super(kernel, name, process);
    this.usecountWait = new WaitQueue(kernel.sim, `${name}.usecount`);
    this.umem = new IbUmemOdp(kernel.sim, process, this.mm, start, end, writable, false, name, {
      invalidate: (sub, range, curSeq) => this.invalidateRange(sub, range, curSeq),
    });
    this.dmaList = {
      name: this.umem.dmaListTag,
      mm: this.mm,
      pages: this.umem.dmaPages,
      listedAt: this.umem.dmaListedAt,
    };
    watchDmaList(kernel, this.dmaList);
  }

  /** The umem's DMA list as the page-lifetime checker watches it (from creation to release). */
  private readonly dmaList: CheckedDmaList;

  /** The umem's interval subscription (umem_odp->notifier) over [start, end). */
  get notifier(): MmuIntervalNotifier {
    return this.umem.notifier!;
  }

  /** Drops one usecount reference (mlx5r_deref_odp_mkey). Atomic. */
  usecountPut(): void {
    if (this.usecount <= 0)
      this.sim.report(
        'use-after-free',
        `${this.name}: refcount_t: underflow; use-after-free (mmkey.usecount)`,
        {
          key: `${this.name} usecount underflow`,
        },
      );
    this.usecount--;
    if (this.usecount === 0) this.usecountWait.wakeUpAll();
  }

  /**
   * mlx5r_umr_* posted on the driver's UMR QP: a scheduling point (the UMR is posted and waited
   * for). A UMR on a revoked key completes in error and moves the UMR QP to error (I3): reported as
   * `umr-error`. May sleep.
   */
  async umrPost(what: string): Promise<void> {
    await this.sim.point('umr', `${this.name} ${what}`);
    if (this.keyRevoked) {
      this.sim.report(
        'umr-error',
        `${this.device.name}: UMR '${what}' posted on the revoked key of ${this.name}: the UMR QP moves to ` +
          `error and every later MR operation of the device fails (CVE-2025-21732)`,
        { key: `${this.device.name} UMR on revoked key (${what})` },
      );
    }
  }

  // -----------------------------------------------------------------------------------------
  // Invalidation (mlx5_ib_invalidate_range)
  // -----------------------------------------------------------------------------------------

  /**
   * mlx5_ib_invalidate_range, the umem's interval-notifier callback: refuses a non-blockable range;
   * under the umem mutex sets the sequence, skips an umem with nothing mapped (the MR may not exist
   * yet) or whose MR was revoked, zaps the MTT entries in range with one UMR, then DMA-unmaps them
   * (marking written pages dirty); an implicit child left empty is queued for reclaim. Called by
   * the notifier core; may sleep when the range is blockable.
   */
  async invalidateRange(sub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    const umem = this.sim.use(this.umem, 'mlx5_ib_invalidate_range');
    if (!range.blockable) return false;
    await umem.umemMutex.lock();
    sub.setSeq(curSeq);
    const mr = umem.private_ as OdpMr | null;
    if (!this.device.bugs.invalidateBeforeMr) {
      if (umem.npages === 0) {
        this.seen.emptyInvalidations++;
        umem.umemMutex.unlock();
        return true;
      }
      if (mr === null) {
        this.seen.revokedSkips++;
        umem.umemMutex.unlock();
        return true;
      }
    } else if (mr === null && this.keyRevoked) {
      // Not the 2019 window: the deregistration revoked the key and cleared odp->private.
      this.seen.revokedSkips++;
      umem.umemMutex.unlock();
      return true;
    } else if (mr === null) {
      this.sim.report(
        'kernel-bug',
        `${this.device.name}: NULL pointer dereference in mlx5_ib_invalidate_range: ${umem.name}'s MR ` +
          `(odp->private) does not exist yet, the invalidation ${range} arrived between the notifier insert ` +
          `and the MR setup (fixed in 2019 by skipping umems with npages == 0)`,
        { key: `${this.device.name} invalidation before the MR exists` },
      );
    }
    const start = Math.max(range.start, umem.start);
    const end = Math.min(range.end, umem.end);
    if (start < end) {
      // For dpor: reads the device mapping, which a revoke without the umem mutex changes.
      this.sim.touch(this.name, true);
      if (this.hasEntries(start, end)) {
        await mr!.umrPost('zap');
        this.unmapRange(start, end);
        this.seen.zaps++;
      }
      if (!this.device.bugs.skipDmaUnmap) umem.unmapDmaPages(start, end);
    }
    if (this.parent !== null && umem.npages === 0) this.parent.childDestroyed(this);
    umem.umemMutex.unlock();
    return true;
  }

  private hasEntries(start: number, end: number): boolean {
    for (const va of this.entries.keys()) if (va >= start && va < end) return true;
    return false;
  }

  // -----------------------------------------------------------------------------------------
  // The page-fault path (pagefault_real_mr → ib_umem_odp_map_dma_and_lock → update_xlt)
  // -----------------------------------------------------------------------------------------

  /**
   * pagefault_real_mr(mr, odp, user_va, bcnt, flags): faults [userVa, userVa + bcnt) in through
   * ib_umem_odp_map_dma_and_lock (mmget_not_zero on the owner's mm, read_begin, hmm_range_fault
   * under the mmap read lock with write requested when the MR is writable and not downgraded,
   * -EBUSY retried under the device's policy, the umem mutex, read_retry) and programs the MTT with
   * one UMR under the umem mutex. Returns the pages mapped or -errno (-EINVAL: the process or its mm
   * is gone). The caller holds a usecount reference and no locks. May sleep.
   */
  async pagefaultRealMr(userVa: number, bcnt: number, flags: OdpFaultFlags = {}): Promise<number> {
    const umem = this.umem;
    const ps = this.kernel.pageSize;
    const write = umem.writable && !flags.downgrade;
    if (bcnt <= 0 || userVa < umem.start || userVa + bcnt > umem.end) return -EFAULT;
    if (umem.owner.state !== 'alive' || !this.mm.mmgetNotZero()) return -EINVAL;
    const start = userVa - (userVa % ps);
    const end = Math.ceil((userVa + bcnt) / ps) * ps;
    const i0 = (start - umem.start) / ps;
    const n = (end - start) / ps;
    const range: HmmRange = {
      notifier: this.notifier,
      notifierSeq: 0,
      start,
      end,
      hmmPfns: umem.pfnList.subarray(i0, i0 + n),
      defaultFlags: flags.snapshot ? 0 : HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
    };
    let mapped = 0;
    const ret = await deviceFaultLoop(
      this.sim,
      this.name,
      this.mm,
      this.notifier,
      this.device.opts,
      this.device.stats,
      (seq) => {
        range.notifierSeq = seq;
        return hmmRangeFault(range);
      },
      async (seq) => {
        await umem.umemMutex.lock();
        if (this.notifier.readRetry(seq)) {
          umem.umemMutex.unlock();
          return false;
        }
        mapped = await this.updateXlt(i0, n, write, flags.enable === true);
        umem.umemMutex.unlock();
        return true;
      },
      `${hex(start)}..${hex(end)}`,
    );
    await this.mm.mmput();
    return ret < 0 ? ret : mapped;
  }

  /**
   * mlx5r_umr_update_xlt + populate_mtt: DMA-maps every VALID entry of pfn_list[i0, i0 + n) and
   * writes its MTT entry (read, plus write when the CPU mapping is writable and `write`), in one UMR.
   * The caller holds the umem mutex (asserted) after a clean read_retry. May sleep (the UMR).
   */
  private async updateXlt(i0: number, n: number, write: boolean, enable: boolean): Promise<number> {
    const umem = this.umem;
    this.sim.assertHeld(umem.umemMutex, 'mlx5r_umr_update_xlt');
    await this.umrPost(enable ? 'update_xlt enable' : 'update_xlt');
    if (enable) this.enabled = true;
    const ps = this.kernel.pageSize;
    let mapped = 0;
    for (let i = i0; i < i0 + n; i++) {
      if (!umem.valid(i)) continue;
      const e = umem.pfnList[i];
      umem.dmaMap(i);
      this.mapPage(umem.start + i * ps, hmmPfnToPfn(e), {
        write: write && (hmmPfnFlags(e) & HMM_PFN_WRITE) !== 0,
      });
      mapped++;
    }
    return mapped;
  }

  /**
   * The page-fault handler for one access (mlx5_ib_pfault → pagefault_single_data_segment →
   * pagefault_mr): resolves the key in odp_mkeys under a usecount reference, faults the page, drops
   * the reference. Gives 0 (resume: the hardware re-executes the access) or -errno (resume with the
   * error bit). No locks held. May sleep.
   */
  protected override async fault(va: number, write: boolean): Promise<number> {
    void write; // the access mask comes from the MR (write requested whenever it is writable)
    if (this.parent !== null) {
      // An implicit child's fault resolves through the parent key to the slot's current child.
      if (this.parent.current() !== this) return CHILD_GONE;
    } else if (this.device.odpMkeys.get(this.key) !== this) return -EINVAL;
    this.usecount++;
    const ret = await this.pagefaultRealMr(va, this.kernel.pageSize);
    this.usecountPut();
    if (ret < 0) return ret;
    this.seen.faultsResolved++;
    return 0;
  }

  /**
   * A device access on this MR (an RDMA read, write or atomic through the MR's key): outside the MR,
   * a write or atomic to a read-only MR, or on a QP already in error, the access fails; a fault that
   * fails moves the QP to error (-EIO for this and every later access). No locks held. May sleep.
   */
  override async access(
    va: number,
    kind: MirrorAccessKind,
    arg?: number | Uint8Array | MirrorAtomicOp,
  ): Promise<Uint8Array | bigint | number> {
    if (this.deregistered || this.keyRevoked) return -EINVAL;
    if (this.qpState === 'error') return -EIO;
    const len =
      kind === 'read'
        ? typeof arg === 'number'
          ? arg
          : 0
        : kind === 'write'
          ? ((arg as Uint8Array)?.length ?? 0)
          : 8;
    if (va < this.start || va + len > this.end) return this.qpError(-EFAULT);
    if (kind !== 'read' && !this.writable) return this.qpError(-EACCES);
    const r = await super.access(va, kind, arg);
    if (typeof r === 'number' && r < 0) return this.qpError(r);
    return r;
  }

  /**
   * An access through the parent's KSM into this implicit child's MTT: gives CHILD_GONE when the
   * child was reclaimed meanwhile (the hardware faults on the parent again). May sleep.
   */
  async childAccess(
    va: number,
    kind: MirrorAccessKind,
    arg?: number | Uint8Array | MirrorAtomicOp,
  ): Promise<Uint8Array | bigint | number> {
    if (this.keyRevoked || this.deregistered) return CHILD_GONE;
    return super.access(va, kind, arg);
  }

  /**
   * Destroys a reclaimed implicit child (the tail of free_implicit_child_mr_work, or the parent's
   * mlx5_ib_free_odp_mr): revoke the key under the child's umem mutex, release the umem (DMA unmap,
   * notifier remove, free). The caller waited for the child's usecount to reach zero. May sleep.
   */
  async destroyChild(): Promise<void> {
    const umem = this.sim.use(this.umem, 'free_implicit_child_mr');
    await umem.umemMutex.lock();
    await this.umrPost('revoke');
    this.revokeKey();
    umem.private_ = null;
    umem.umemMutex.unlock();
    await this.umemRelease();
    this.deregistered = true;
  }

  private qpError(errno: number): number {
    this.qpState = 'error';
    this.qpErrno = errno;
    return -EIO;
  }

  // -----------------------------------------------------------------------------------------
  // Prefetch (ibv_advise_mr) and deregistration
  // -----------------------------------------------------------------------------------------

  /**
   * mlx5_ib_advise_mr_prefetch for one SGE on this MR: `prefetch` maps read-only, `prefetch-write`
   * writable (-EPERM on a read-only MR), `prefetch-no-fault` only what is resident. With `flush` the
   * fault runs now and its error is returned; otherwise a work item does it and errors are ignored.
   * The MR holds a usecount reference while the prefetch runs, so deregistration waits for it.
   * -ENOENT once the MR is no longer published. No locks held. May sleep.
   */
  async prefetch(addr: number, length: number, advice: OdpAdvice, flush = false): Promise<number> {
    if (this.device.odpMkeys.get(this.key) !== this) return -ENOENT;
    if (advice === 'prefetch-write' && !this.writable) return -EPERM;
    if (length <= 0 || addr < this.start || addr + length > this.end) return -EINVAL;
    const flags: OdpFaultFlags = {
      downgrade: advice === 'prefetch',
      snapshot: advice === 'prefetch-no-fault',
    };
    this.usecount++;
    if (flush) {
      const r = await this.pagefaultRealMr(addr, length, flags);
      this.usecountPut();
      return r < 0 ? r : 0;
    }
    this.sim.spawn(`${this.name}.prefetch`, async () => {
      await this.pagefaultRealMr(addr, length, flags);
      this.usecountPut();
    });
    return 0;
  }

  /**
   * The UMR that disables the key has completed: the device can no longer translate through any
   * MTT entry of this MR, so they are dropped from the device page table, and its DMA list is no
   * longer watched. Atomic.
   */
  private revokeKey(): void {
    this.keyRevoked = true;
    this.unmapRange(this.start, this.end);
    // The device can no longer DMA through the list: the page-lifetime check of it ends here. The
    // kernel leaves the entries DMA-mapped until ib_umem_odp_release, and an invalidation of a
    // revoked MR (private == NULL) skips them, so their pages may be freed before that unmap.
    unwatchDmaList(this.kernel, this.dmaList);
  }

  /** `mirror.detach()`: deregisters the MR. */
  async detach(): Promise<void> {
    await this.dereg();
  }

  /**
   * __mlx5_ib_dereg_mr for an ODP MR: unpublish the key and wait for its usecount to reach zero
   * (faults and prefetch work in flight), revoke the key under the umem mutex and clear
   * odp->private (the 2025 fix of CVE-2025-21732), then ib_umem_odp_release: DMA-unmap the whole span
   * under the umem mutex, remove the interval notifier (which waits out a running invalidation),
   * free the umem. No callback and no device access after it returns. No locks held. May sleep.
   */
  async dereg(): Promise<void> {
    if (this.deregistered) return;
    this.sim.mightSleep('__mlx5_ib_dereg_mr');
    const dev = this.device;
    const umem = this.umem;
    if (dev.odpMkeys.get(this.key) === this) {
      dev.odpMkeys.delete(this.key);
      this.usecountPut();
      await this.usecountWait.waitEvent(() => this.usecount === 0, 'mlx5r_deref_wait_odp_mkey');
    }
    if (!dev.bugs.deregRevokeRace) {
      await umem.umemMutex.lock();
      await this.umrPost('revoke');
      this.revokeKey();
      umem.private_ = null;
      umem.umemMutex.unlock();
    } else {
      await this.umrPost('revoke');
      this.revokeKey();
    }
    await this.umemRelease();
    this.deregistered = true;
  }

  /**
   * ib_umem_odp_release: under the umem mutex DMA-unmap the whole span (the key is revoked, so the
   * MTT entries are dropped without a UMR); then remove the notifier, after the mutex was dropped
   * (remove may wait for an invalidation that needs the mutex); then free the umem. May sleep.
   */
  async umemRelease(): Promise<void> {
    const umem = this.umem;
    await umem.umemMutex.lock();
    this.unmapRange(umem.start, umem.end);
    umem.unmapDmaPages(umem.start, umem.end);
    umem.umemMutex.unlock();
    if (this.notifier.state === 'inserted') await this.notifier.remove();
    umem.released = true;
    unwatchDmaList(this.kernel, this.dmaList);
    this.retire();
    this.sim.kfree(umem);
  }
}
