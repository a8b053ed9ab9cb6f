/**
 * Nouveau's 2019 SVM flow (nouveau_svm.c after the interval-notifier conversion, as its review
 * on the mailing list describes it), the `flavor: 'nouveau2019'` configuration of the 'gpusvm' driver:
 * no mirror objects at all. A whole-mm classic notifier clears GPU PTEs for every invalidation
 * (PFNCLR, untracked), and each GPU fault inserts a temporary one-page interval notifier whose
 * callback only bumps the sequence under the svmm mutex, faults through it, programs the PTE under
 * the same mutex after read_retry, and removes the notifier. The pair works because the core calls
 * interval notifiers before classic ones.
 */
import { EAGAIN, EBUSY, EFAULT, EINVAL } from '../../sim/errno.js';
import { Mutex } from '../../sim/sync/mutex.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { MmuIntervalNotifier } from '../../notifier/interval.js';
import { mmuNotifierRegister, type MmuNotifier } from '../../notifier/classic.js';
import { MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '../../notifier/types.js';
import { hmmRangeFault } from '../../hmm/range-fault.js';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
} from '../../hmm/pfn.js';
import { DeviceMirror, type MirrorAccessKind, type MirrorAtomicOp } from '../mirror/device-mirror.js';
import { makeDeviceExclusive } from '../../hmm/exclusive.js';
import { deviceFaultLoop } from '../fault-retry.js';
import type { GpuSvmDevice } from './device.js';
import { nouveauDmemMigrateVma } from './nouveau-dmem.js';
import type { VramClient } from './vram.js';

/** struct nouveau_svmm: one SVM client's GPU VMM mirroring a process. */
export class NouveauSvmm extends DeviceMirror implements VramClient {
  /** svmm->mutex: the driver lock (PFNMAP/PFNCLR against invalidation). */
  readonly mutex: Mutex;
  /** The whole-mm notifier (registered by attach). */
  notifier: MmuNotifier | null = null;
  /** svmm->vmm: null after teardown, so late invalidations do nothing. */
  vmm = true;
  /** Model tracking: counters of what the fault and invalidation paths did. */
  readonly seen = {
    /** One-page interval notifiers inserted by GPU faults (plain and atomic). */
    tempNotifiers: 0,
    /** Invalidations that cleared GPU PTEs (PFNCLR) through the whole-mm notifier. */
    pfnclr: 0,
    /** MIGRATE invalidations skipped because this GPU was the migration's owner. */
    ownMigrateSkipped: 0,
    /** Atomic-fault attempts that read_retry sent round again. */
    atomicRetries: 0,
  };
  /** The access being served is an atomic (the GPU reported access type 2). */
  private atomicAccess = false;

  constructor(
    /** The GPU the svmm belongs to. */
    readonly device: GpuSvmDevice,
    kernel: Kernel,
    name: string,
    process: Process,
  ) {
    super(kernel, name, process);
    this.mutex = new Mutex(kernel.sim, `${name}.svmm_mutex`);
  }

  /** nouveau_svmm_init: registers the whole-mm notifier on the process's mm. May sleep. */
  async init(): Promise<void> {
    this.notifier = await mmuNotifierRegister(this.mm, {
      invalidateRangeStart: (range) => this.invalidateRangeStart(range),
      // exit_mmap unhooks this whole-mm notifier (mmu_notifier_release) before it unmaps the
      // VMAs, and the one-page interval notifiers are gone by then: without a release op the pages
      // the GPU still maps would be freed with no zap. Like KVM's release, flush everything.
      release: async () => {
        await this.mutex.lock();
        this.vmm = false;
        this.unmapRange(0, Number.MAX_SAFE_INTEGER);
        this.mutex.unlock();
      },
    });
  }

  /**
   * nouveau_svmm_invalidate_range_start: -EAGAIN for a non-blockable range; under the svmm mutex
   * ignore the device's own migration, else clear the GPU PTEs of [start, end). May sleep.
   */
  async invalidateRangeStart(range: MmuNotifierRange): Promise<number> {
    if (!range.blockable) return -EAGAIN;
    await this.mutex.lock();
    if (this.vmm) {
      if (range.event === MMU_NOTIFY_MIGRATE && range.owner === this.device) this.seen.ownMigrateSkipped++;
      else {
        this.unmapRange(range.start, range.end);
        this.seen.pfnclr++;
      }
    }
    this.mutex.unlock();
    return 0;
  }

  /**
   * A GPU access; an atomic goes through nouveau_atomic_range_fault when it faults. Deviation: the
   * access type reaches the fault handler through a field (one access at a time per VM). May sleep.
   */
  override async access(
    va: number,
    kind: MirrorAccessKind,
    arg?: number | Uint8Array | MirrorAtomicOp,
  ): Promise<Uint8Array | bigint | number> {
    this.atomicAccess = kind === 'atomic';
    try {
      return await super.access(va, kind, arg);
    } finally {
      this.atomicAccess = false;
    }
  }

  /**
   * nouveau_atomic_range_fault for the page at `va`: a one-page interval notifier, then under the
   * device's retry policy read_begin → make_device_exclusive (owner: this GPU; the page comes back
   * locked and referenced) → svmm mutex → read_retry; on a retry the folio is unlocked and put (the
   * 2025 fix; the bug `atomicFolioLocked` keeps it locked, so the next make_device_exclusive waits on
   * the lock its own thread holds). Then the page is mapped for atomics, the folio unlocked and put,
   * the notifier removed. 0 or -errno. May sleep.
   */
  private async atomicFault(page: number): Promise<number> {
    const mm = this.mm;
    const k = this.kernel;
    const ps = k.pageSize;
    const sub = this.tempNotifier(page);
    const ins = await sub.insert(mm, page, ps);
    if (ins < 0) return ins;
    this.seen.tempNotifiers++;
    let held = -1;
    const ret = await deviceFaultLoop(
      this.sim,
      this.name,
      mm,
      sub,
      this.device.opts,
      this.device.stats,
      async () => {
        const r = await makeDeviceExclusive(mm, page, this.device);
        if (r.ret < 0) return r.ret === -EBUSY ? -EBUSY : -EINVAL;
        held = r.pfn;
        return 0;
      },
      async (seq) => {
        await this.mutex.lock();
        if (sub.readRetry(seq)) {
          this.mutex.unlock();
          this.seen.atomicRetries++;
          if (!this.device.bugs.atomicFolioLocked) {
            k.folioUnlock(held);
            k.phys.putPage(held);
          }
          held = -1;
          return false;
        }
        if (!this.vmm) {
          // Torn down meanwhile: nothing to map into; the page goes back as on a retry.
          this.mutex.unlock();
          k.folioUnlock(held);
          k.phys.putPage(held);
          held = -1;
          return -EFAULT;
        }
        this.mapPage(page, held, { write: true, atomic: true });
        this.mutex.unlock();
        k.folioUnlock(held);
        k.phys.putPage(held);
        held = -1;
        return true;
      },
      `atomic 0x${page.toString(16)}`,
    );
    await sub.remove();
    return ret;
  }

  /** The temporary one-page interval notifier of a fault (nouveau_svm_range_invalidate). */
  private tempNotifier(page: number): MmuIntervalNotifier {
    return new MmuIntervalNotifier(
      {
        invalidate: async (s, range, curSeq) => {
          if (range.event === MMU_NOTIFY_EXCLUSIVE && range.owner === this.device) return true;
          if (range.blockable) await this.mutex.lock();
          else if (!(await this.mutex.trylock())) return false;
          s.setSeq(curSeq);
          this.mutex.unlock();
          return true;
        },
      },
      { name: `${this.name}.fault@0x${page.toString(16)}`, userLock: this.mutex },
    );
  }

  /**
   * nouveau_range_fault for the page at `va`: insert a one-page interval notifier, loop read_begin →
   * hmm_range_fault → svmm mutex → read_retry under the device's retry policy, PFNMAP (widened to
   * the CPU mapping's huge page; -EFAULT instead once svmm->vmm is gone), unlock, remove the
   * notifier. 0 or -errno. May sleep.
   */
  protected override async fault(va: number, write: boolean): Promise<number> {
    const mm = this.mm;
    const ps = this.kernel.pageSize;
    if (!this.vmm || !mm.mmgetNotZero()) return -EFAULT;
    const page = va - (va % ps);
    if (this.atomicAccess) {
      const r = await this.atomicFault(page);
      await mm.mmput();
      return r;
    }
    const sub = this.tempNotifier(page);
    const ins = await sub.insert(mm, page, ps);
    if (ins < 0) {
      await mm.mmput();
      return ins;
    }
    this.seen.tempNotifiers++;
    const pfns = [0];
    const range = {
      notifier: sub,
      notifierSeq: 0,
      start: page,
      end: page + ps,
      hmmPfns: pfns,
      defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
      devPrivateOwner: this.device,
    };
    const ret = await deviceFaultLoop(
      this.sim,
      this.name,
      mm,
      sub,
      this.device.opts,
      this.device.stats,
      (seq) => {
        range.notifierSeq = seq;
        pfns[0] = 0;
        return hmmRangeFault(range);
      },
      async (seq) => {
        await this.mutex.lock();
        if (!this.vmm) {
          // Torn down while this fault walked: svmm->vmm is gone, there is no GPU VMM to program.
          this.mutex.unlock();
          return -EFAULT;
        }
        if (sub.readRetry(seq)) {
          this.mutex.unlock();
          return false;
        }
        const e = pfns[0];
        const f = hmmPfnFlags(e);
        if (f & HMM_PFN_VALID) {
          const order = hmmPfnToMapOrder(e);
          const pages = 1 << order;
          const first = page - (page % (ps * pages));
          const pfn0 = hmmPfnToPfn(e) - (page - first) / ps;
          for (let j = 0; j < pages; j++)
            this.mapPage(first + j * ps, pfn0 + j, { write: (f & HMM_PFN_WRITE) !== 0 });
        }
        this.mutex.unlock();
        return true;
      },
      `0x${page.toString(16)}`,
    );
    await sub.remove();
    await mm.mmput();
    return ret;
  }

  /** Where a mapped page's bytes live: VRAM pages are backed by system pages in the model. */
  protected override dataPfn(pfn: number): number {
    return this.device.vram?.dataPfn(pfn) ?? pfn;
  }

  /**
   * The SVM_BIND ioctl (nouveau_svmm_bind) with MIGRATE to GPU_VRAM over [addr, addr + length):
   * page-align the range, then under the mmap read lock migrate each VMA overlap to VRAM
   * (nouveau_dmem_migrate_vma). Best effort, as upstream: errors of the migration are ignored and
   * the result is 0; -EINVAL for a bad range or a GPU without VRAM. No locks held. May sleep.
   */
  async svmBind(addr: number, length: number): Promise<number> {
    const ps = this.kernel.pageSize;
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(length) || addr < 0 || length <= 0)
      return -EINVAL;
    if (this.device.vram === null || !this.vmm) return -EINVAL;
    const start = addr - (addr % ps);
    const end = Math.ceil((addr + length) / ps) * ps;
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EINVAL;
    await mm.mmapLock.downRead();
    this.binding++;
    for (const vma of mm.vmas.intersecting(start, end)) {
      const s = Math.max(start, vma.start);
      const e = Math.min(end, vma.end);
      await nouveauDmemMigrateVma(this, vma, s, e);
    }
    this.binding--;
    mm.mmapLock.upRead();
    await mm.mmput();
    return 0;
  }

  /** SVM_BIND calls in progress (for the coverage mark of a CPU fault racing one). */
  private binding = 0;

  /**
   * nouveau_dmem_migrate_to_ram's GPU side: under the svmm mutex clear the GPU PTEs of [start, end)
   * (PFNCLR) before the page's bytes are copied back. May sleep.
   */
  async clearForMigrateToRam(start: number, end: number): Promise<void> {
    if (this.binding > 0) this.sim.mark('migrate_to_ram during SVM_BIND');
    await this.mutex.lock();
    if (this.vmm) this.unmapRange(start, end);
    this.mutex.unlock();
  }

  /** nouveau_svmm_fini: vmm = NULL under the mutex, then the notifier goes. May sleep. */
  async detach(): Promise<void> {
    if (!this.vmm) return;
    await this.mutex.lock();
    this.vmm = false;
    this.unmapRange(0, Number.MAX_SAFE_INTEGER);
    this.mutex.unlock();
    if (this.notifier !== null) await this.notifier.unregister();
    this.retire();
  }
}
