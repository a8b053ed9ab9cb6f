/**
 * ZONE_DEVICE regions (mm/memremap.c: memremap_pages, dev_pagemap, zone_device_page_init,
 * free_zone_device_folio) for device-private and device-coherent memory.
 */
import { ENOMEM } from '../sim/errno.js';
import { HPAGE_PMD_ORDER } from './constants.js';
import {
  NO_PFN,
  ST_DEVICE_FREE,
  ST_HOLE,
  type DeviceMemoryKind,
  type DeviceRegion,
  type DeviceRegionState,
  type Zone,
} from './page-frames.js';
import { FolioRmap } from './folio-rmap.js';

export class DeviceMemory<Mm = unknown> extends FolioRmap<Mm> {
  /**
   * memremap_pages: adds `npages` of device memory of `kind` (MEMORY_DEVICE_PRIVATE or
   * MEMORY_DEVICE_COHERENT) owned by `owner` (pgmap->owner). The pfns are new, above every existing frame,
   * starting HPAGE_PMD_NR-aligned; they start on the region's free list (the driver's free list in the
   * kernel). `pageFree` is dev_pagemap_ops.page_free, called when a page's refcount drops to zero.
   * Device-private pages are not CPU-addressable (only device-private entries may point at them) but
   * hold contents for the model. No locks.
   */
  addDeviceRegion(
    npages: number,
    kind: DeviceMemoryKind,
    owner: unknown,
    options: { node?: number; pageFree?: (pfn: number) => void } = {},
  ): DeviceRegion {
    if (!Number.isInteger(npages) || npages < 1 || npages > 2 ** 26)
      throw new RangeError(`addDeviceRegion: npages must be an integer in [1, 2^26], got ${npages}`);
    if (kind !== 'private' && kind !== 'coherent')
      throw new RangeError(`addDeviceRegion: bad kind ${String(kind)}`);
    const node = options.node ?? 0;
    this.physCheckNode(node);
    const nr = 1 << HPAGE_PMD_ORDER;
    const startPfn = Math.ceil(this.nframes / nr) * nr;
    const end = startPfn + npages;
    if (end > 2 ** 31 - 1) throw new RangeError('addDeviceRegion: pfn space exhausted');
    if (end > this.capacity) this.grow(Math.max(end, Math.min(this.capacity * 2, end + (1 << 22))));
    for (let p = this.nframes; p < startPfn; p++) this.state[p] = ST_HOLE;
    const region: DeviceRegionState = {
      id: this.regions.length,
      startPfn,
      npages,
      kind,
      owner,
      node,
      nrFree: npages,
      freeHead: startPfn,
      pageFree: options.pageFree,
    };
    for (let p = startPfn; p < end; p++) {
      this.state[p] = ST_DEVICE_FREE;
      this.nodeArr[p] = node;
      this.freeNext[p] = p + 1 < end ? p + 1 : NO_PFN;
    }
    this.nframes = end;
    this.regions.push(region);
    return region;
  }

  /**
   * Takes a page off the region's free list and initialises it as zone_device_page_init does: refcount
   * 1, no flags, contents zero. The page is not locked (the caller locks it if it follows the kernel's
   * migrate_vma protocol). Returns the pfn or -ENOMEM. No locks (the driver's lock in the kernel).
   */
  allocDevicePage(region: DeviceRegion): number {
    const r = this.regions[region.id];
    if (r === undefined || r.startPfn !== region.startPfn)
      throw new RangeError('allocDevicePage: unknown region');
    if (this.shouldFailAlloc !== undefined && this.shouldFailAlloc(0, r.node)) return -ENOMEM;
    const pfn = r.freeHead;
    if (pfn === NO_PFN) return -ENOMEM;
    r.freeHead = this.freeNext[pfn];
    r.nrFree--;
    this.physInitFolio(pfn, 0);
    return pfn;
  }

  /** page_zonenum: ZONE_DEVICE for device pages, ZONE_NORMAL otherwise. */
  zoneOf(pfn: number): Zone {
    return this.deviceRegionOf(pfn) === undefined ? 'normal' : 'device';
  }

  /** is_device_private_page. */
  isDevicePrivate(pfn: number): boolean {
    return this.deviceRegionOf(pfn)?.kind === 'private';
  }

  /** is_device_coherent_page. */
  isDeviceCoherent(pfn: number): boolean {
    return this.deviceRegionOf(pfn)?.kind === 'coherent';
  }

  /** page_pgmap(page)->owner, or undefined for system RAM. */
  deviceOwnerOf(pfn: number): unknown {
    return this.deviceRegionOf(pfn)?.owner;
  }

  /** free_zone_device_folio: pgmap->ops->page_free, then back on the region's free list. */
  protected physFreeDevicePage(pfn: number): void {
    const r = this.deviceRegionOf(pfn) as DeviceRegionState | undefined;
    if (r === undefined) throw new Error(`internal: device page ${pfn} has no region`);
    this.state[pfn] = ST_DEVICE_FREE;
    this.freeNext[pfn] = r.freeHead;
    r.freeHead = pfn;
    r.nrFree++;
    r.pageFree?.(pfn);
  }
}
