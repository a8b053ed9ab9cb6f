/**
 * One HMM test device (struct dmirror_device of lib/test_hmm.c): its memory kind, its chunks of
 * device memory (each a pagemap whose owner is this device), the allocator with its calloc / cfree
 * counters, the backing pages of device-private memory, the CPU fault handler (migrate_to_ram) and
 * the eviction of all its memory (RELEASE, close).
 *
 * Deviations: chunks are never unmapped (memunmap_pages is not modelled): RELEASE evicts every page
 * back to system memory and the chunk's pages return to its free list for later use. A coherent
 * device's chunk is ordinary device memory of the model (no SPM physical range to configure).
 */
import type { Kernel } from '../../mm/kernel.js';
import type { Mm } from '../../mm/mm.js';
import type { Process } from '../../mm/process.js';
import { VM_FAULT_OOM, VM_FAULT_SIGBUS } from '../../mm/constants.js';
import { ENOMEM } from '../../sim/errno.js';
import { DevicePagemap, type DevicePrivateFault } from '../../hmm/pagemap.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
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
const deviceCount = new WeakMap<Kernel, number>();

/** The HMM test device. Make one with `k.createDmirror({ memory })`; open it with `dev.open(p)`. */
export class DmirrorDevice {
  readonly name: string;
  readonly memory: 'private' | 'coherent';
  readonly chunkPages: number;
  readonly mistakes: Readonly<DmirrorMistakes>;
  /** The chunks of device memory (devmem_chunks); each pagemap's owner is this device. */
  readonly chunks: DevicePagemap[] = [];
  /** Device pages handed out and returned (calloc / cfree). */
  calloc = 0;
  cfree = 0;
  /** BACKING_PAGE: device-private page → the system page holding its data. */
  readonly backing = new Map<number, number>();
  /** zone_device_data of the backing page: which open file migrated each device page. */
  readonly migratedBy = new Map<number, Dmirror>();
  /** Device pages in use (allocated, not yet freed). */
  readonly inUse = new Set<number>();
  /** Open files of this device. */
  readonly files = new Set<Dmirror>();

  constructor(
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

  /** BACKING_PAGE(page): where the bytes of device page `pfn` live. */
  dataPfn(pfn: number): number {
    return this.backing.get(pfn) ?? pfn;
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

  /** dmirror_devmem_free: the last reference to device page `pfn` went away. */
  private dmPageFree(pfn: number): void {
    const rpage = this.backing.get(pfn);
    if (rpage !== undefined) {
      this.backing.delete(pfn);
      this.kernel.phys.putPage(rpage);
    }
    this.migratedBy.delete(pfn);
    this.inUse.delete(pfn);
    this.cfree++;
  }

  private dmAddChunk(): DevicePagemap {
    const chunk = new DevicePagemap(this.kernel, {
      kind: this.memory,
      npages: this.chunkPages,
      owner: this,
      migrateToRam: this.memory === 'private' ? (fault) => this.migrateToRam(fault) : undefined,
      pageFree: (pfn) => this.dmPageFree(pfn),
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
    const file = this.migratedBy.get(fault.pfn);
    const ps = this.kernel.pageSize;
    const args: MigrateVma = {
      mm: fault.mm,
      vma: fault.vma,
      start: fault.address,
      end: fault.address + ps,
      src: [0],
      dst: [0],
      cpages: 0,
      npages: 0,
      pgmapOwner: this,
      flags: this.selectFlag,
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
      if (!(migratePfnFlags(word) & MIGRATE_PFN_MIGRATE)) continue;
      const spfn = migratePfnToPage(word);
      if (spfn < 0 || !this.owns(spfn)) continue;
      const owner = this.migratedBy.get(spfn) ?? file;
      if (owner?.consumeFailAlloc() && !wouldBeCompound(args, i, k.pmdSize)) return -ENOMEM;
      const dpfn = await k.allocUserPage(0);
      if (dpfn < 0) return -ENOMEM;
      if (!k.folioTrylock(dpfn)) throw new Error(`${this.name}: a fresh system page ${dpfn} is locked`);
      const va = args.start + i * ps;
      if (owner !== undefined) owner.unmapRange(va, va + ps);
      else for (const f of this.files) f.unmapRange(va, va + ps);
      k.phys.copyPage(dpfn, this.dataPfn(spfn));
      args.dst[i] = migratePfn(dpfn) + (migratePfnFlags(word) & MIGRATE_PFN_WRITE);
    }
    return 0;
  }

  /**
   * dmirror_device_evict_chunk for every chunk (RELEASE; the newest tree's close): every page of
   * this device in use is migrated back to system memory at the addresses that map it, with its data
   * and writability. Deviation: the kernel uses migrate_device_range over the chunk's pfns without a
   * VMA; the model finds each page's mapping through the reverse map and migrates it with
   * migrate_vma under that mm's mmap lock. May sleep.
   */
  async evictAll(): Promise<void> {
    const phys = this.kernel.phys;
    for (const pfn of [...this.inUse]) {
      if (!this.inUse.has(pfn) || phys.isFree(pfn)) continue;
      if (phys.rmapCount(pfn) === 0) continue;
      const mm = phys.rmapMmAt(pfn, 0) as Mm;
      const va = phys.rmapVaAt(pfn, 0);
      if (!mm.mmgetNotZero()) continue;
      await mm.mmapLock.downRead();
      const vma = mm.vmas.lookup(va);
      if (vma !== undefined) {
        const ps = this.kernel.pageSize;
        const args: MigrateVma = {
          mm,
          vma,
          start: va,
          end: va + ps,
          src: [0],
          dst: [0],
          cpages: 0,
          npages: 0,
          pgmapOwner: this,
          flags: this.selectFlag,
        };
        if ((await migrateVmaSetup(args)) === 0) {
          if (migratePfnFlags(args.src[0]) & MIGRATE_PFN_VALID) {
            const ret = await this.allocAndCopyToSys(args, this.migratedBy.get(pfn));
            if (ret === 0) await migrateVmaPages(args);
          }
          await migrateVmaFinalize(args);
        }
      }
      mm.mmapLock.upRead();
      await mm.mmput();
    }
  }

  /** The device's name, for messages. */
  toString(): string {
    return this.name;
  }
}
