/**
 * Implicit ODP (mlx5_ib_alloc_implicit_mr, pagefault_implicit_mr, implicit_get_child_mr,
 * destroy_unused_implicit_child_mr): one key over the whole address space.
 * The parent has no interval and no notifier; children of a fixed chunk (1 GiB upstream,
 * `implicitChildBytes` here) are created on the first fault in their slot, each with its own
 * interval notifier, and reclaimed by deferred work once an invalidation leaves them empty. The
 * parent's KSM (slot → child key) is rewritten under the parent's umem mutex after every xarray
 * change.
 */
import { EFAULT, EINVAL, EIO } from '../../sim/errno.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { WaitQueue } from '../../sim/sync/waitqueue.js';
import { TouchedMap } from '../../sim/touched-map.js';
import type { Process } from '../../mm/process.js';
import type { MirrorAccessKind, MirrorAtomicOp } from '../mirror/device-mirror.js';
import type { AttachedMirror } from '../registry.js';
import { OdpMr } from './mr.js';
import { CHILD_GONE } from './constants.js';
import type { OdpDevice } from './device.js';

/** Retries of one implicit access across child replacement before it is reported. */
const MAX_IMPLICIT_RETRIES = 64;

/** The parent of an implicit MR (struct mlx5_ib_mr with is_implicit_odp). */
export class ImplicitOdpMr implements AttachedMirror {
  /** implicit_children (an xarray, read locklessly): slot → child. */
  readonly children: Map<number, OdpMr>;
  /** The hardware KSM: slot → child (the null key when absent). */
  readonly ksm: Map<number, OdpMr>;
  /** The parent umem's mutex: serialises KSM updates. */
  readonly umemMutex: Mutex;
  private usecountValue = 1;
  /** Woken when the parent's usecount drops to zero (deregistration waits on it). */
  readonly usecountWait: WaitQueue;
  /** imr->mmkey.usecount, shared without a lock: each read and change is a dpor touch. */
  get usecount(): number {
    this.device.kernel.sim.touch(this.usecountWait.name, true);
    return this.usecountValue;
  }
  /** Stores imr->mmkey.usecount (a dpor write touch); usecountPut drops a reference and wakes waiters. */
  set usecount(n: number) {
    this.device.kernel.sim.touch(this.usecountWait.name);
    this.usecountValue = n;
  }
  /** Deregistration finished: every child destroyed, later accesses give -EINVAL. */
  deregistered = false;
  /** The QP using the parent key: 'rts' until an access fails, then 'error' for good. */
  qpState: 'rts' | 'error' = 'rts';
  /** The errno of the access that moved the QP to error. */
  qpErrno = 0;
  /** Model tracking: counters of child creation and reclaim. */
  readonly seen = {
    /** Children installed in the xarray by a fault. */
    childrenCreated: 0,
    /** Empty children taken out of the xarray and queued for destruction. */
    childrenReclaimed: 0,
    /** Child creations that lost the slot to a concurrent fault (the new child is destroyed). */
    createRaces: 0,
    /** Reclaims skipped because the slot no longer held that child. */
    reclaimSkips: 0,
  };

  constructor(
    /** The device the parent is registered on. */
    readonly device: OdpDevice,
    /** Names the parent in traces and violations. */
    readonly name: string,
    /** The process whose whole address space the parent covers. */
    readonly process: Process,
    /** mmkey.key of the parent: its index in the device's odp_mkeys. */
    readonly key: number,
    /** The parent (and so every child) allows writes. */
    readonly writable: boolean,
  ) {
    const sim = device.kernel.sim;
    this.children = new TouchedMap(sim, `${name}.children`);
    this.ksm = new TouchedMap(sim, `${name}.ksm`);
    this.umemMutex = new Mutex(sim, `${name}.umem_mutex`);
    this.usecountWait = new WaitQueue(sim, `${name}.usecount`);
  }

  /** The span of one child in bytes (MLX5_IMR_MTT_SIZE; the device's `implicitChildBytes`). */
  get chunk(): number {
    return this.device.opts.implicitChildBytes;
  }

  /** refcount_inc_not_zero(&imr->mmkey.usecount). Atomic. */
  private getNotZero(): boolean {
    if (this.usecount === 0) return false;
    this.usecount++;
    return true;
  }

  /** Drops a parent reference. Atomic. */
  usecountPut(): void {
    if (this.usecount <= 0) this.device.kernel.sim.bug(`${this.name}: usecount underflow`);
    this.usecount--;
    if (this.usecount === 0) this.usecountWait.wakeUpAll();
  }

  /**
   * implicit_get_child_mr(imr, slot): a child over the slot's chunk with its own notifier
   * (mmget_not_zero: -EFAULT when the mm is gone), usecount 2 (the xarray's and the caller's), then
   * a compare-and-exchange of the slot from empty: the loser drops its child and uses the winner.
   * Gives the child (with a reference for the caller) or -errno. No locks held. May sleep.
   */
  private async getChild(slot: number): Promise<OdpMr | number> {
    const dev = this.device;
    const k = dev.kernel;
    const mm = this.process.mm;
    if (!mm.mmgetNotZero()) return -EFAULT;
    const start = slot * this.chunk;
    const child = new OdpMr(
      dev,
      k,
      `${this.name}.child${slot}`,
      this.process,
      dev.allocKey(),
      start,
      start + this.chunk,
      this.writable,
    );
    const ret = await child.notifier.insert(mm, start, this.chunk);
    // ib_umem_odp_alloc_child frees the umem when its insert fails (a fatal signal during the
    // mm's first registration): nothing else would ever release the child.
    if (ret < 0) await child.umemRelease();
    await mm.mmput();
    if (ret < 0) return ret;
    child.umem.private_ = child;
    child.usecount = 2;
    child.parent = {
      slot,
      current: () => this.children.get(slot),
      childDestroyed: (c) => this.childDestroyed(c),
    };
    await child.umrPost('zap all + enable');
    child.enabled = true;
    const winner = this.children.get(slot);
    if (winner !== undefined) {
      this.seen.createRaces++;
      winner.usecount++;
      child.usecount = 0;
      await child.destroyChild();
      return winner;
    }
    this.children.set(slot, child);
    this.seen.childrenCreated++;
    return child;
  }

  /**
   * pagefault_implicit_mr(imr, va, bcnt): for each chunk-sized slot of the span, load or create its
   * child and fault the part inside it through pagefault_real_mr; then, when a child was created,
   * rewrite the KSM entries of the update window under the parent's umem mutex (even after a
   * failure half way). Gives the pages mapped or -errno. No locks held. May sleep.
   */
  async pagefaultImplicitMr(va: number, bcnt: number): Promise<number> {
    if (va < 0 || bcnt <= 0) return -EFAULT;
    let mapped = 0;
    let err = 0;
    let updStart = -1;
    let updEnd = -1;
    for (let a = va; a < va + bcnt;) {
      const slot = Math.floor(a / this.chunk);
      const slotEnd = (slot + 1) * this.chunk;
      const n = Math.min(va + bcnt, slotEnd) - a;
      let child = this.children.get(slot);
      if (child !== undefined) child.usecount++;
      else {
        const c = await this.getChild(slot);
        if (typeof c === 'number') {
          err = c;
          break;
        }
        child = c;
        if (updStart < 0) updStart = slot;
        updEnd = slot + 1;
      }
      const r = await child.pagefaultRealMr(a, n);
      child.usecountPut();
      if (r < 0) {
        err = r;
        break;
      }
      mapped += r;
      a += n;
    }
    if (updStart >= 0) {
      await this.umemMutex.lock();
      await this.device.kernel.sim.point('umr', `${this.name} ksm update`);
      for (let s = updStart; s < updEnd; s++) {
        const c = this.children.get(s);
        if (c === undefined) this.ksm.delete(s);
        else this.ksm.set(s, c);
      }
      this.umemMutex.unlock();
    }
    return err < 0 ? err : mapped;
  }

  /**
   * destroy_unused_implicit_child_mr, called from a child's invalidation with the child's umem
   * mutex held once it is empty: take a parent reference unless the parent is being destroyed,
   * compare-and-exchange the slot from this child to empty (the 2025 fix of CVE-2025-21714; on
   * failure drop the parent reference, the 2025 fix of the dereg hang), and queue the destroy work.
   * Atomic (the work sleeps).
   */
  childDestroyed(child: OdpMr): void {
    this.device.kernel.sim.assertHeld(child.umem.umemMutex, 'destroy_unused_implicit_child_mr');
    const slot = child.parent!.slot;
    const bugs = this.device.bugs;
    if (!this.getNotZero()) return;
    if (!bugs.implicitDoubleReclaim && this.children.get(slot) !== child) {
      this.seen.reclaimSkips++;
      if (!bugs.implicitParentHang) this.usecountPut();
      return;
    }
    if (this.children.get(slot) === child) this.children.delete(slot);
    this.seen.childrenReclaimed++;
    const sim = this.device.kernel.sim;
    sim.spawn(`${child.name}.destroy`, async () => {
      // free_implicit_child_mr_work: drop the xarray's reference and wait for users to go.
      child.usecountPut();
      await child.usecountWait.waitEvent(() => child.usecount === 0, 'mlx5r_deref_wait_odp_mkey');
      await this.umemMutex.lock();
      await sim.point('umr', `${this.name} ksm update`);
      if (this.ksm.get(slot) === child) this.ksm.delete(slot);
      this.umemMutex.unlock();
      await child.destroyChild();
      this.usecountPut();
    });
  }

  /**
   * A device access through the parent key: the KSM entry of the slot leads to the child's MTT; a
   * null entry (or a child being removed) faults on the parent, which creates the child. Fails with
   * -EIO once a fault failed (the QP is in error). No locks held. May sleep.
   */
  async access(
    va: number,
    kind: MirrorAccessKind,
    arg?: number | Uint8Array | MirrorAtomicOp,
  ): Promise<unknown> {
    if (this.deregistered) return -EINVAL;
    if (this.qpState === 'error') return -EIO;
    const len =
      kind === 'read'
        ? typeof arg === 'number'
          ? arg
          : 0
        : kind === 'write'
          ? ((arg as Uint8Array)?.length ?? 0)
          : 8;
    const slot = Math.floor(va / this.chunk);
    if (len > 0 && Math.floor((va + len - 1) / this.chunk) !== slot) return this.fail(-EINVAL); // Deviation: one access stays inside one child chunk.
    for (let tries = 0; tries < MAX_IMPLICIT_RETRIES; tries++) {
      const child = this.ksm.get(slot);
      if (child === undefined || child.keyRevoked) {
        // pagefault_single_data_segment: the fault resolves the parent key in odp_mkeys and holds a
        // usecount reference while it runs, so deregistration waits for it before it destroys the
        // children; a fault that finds the key gone fails.
        if (this.device.odpMkeys.get(this.key) !== this) return this.fail(-EINVAL);
        this.usecount++;
        const r = await this.pagefaultImplicitMr(
          va - (va % this.device.kernel.pageSize),
          this.device.kernel.pageSize,
        );
        this.usecountPut();
        if (r < 0) return this.fail(r);
        continue;
      }
      const r = await child.childAccess(va, kind, arg);
      if (r === CHILD_GONE) continue;
      if (typeof r === 'number' && r < 0) return this.fail(r);
      return r;
    }
    return this.device.kernel.sim.report(
      'livelock',
      `${this.name}: access at 0x${va.toString(16)} kept missing its child`,
      {
        key: `${this.name} implicit access livelock`,
      },
    );
  }

  private fail(errno: number): number {
    this.qpState = 'error';
    this.qpErrno = errno;
    return -EIO;
  }

  /**
   * Deregistration of the parent: unpublish, wait for the usecount (destroy work in flight holds
   * parent references), revoke, then mlx5_ib_free_odp_mr: destroy every child still in the xarray.
   * No locks held. May sleep.
   */
  async detach(): Promise<void> {
    if (this.deregistered) return;
    const dev = this.device;
    if (dev.odpMkeys.get(this.key) === this) {
      dev.odpMkeys.delete(this.key);
      this.usecountPut();
      await this.usecountWait.waitEvent(() => this.usecount === 0, 'mlx5r_deref_wait_odp_mkey');
    }
    await dev.kernel.sim.point('umr', `${this.name} revoke`);
    for (const [slot, child] of [...this.children]) {
      this.children.delete(slot);
      this.ksm.delete(slot);
      child.usecountPut();
      await child.usecountWait.waitEvent(() => child.usecount === 0, 'mlx5r_deref_wait_odp_mkey');
      await child.destroyChild();
    }
    this.deregistered = true;
  }
}
