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
   * kernel). `pageFree` is dev_pagemap_ops.page_free / folio_free, called with the folio's head and
   * number of pages when its refcount drops to zero.
   * Device-private pages are not CPU-addressable (only device-private entries may point at them) but
   * hold contents for the model. No locks.
   */
  addDeviceRegion(
    npages: number,
    kind: DeviceMemoryKind,
    owner: unknown,
    options: { node?: number; pageFree?: (pfn: number, nr: number) => void } = {},
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

  /**
   * A device folio of 2^order pages (the driver's large free list in the kernel: dmirror keeps
   * PMD-aligned free folios): the highest naturally aligned block of the region whose pages are all
   * free is taken off the free list and initialised as zone_device_folio_init does (refcount 1 on the
   * head, no flags, zero contents, not locked). Returns the head pfn or -ENOMEM (no such block, or the
   * allocation fault hook said so). Order 0 is allocDevicePage. No locks.
   * Deviation: the model finds the block by scanning the region (the driver keeps ready folios).
   */
  allocDeviceFolio(region: DeviceRegion, order: number): number {
    if (order === 0) return this.allocDevicePage(region);
    const r = this.regions[region.id];
    if (r === undefined || r.startPfn !== region.startPfn)
      throw new RangeError('allocDeviceFolio: unknown region');
    if (!Number.isInteger(order) || order < 0 || order > HPAGE_PMD_ORDER)
      throw new RangeError(
        `allocDeviceFolio: order must be an integer in [0, ${HPAGE_PMD_ORDER}], got ${order}`,
      );
    if (this.shouldFailAlloc !== undefined && this.shouldFailAlloc(order, r.node)) return -ENOMEM;
    const nr = 1 << order;
    if (r.nrFree < nr) return -ENOMEM;
    let head = -1;
    for (let b = Math.floor((r.startPfn + r.npages - nr) / nr) * nr; b >= r.startPfn && head < 0; b -= nr) {
      let p = b;
      while (p < b + nr && this.state[p] === ST_DEVICE_FREE) p++;
      if (p === b + nr) head = b;
    }
    if (head < 0) return -ENOMEM;
    // Unlink the block's pages from the region's singly linked free list in one pass.
    let prev = NO_PFN;
    for (let p = r.freeHead; p !== NO_PFN;) {
      const next = this.freeNext[p];
      if (p >= head && p < head + nr) {
        if (prev === NO_PFN) r.freeHead = next;
        else this.freeNext[prev] = next;
      } else prev = p;
      p = next;
    }
    r.nrFree -= nr;
    this.physInitFolio(head, order);
    return head;
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

  /**
   * free_zone_device_folio: every page of the folio of `nr` pages at `pfn` back on the region's free
   * list, then pgmap->ops->page_free (folio_free for a large folio) with the head and `nr`.
   */
  protected physFreeDevicePage(pfn: number, nr = 1): void {
    const r = this.deviceRegionOf(pfn) as DeviceRegionState | undefined;
    if (r === undefined) throw new Error(`internal: device page ${pfn} has no region`);
    for (let p = pfn + nr - 1; p >= pfn; p--) {
      this.headArr[p] = p;
      this.orderArr[p] = 0;
      this.state[p] = ST_DEVICE_FREE;
      this.freeNext[p] = r.freeHead;
      r.freeHead = p;
    }
    r.nrFree += nr;
    r.pageFree?.(pfn, nr);
  }
}
