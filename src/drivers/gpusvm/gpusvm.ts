/**
 * A GPU VM mirroring a process in the manner of drm_gpusvm (drivers/gpu/drm/drm_gpusvm.c) with an
 * xe-like driver on top: notifiers of `notifierSize` created on GPU
 * fault, each holding ranges whose size is chosen from `chunkSizes` to fit the VMA, the notifier and
 * the neighbours; per-range pages (the pfn array and the DMA state) guarded by the notifier lock (an
 * rwsem, write only inside the invalidation callback); the GPU page table is the DeviceMirror's.
 *
 * GPU fault (xe_svm_handle_pagefault, under the svm lock): garbage-collect → find or insert the
 * range → get pages (read_begin → hmm_range_fault → notifier lock (read) → read_retry → DMA map) →
 * bind (under the notifier lock, pages still valid → program). Invalidate: zap the GPU PTEs of every
 * intersecting range and DMA-unmap them; UNMAP marks the ranges unmapped and queues them for the
 * garbage collector, which removes them (and a notifier with its last range) from a worker, never
 * from inside the callback.
 */
import { EAGAIN, EBUSY, EFAULT, EINVAL, ENOENT, ENOMEM, EPERM } from '../../sim/errno.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { RwSemaphore } from '../../sim/sync/rwsem.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { VM_HUGETLB, VM_WRITE } from '../../mm/constants.js';
import { MmuIntervalNotifier } from '../../notifier/interval.js';
import { MMU_NOTIFY_UNMAP, type MmuNotifierRange } from '../../notifier/types.js';
import { hmmRangeFault } from '../../hmm/range-fault.js';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
  HMM_RANGE_DEFAULT_TIMEOUT,
} from '../../hmm/pfn.js';
import { PTE_KIND_PRESENT } from '../../mm/page-table.js';
import { DeviceMirror, type MirrorAccessKind, type MirrorAtomicOp } from '../mirror/device-mirror.js';
import { deviceFaultLoop } from '../fault-retry.js';
import { MIGRATE_VMA_SELECT_SYSTEM } from '../../hmm/migrate-device.js';
import type { GpuSvmDevice } from './device.js';
import { GPUSVM_REMOVE_IN_CALLBACK } from './switches.js';

/** struct drm_gpusvm_range. */
export class GpuSvmRange {
  /** The hmm pfns of the last get_pages (one per page). */
  readonly pfns: Float64Array;
  /** pages.flags.has_dma_mapping: DMA-mapped and not invalidated since. */
  hasDmaMapping = false;
  /** Set by an UNMAP invalidation (get_pages then refuses with -EFAULT until GC removes the range). */
  unmapped = false;
  /** The UNMAP covered only part of the range. */
  partialUnmap = false;
  /** pages.flags.has_devmem_pages: the last get_pages found the range in this GPU's VRAM. */
  hasDevmem = false;
  /** The GPU page table maps this range (xe's tile_present). */
  bound = false;
  /** pages.notifier_seq: LONG_MAX ("never valid") until get_pages stores its seq. */
  notifierSeq = Number.MAX_SAFE_INTEGER;
  /** The range was taken out of its notifier (range remove, or the planted in-callback removal). */
  removed = false;

  constructor(
    /** The notifier whose block holds the range. */
    readonly notifier: GpuSvmNotifier,
    /** First virtual address of the range in bytes (aligned to its chunk size). */
    readonly start: number,
    /** End of the range in bytes, exclusive. */
    readonly end: number,
    /**
     * flags.migrate_devmem: the range may be migrated to VRAM (set when its VMA is anonymous and
     * not hugetlb).
     */
    readonly migrateDevmem: boolean,
    pageSize: number,
  ) {
    this.pfns = new Float64Array((end - start) / pageSize);
  }

  /** `range [start, end)` in hex, for messages. */
  toString(): string {
    return `range [0x${this.start.toString(16)}, 0x${this.end.toString(16)})`;
  }
}

/** struct drm_gpusvm_notifier: an interval subscription over one notifier-size block and its ranges. */
export class GpuSvmNotifier {
  /** drm_gpusvm_notifier.notifier: the interval subscription over [start, end). */
  readonly sub: MmuIntervalNotifier;
  /** The notifier's ranges by start (the range tree). */
  readonly ranges = new Map<number, GpuSvmRange>();
  /** flags.removed: its subscription was removed (fini). */
  removed = false;

  constructor(
    /** The GPU VM the notifier belongs to. */
    readonly svm: GpuSvm,
    /** First virtual address of the block in bytes (aligned to the notifier size). */
    readonly start: number,
    /** End of the block in bytes, exclusive (start + the notifier size). */
    readonly end: number,
  ) {
    this.sub = new MmuIntervalNotifier(
      { invalidate: (sub, range, curSeq) => svm.notifierInvalidate(this, sub, range, curSeq) },
      { name: `${svm.name}.notifier@0x${start.toString(16)}`, userLock: svm.notifierLock },
    );
  }

  /** The ranges intersecting [start, end). */
  intersecting(start: number, end: number): GpuSvmRange[] {
    const out: GpuSvmRange[] = [];
    for (const r of this.ranges.values()) if (r.start < end && r.end > start) out.push(r);
    return out;
  }
}

/** Tries of one GPU fault (xe retries on -EFAULT/-EPERM/-EAGAIN) before it fails. */
const MAX_GPU_FAULT_TRIES = 8;

/** struct drm_gpusvm embedded in a fault-mode GPU VM (one per `gpu.attach(p)`). */
export class GpuSvm extends DeviceMirror {
  /** The driver's svm lock (xe: vm->lock): find_or_insert, range remove, GC, the fault handler. */
  readonly svmLock: Mutex;
  /** notifier_lock: write only in the invalidation callback; read for range changes, DMA state, commit. */
  readonly notifierLock: RwSemaphore;
  /** The notifiers by start. */
  readonly notifiers = new Map<number, GpuSvmNotifier>();
  /** Ranges queued for the garbage collector (UNMAP). */
  readonly gcList: GpuSvmRange[] = [];
  private gcRunning = false;
  /** Set by detach: later GPU faults give -EFAULT, UNMAP queues nothing and no GC work starts. */
  closed = false;
  /**
   * dpor's object for the garbage-collector state (gcList, gcRunning, closed): the callback
   * queues under the notifier lock, the collector pops under the svm lock and the worker's
   * end runs under none (xe's list has its own spinlock), so each use touches it.
   */
  private readonly gcTag: string;
  /** Model tracking: counters of what the fault, invalidation and GC paths did. */
  readonly seen = {
    /** Notifiers inserted by find_or_insert. */
    notifiersCreated: 0,
    /** Notifiers removed (last range gone, a fresh one whose range failed, or teardown). */
    notifiersRemoved: 0,
    /** Ranges inserted by find_or_insert. */
    rangesCreated: 0,
    /** Ranges removed (GC, fault-path removal, teardown, or the planted in-callback removal). */
    rangesRemoved: 0,
    /** Ranges an UNMAP invalidation marked unmapped and queued for the garbage collector. */
    unmapEvents: 0,
    /** Bound ranges whose GPU PTEs an invalidation zapped. */
    zaps: 0,
    /** Garbage-collector passes that found queued ranges. */
    gcRuns: 0,
    /** Chunk sizes skipped because not every page was present (check_pages_threshold). */
    chunkFallbacks: 0,
  };

  constructor(
    /** The GPU the VM belongs to. */
    readonly device: GpuSvmDevice,
    kernel: Kernel,
    name: string,
    process: Process,
  ) {
    super(kernel, name, process);
    this.svmLock = new Mutex(kernel.sim, `${name}.vm_lock`);
    this.notifierLock = new RwSemaphore(kernel.sim, `${name}.notifier_lock`);
    this.gcTag = `${name}.gc`;
    // drm_gpusvm_init pins the mm_struct itself (mmgrab): after exit the last notifier removal
    // must not free the mm this SVM still calls mmget_not_zero on. Dropped by detach (fini).
    this.mm.mmgrab();
  }

  /** The device's drm_gpusvm notifier_size in bytes: each notifier covers one aligned block of it. */
  get notifierSize(): number {
    return this.device.opts.notifierSize;
  }

  // -------------------------------------------------------------------------------------------
  // Invalidation
  // -------------------------------------------------------------------------------------------

  /**
   * drm_gpusvm_notifier_invalidate + xe_svm_invalidate: refuse a non-blockable range; under the
   * notifier lock for write set the sequence, zap the GPU PTEs of every bound range intersecting the
   * event (the whole range, as xe widens the invalidation to range bounds), DMA-unmap every intersecting range, and on UNMAP mark them unmapped (partial when the
   * range sticks out) and queue them for the garbage collector. May sleep when blockable.
   */
  async notifierInvalidate(
    n: GpuSvmNotifier,
    sub: MmuIntervalNotifier,
    range: MmuNotifierRange,
    curSeq: number,
  ): Promise<boolean> {
    if (!range.blockable) return false;
    await this.notifierLock.downWrite();
    sub.setSeq(curSeq);
    const start = Math.max(range.start, n.start);
    const end = Math.min(range.end, n.end);
    let queued = false;
    // An UNMAP may queue ranges for the collector (its state: see gcTag).
    if (range.event === MMU_NOTIFY_UNMAP) this.sim.touch(this.gcTag);
    for (const r of n.intersecting(start, end)) {
      // xe_svm_range_notifier_event_begin: skip an unmapped or unbound range; otherwise widen the
      // invalidation to the range's bounds and zap the whole range (xe_pt_zap_ptes_range), since a
      // range is bound and invalidated as one unit. Zapping only the intersection would leave the
      // rest mapped on a range a partial UNMAP marks unmapped, which no later event zaps again.
      if (r.bound && !r.unmapped) {
        if (r.start < start || r.end > end) this.sim.mark('invalidation widened to the range');
        this.unmapRange(r.start, r.end);
        this.seen.zaps++;
        r.bound = false;
      }
      // drm_gpusvm_range_unmap_pages (in notifier): the DMA mappings go, the pages are no longer valid.
      r.hasDmaMapping = false;
      r.hasDevmem = false;
      if (range.event === MMU_NOTIFY_UNMAP && !this.closed && !r.unmapped) {
        r.unmapped = true;
        r.partialUnmap = start > r.start || end < r.end;
        this.gcList.push(r);
        this.seen.unmapEvents++;
        queued = true;
      }
    }
    if (queued && this.sim.switchOn(GPUSVM_REMOVE_IN_CALLBACK)) {
      await this.removeFromCallback(n);
      return true;
    }
    this.notifierLock.upWrite();
    if (queued) this.gcKick();
    return true;
  }

  /**
   * The planted mistake `gpusvm.removeInCallback`: the UNMAP callback takes its unmapped ranges out
   * at once and, the notifier left empty, removes the notifier's subscription from inside its own
   * callback (drm_gpusvm leaves both to the garbage collector). mmu_interval_notifier_remove waits
   * for the invalidation in progress to end, and that is the one running this callback. Called with
   * the notifier lock held for write; releases it. May sleep.
   */
  private async removeFromCallback(n: GpuSvmNotifier): Promise<void> {
    this.sim.assertHeld(this.notifierLock, 'the UNMAP callback (gpusvm.removeInCallback)');
    this.sim.touch(this.gcTag);
    for (const r of [...n.ranges.values()]) {
      if (!r.unmapped) continue;
      const i = this.gcList.indexOf(r);
      if (i >= 0) this.gcList.splice(i, 1);
      r.removed = true;
      n.ranges.delete(r.start);
      this.seen.rangesRemoved++;
    }
    this.notifierLock.upWrite();
    if (n.ranges.size === 0 && !n.removed) {
      this.notifiers.delete(n.start);
      n.removed = true;
      await n.sub.remove();
      this.seen.notifiersRemoved++;
    }
  }

  /** Queues the garbage-collector work (xe's garbage_collector.work on the fault workqueue). Atomic. */
  private gcKick(): void {
    this.sim.touch(this.gcTag);
    if (this.gcRunning || this.closed) return;
    this.gcRunning = true;
    this.sim.spawn(`${this.name}.gc`, async () => {
      await this.svmLock.lock();
      await this.garbageCollect();
      this.svmLock.unlock();
      this.sim.touch(this.gcTag);
      this.gcRunning = false;
    });
  }

  /**
   * xe_svm_garbage_collector: pop each queued range, unbind its GPU PTEs, remove it (and its
   * notifier with its last range). The caller holds the svm lock (asserted). May sleep.
   */
  async garbageCollect(): Promise<void> {
    this.sim.assertHeld(this.svmLock, 'xe_svm_garbage_collector');
    this.sim.touch(this.gcTag);
    if (this.gcList.length > 0) this.seen.gcRuns++;
    while (this.gcList.length > 0) {
      this.sim.touch(this.gcTag);
      const r = this.gcList.shift()!;
      if (r.removed) continue;
      await this.rangeRemove(r);
    }
  }

  /**
   * drm_gpusvm_range_remove: under the notifier lock (read) unmap the pages, zap what the GPU still
   * maps and take the range out of its notifier; when the notifier is left empty remove its
   * subscription (without the notifier lock: remove may wait for an invalidation) and free it. The
   * caller holds the svm lock. May sleep.
   */
  async rangeRemove(r: GpuSvmRange): Promise<void> {
    this.sim.assertHeld(this.svmLock, 'drm_gpusvm_range_remove');
    const n = r.notifier;
    await this.notifierLock.downRead();
    this.unmapRange(r.start, r.end);
    r.hasDmaMapping = false;
    r.bound = false;
    r.removed = true;
    n.ranges.delete(r.start);
    this.notifierLock.upRead();
    this.seen.rangesRemoved++;
    if (n.ranges.size === 0) {
      this.notifiers.delete(n.start);
      if (!n.removed) {
        n.removed = true;
        await n.sub.remove();
      }
      this.seen.notifiersRemoved++;
    }
  }

  // -------------------------------------------------------------------------------------------
  // The GPU fault path
  // -------------------------------------------------------------------------------------------

  /**
   * drm_gpusvm_range_find_or_insert: the range covering `va`, creating its notifier (inserted
   * before the mmap lock is taken) and the range (chunk size chosen under the mmap read lock) as
   * needed. Gives the range or -errno (-EFAULT: mm gone; -ENOENT: no VMA; -EPERM: write to a
   * read-only VMA; -EINVAL: no chunk fits). The caller holds the svm lock. May sleep.
   */
  async findOrInsert(va: number, write: boolean): Promise<GpuSvmRange | number> {
    this.sim.assertHeld(this.svmLock, 'drm_gpusvm_range_find_or_insert');
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EFAULT;
    const ns = this.notifierSize;
    const nstart = va - (va % ns);
    let n = this.notifiers.get(nstart);
    let fresh = false;
    if (n === undefined) {
      n = new GpuSvmNotifier(this, nstart, nstart + ns);
      const ret = await n.sub.insert(mm, nstart, ns);
      if (ret < 0) {
        await mm.mmput();
        return ret;
      }
      fresh = true;
      this.seen.notifiersCreated++;
    }
    await mm.mmapLock.downRead();
    const vma = mm.vmas.lookup(va);
    let result: GpuSvmRange | number;
    if (vma === undefined) result = -ENOENT;
    else if (write && (vma.flags & VM_WRITE) === 0) result = -EPERM;
    else {
      const existing = n.intersecting(va, va + 1)[0];
      if (existing !== undefined) result = existing;
      else {
        const size = await this.chunkSize(n, va, vma.start, vma.end);
        if (size < 0) result = size;
        else {
          const start = va - (va % size);
          const r = new GpuSvmRange(
            n,
            start,
            start + size,
            vma.anonymous && (vma.flags & VM_HUGETLB) === 0,
            this.kernel.pageSize,
          );
          await this.notifierLock.downRead();
          n.ranges.set(start, r);
          this.notifierLock.upRead();
          this.seen.rangesCreated++;
          result = r;
        }
      }
    }
    mm.mmapLock.upRead();
    if (fresh) {
      if (typeof result === 'number') {
        await n.sub.remove();
        this.seen.notifiersRemoved++;
      } else this.notifiers.set(nstart, n);
    }
    await mm.mmput();
    return result;
  }

  /**
   * drm_gpusvm_range_chunk_size: the largest configured chunk whose aligned block around `va` lies
   * inside the VMA and the notifier, overlaps no range (above 4 KiB), and (up to
   * checkPagesThreshold) has every page present in the CPU page table. -EINVAL when none fits. The
   * caller holds the mmap lock for read. May sleep.
   */
  private async chunkSize(n: GpuSvmNotifier, va: number, vmaStart: number, vmaEnd: number): Promise<number> {
    this.mm.assertMmapLocked('drm_gpusvm_range_chunk_size');
    const ps = this.kernel.pageSize;
    const sizes = this.device.opts.chunkSizes;
    for (let i = 0; i < sizes.length; i++) {
      const size = sizes[i];
      const start = va - (va % size);
      const end = start + size;
      if (start < vmaStart || end > vmaEnd || start < n.start || end > n.end) continue;
      if (size > ps && n.intersecting(start, end).length > 0) continue;
      if (size > ps && size <= this.device.opts.checkPagesThreshold && !this.allPresent(start, end)) {
        this.seen.chunkFallbacks++;
        continue;
      }
      return size;
    }
    return -EINVAL;
  }

  /** drm_gpusvm_check_pages: every page of [start, end) present in the CPU page table. */
  private allPresent(start: number, end: number): boolean {
    const pt = this.mm.pageTable;
    for (let a = start; a < end; a += this.kernel.pageSize)
      if (pt.kindAt(a) !== PTE_KIND_PRESENT) return false;
    return true;
  }

  /**
   * drm_gpusvm_range_get_pages: read_begin → hmm_range_fault over the range (write requested for a
   * write fault; the device's own device-private pages reported as they are) under the device's
   * retry policy → under the notifier lock (read): -EFAULT for an unmapped range, read_retry,
   * publish has_dma_mapping and the seq. Gives 0 or -errno. The caller holds the svm lock. May sleep.
   *
   * Deviation: the pages are not DMA-mapped one by one (the range keeps the pfns the walk gave); the
   * CPU-mapping-order stepping and its 2025 clamp are modelled where the GPU PTEs are written, in
   * the bind.
   */
  async getPages(r: GpuSvmRange, write: boolean): Promise<number> {
    this.sim.assertHeld(this.svmLock, 'drm_gpusvm_range_get_pages');
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EFAULT;
    const range = {
      notifier: r.notifier.sub,
      notifierSeq: 0,
      start: r.start,
      end: r.end,
      hmmPfns: r.pfns,
      defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
      devPrivateOwner: this.device,
    };
    const ret = await deviceFaultLoop(
      this.sim,
      this.name,
      mm,
      r.notifier.sub,
      this.device.opts,
      this.device.stats,
      (seq) => {
        range.notifierSeq = seq;
        r.pfns.fill(0);
        return hmmRangeFault(range);
      },
      async (seq) => {
        await this.notifierLock.downRead();
        if (r.unmapped) {
          this.notifierLock.upRead();
          return -EFAULT;
        }
        if (r.notifier.sub.readRetry(seq)) {
          this.notifierLock.upRead();
          return false;
        }
        r.hasDmaMapping = true;
        r.hasDevmem = this.rangeHasDevmem(r);
        r.notifierSeq = seq;
        this.notifierLock.upRead();
        return true;
      },
      `${r}`,
    );
    await mm.mmput();
    return ret;
  }

  /** Whether the range's pfns (after a walk) include this GPU's VRAM pages. Atomic. */
  private rangeHasDevmem(r: GpuSvmRange): boolean {
    const vram = this.device.vram;
    if (vram === null) return false;
    for (let i = 0; i < r.pfns.length; i++) {
      const e = r.pfns[i];
      if (hmmPfnFlags(e) & HMM_PFN_VALID && vram.pagemap.contains(hmmPfnToPfn(e))) return true;
    }
    return false;
  }

  /**
   * The bind (xe_svm_range_bind + commit): under the notifier lock (read) check that the pages are
   * still valid (drm_gpusvm_range_pages_valid) and program the GPU PTEs of the range from its pfns,
   * stepping by the CPU mapping order. Gives 0, or -EAGAIN when an invalidation came in between.
   * The caller holds the svm lock. May sleep.
   */
  private async bind(r: GpuSvmRange, write: boolean): Promise<number> {
    this.sim.assertHeld(this.svmLock, 'xe_svm_range_bind');
    const ps = this.kernel.pageSize;
    await this.notifierLock.downRead();
    if (!r.hasDmaMapping || r.unmapped) {
      this.notifierLock.upRead();
      return -EAGAIN;
    }
    const n = r.pfns.length;
    for (let i = 0; i < n;) {
      const e = r.pfns[i];
      const f = hmmPfnFlags(e);
      if ((f & HMM_PFN_VALID) === 0) {
        i++;
        continue;
      }
      const order = hmmPfnToMapOrder(e);
      const va = r.start + i * ps;
      let step = 1;
      if (order > 0) {
        const hugePages = 1 << order;
        // The 2025 fix clamps the step to the range and the huge page; the bug stepped a whole
        // huge page from wherever the range started, mapping memory outside the range.
        step = this.device.bugs.mapOrderClamp
          ? hugePages
          : Math.min(hugePages - ((va / ps) % hugePages), n - i);
      }
      const pfn = hmmPfnToPfn(e);
      for (let j = 0; j < step; j++)
        this.mapPage(va + j * ps, pfn + j, { write: write && (f & HMM_PFN_WRITE) !== 0 });
      i += step;
    }
    r.bound = true;
    this.notifierLock.upRead();
    return 0;
  }

  /** Where a mapped page's bytes live: VRAM pages are backed by system pages in the model. */
  protected override dataPfn(pfn: number): number {
    return this.device.vram?.dataPfn(pfn) ?? pfn;
  }

  /**
   * Migrates range `r` to VRAM (xe_svm_alloc_vram → drm_pagemap_populate_mm → migrate_to_devmem),
   * all or nothing, its pages kept in VRAM against CPU faults for `timesliceNs`; when VRAM is full,
   * evicts the least recently migrated other range first and tries once more. 0 or -errno. The caller holds the svm lock. May sleep.
   */
  async rangeMigrateToVram(r: GpuSvmRange, timesliceNs = 0): Promise<number> {
    this.sim.assertHeld(this.svmLock, 'xe_svm_alloc_vram');
    const vram = this.device.vram;
    if (vram === null || !r.migrateDevmem) return -EINVAL;
    for (let attempt = 0; ; attempt++) {
      const mm = this.mm;
      if (!mm.mmgetNotZero()) return -EFAULT;
      await mm.mmapLock.downRead();
      const vma = mm.vmas.lookup(r.start);
      let ret = -EINVAL;
      if (vma !== undefined) {
        const n = r.pfns.length;
        ret = await vram.migrateToVram(
          {
            mm,
            vma,
            start: r.start,
            end: r.end,
            src: new Array<number>(n).fill(0),
            dst: new Array<number>(n).fill(0),
            cpages: 0,
            npages: 0,
            pgmapOwner: this.device,
            flags: MIGRATE_VMA_SELECT_SYSTEM,
          },
          timesliceNs,
        );
      }
      mm.mmapLock.upRead();
      await mm.mmput();
      if (ret === 0) {
        if (!this.vramRanges.includes(r)) this.vramRanges.push(r);
        return 0;
      }
      if (ret !== -ENOMEM || attempt > 0) return ret;
      const victim = this.vramRanges.find((x) => x !== r && !x.removed);
      if (victim === undefined) return ret;
      await this.rangeEvict(victim);
    }
  }

  /**
   * drm_gpusvm_range_evict: hmm_range_fault over the range with no device-private owner, so the
   * core faults every VRAM page back through migrate_to_ram; -EBUSY retried until
   * HMM_RANGE_DEFAULT_TIMEOUT of virtual time has passed (the helper's own deadline, whatever the
   * device's fault policy), then given up with -EBUSY. 0 or -errno. The caller holds the svm lock.
   * May sleep.
   */
  async rangeEvict(r: GpuSvmRange): Promise<number> {
    this.sim.assertHeld(this.svmLock, 'drm_gpusvm_range_evict');
    const i = this.vramRanges.indexOf(r);
    if (i >= 0) this.vramRanges.splice(i, 1);
    const mm = this.mm;
    if (!mm.mmgetNotZero()) return -EFAULT;
    const pfns = new Float64Array(r.pfns.length);
    const range = {
      notifier: r.notifier.sub,
      notifierSeq: 0,
      start: r.start,
      end: r.end,
      hmmPfns: pfns,
      defaultFlags: HMM_PFN_REQ_FAULT,
      pfnFlagsMask: 0,
      devPrivateOwner: null,
    };
    const deadline = this.sim.now() + HMM_RANGE_DEFAULT_TIMEOUT * 1_000_000;
    let ret = 0;
    for (;;) {
      range.notifierSeq = await r.notifier.sub.readBegin();
      await mm.mmapLock.downRead();
      ret = await hmmRangeFault(range);
      mm.mmapLock.upRead();
      if (ret !== -EBUSY || this.sim.now() > deadline) break;
    }
    await mm.mmput();
    if (ret === 0) this.device.vram!.seen.evictions++;
    return ret;
  }

  /**
   * Driver operation: migrate the range covering `va` to VRAM (creating the range as a GPU fault
   * would). 0 or -errno (-EFAULT once the VM is closed). No locks held. May sleep.
   */
  async migrateToVram(va: number): Promise<number> {
    await this.svmLock.lock();
    if (this.closed) {
      this.svmLock.unlock();
      return -EFAULT;
    }
    await this.garbageCollect();
    const r = await this.findOrInsert(va, false);
    const ret = typeof r === 'number' ? r : await this.rangeMigrateToVram(r);
    this.svmLock.unlock();
    return ret;
  }

  /** Driver operation: evict the range covering `va` from VRAM. 0 or -errno. No locks held. May sleep. */
  async evict(va: number): Promise<number> {
    await this.svmLock.lock();
    let ret = -ENOENT;
    for (const n of this.notifiers.values()) {
      const r = n.intersecting(va, va + 1)[0];
      if (r !== undefined) ret = await this.rangeEvict(r);
    }
    this.svmLock.unlock();
    return ret;
  }

  /** The ranges whose pages were migrated to VRAM, oldest first (the eviction order). */
  readonly vramRanges: GpuSvmRange[] = [];

  /**
   * The GPU fault handler (xe_svm_handle_pagefault) for `va`: under the svm lock, -EFAULT when the VM
   * is closed, else garbage-collect, find or insert the range, get its pages, bind; a lost race
   * (-EFAULT/-EPERM from a CPU change under it, -EAGAIN from the bind) goes round again, up to a
   * limit. 0 or -errno. May sleep.
   */
  protected override async fault(va: number, write: boolean): Promise<number> {
    await this.svmLock.lock();
    // xe checks xe_vm_is_closed under the vm lock: a fault that waited for it while the VM closed
    // would otherwise build notifiers and ranges nothing will ever remove.
    if (this.closed) {
      this.svmLock.unlock();
      return -EFAULT;
    }
    const ret = await this.handleFault(va, write);
    this.svmLock.unlock();
    if (ret === 0 && this.device.opts.replayLatencyNs > 0)
      await this.sim.sleep(this.device.opts.replayLatencyNs, `${this.name} replay`);
    return ret;
  }

  /**
   * A GPU access; an atomic needs its range in VRAM (xe on a device without system-memory atomics:
   * devmem_only). Deviation: the access type reaches the fault handler through a field (one access
   * at a time per VM). May sleep.
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

  /** The access being served is an atomic that needs VRAM. */
  private atomicAccess = false;

  /** The body of xe_svm_handle_pagefault; the caller holds the svm lock. May sleep. */
  private async handleFault(va: number, write: boolean): Promise<number> {
    this.sim.assertHeld(this.svmLock, 'xe_svm_handle_pagefault');
    let ret = -EFAULT;
    let migrate = true; // cleared only by the read-only-VRAM eviction below
    // An atomic needs VRAM (devmem_only): migrate whatever the migrateOnFault policy says, and
    // refuse pages left in system memory (xe retries, up to three tries for atomics).
    const devmemOnly = this.atomicAccess && this.device.vram !== null;
    let devmemTries = 0;
    for (let tries = 0; tries < MAX_GPU_FAULT_TRIES; tries++) {
      await this.garbageCollect();
      const r = await this.findOrInsert(va, write);
      if (typeof r === 'number') {
        ret = r;
        break;
      }
      if (r.bound && r.hasDmaMapping && this.lookup(va) !== undefined && (!write || this.lookup(va)!.write)) {
        ret = 0;
        break;
      }
      if (
        migrate &&
        (this.device.opts.migrateOnFault || devmemOnly) &&
        this.device.vram !== null &&
        r.migrateDevmem &&
        !r.hasDevmem
      )
        // Best effort: on failure the range stays in system memory. xe gives an atomic's migration
        // the device's timeslice, any other none.
        await this.rangeMigrateToVram(r, devmemOnly ? this.device.opts.timesliceUs * 1000 : 0);
      ret = await this.getPages(r, write);
      if (ret === 0 && devmemOnly && !this.rangeAllDevmem(r)) {
        // drm_gpusvm_get_pages with devmem_only: a system page gives -EFAULT.
        if (++devmemTries >= 3) {
          ret = -EFAULT;
          break;
        }
        continue;
      }
      if (ret === -EFAULT || ret === -EPERM) {
        // Deviation: the CPU mapping changed under the range (unmapped, or now spanning a VMA that
        // refuses the access): the model removes the range so the next try re-creates one that fits
        // the current VMAs, where xe retries and may end up killing the VM.
        if (!r.removed) await this.rangeRemove(r);
        continue;
      }
      if (ret < 0) break;
      ret = await this.bind(r, write);
      // A write to a read-only VRAM page of our own pagemap (e.g. shared after fork). hmm_range_fault
      // checks the owner before deciding to fault, so it reports such a page VALID without WRITE and
      // never faults it back (mm/hmm.c; kernel-semantics.md B.5): the driver has to cope. It evicts
      // the range to system memory and retries there, so the CPU's COW gives it a writable page.
      if (ret === 0 && write && r.hasDevmem && this.lookup(va)?.write !== true) {
        await this.rangeEvict(r);
        migrate = false; // this fault stays in system memory (no ping-pong)
        continue;
      }
      if (ret === 0) break;
    }
    return ret;
  }

  /** Every page of the range's pfns (after a walk) is this GPU's VRAM. Atomic. */
  private rangeAllDevmem(r: GpuSvmRange): boolean {
    const vram = this.device.vram;
    if (vram === null) return false;
    for (let i = 0; i < r.pfns.length; i++) {
      const e = r.pfns[i];
      if (!(hmmPfnFlags(e) & HMM_PFN_VALID) || !vram.pagemap.contains(hmmPfnToPfn(e))) return false;
    }
    return true;
  }

  /**
   * `mirror.detach()`: unbind and tear down (drm_gpusvm_fini): under the svm lock, remove every
   * notifier's subscription first (so no invalidation races the teardown), then every range; wait
   * for the garbage collector. The GPU page table is zapped before any subscription goes (xe closes
   * the VM first). No callback and no GPU access after it returns. May sleep.
   */
  async detach(): Promise<void> {
    if (this.closed) return;
    await this.svmLock.lock();
    this.sim.touch(this.gcTag);
    this.closed = true;
    // xe_vm_close: the GPU page tables go first; after this the subscriptions may go in any order.
    await this.notifierLock.downWrite();
    this.unmapRange(0, Number.MAX_SAFE_INTEGER);
    this.notifierLock.upWrite();
    for (const n of [...this.notifiers.values()]) {
      if (!n.removed) {
        n.removed = true;
        await n.sub.remove();
      }
      for (const r of [...n.ranges.values()]) await this.rangeRemove(r);
      if (this.notifiers.has(n.start)) {
        this.notifiers.delete(n.start);
        this.seen.notifiersRemoved++;
      }
    }
    this.gcList.length = 0;
    this.svmLock.unlock();
    this.retire();
    this.mm.mmdrop(); // drm_gpusvm_fini: the mmgrab of the constructor
  }

  override toString(): string {
    return `${this.name} (${this.notifiers.size} notifiers)`;
  }
}
