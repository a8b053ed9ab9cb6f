/**
 * The GPU device of the 'gpusvm' driver: `await k.createDevice('gpusvm', { name: 'gpu0',
 * notifierSize: 2 << 20 })`, then `gpu.attach(p)` gives the process's GPU VM (a DeviceMirror):
 * drm_gpusvm's design by default, or nouveau's 2019 flow with `flavor: 'nouveau2019'`.
 */
import type { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { FAULT_RETRY_SCHEMA, FaultLoopStats, type FaultRetryOptions } from '../fault-retry.js';
import { DriverError } from '../options.js';
import { parseAttachOptions, registerDriver, type AttachedMirror, type Device } from '../registry.js';
import { GpuSvm } from './gpusvm.js';
import { NouveauSvmm } from './nouveau.js';
import { GpuVram } from './vram.js';

/**
 * The real bugs the driver can be built with as device options; off = upstream. The later ones are
 * run switches instead, recorded in the replay token (switches.ts).
 */
export interface GpuSvmBugs {
  /**
   * 2025, drm_gpusvm "fix hmm_pfn_to_map_order() usage": get_pages stepped by the CPU mapping order
   * without clamping to the range and the huge page, so a range partly covering a huge page mapped
   * memory outside the range. Fix: clamp each step to the range end and the huge-page end.
   */
  mapOrderClamp: boolean;
  /**
   * 2025, nouveau "fix missing folio unlock + put after make_device_exclusive_range()": the atomic
   * fault's retry path kept the folio locked and referenced, so every later attempt waited on that
   * lock and the atomic fault could never succeed. Fix: unlock and put the folio before retrying.
   */
  atomicFolioLocked: boolean;
}

/** The options of a GPU SVM device. */
export interface GpuSvmOptions extends FaultRetryOptions, GpuSvmBugs {
  /** 'drm_gpusvm' (notifiers and ranges created on fault, GC on UNMAP) or nouveau's 2019 flow. */
  flavor: 'drm_gpusvm' | 'nouveau2019';
  /** drm_gpusvm notifier_size in bytes (xe: 512 MiB). */
  notifierSize: number;
  /** chunk_sizes in bytes, descending, ending at the page size (xe: 2 MiB, 64 KiB, 4 KiB). */
  chunkSizes: number[];
  /** check_pages_threshold: chunks up to this size need every page present (xe: 64 KiB). */
  checkPagesThreshold: number;
  /** Pages of VRAM (device-private memory); 0: none. */
  vramPages: number;
  /** Migrate a range to VRAM on GPU fault (xe with a VRAM preferred location). */
  migrateOnFault: boolean;
  /**
   * drm_pagemap's timeslice in µs: after an atomic fault moves a range to VRAM, a CPU fault on it
   * does not migrate it back until this much virtual time has passed (xe's atomic_svm_timeslice_ms,
   * in µs here; other migrations get none, as in xe).
   */
  timesliceUs: number;
  /** Virtual ns from a GPU fault's completion to the GPU replaying the faulting access. */
  replayLatencyNs: number;
  /** nouveau's SVM_BIND migrates in batches of this many pages (HPAGE_PMD_NR upstream). */
  migrateBatchPages: number;
}

/** A GPU with shared virtual memory. */
export class GpuSvmDevice implements Device {
  readonly driver = 'gpusvm';
  /** Counters of the device's fault loop, summed over all its VMs. */
  readonly stats = new FaultLoopStats();
  /** The planted bugs this device was created with (from the options; all false = upstream). */
  readonly bugs: GpuSvmBugs;
  /** The GPU's VRAM, when it has any. */
  readonly vram: GpuVram | null;
  /** Every VM attached (for tests and reports). */
  readonly vms: Array<GpuSvm | NouveauSvmm> = [];

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    /** The validated createDevice options (flavor, sizes, VRAM, fault-loop policy, bug switches). */
    readonly opts: GpuSvmOptions,
  ) {
    this.bugs = { mapOrderClamp: opts.mapOrderClamp, atomicFolioLocked: opts.atomicFolioLocked };
    this.vram = opts.vramPages > 0 ? new GpuVram(kernel, this, opts.vramPages) : null;
  }

  /** `gpu.attach(p)`: a fault-mode GPU VM mirroring `p` (drm_gpusvm_init, or nouveau_svmm_init). May sleep. */
  async attach(p: Process, options: object = {}): Promise<AttachedMirror> {
    parseAttachOptions<object>(this, options);
    const name = `${this.name}.vm${this.vms.length}`;
    if (this.opts.flavor === 'nouveau2019') {
      const svmm = new NouveauSvmm(this, this.kernel, name, p);
      this.vms.push(svmm);
      await svmm.init();
      return svmm;
    }
    const vm = new GpuSvm(this, this.kernel, name, p);
    this.vms.push(vm);
    return vm;
  }
}

const MiB = 1 << 20;

registerDriver({
  name: 'gpusvm',
  summary: "GPU shared virtual memory in the manner of drm_gpusvm (xe); nouveau's 2019 flow as a flavor",
  era: 'modern',
  options: {
    ...FAULT_RETRY_SCHEMA,
    flavor: {
      type: 'enum',
      values: ['drm_gpusvm', 'nouveau2019'],
      default: 'drm_gpusvm',
      doc: "drm_gpusvm's notifiers and ranges, or nouveau's one-page notifier per fault",
    },
    notifierSize: {
      type: 'number',
      integer: true,
      min: 4096,
      default: 512 * MiB,
      doc: 'drm_gpusvm notifier_size in bytes (a power of two)',
    },
    chunkSizes: {
      type: 'number-list',
      integer: true,
      min: 4096,
      default: [2 * MiB, 64 * 1024, 4096],
      doc: 'range sizes to try, descending powers of two ending at the page size',
    },
    checkPagesThreshold: {
      type: 'number',
      integer: true,
      min: 0,
      default: 64 * 1024,
      doc: 'chunks up to this size are used only when every page is present',
    },
    vramPages: {
      type: 'number',
      integer: true,
      min: 0,
      default: 0,
      doc: 'pages of VRAM (device-private memory)',
    },
    migrateOnFault: {
      type: 'boolean',
      default: false,
      doc: 'migrate a range to VRAM on GPU fault (needs vramPages)',
    },
    timesliceUs: {
      type: 'number',
      integer: true,
      min: 0,
      default: 5000,
      doc: "VRAM residency an atomic fault's migration is guaranteed against CPU faults (µs)",
    },
    replayLatencyNs: {
      type: 'number',
      integer: true,
      min: 0,
      default: 0,
      doc: "virtual ns from a GPU fault's completion to the replayed access",
    },
    migrateBatchPages: {
      type: 'number',
      integer: true,
      min: 1,
      default: 512,
      doc: "nouveau flavor: SVM_BIND's migration batch in pages (HPAGE_PMD_NR)",
    },
    mapOrderClamp: {
      type: 'boolean',
      default: false,
      doc: 'planted real bug (GpuSvmBugs.mapOrderClamp, 2025); off = the upstream fix',
    },
    atomicFolioLocked: {
      type: 'boolean',
      default: false,
      doc: 'planted real bug (GpuSvmBugs.atomicFolioLocked, 2025, nouveau flavor); off = the upstream fix',
    },
  },
  attachOptions: {},
  create(k, name, options) {
    const o = options as unknown as GpuSvmOptions;
    const pow2 = (x: number): boolean => Number.isInteger(Math.log2(x));
    if (!pow2(o.notifierSize))
      throw new DriverError(
        `createDevice('gpusvm'): option 'notifierSize' must be a power of two, got ${o.notifierSize}`,
      );
    const cs = o.chunkSizes;
    for (let i = 0; i < cs.length; i++) {
      if (!pow2(cs[i]) || (i > 0 && cs[i] >= cs[i - 1]) || cs[i] > o.notifierSize)
        throw new DriverError(
          `createDevice('gpusvm'): option 'chunkSizes' must be descending powers of two no larger than ` +
            `notifierSize, got [${cs.join(', ')}]`,
        );
    }
    if (cs[cs.length - 1] !== k.pageSize)
      throw new DriverError(
        `createDevice('gpusvm'): option 'chunkSizes' must end at the page size (${k.pageSize}), got [${cs.join(', ')}]`,
      );
    return new GpuSvmDevice(k, name, o);
  },
});
