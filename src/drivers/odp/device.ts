/**
 * The ODP device (struct mlx5_ib_dev as far as on-demand paging needs it): the odp_mkeys table a
 * page fault resolves keys in, memory-region registration (mlx5_ib_reg_user_mr with
 * IB_ACCESS_ON_DEMAND → create_user_odp_mr, or the implicit form), the device's fault-loop policy
 * and statistics, and the planted bugs, each behind a switch that is
 * off by default (the upstream fix).
 *
 * Registered as driver 'odp': `const nic = await k.createDevice('odp', { name: 'mlx0' })`;
 * `const mr = await nic.attach(p, { start, length, access: 'rw' })` (explicit MR) or
 * `nic.attach(p, { implicit: true })` (implicit MR).
 */
import { EFAULT, EINVAL } from '../../sim/errno.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { FAULT_RETRY_SCHEMA, FaultLoopStats, type FaultRetryOptions } from '../fault-retry.js';
import { DriverError } from '../options.js';
import { parseAttachOptions, registerDriver, type AttachedMirror, type Device } from '../registry.js';
import { MLX5_IMR_MTT_SIZE } from './constants.js';
import { ImplicitOdpMr } from './implicit.js';
import { OdpMr } from './mr.js';

/** The real bugs the driver can be built with (the real bugs reported upstream); all off = upstream. */
export interface OdpBugs {
  /**
   * CVE-2025-21732 (2025, "Fix a race for an ODP MR which leads to CQE with error"): dereg revokes
   * the key without the umem mutex and leaves odp->private set, so a concurrent invalidation posts
   * its zap UMR on the revoked key and the UMR QP goes to error. Fix: revoke under the umem mutex
   * and clear odp->private; the invalidation skips a revoked MR.
   */
  deregRevokeRace: boolean;
  /**
   * 2019 ("Do not race with mlx5_ib_invalidate_range during create and destroy"): the notifier is
   * live from ib_umem_odp_get, before the MR exists; the callback used odp->private unchecked. Fix:
   * skip an umem with nothing mapped (npages == 0).
   */
  invalidateBeforeMr: boolean;
  /**
   * CVE-2025-21714 (2025, "Fix implicit ODP use after free"): an empty child could be reclaimed
   * twice (the slot was erased unconditionally), queueing its destroy work twice. Fix: a
   * compare-and-exchange of the slot from this child to empty.
   */
  implicitDoubleReclaim: boolean;
  /**
   * 2025 ("Fix implicit ODP hang on parent deregistration"): the failed compare-and-exchange path
   * of the CVE-2025-21714 fix kept the parent reference it had taken, so parent dereg waited for the
   * usecount forever. Fix: drop it on that path.
   */
  implicitParentHang: boolean;
  /**
   * A planted mistake, not an upstream bug: the invalidation zaps the MTT but leaves the pages
   * DMA-mapped (no ib_umem_odp_unmap_dma_pages), so the DMA list keeps pages the CPU frees. The
   * device mapping checks see nothing (the MTT is empty); the page-lifetime check of the DMA list
   * (watchDmaList) is what catches it.
   */
  skipDmaUnmap: boolean;
}

/** The options of an ODP device. */
export interface OdpOptions extends FaultRetryOptions, OdpBugs {
  /** MLX5_IMR_MTT_SIZE: the span of an implicit child (1 GiB upstream). */
  implicitChildBytes: number;
}

/** Attach options: an explicit MR over [start, start + length), or an implicit MR. */
export interface OdpAttachOptions {
  /** First virtual address of an explicit MR, in bytes (rounded down to a page). */
  start?: number;
  /** Length of an explicit MR in bytes (its end is rounded up to a page). */
  length?: number;
  /** 'r' registers a read-only MR, 'rw' (the default) a writable one. */
  access?: 'r' | 'rw';
  /** Register an implicit MR over the whole address space instead (no start or length). */
  implicit?: boolean;
}

const BUG_NAMES: ReadonlyArray<keyof OdpBugs> = [
  'deregRevokeRace',
  'invalidateBeforeMr',
  'implicitDoubleReclaim',
  'implicitParentHang',
  'skipDmaUnmap',
];

/** An ODP-capable RDMA device. */
export class OdpDevice implements Device {
  readonly driver = 'odp';
  /** odp_mkeys: key → MR (explicit MRs and implicit parents). */
  readonly odpMkeys = new Map<number, OdpMr | ImplicitOdpMr>();
  /** Counters of the device's fault loop, summed over all its MRs. */
  readonly stats = new FaultLoopStats();
  /** The planted bugs this device was created with (from the options; all false = upstream). */
  readonly bugs: OdpBugs;
  /**
   * Every MR registered, live or deregistered since (for tests and reports); one whose umem could
   * not be set up (mm gone, notifier insert failed) was freed at once and is not listed.
   */
  readonly mrs: Array<OdpMr | ImplicitOdpMr> = [];
  private nextKey = 0x100;

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    /** The validated createDevice options (fault-loop policy, child span, bug switches). */
    readonly opts: OdpOptions,
  ) {
    this.bugs = {
      deregRevokeRace: opts.deregRevokeRace,
      invalidateBeforeMr: opts.invalidateBeforeMr,
      implicitDoubleReclaim: opts.implicitDoubleReclaim,
      implicitParentHang: opts.implicitParentHang,
      skipDmaUnmap: opts.skipDmaUnmap,
    };
  }

  /** A fresh mkey index. Atomic. */
  allocKey(): number {
    return this.nextKey++;
  }

  /** `device.attach(p, options)`: registers an ODP MR (see regMr / regImplicitMr). May sleep. */
  async attach(p: Process, options: object = {}): Promise<AttachedMirror> {
    const o = parseAttachOptions<OdpAttachOptions>(this, options);
    if (o.implicit) {
      if (o.start !== undefined || o.length !== undefined)
        throw new DriverError(`${this.name}.attach(): an implicit MR takes no start or length`);
      const r = await this.regImplicitMr(p, o.access !== 'r');
      if (typeof r === 'number')
        throw new DriverError(`${this.name}.attach(): implicit MR registration failed (${r})`);
      return r;
    }
    if (o.start === undefined || o.length === undefined)
      throw new DriverError(
        `${this.name}.attach(): an explicit MR needs start and length (or implicit: true)`,
      );
    const r = await this.regMr(p, o.start, o.length, o.access !== 'r');
    if (typeof r === 'number') throw new DriverError(`${this.name}.attach(): MR registration failed (${r})`);
    return r;
  }

  /**
   * create_user_odp_mr for [start, start + length): ib_umem_odp_get (page-aligned span, pfn list,
   * interval notifier inserted: invalidations may arrive from here on, before the MR exists), an MTT
   * key, odp->private = mr, the key published in odp_mkeys with usecount 1, then
   * mlx5_ib_init_odp_mr: a snapshot fault over the whole MR that maps what is resident and enables
   * the key. Gives the MR or -errno (-EINVAL for a bad span, -EFAULT when the mm is gone). No locks
   * held. May sleep.
   */
  async regMr(p: Process, start: number, length: number, writable: boolean): Promise<OdpMr | number> {
    const k = this.kernel;
    const ps = k.pageSize;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length <= 0)
      return -EINVAL;
    const s = start - (start % ps);
    const e = Math.ceil((start + length) / ps) * ps;
    if (!Number.isSafeInteger(e)) return -EINVAL;
    const key = this.allocKey();
    const mr = new OdpMr(this, k, `${this.name}.mr${key.toString(16)}`, p, key, s, e, writable);
    const mm = p.mm;
    // ib_umem_odp_get frees the umem when the mm is gone or the insert fails (a fatal signal
    // during the mm's first registration): no MR exists to release it later.
    if (!mm.mmgetNotZero()) {
      await mr.umemRelease();
      return -EFAULT;
    }
    const ret = await mr.notifier.insert(mm, s, e - s);
    await mm.mmput();
    if (ret < 0) {
      await mr.umemRelease();
      return ret;
    }
    this.mrs.push(mr);
    // The MR is being set up (mkey from the cache): the notifier is already live.
    await k.sim.point('mkey_alloc', mr.name);
    mr.umem.private_ = mr;
    mr.usecount = 1;
    this.odpMkeys.set(key, mr);
    mr.usecount++;
    const r = await mr.pagefaultRealMr(s, e - s, { snapshot: true, enable: true });
    mr.usecountPut();
    if (r < 0) {
      await mr.dereg();
      return r;
    }
    return mr;
  }

  /**
   * mlx5_ib_alloc_implicit_mr: a parent without interval or notifier, its KSM pointing every slot
   * at the null key, published in odp_mkeys. Gives the parent or -errno. May sleep.
   */
  async regImplicitMr(p: Process, writable: boolean): Promise<ImplicitOdpMr | number> {
    if (p.state !== 'alive') return -EFAULT;
    const key = this.allocKey();
    const imr = new ImplicitOdpMr(this, `${this.name}.imr${key.toString(16)}`, p, key, writable);
    this.mrs.push(imr);
    await this.kernel.sim.point('umr', `${imr.name} ksm init`);
    this.odpMkeys.set(key, imr);
    return imr;
  }
}

registerDriver({
  name: 'odp',
  summary: 'RDMA on-demand paging (ib_umem_odp + mlx5): explicit and implicit memory regions',
  era: 'modern',
  options: {
    ...FAULT_RETRY_SCHEMA,
    implicitChildBytes: {
      type: 'number',
      integer: true,
      min: 4096,
      default: MLX5_IMR_MTT_SIZE,
      doc: 'span of an implicit child MR (MLX5_IMR_MTT_SIZE, 1 GiB upstream); a power of two',
    },
    ...Object.fromEntries(
      BUG_NAMES.map((b) => [
        b,
        {
          type: 'boolean',
          default: false,
          doc:
            b === 'skipDmaUnmap'
              ? 'planted mistake (not upstream): the invalidation leaves the pages DMA-mapped'
              : `planted real bug (see OdpBugs.${b}); off = the upstream fix`,
        },
      ]),
    ),
  },
  attachOptions: {
    start: { type: 'number', integer: true, min: 0, doc: 'first address of an explicit MR' },
    length: { type: 'number', integer: true, min: 1, doc: 'length in bytes of an explicit MR' },
    access: { type: 'enum', values: ['r', 'rw'], default: 'rw', doc: 'MR access: read-only or writable' },
    implicit: { type: 'boolean', default: false, doc: 'an implicit MR over the whole address space' },
  },
  create(k, name, options) {
    const o = options as unknown as OdpOptions;
    if (!Number.isInteger(Math.log2(o.implicitChildBytes)))
      throw new DriverError(
        `createDevice('odp'): option 'implicitChildBytes' must be a power of two, got ${o.implicitChildBytes}`,
      );
    return new OdpDevice(k, name, o);
  },
});
