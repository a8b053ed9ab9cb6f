/**
 * The machine the memory model runs on: physical memory, the swap device, the swap cache, the page
 * wait queue, ZONE_DEVICE pagemaps, processes and files. One Kernel per simulation run.
 */
import type { Simulation } from '../sim/simulation.js';
import { ENOMEM } from '../sim/errno.js';
import { WaitQueue } from '../sim/sync/waitqueue.js';
import {
  DEFAULT_MAX_MAP_COUNT,
  DEFAULT_MMAP_BASE,
  DEFAULT_MMAP_MIN_ADDR,
  HPAGE_PMD_NR,
  PAGE_SHIFT,
} from './constants.js';
import { PG_locked, PhysicalMemory, type DeviceMemoryKind, type DeviceRegion } from './physical.js';
import { PAGE_ALLOCATOR, PAGE_LRU } from './page-frames.js';
import { SwapSpace } from './swap.js';
import { MemFile } from './file.js';
import { Process } from './process.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';
import type { DevPagemapOps } from './vm-ops.js';
import { installDirectReclaim, installMadvisePageout, reclaim as vmscanReclaim } from './vmscan.js';
import { oomKill as oomKillProcess } from './oom-kill.js';
import { gupTest, type GupTestArgs, type GupTestCommand } from './gup.js';
import { hugetlbInit } from './hugetlb.js';

/** The machine a Kernel models: memory, swap, NUMA nodes, page size, hugetlb pool, checkers. */
export interface KernelOptions {
  /** Pages of system RAM. */
  memoryPages: number;
  /** Swap slots (pages); 0 by default (no swap). */
  swapPages?: number;
  /** NUMA nodes; 1 by default. */
  nodes?: number;
  /** Base page shift; 12 (4 KiB) by default. */
  pageShift?: number;
  /** nr_hugepages: PMD-sized pages set aside for MAP_HUGETLB at construction (see hugetlb.ts). */
  hugetlbPages?: number;
  /** vm.max_map_count; 65530 by default. */
  maxMapCount?: number;
  /** mm->mmap_base of new processes. */
  mmapBase?: number;
  /** vm.mmap_min_addr. */
  mmapMinAddr?: number;
  /** Fault injection for the page allocator (should_fail_alloc_page). */
  shouldFailAlloc?: (order: number, node: number) => boolean;
}

/**
 * Observation points for checkers (src/check) and tests. Model code never reads them to decide.
 */
export interface KernelHooks {
  /**
   * A CPU translation changed: the PTE at `va` of `mm` (the whole PMD at the PMD-aligned `va` when
   * `huge`) was set, cleared, or had its permissions changed. Called after the change, with the
   * page-table lock held: must not sleep.
   */
  onPteChange: Array<(mm: Mm, va: number, huge: boolean) => void>;
}

/** Where a migration entry was installed: the registry phase-B migration and fork share. */
export interface MigrationMapping {
  /** The address space whose page table holds the migration entry. */
  readonly mm: Mm;
  /** Where the entry is: the page's address, or the PMD-aligned address of a PMD entry. */
  readonly va: number;
  /** Whether it is a PMD-level migration entry (a THP migrated whole). */
  readonly pmd: boolean;
}

/** Per run (Simulation.runLocal): the last kernel id handed out. */
const NEXT_KERNEL_ID = Symbol('kernel ids');

/**
 * The simulated machine. `new Kernel(sim, { memoryPages, swapPages })`; then `createProcess(name)`,
 * `createFile(name, sizeBytes)`. Every lifetime violation physical memory or the swap device detects is
 * reported through `sim.report` (kinds 'bad-page', 'use-after-free', 'refcount-underflow', ...,
 * 'swap-count-underflow', 'swap-use-after-free'), which ends the run.
 */
export class Kernel {
  /** Number of this kernel among those of its simulation, from 1 (per run; names it in messages). */
  readonly id: number;
  /** Physical memory: page frames, their flags, counts and contents, and device regions. */
  readonly phys: PhysicalMemory<Mm>;
  /** The swap device (option `swapPages` slots; none by default). */
  readonly swap: SwapSpace;
  /** PAGE_SHIFT (option `pageShift`, 12 by default). */
  readonly pageShift: number;
  /** PAGE_SIZE in bytes. */
  readonly pageSize: number;
  /** PMD_SIZE in bytes (the THP size). */
  readonly pmdSize: number;
  /** HPAGE_SIZE: the hugetlb page size in bytes (PMD-sized). */
  readonly hugePageSize: number;
  /** nr_hugepages: size of the hugetlb pool set aside at construction (option `hugetlbPages`). */
  readonly hugetlbPages: number;
  /** vm.max_map_count: most VMAs one mm may have (option `maxMapCount`). */
  readonly maxMapCount: number;
  /** mm->mmap_base given to new processes (option `mmapBase`). */
  readonly mmapBase: number;
  /** vm.mmap_min_addr: the lowest address mmap may map (option `mmapMinAddr`). */
  readonly mmapMinAddr: number;
  /** Observers of the memory model (checkers and the trace viewer); model code only calls them. */
  readonly hooks: KernelHooks = { onPteChange: [] };
  /**
   * The folio wait table (folio_waitqueue): every sleeper on a page lock or on a migration entry waits
   * here; folioUnlock wakes them all and each rechecks its own condition.
   */
  readonly pageWait: WaitQueue;
  /** The swap cache (swapper_spaces): swap slot → pfn of the folio caching it. See swap-state.ts. */
  readonly swapCache = new Map<number, number>();
  /** Migration entries installed, per pfn (see rmap.ts: migrationEntryAdd / Remove / Of). */
  readonly migrationEntries = new Map<number, MigrationMapping[]>();
  /** Live and zombie processes by pid. */
  readonly processes = new Map<number, Process>();
  /**
   * Direct reclaim hook (__alloc_pages_direct_reclaim): called when a user-page allocation fails; returns true when it
   * freed something and the allocation should be retried. May sleep. Without it allocation failure
   * is final (VM_FAULT_OOM / -ENOMEM).
   */
  directReclaim: ((order: number, node: number) => Promise<boolean>) | null = null;
  /**
   * MADV_PAGEOUT's reclaim of one VMA part (madvise_pageout_page_range), installed by the
   * constructor; without it MADV_PAGEOUT does nothing, as advice may (MADV_COLD does nothing
   * either way: the model keeps no LRU aging for it to change). Per kernel,
   * so two kernels in one process never share it.
   */
  pageoutRange: ((mm: Mm, vma: Vma, start: number, end: number) => Promise<void>) | null = null;

  private nextPid = 1;
  private nextAnonVma = 1;
  private nextFile = 1;
  private readonly pagemapOps = new Map<number, DevPagemapOps>();

  constructor(
    /** The simulation the kernel runs in. */
    readonly sim: Simulation,
    /** The options it was built with, as given (defaults not filled in). */
    readonly options: KernelOptions,
  ) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('Kernel: options must be an object { memoryPages, swapPages? }');
    this.id = sim.setRunLocal(NEXT_KERNEL_ID, (sim.runLocal<number>(NEXT_KERNEL_ID) ?? 0) + 1);
    this.pageShift = options.pageShift ?? PAGE_SHIFT;
    this.phys = new PhysicalMemory<Mm>({
      npages: options.memoryPages,
      pageShift: this.pageShift,
      nodes: options.nodes,
      shouldFailAlloc: options.shouldFailAlloc,
      onViolation: (kind, message) => sim.report(kind, message),
      buffers: sim.buffers,
    });
    this.swap = new SwapSpace({
      nslots: options.swapPages ?? 0,
      pageShift: this.pageShift,
      onViolation: (kind, message) => sim.report(kind, message),
      buffers: sim.buffers,
    });
    this.pageSize = this.phys.pageSize;
    this.pmdSize = this.pageSize * HPAGE_PMD_NR;
    this.hugePageSize = this.pmdSize;
    this.hugetlbPages = options.hugetlbPages ?? 0;
    this.maxMapCount = options.maxMapCount ?? DEFAULT_MAX_MAP_COUNT;
    this.mmapBase = options.mmapBase ?? DEFAULT_MMAP_BASE;
    this.mmapMinAddr = options.mmapMinAddr ?? DEFAULT_MMAP_MIN_ADDR;
    if (!Number.isInteger(this.hugetlbPages) || this.hugetlbPages < 0)
      throw new RangeError(`Kernel: hugetlbPages must be a non-negative integer, got ${this.hugetlbPages}`);
    if (!Number.isInteger(this.maxMapCount) || this.maxMapCount < 1)
      throw new RangeError(`Kernel: maxMapCount must be a positive integer, got ${this.maxMapCount}`);
    this.pageWait = new WaitQueue(sim, 'folio_wait_table');
    if (sim.watchesTouches) {
      // For dpor, each folio's reference and map counts are an object of their own: a COW
      // reuse or migration decision reads what another address space's zap or fork changes
      // under its own page-table lock (found by the commutation check on mm-mirror).
      const tags: string[] = [];
      const countAccess = (head: number, write: boolean): void =>
        sim.touch(
          head === PAGE_ALLOCATOR
            ? 'page_alloc'
            : head === PAGE_LRU
              ? 'lru'
              : (tags[head] ??= `folio#${head}`),
          !write,
        );
      this.phys.countAccess = countAccess;
    }
    // Traced runs record every CPU translation change for the trace viewer (first hook: before checkers).
    if (sim.tracing)
      this.hooks.onPteChange.push((mm, va, huge) =>
        sim.traceEvent(huge ? 'set_pmd' : 'set_pte', mm.name, mm.pageTable.describe(va)),
      );
    installDirectReclaim(this);
    installMadvisePageout(this);
    hugetlbInit(this);
  }

  /**
   * Reclaims up to `npages` pages (try_to_free_pages / shrink_node): scans the LRU from the
   * oldest, unmaps each folio through the reverse map with a CLEAR invalidation per mapping
   * and swaps anonymous pages out. Resolves to the pages freed. No locks held. May sleep.
   */
  reclaim(npages: number): Promise<number> {
    return vmscanReclaim(this, npages);
  }

  /**
   * OOM-kills `p` (oom_kill_process + the OOM reaper): SIGKILL, then reaps its private
   * anonymous memory with non-blockable UNMAP invalidations, skipping (and retrying later)
   * a VMA whose notifiers refuse. Resolves to 0 or -ESRCH. No locks held. May sleep.
   */
  oomKill(p: Process): Promise<number> {
    return oomKillProcess(this, p);
  }

  /**
   * The gup_test debugfs device (mm/gup_test.c): gets or pins [addr, addr + size) of `p` with
   * `gupFlags` (FOLL_WRITE, FOLL_LONGTERM), then releases the pages. 0 or -errno. May sleep.
   */
  gupTest(p: Process, cmd: GupTestCommand, args: GupTestArgs): Promise<number> {
    return gupTest(this, p, cmd, args);
  }

  // -------------------------------------------------------------------------------------------
  // Processes and files
  // -------------------------------------------------------------------------------------------

  /**
   * A new process with an empty address space (as after exec with nothing mapped) and one task holding
   * its mm. Callable from setup or from a simulated thread. Never fails.
   */
  createProcess(name: string): Process {
    return this.kernelNewProcess(name, null);
  }

  /** Used by fork: a process whose parent is `parent`. */
  kernelNewProcess(name: string, parent: Process | null): Process {
    const p = new Process(this, this.nextPid++, name, parent);
    this.processes.set(p.pid, p);
    return p;
  }

  /**
   * A page-cache backed temporary file of `sizeBytes` bytes (tmpfs semantics: no writeback, pages stay
   * until the file goes away). pread/pwrite work from setup or from threads.
   */
  createFile(name: string, sizeBytes: number): MemFile {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0)
      throw new RangeError(`createFile(${name}): size must be a non-negative integer, got ${sizeBytes}`);
    return new MemFile(this, name, sizeBytes, false);
  }

  /**
   * shmem_zero_setup: the unlinked shmem file behind a MAP_SHARED | MAP_ANONYMOUS mapping of
   * `sizeBytes`. It has no reference yet: the VMA that maps it takes the first one, and the file and
   * its pages go away with the last VMA.
   */
  createShmemFile(sizeBytes: number): MemFile {
    const f = new MemFile(this, `dev/zero (shmem ${this.nextFile++})`, sizeBytes, true);
    return f;
  }

  /** anon_vma_alloc: a fresh anon_vma identity for a VMA's anonymous pages. */
  allocAnonVma(): number {
    return this.nextAnonVma++;
  }

  // -------------------------------------------------------------------------------------------
  // Page allocation for user memory (alloc_page_vma / vma_alloc_folio)
  // -------------------------------------------------------------------------------------------

  /**
   * vma_alloc_folio for one user page on `node`: the pfn (refcount 1, zeroed) or -ENOMEM. On failure
   * calls the direct-reclaim hook, if any, and retries while it reports progress (at most 8 times).
   * May sleep (through the hook).
   */
  async allocUserPage(node = 0): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const pfn = this.phys.allocPage(node);
      if (pfn >= 0) return pfn;
      if (this.directReclaim === null || attempt >= 8) return -ENOMEM;
      this.sim.mightSleep('__alloc_pages_direct_reclaim');
      if (!(await this.directReclaim(0, node))) return -ENOMEM;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Folio lock (folio_lock / folio_trylock / folio_unlock / folio_wait_locked)
  // -------------------------------------------------------------------------------------------

  /**
   * VM_BUG_ON_FOLIO(!folio_test_locked(folio)): reports `lock-misuse` unless the folio of `pfn` is
   * locked. As in the kernel, the folio lock has no owner, so this cannot tell who holds it. Silent
   * outside a running simulation thread. Atomic.
   */
  folioAssertLocked(pfn: number, what: string): void {
    const sim = this.sim;
    if (sim.current === null || sim.status !== 'running' || this.phys.testFlag(pfn, PG_locked)) return;
    sim.report('lock-misuse', `${what} requires the folio lock of pfn ${pfn}, which is not locked`, {
      key: `folio not locked ${what}`,
    });
  }

  /** folio_trylock. The caller holds a reference. Atomic; not a scheduling point. */
  folioTrylock(pfn: number): boolean {
    return this.phys.trylockPage(pfn);
  }

  /** folio_lock: sleeps until the folio lock is taken. The caller holds a reference. May sleep. */
  async folioLock(pfn: number): Promise<void> {
    this.sim.mightSleep('folio_lock');
    for (;;) {
      if (this.phys.trylockPage(pfn)) return;
      await this.pageWait.waitEvent(() => !this.phys.testFlag(pfn, PG_locked), 'folio_lock');
    }
  }

  /** folio_lock_killable: 0 once locked, -EINTR when a fatal signal is pending. May sleep. */
  async folioLockKillable(pfn: number): Promise<number> {
    this.sim.mightSleep('folio_lock_killable');
    for (;;) {
      if (this.phys.trylockPage(pfn)) return 0;
      const ret = await this.pageWait.waitEventKillable(
        () => !this.phys.testFlag(pfn, PG_locked),
        'folio_lock_killable',
      );
      if (ret !== 0) return ret;
    }
  }

  /** folio_unlock: clears PG_locked and wakes the folio's waiters. Atomic. */
  folioUnlock(pfn: number): void {
    this.phys.unlockPage(pfn);
    this.pageWait.wakeUpAll();
  }

  /**
   * folio_wait_locked / migration_entry_wait_on_locked: sleeps until the folio is unlocked or `stop()`
   * holds (the entry the caller saw has changed). Takes no reference: a freed page reads as unlocked.
   * May sleep.
   */
  async folioWaitUnlocked(pfn: number, stop: () => boolean = () => false): Promise<void> {
    this.sim.mightSleep('folio_wait_locked');
    await this.pageWait.waitEvent(() => stop() || !this.phys.testFlag(pfn, PG_locked), 'folio_wait_locked');
  }

  // -------------------------------------------------------------------------------------------
  // ZONE_DEVICE (memremap_pages with a dev_pagemap_ops)
  // -------------------------------------------------------------------------------------------

  /**
   * memremap_pages: `npages` of device memory of `kind` owned by `owner` (pgmap->owner), with `ops`
   * (dev_pagemap_ops: migrate_to_ram for device-private memory) and `pageFree`. Returns the region.
   */
  memremapPages(
    npages: number,
    kind: DeviceMemoryKind,
    owner: unknown,
    options: { ops?: DevPagemapOps; node?: number; pageFree?: (pfn: number, nr: number) => void } = {},
  ): DeviceRegion {
    const region = this.phys.addDeviceRegion(npages, kind, owner, {
      node: options.node,
      pageFree: options.pageFree,
    });
    if (options.ops !== undefined) this.pagemapOps.set(region.id, options.ops);
    return region;
  }

  /**
   * page_pgmap(page)->ops: the pagemap operations of the device page `pfn`: those given to
   * memremapPages, else the region's owner when it has a `migrateToRam` method, else undefined.
   */
  pagemapOpsOf(pfn: number): DevPagemapOps | undefined {
    const region = this.phys.deviceRegionOf(pfn);
    if (region === undefined) return undefined;
    const ops = this.pagemapOps.get(region.id);
    if (ops !== undefined) return ops;
    const owner = region.owner as Partial<DevPagemapOps> | null | undefined;
    if (owner !== null && typeof owner === 'object' && typeof owner.migrateToRam === 'function')
      return owner as DevPagemapOps;
    return undefined;
  }

  /** `kernel <id>`, for messages. */
  toString(): string {
    return `kernel ${this.id}`;
  }
}
