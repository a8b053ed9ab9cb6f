/**
 * struct ib_umem_odp (drivers/infiniband/core/umem_odp.c): the span of user memory one ODP memory
 * region (or implicit child) mirrors, its interval subscription, its pfn/DMA list (one hmm entry per
 * page, with the sticky DMA-mapped bit) and the umem mutex, the driver lock of the collision-retry
 * protocol.
 *
 * Deviation: DMA mapping is bookkeeping only (the DMA-mapped bit and `npages`); the device's MTT is
 * the DeviceMirror page table of the MR, which the checkers watch.
 */
import type { Simulation } from '../../sim/simulation.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { TouchedMap } from '../../sim/touched-map.js';
import type { Mm } from '../../mm/mm.js';
import type { Process } from '../../mm/process.js';
import { PG_dirty } from '../../mm/physical.js';
import { MmuIntervalNotifier } from '../../notifier/interval.js';
import type { MmuIntervalNotifierOps } from '../../notifier/types.js';
import {
  HMM_PFN_DMA_MAPPED,
  HMM_PFN_PFN_MUL,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToPfn,
} from '../../hmm/pfn.js';

/** ib_umem_odp. */
export class IbUmemOdp {
  /** umem_mutex: the pfn list, npages, the MTT updates of this umem, `private`, the seq pairing. */
  readonly umemMutex: Mutex;
  /** The interval subscription over [start, end) (none for an implicit parent). */
  readonly notifier: MmuIntervalNotifier | null;
  /** map.pfn_list: one hmm entry per page (hmmRangeFault writes it in place). */
  readonly pfnList: Float64Array;
  /** Entries with the DMA-mapped bit set (what the device has mapped). */
  npages = 0;
  /**
   * The DMA list as the page-lifetime checker reads it (watchDmaList): VA → page of every entry
   * with the DMA-mapped bit. hmm took no reference on these pages: only the invalidation's DMA
   * unmap, which runs before the page is freed, keeps the device from DMA to a freed page.
   */
  readonly dmaPages: Map<number, number>;
  /**
   * The DMA list's name (the MR's `${name}.dma_list`): dmaPages is a TouchedMap of it, so that
   * dpor orders each change against the page-lifetime checker's lock-free reads of the list.
   */
  readonly dmaListTag: string;
  /** Where each dmaPages entry was listed (the step and thread of its dma_map), for reports. */
  readonly dmaListedAt = new Map<
    number,
    {
      /** The scheduler step (sim.steps) at which the page was DMA-mapped. */
      step: number;
      /** The thread that DMA-mapped it ('setup' outside any thread). */
      thread: string;
    }
  >();
  /** odp->private: the MR once it exists, null before and after revocation. */
  private_: object | null = null;
  /** Set by ibUmemOdpRelease: no callback may reach the umem after it. */
  released = false;

  constructor(
    /** The simulation the umem's mutex, lists and allocation belong to. */
    readonly sim: Simulation,
    /** umem_odp->tgid: the process that registered the memory (faults refuse once it is gone). */
    readonly owner: Process,
    /** The owner's mm, which the notifier subscribes to and faults walk. */
    readonly mm: Mm,
    /** First virtual address covered, in bytes (page-aligned). */
    readonly start: number,
    /** End of the covered span in bytes, exclusive (page-aligned). */
    readonly end: number,
    /** umem.writable: the MR allows device writes, so faults request write access. */
    readonly writable: boolean,
    /** is_implicit_odp: an implicit parent's umem (no pfn list); the model always passes false. */
    readonly isImplicitOdp: boolean,
    /** Names the umem (its MR's name) in locks, lists and messages. */
    readonly name: string,
    ops: MmuIntervalNotifierOps | null,
  ) {
    this.umemMutex = new Mutex(sim, `${name}.umem_mutex`);
    this.dmaListTag = `${name}.dma_list`;
    this.dmaPages = new TouchedMap(sim, this.dmaListTag);
    const ps = mm.kernel.pageSize;
    this.pfnList = new Float64Array(isImplicitOdp ? 0 : (end - start) / ps);
    this.notifier =
      ops === null
        ? null
        : new MmuIntervalNotifier(ops, { userLock: this.umemMutex, name: `${name}.notifier` });
    sim.kalloc(this, `ib_umem_odp ${name}`);
  }

  /** The kernel's page size: a umem entry covers one base page (page_shift is PAGE_SHIFT). */
  get pageSize(): number {
    return this.mm.kernel.pageSize;
  }

  /**
   * ib_umem_odp_unmap_dma_pages(umem, start, end): for every page of [start, end) that is
   * DMA-mapped, unmap it, mark the page dirty when the device could write it (the umem mutex stands
   * in for the page lock), drop it from `npages`; clear every entry's flags. The caller holds the
   * umem mutex (asserted) and has already zapped the MTT. Atomic.
   */
  unmapDmaPages(start: number, end: number): void {
    this.sim.assertHeld(this.umemMutex, 'ib_umem_odp_unmap_dma_pages');
    const ps = this.pageSize;
    const phys = this.mm.kernel.phys;
    const lo = Math.max(start, this.start);
    const hi = Math.min(end, this.end);
    for (let va = lo; va < hi; va += ps) {
      const i = (va - this.start) / ps;
      const e = this.pfnList[i];
      const f = hmmPfnFlags(e);
      if (f & HMM_PFN_DMA_MAPPED) {
        const pfn = hmmPfnToPfn(e);
        if (f & HMM_PFN_WRITE && !phys.isFree(pfn)) phys.setFlag(phys.folioHead(pfn), PG_dirty);
        this.npages--;
        if (this.npages < 0) this.sim.bug(`${this.name}: npages went negative`);
        this.dmaPages.delete(va);
        this.dmaListedAt.delete(va);
      }
      this.pfnList[i] = 0;
    }
  }

  /**
   * Marks entry `i` DMA-mapped (dma_map_page through the hmm DMA map); gives true when it was not
   * yet mapped. The caller holds the umem mutex. Atomic.
   */
  dmaMap(i: number): boolean {
    this.sim.assertHeld(this.umemMutex, 'ib_umem_odp_map_dma_single_page');
    const e = this.pfnList[i];
    const low = e % HMM_PFN_PFN_MUL;
    const va = this.start + i * this.pageSize;
    this.dmaPages.set(va, hmmPfnToPfn(e));
    if (low & HMM_PFN_DMA_MAPPED) return false;
    this.dmaListedAt.set(va, { step: this.sim.steps, thread: this.sim.current?.name ?? 'setup' });
    this.pfnList[i] = e - low + (low | HMM_PFN_DMA_MAPPED);
    this.npages++;
    return true;
  }

  /** Whether entry `i` is VALID (hmm found a page). */
  valid(i: number): boolean {
    return (hmmPfnFlags(this.pfnList[i]) & HMM_PFN_VALID) !== 0;
  }

  /** The umem's name (its MR's), for messages. */
  toString(): string {
    return this.name;
  }
}
