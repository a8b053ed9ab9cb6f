/**
 * Device memory (ZONE_DEVICE, memremap_pages with a struct dev_pagemap): a pagemap per device with
 * an owner, a kind (MEMORY_DEVICE_PRIVATE or MEMORY_DEVICE_COHERENT), the migrate_to_ram hook the
 * CPU fault path calls for device-private pages, and page allocation and freeing.
 */
import { ENOMEM } from '../sim/errno.js';
import type { Kernel } from '../mm/kernel.js';
import type { DeviceMemoryKind, DeviceRegion } from '../mm/physical.js';
import type { DevicePrivateFault } from '../mm/vm-ops.js';

export type { DeviceMemoryKind, DevicePrivateFault };

/**
 * What memremap_pages is given for a new {@link DevicePagemap}: the dev_pagemap's type, size, owner
 * and node, and its dev_pagemap_ops.
 */
export interface DevicePagemapOptions {
  /** 'private' (not CPU-addressable) or 'coherent' (CPU-addressable, mapped by present PTEs). */
  kind: DeviceMemoryKind;
  /** Pages of device memory. */
  npages: number;
  /** pgmap->owner; defaults to the pagemap itself. Compared with devPrivateOwner / pgmapOwner. */
  owner?: unknown;
  /**
   * dev_pagemap_ops.migrate_to_ram: a CPU fault on a device-private page of this pagemap. Called with
   * the mmap lock held for read and the device page locked and referenced. Returns a vm_fault_t
   * (0: the access is retried). May sleep.
   */
  migrateToRam?: (fault: DevicePrivateFault) => Promise<number>;
  /**
   * dev_pagemap_ops.page_free / folio_free: the last reference to the folio of `nr` pages at `pfn` went
   * away (its pages are back on the free list).
   */
  pageFree?: (pfn: number, nr: number) => void;
  /** dev_pagemap_ops.folio_split: see DevPagemapOps.folioSplit. */
  folioSplit?: (head: number, nr: number) => void;
  /** NUMA node of the memory (0). */
  node?: number;
}

/**
 * struct dev_pagemap of one device. Allocate pages with {@link DevicePagemap.allocPage} (refcount 1,
 * zeroed, unlocked); a page returns to the pagemap when its last reference is put
 * (k.phys.putPage), as free_zone_device_folio does.
 */
export class DevicePagemap {
  /** The ZONE_DEVICE pfn range memremap_pages set up for this pagemap. */
  readonly region: DeviceRegion;
  /** pgmap->owner: `options.owner`, or the pagemap itself when none was given. */
  readonly owner: unknown;
  /** pgmap->type: 'private' (MEMORY_DEVICE_PRIVATE) or 'coherent' (MEMORY_DEVICE_COHERENT). */
  readonly kind: DeviceMemoryKind;

  constructor(
    /** The kernel whose physical memory holds the region. */
    readonly kernel: Kernel,
    private readonly options: DevicePagemapOptions,
  ) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('DevicePagemap: options must be an object { kind, npages }');
    if (options.kind !== 'private' && options.kind !== 'coherent')
      throw new RangeError(
        `DevicePagemap: kind must be 'private' or 'coherent', got ${String(options.kind)}`,
      );
    this.kind = options.kind;
    this.owner = options.owner ?? this;
    const migrateToRam = options.migrateToRam;
    const folioSplit = options.folioSplit;
    this.region = kernel.memremapPages(options.npages, options.kind, this.owner, {
      node: options.node,
      pageFree: options.pageFree,
      ops:
        migrateToRam === undefined
          ? undefined
          : {
              migrateToRam: (fault: DevicePrivateFault) => migrateToRam(fault),
              folioSplit: folioSplit === undefined ? undefined : (head, nr) => folioSplit(head, nr),
            },
    });
  }

  /** Pages of the region. */
  get npages(): number {
    return this.region.npages;
  }

  /** Pages free in the region. */
  get nrFree(): number {
    return this.kernel.phys.deviceRegionOf(this.region.startPfn)?.nrFree ?? 0;
  }

  /** Whether `pfn` is a page of this pagemap. */
  contains(pfn: number): boolean {
    return pfn >= this.region.startPfn && pfn < this.region.startPfn + this.region.npages;
  }

  /**
   * zone_device_page_init on a page off the free list: refcount 1, zero contents, not locked. Returns
   * the pfn or -ENOMEM. Atomic.
   */
  allocPage(): number {
    const pfn = this.kernel.phys.allocDevicePage(this.region);
    return pfn < 0 ? -ENOMEM : pfn;
  }

  /**
   * zone_device_folio_init on a naturally aligned block of 2^order free pages (order 9: a PMD-sized
   * device folio that migration can map with one PMD-level entry): refcount 1 on the head, zero
   * contents, not locked. Returns the head pfn or -ENOMEM. Atomic.
   */
  allocFolio(order: number): number {
    const pfn = this.kernel.phys.allocDeviceFolio(this.region, order);
    return pfn < 0 ? -ENOMEM : pfn;
  }

  /** Drops the caller's reference on a page of this pagemap (freed with the last one). Atomic. */
  putPage(pfn: number): void {
    if (!this.contains(pfn)) throw new RangeError(`DevicePagemap.putPage: pfn ${pfn} is not in this pagemap`);
    this.kernel.phys.putPage(pfn);
  }
}

/** memremap_pages for a device: a new pagemap of `options.kind` on `k`. */
export function createDevicePagemap(k: Kernel, options: DevicePagemapOptions): DevicePagemap {
  return new DevicePagemap(k, options);
}
