/**
 * One HMM test device (struct dmirror_device of lib/test_hmm.c): its memory kind, its chunks of
 * device memory (each a pagemap whose owner is this device), the allocator with its calloc / cfree
 * counters, the backing pages of device-private memory, the CPU fault handler (migrate_to_ram) and
 * the eviction of all its memory (RELEASE, close).
 *
 * Large folios: a private device allocates PMD-order device folios (with a PMD-order backing folio) for
 * compound migration entries, so a THP migrates whole and is mapped by one PMD-level device-private
 * entry; a CPU fault through that PMD migrates the whole folio back (a THP when one can be allocated).
 *
 * Deviations: chunks are never unmapped (memunmap_pages is not modelled): RELEASE evicts every page
 * back to system memory and the chunk's pages return to its free list for later use. A coherent
 * device's chunk is ordinary device memory of the model (no SPM physical range to configure), and a
 * coherent device allocates base pages only (a compound source takes the per-page fallback): the
 * model has no PMD-mapped device-coherent folios.
 */
import type { Kernel } from '../../mm/kernel.js';
import type { Mm } from '../../mm/mm.js';
import type { Process } from '../../mm/process.js';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, VM_FAULT_OOM, VM_FAULT_SIGBUS } from '../../mm/constants.js';
import { ENOMEM } from '../../sim/errno.js';
import { DevicePagemap, type DevicePrivateFault } from '../../hmm/pagemap.js';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  migratePfnFlags,
} from '../../hmm/migrate-device.js';
import type { MigrateVma } from '../../hmm/types.js';
import { DEVMEM_CHUNK_PAGES } from './constants.js';
import { Dmirror, wouldBeCompound } from './file.js';

/** Mistakes the device can be built with (off by default), for the explorer to find. */
export interface DmirrorMistakes {
  /** The invalidate callback skips zapping device page-table entries that map device-private pages. */
  skipDevicePrivateZap?: boolean;
  /**
   * migrate-to-dev programs the device page table from the destination pages right after copying,
   * before migrate_vma_pages has decided which entries migrate.
   */
  mapBeforePages?: boolean;
  /** The fault loop treats hmm_range_fault's -EBUSY as success and programs the collided walk. */
  ignoreEbusy?: boolean;
}

/** The name of every DmirrorMistakes switch, for option validation and the driver's options. */
export const DMIRROR_MISTAKES = ['skipDevicePrivateZap', 'mapBeforePages', 'ignoreEbusy'] as const;

/** Options of `k.createDmirror(options)`. */
export interface DmirrorOptions {
  /** 'private' (hmm_dmirror0/1) or 'coherent' (hmm_dmirror2/3). */
  memory?: 'private' | 'coherent';
  /** Device name in traces and violations; dmirror<N> by default. */
  name?: string;
  /** Pages per chunk of device memory; 65536 (256 MiB) by default. */
  chunkPages?: number;
  /** Planted mistakes (all off by default). */
  mistakes?: DmirrorMistakes;
}

const OPTION_KEYS = ['memory', 'name', 'chunkPages', 'mistakes'];
/** Per run: devices created per kernel, for default names (Simulation.runMap). */
const DEVICE_COUNT = Symbol('dmirror devices');

/** The HMM test device. Make one with `k.createDmirror({ memory })`; open it with `dev.open(p)`. */
export class DmirrorDevice {
  /** Names the device in traces and violations (option `name`, default dmirror<N>). */
  readonly name: string;
  /** The kind of its device memory (option `memory`): MEMORY_DEVICE_PRIVATE or _COHERENT. */
  readonly memory: 'private' | 'coherent';
  /** Pages per chunk of device memory (option `chunkPages`). */
  readonly chunkPages: number;
  /** The planted mistakes switched on for this device (option `mistakes`). */
  readonly mistakes: Readonly<DmirrorMistakes>;
  /** The chunks of device memory (devmem_chunks); each pagemap's owner is this device. */
  readonly chunks: DevicePagemap[] = [];
  /** Device pages handed out and returned (calloc / cfree). */
  calloc = 0;
  /** Device pages returned, counted when their last reference goes (dmirror_devmem_free). */
  cfree = 0;
  /** BACKING_PAGE: device-private page (a folio's head) → the system page (folio) holding its data. */
  readonly backing = new Map<number, number>();
  /** zone_device_data of the backing page: which open file migrated each device page (folio head). */
  readonly migratedBy = new Map<number, Dmirror>();
  /** Device pages in use (allocated, not yet freed): folio heads. */
  readonly inUse = new Set<number>();
  /** Open files of this device. */
  readonly files = new Set<Dmirror>();

  constructor(
    /** The kernel whose processes the device mirrors and whose memory holds its chunks. */
    readonly kernel: Kernel,
    options: DmirrorOptions = {},
  ) {
    if (options === null || typeof options !== 'object')
      throw new TypeError("createDmirror: options must be an object { memory: 'private' | 'coherent' }");
    for (const key of Object.keys(options))
      if (!OPTION_KEYS.includes(key))
        throw new TypeError(`createDmirror: unknown option '${key}' (known: ${OPTION_KEYS.join(', ')})`);
    const memory = options.memory ?? 'private';
    if (memory !== 'private' && memory !== 'coherent')
      throw new TypeError(`createDmirror: memory must be 'private' or 'coherent', got ${String(memory)}`);
    const chunkPages = options.chunkPages ?? DEVMEM_CHUNK_PAGES;
    if (!Number.isSafeInteger(chunkPages) || chunkPages < 1)
      throw new RangeError(`createDmirror: chunkPages must be a positive integer, got ${String(chunkPages)}`);
    const mistakes = options.mistakes ?? {};
    for (const key of Object.keys(mistakes))
      if (!(DMIRROR_MISTAKES as readonly string[]).includes(key))
        throw new TypeError(
          `createDmirror: unknown mistake '${key}' (known: ${DMIRROR_MISTAKES.join(', ')})`,
        );
    const deviceCount = kernel.sim.runMap<Kernel, number>(DEVICE_COUNT);
    const n = deviceCount.get(kernel) ?? 0;
    deviceCount.set(kernel, n + 1);
    this.name = options.name ?? `dmirror${n}`;
    this.memory = memory;
    this.chunkPages = chunkPages;
    this.mistakes = { ...mistakes };
    // Every device gets its first chunk when it is created (dmirror_device_init).
    this.dmAddChunk();
  }

  /**
   * open("/dev/hmm_dmirrorN") by `p`: a new file mirroring p's address space through one interval
   * subscription over all of it. Call from a simulated thread. May sleep.
   */
  async open(p: Process): Promise<Dmirror> {
    const f = new Dmirror(this, p);
    await f.init();
    this.files.add(f);
    return f;
  }

  /** Whether `pfn` is a device page of this device (page_pgmap(page)->owner == mdevice). */
  owns(pfn: number): boolean {
    return this.kernel.phys.deviceOwnerOf(pfn) === this;
  }

  /** BACKING_PAGE(page): where the bytes of device page `pfn` live (the same page of the backing folio). */
  dataPfn(pfn: number): number {
    const own = this.backing.get(pfn);
    if (own !== undefined) return own;
    const phys = this.kernel.phys;
    if (phys.zoneOf(pfn) !== 'device') return pfn;
    const head = phys.folioHead(pfn);
    const b = head === pfn ? undefined : this.backing.get(head);
    return b === undefined ? pfn : b + (pfn - head);
  }

  /** The open file that migrated device page `pfn` to this device (the backing page's zone_device_data). */
  fileOf(pfn: number): Dmirror | undefined {
    const phys = this.kernel.phys;
    return (
      this.migratedBy.get(pfn) ??
      (phys.zoneOf(pfn) === 'device' ? this.migratedBy.get(phys.folioHead(pfn)) : undefined)
    );
  }

  /**
   * dmirror_devmem_alloc_page: a device page (a system backing page first, for private memory),
   * locked and with one reference, as zone_device_folio_init leaves it; a new chunk when the free
   * lists are empty (private devices only). -ENOMEM on failure. Atomic.
   */
  allocPage(): number {
    const phys = this.kernel.phys;
    let rpage = -1;
    if (this.memory === 'private') {
      rpage = phys.allocPage(0);
      if (rpage < 0) return -ENOMEM;
    }
    let pfn = -1;
    for (const chunk of this.chunks) {
      pfn = chunk.allocPage();
      if (pfn >= 0) break;
    }
    if (pfn < 0 && this.memory === 'private') pfn = this.dmAddChunk().allocPage();
    if (pfn < 0) {
      if (rpage >= 0) phys.putPage(rpage);
      return -ENOMEM;
    }
    if (rpage >= 0) this.backing.set(pfn, rpage);
    this.inUse.add(pfn);
    this.calloc++;
    const locked = this.kernel.folioTrylock(pfn);
    if (!locked) throw new Error(`${this.name}: a fresh device page ${pfn} is locked`);
    return pfn;
  }

  /**
   * dmirror_devmem_alloc_page for a large request: a PMD-order device folio (private devices: with a
   * PMD-order backing folio first), its head locked with one reference; a new chunk when no chunk has
   * a free PMD-aligned block. -ENOMEM on failure, and always for a coherent device (see the file's
   * deviations). Atomic.
   */
  allocFolio(): number {
    if (this.memory !== 'private') return -ENOMEM;
    const phys = this.kernel.phys;
    const rpage = phys.allocPages(HPAGE_PMD_ORDER);
    if (rpage < 0) return -ENOMEM;
    let head = -1;
    for (const chunk of this.chunks) {
      head = chunk.allocFolio(HPAGE_PMD_ORDER);
      if (head >= 0) break;
    }
    if (head < 0 && this.chunkPages >= 2 * HPAGE_PMD_NR) head = this.dmAddChunk().allocFolio(HPAGE_PMD_ORDER);
    if (head < 0) {
      phys.putPage(rpage);
      return -ENOMEM;
    }
    this.backing.set(head, rpage);
    this.inUse.add(head);
    this.calloc += HPAGE_PMD_NR;
    if (!this.kernel.folioTrylock(head))
      throw new Error(`${this.name}: a fresh device folio ${head} is locked`);
    return head;
  }

  /** dmirror_devmem_free: the last reference to the device folio of `nr` pages at `pfn` went away. */
  private dmPageFree(pfn: number, nr: number): void {
    const rpage = this.backing.get(pfn);
    if (rpage !== undefined) {
      this.backing.delete(pfn);
      this.kernel.phys.putPage(rpage);
    }
    this.migratedBy.delete(pfn);
    this.inUse.delete(pfn);
    this.cfree += nr;
  }

  /**
   * dmirror_devmem_folio_split: the device folio at `head` becomes `nr` order-0 pages; each gets the
   * matching page of the backing folio (split too) and the migrating file. Called with the folio
   * locked. Atomic.
   */
  private dmFolioSplit(head: number, nr: number): void {
    const phys = this.kernel.phys;
    const rpage = this.backing.get(head);
    const file = this.migratedBy.get(head);
    if (rpage !== undefined && phys.folioNrPages(rpage) === nr) {
      phys.getPage(rpage, nr);
      if (phys.splitFolio(rpage, 1) !== 0)
        throw new Error(`${this.name}: backing folio ${rpage} did not split`);
      phys.putPage(rpage);
    }
    for (let j = 1; j < nr; j++) {
      if (rpage !== undefined) this.backing.set(head + j, rpage + j);
      if (file !== undefined) this.migratedBy.set(head + j, file);
      this.inUse.add(head + j);
    }
  }

  private dmAddChunk(): DevicePagemap {
    const chunk = new DevicePagemap(this.kernel, {
      kind: this.memory,
      npages: this.chunkPages,
      owner: this,
      migrateToRam: this.memory === 'private' ? (fault) => this.migrateToRam(fault) : undefined,
      pageFree: (pfn, nr) => this.dmPageFree(pfn, nr),
      folioSplit: (head, nr) => this.dmFolioSplit(head, nr),
    });
    this.chunks.push(chunk);
    return chunk;
  }

  /** The migrate flag selecting this device's pages (MIGRATE_VMA_SELECT_DEVICE_*). */
  get selectFlag(): number {
    return this.memory === 'private' ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
  }

  /**
   * dmirror_devmem_fault (dev_pagemap_ops.migrate_to_ram): a CPU fault on one of this device's
   * private pages migrates that page back to system memory. Called with the mmap lock held for read
   * and the page locked and referenced. Returns 0, VM_FAULT_SIGBUS or VM_FAULT_OOM. May sleep.
   */
  async migrateToRam(fault: DevicePrivateFault): Promise<number> {
    const k = this.kernel;
    fault.mm.assertMmapLocked('dmirror_devmem_fault');
    k.folioAssertLocked(fault.pfn, 'dmirror_devmem_fault');
    const file = this.fileOf(fault.pfn);
    const ps = k.pageSize;
    // Through a PMD: the whole device folio; through a PTE: that page (a large folio is split).
    const whole = fault.pmd === true && k.phys.folioNrPages(fault.pfn) === HPAGE_PMD_NR;
    const start = whole ? Math.floor(fault.address / k.pmdSize) * k.pmdSize : fault.address;
    const n = whole ? HPAGE_PMD_NR : 1;
    const args: MigrateVma = {
      mm: fault.mm,
      vma: fault.vma,
      start,
      end: start + n * ps,
      src: new Array<number>(n).fill(0),
      dst: new Array<number>(n).fill(0),
      cpages: 0,
      npages: 0,
      pgmapOwner: this,
      flags: this.selectFlag | (whole ? MIGRATE_VMA_SELECT_COMPOUND : 0),
      faultPage: fault.pfn,
    };
    if ((await migrateVmaSetup(args)) !== 0) return VM_FAULT_SIGBUS;
    const ret = await this.allocAndCopyToSys(args, file);
    if (ret !== 0) {
      await migrateVmaFinalize(args);
      return VM_FAULT_OOM;
    }
    await migrateVmaPages(args);
    await migrateVmaFinalize(args);
    return 0;
  }

  /**
   * dmirror_devmem_fault_alloc_and_copy: for each collected device page, a locked system page with
   * the device page's data; the file's device page-table entry for that address is erased first.
   * -ENOMEM when an allocation fails (FAIL_ALLOC included, except on an entry that stands for a
   * compound one: see wouldBeCompound; the kernel falls back to base pages there). May sleep.
   */
  async allocAndCopyToSys(args: MigrateVma, file: Dmirror | undefined): Promise<number> {
    const k = this.kernel;
    const ps = k.pageSize;
    for (let i = 0; i < args.src.length; i++) {
      const word = args.src[i];
      const flags = migratePfnFlags(word);
      if (!(flags & MIGRATE_PFN_MIGRATE)) continue;
      const spfn = migratePfnToPage(word);
      if (spfn < 0 || !this.owns(spfn)) continue;
      const owner = this.fileOf(spfn) ?? file;
      const write = flags & MIGRATE_PFN_WRITE;
      const unmap = (va: number, end: number): void => {
        if (owner !== undefined) owner.unmapRange(va, end);
        else for (const f of this.files) f.unmapRange(va, end);
      };
      const va = args.start + i * ps;
      if (flags & MIGRATE_PFN_COMPOUND) {
        // A whole device folio: a system THP, or (FAIL_ALLOC, or no THP) base pages, and the core
        // splits the source.
        const nr = Math.min(k.phys.folioNrPages(spfn), args.src.length - i);
        const failed = owner?.consumeFailAlloc() === true;
        const thp = failed ? -ENOMEM : k.phys.allocPages(HPAGE_PMD_ORDER);
        if (thp >= 0) {
          if (!k.folioTrylock(thp)) throw new Error(`${this.name}: a fresh THP ${thp} is locked`);
          unmap(va, va + nr * ps);
          for (let j = 0; j < nr; j++) k.phys.copyPage(thp + j, this.dataPfn(spfn + j));
          args.dst[i] = migratePfn(thp) + write + MIGRATE_PFN_COMPOUND;
          continue;
        }
        for (let j = 0; j < nr; j++) {
          const dpfn = await k.allocUserPage(0);
          if (dpfn < 0) return -ENOMEM;
          if (!k.folioTrylock(dpfn)) throw new Error(`${this.name}: a fresh system page ${dpfn} is locked`);
          unmap(va + j * ps, va + (j + 1) * ps);
          k.phys.copyPage(dpfn, this.dataPfn(spfn + j));
          args.dst[i + j] = migratePfn(dpfn) + write;
        }
        continue;
      }
      if (owner?.consumeFailAlloc() && !wouldBeCompound(args, i, k.pmdSize)) return -ENOMEM;
      const dpfn = await k.allocUserPage(0);
      if (dpfn < 0) return -ENOMEM;
      if (!k.folioTrylock(dpfn)) throw new Error(`${this.name}: a fresh system page ${dpfn} is locked`);
      unmap(va, va + ps);
      k.phys.copyPage(dpfn, this.dataPfn(spfn));
      args.dst[i] = migratePfn(dpfn) + write;
    }
    return 0;
  }

  /**
   * dmirror_device_evict_chunk for every chunk (RELEASE; the newest tree's close): every page of
   * this device in use is migrated back to system memory at the addresses that map it, with its data
   * and writability; a device folio mapped by a PMD migrates whole. Deviation: the kernel uses
   * migrate_device_range over the chunk's pfns without a VMA; the model finds each page's mapping
   * through the reverse map and migrates it with migrate_vma under that mm's mmap lock. May sleep.
   */
  async evictAll(): Promise<void> {
    const phys = this.kernel.phys;
    for (const head of [...this.inUse]) {
      if (!this.inUse.has(head) || phys.isFree(head)) continue;
      const nr = phys.folioNrPages(head);
      for (let pfn = head; pfn < head + nr; pfn++) {
        if (phys.isFree(pfn) || phys.rmapCount(pfn) === 0) continue;
        const r = phys.folioRmapList(pfn)[0];
        if (r === undefined) continue;
        await this.dmEvictMapping(r.mm as Mm, r.va, r.pmd === true);
      }
    }
  }

  /** Migrates the device page (or the whole PMD-mapped folio) mapped at `va` of `mm` back. May sleep. */
  private async dmEvictMapping(mm: Mm, va: number, pmd: boolean): Promise<void> {
    const k = this.kernel;
    if (!mm.mmgetNotZero()) return;
    await mm.mmapLock.downRead();
    const vma = mm.vmas.lookup(va);
    if (vma !== undefined) {
      const n = pmd ? HPAGE_PMD_NR : 1;
      const args: MigrateVma = {
        mm,
        vma,
        start: va,
        end: va + n * k.pageSize,
        src: new Array<number>(n).fill(0),
        dst: new Array<number>(n).fill(0),
        cpages: 0,
        npages: 0,
        pgmapOwner: this,
        flags: this.selectFlag | (pmd ? MIGRATE_VMA_SELECT_COMPOUND : 0),
      };
      if ((await migrateVmaSetup(args)) === 0) {
        let ret = 0;
        if (args.src.some((w) => (migratePfnFlags(w) & MIGRATE_PFN_VALID) !== 0))
          ret = await this.allocAndCopyToSys(args, undefined);
        if (ret === 0) await migrateVmaPages(args);
        await migrateVmaFinalize(args);
      }
    }
    mm.mmapLock.upRead();
    await mm.mmput();
  }

  /** The device's name, for messages. */
  toString(): string {
    return this.name;
  }
}
