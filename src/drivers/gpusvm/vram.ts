/**
 * The GPU's VRAM (drm_pagemap with an xe-like provider): a device-private
 * pagemap owned by the GPU, each device page backed by a system page that holds its bytes (the
 * model's VRAM contents), whole-range all-or-nothing migration to VRAM
 * (drm_pagemap_migrate_to_devmem), the pagemap's migrate_to_ram for CPU faults, and eviction of the
 * least recently migrated range when VRAM runs out (drm_gpusvm_range_evict: an hmm_range_fault with
 * no device-private owner faults every device page back).
 */
import { EBUSY, EINVAL, ENOMEM } from '../../sim/errno.js';
import { VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_HUGETLB } from '../../mm/constants.js';
import type { Kernel } from '../../mm/kernel.js';
import type { DevicePrivateFault } from '../../mm/vm-ops.js';
import { DevicePagemap } from '../../hmm/pagemap.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  migratePfn,
  migratePfnFlags,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../hmm/migrate-device.js';
import type { MigrateVma } from '../../hmm/types.js';
import { XE_NO_TIMESLICE } from './switches.js';

/** The owner of a device page that must hear of its CPU-fault migration (nouveau's svmm). */
export interface VramClient {
  /**
   * Clears the GPU mapping of [start, end) before the page's bytes go back to system memory
   * (nouveau_dmem_migrate_to_ram: svmm mutex, PFNCLR). May sleep.
   */
  clearForMigrateToRam(start: number, end: number): Promise<void>;
}

/** VRAM of one GPU. */
export class GpuVram {
  /** The device-private pagemap (dev_pagemap) whose pages are the VRAM; its owner is `owner`. */
  readonly pagemap: DevicePagemap;
  /** Device page → the system page holding its bytes. */
  readonly backing = new Map<number, number>();
  /** Counters. */
  readonly seen = {
    /** Successful migrations to VRAM: whole ranges (drm_pagemap) or nouveau SVM_BIND batches. */
    migratedToVram: 0,
    /** CPU faults on a VRAM page that went through the migrate_to_ram path (one page each). */
    migratedToRam: 0,
    /** Ranges evicted from VRAM by drm_gpusvm_range_evict. */
    evictions: 0,
    /** VRAM page allocations that failed: drm_pagemap migrations that ran out, and pages nouveau's batches skipped. */
    allocFailures: 0,
    /** CPU faults left in VRAM because the page's timeslice had not expired. */
    timesliceRefusals: 0,
  };
  /**
   * A device page's zone_device_data when a nouveau svmm owns it: its migrate_to_ram clears the
   * GPU PTEs itself (nouveau's notifier ignores its own MIGRATE events).
   */
  readonly zoneDeviceData = new Map<number, VramClient>();
  /** drm_pagemap_devmem.timeslice_expiration of each device page's allocation (virtual ns). */
  readonly timesliceEnd = new Map<number, number>();

  constructor(
    /** The kernel whose physical memory backs the VRAM pages. */
    readonly kernel: Kernel,
    /** The pagemap owner (the GPU device): hmm and migrate_vma match device pages against it. */
    readonly owner: object,
    npages: number,
  ) {
    this.pagemap = new DevicePagemap(kernel, {
      kind: 'private',
      npages,
      owner,
      migrateToRam: (fault) => this.migrateToRam(fault),
      pageFree: (pfn) => this.pageFree(pfn),
    });
  }

  /** Where the bytes of device page `pfn` live. */
  dataPfn(pfn: number): number {
    return this.backing.get(pfn) ?? pfn;
  }

  /** A locked device page with one reference and a backing page, or -ENOMEM. Atomic. */
  allocPage(): number {
    const phys = this.kernel.phys;
    if (this.pagemap.nrFree === 0) return -ENOMEM;
    const back = phys.allocPage(0);
    if (back < 0) return -ENOMEM;
    const pfn = this.pagemap.allocPage();
    if (pfn < 0) {
      phys.putPage(back);
      return -ENOMEM;
    }
    this.backing.set(pfn, back);
    if (!this.kernel.folioTrylock(pfn)) throw new Error(`vram: a fresh device page ${pfn} is locked`);
    return pfn;
  }

  private pageFree(pfn: number): void {
    this.timesliceEnd.delete(pfn);
    this.zoneDeviceData.delete(pfn);
    const back = this.backing.get(pfn);
    if (back !== undefined) {
      this.backing.delete(pfn);
      this.kernel.phys.putPage(back);
    }
  }

  /**
   * drm_pagemap_migrate_to_devmem for [start, end) of `args.vma`: migrate_vma_setup selecting system
   * pages (a MIGRATE invalidation with this GPU as owner), all or nothing (-EBUSY when not every
   * page was collected or one raced while finalizing, -ENOMEM when VRAM ran out), copy to VRAM,
   * set the allocation's timeslice expiration `timesliceNs` ahead (drm_gpusvm_ctx.timeslice_ms),
   * migrate_vma_pages, finalize. The caller holds the mmap lock for read. May sleep.
   */
  async migrateToVram(args: MigrateVma, timesliceNs = 0): Promise<number> {
    args.mm.assertMmapLocked('drm_pagemap_migrate_to_devmem');
    const phys = this.kernel.phys;
    const vma = args.vma;
    if (!vma.anonymous || vma.flags & VM_HUGETLB) return -EBUSY;
    if (args.start < vma.start || args.end > vma.end) return -EINVAL;
    const ret = await migrateVmaSetup(args);
    if (ret !== 0) return ret;
    let err = 0;
    if (args.cpages !== args.npages) err = -EBUSY;
    for (let i = 0; err === 0 && i < args.src.length; i++) {
      const word = args.src[i];
      if (!(migratePfnFlags(word) & MIGRATE_PFN_MIGRATE)) {
        err = -EBUSY;
        break;
      }
      const dpfn = this.allocPage();
      if (dpfn < 0) {
        this.seen.allocFailures++;
        err = -ENOMEM;
        break;
      }
      const spfn = migratePfnToPage(word);
      const data = this.dataPfn(dpfn);
      if (spfn >= 0) phys.copyPage(data, spfn);
      else phys.clearPage(data);
      args.dst[i] = migratePfn(dpfn) + (migratePfnFlags(word) & MIGRATE_PFN_WRITE);
    }
    if (err !== 0) {
      // Undo: give back what was allocated; finalize restores the sources.
      for (let i = 0; i < args.dst.length; i++) {
        const dpfn = migratePfnToPage(args.dst[i]);
        if (dpfn < 0) continue;
        args.dst[i] = 0;
        this.kernel.folioUnlock(dpfn);
        phys.putPage(dpfn);
      }
      await migrateVmaFinalize(args);
      return err;
    }
    // migrate_to_devmem sets timeslice_expiration once the copy is done.
    const until = this.kernel.sim.now() + timesliceNs;
    for (let i = 0; i < args.dst.length; i++) {
      const dpfn = migratePfnToPage(args.dst[i]);
      if (dpfn >= 0) this.timesliceEnd.set(dpfn, until);
    }
    await migrateVmaPages(args);
    for (let i = 0; i < args.src.length; i++)
      if (!(migratePfnFlags(args.src[i]) & MIGRATE_PFN_MIGRATE)) err = -EBUSY; // raced while finalizing
    await migrateVmaFinalize(args);
    if (err === 0) this.seen.migratedToVram++;
    return err;
  }

  /**
   * The pagemap's migrate_to_ram (drm_pagemap's CPU-fault path): inside the allocation's timeslice
   * leave the page in VRAM and return success (the 2025 fix; `gpusvm.xeNoTimeslice` plants the pre-fix
   * driver, which ignores it); otherwise migrate the faulting page back to a fresh system page with
   * its VRAM bytes. Deviation: inside the timeslice the CPU waits out its rest in one sleep here
   * (holding what do_swap_page holds), where the kernel returns to user space and the CPU faults
   * over and over until it ends. Called with the mmap lock held for read and the device
   * page locked and referenced. 0, VM_FAULT_SIGBUS or VM_FAULT_OOM. May sleep.
   */
  async migrateToRam(fault: DevicePrivateFault): Promise<number> {
    fault.mm.assertMmapLocked('drm_pagemap migrate_to_ram');
    this.kernel.folioAssertLocked(fault.pfn, 'drm_pagemap migrate_to_ram');
    const phys = this.kernel.phys;
    const ps = this.kernel.pageSize;
    const sim = this.kernel.sim;
    const until = this.timesliceEnd.get(fault.pfn) ?? 0;
    if (until > sim.now()) {
      sim.mark('migrate_to_ram inside the timeslice');
      if (!sim.switchOn(XE_NO_TIMESLICE)) {
        // The 2025 fix: inside the timeslice the page stays in VRAM; the CPU waits it out.
        this.seen.timesliceRefusals++;
        await sim.sleep(until - sim.now(), 'timeslice');
        return 0;
      }
    }
    const args: MigrateVma = {
      mm: fault.mm,
      vma: fault.vma,
      start: fault.address - (fault.address % ps),
      end: fault.address - (fault.address % ps) + ps,
      src: [0],
      dst: [0],
      cpages: 0,
      npages: 0,
      pgmapOwner: this.owner,
      flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
      faultPage: fault.pfn,
    };
    if ((await migrateVmaSetup(args)) !== 0) return VM_FAULT_SIGBUS;
    const word = args.src[0];
    if (migratePfnFlags(word) & MIGRATE_PFN_MIGRATE) {
      const spfn = migratePfnToPage(word);
      const client = this.zoneDeviceData.get(spfn);
      if (client !== undefined) await client.clearForMigrateToRam(args.start, args.end);
      const dpfn = await this.kernel.allocUserPage(0);
      if (dpfn < 0) {
        await migrateVmaFinalize(args);
        return VM_FAULT_OOM;
      }
      if (!this.kernel.folioTrylock(dpfn)) throw new Error(`vram: a fresh system page ${dpfn} is locked`);
      phys.copyPage(dpfn, this.dataPfn(spfn));
      args.dst[0] = migratePfn(dpfn) + (migratePfnFlags(word) & MIGRATE_PFN_WRITE);
    }
    await migrateVmaPages(args);
    // Counted only when the page moved: not when it was not collected (someone else migrated or
    // freed it meanwhile) or migrate_vma_pages backed out.
    if (migratePfnFlags(args.src[0]) & MIGRATE_PFN_MIGRATE) this.seen.migratedToRam++;
    await migrateVmaFinalize(args);
    return 0;
  }
}
