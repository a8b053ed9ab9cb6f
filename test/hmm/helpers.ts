/**
 * Helpers of the HMM tests: a subscription that records and honours invalidations, and the
 * canonical populate call (readBegin, mmap read lock, hmmRangeFault, unlock).
 */
import { expect } from 'vitest';

import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import type { Process } from '../../src/mm/process.js';
import type { Mm } from '../../src/mm/mm.js';
import { mmuIntervalNotifierInsert } from '../../src/notifier/interval.js';
import type { MmuIntervalNotifier } from '../../src/notifier/interval.js';
import { mmuNotifierEventName } from '../../src/notifier/types.js';
import { hmmRangeFault } from '../../src/hmm/range-fault.js';
import type { PfnArray } from '../../src/hmm/types.js';

export { expectOk, fill, PAGE, recordNotifier, runKernel, starts } from '../mm/helpers.js';

export const RW = PROT_READ | PROT_WRITE;
export const A = 0x40000000;

/** Maps `length` bytes of private anonymous memory at `addr` with `prot`. */
export async function mapAnon(p: Process, length: number, prot = RW, addr = A): Promise<number> {
  const got = await p.mmap({ addr, length, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
  expect(got).toBe(addr);
  return got;
}

/** One invalidation an interval subscription received: [event name, start, end, owner]. */
export type SeenInvalidation = [string, number, number, unknown];

/** A subscription over [start, start + length) that sets its sequence on every invalidation. */
export async function subscribe(
  mm: Mm,
  start: number,
  length: number,
): Promise<{ sub: MmuIntervalNotifier; seen: SeenInvalidation[] }> {
  const seen: SeenInvalidation[] = [];
  const sub = await mmuIntervalNotifierInsert(mm, start, length, {
    invalidate(s, range, curSeq) {
      seen.push([mmuNotifierEventName(range.event), range.start, range.end, range.owner]);
      s.setSeq(curSeq);
      return true;
    },
  });
  return { sub, seen };
}

/** readBegin, mmap read lock, one hmmRangeFault, unlock: its return value. */
export async function rangeFaultOnce(
  sub: MmuIntervalNotifier,
  start: number,
  end: number,
  hmmPfns: PfnArray,
  defaultFlags: number,
  pfnFlagsMask = 0,
  devPrivateOwner?: unknown,
): Promise<number> {
  const mm = sub.mm as Mm;
  const seq = await sub.readBegin();
  await mm.mmapLock.downRead();
  try {
    return await hmmRangeFault({
      notifier: sub,
      notifierSeq: seq,
      start,
      end,
      hmmPfns,
      defaultFlags,
      pfnFlagsMask,
      devPrivateOwner,
    });
  } finally {
    mm.mmapLock.upRead();
  }
}

// ---------------------------------------------------------------------------------------------
// A minimal device with device memory, following the migrate_vma protocol (as a driver would).
// ---------------------------------------------------------------------------------------------

import type { Kernel } from '../../src/mm/kernel.js';
import { createDevicePagemap, type DevicePagemap } from '../../src/hmm/pagemap.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../src/hmm/migrate-device.js';
import type { MigrateVma } from '../../src/hmm/types.js';
import type { DeviceMemoryKind } from '../../src/mm/physical.js';

export interface TestDevice {
  pagemap: DevicePagemap;
  /** Calls of migrateToRam. */
  faults: number;
  /** Migrates [start, end) of mm to device memory; the args after finalize. */
  toDevice(mm: Mm, start: number, end: number, options?: { skip?: Set<number> }): Promise<MigrateVma>;
  /** Migrates this device's pages in [start, end) back to system memory. */
  toSystem(mm: Mm, start: number, end: number): Promise<MigrateVma>;
}

/** A device with `npages` of `kind` memory whose migrateToRam migrates the faulting page back. */
export function testDevice(k: Kernel, kind: DeviceMemoryKind, npages = 64): TestDevice {
  const owner = { name: `dev-${kind}` };
  const sel = kind === 'private' ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
  const run = async (
    mm: Mm,
    start: number,
    end: number,
    flags: number,
    alloc: () => Promise<number>,
    faultPage = -1,
    skip?: Set<number>,
  ): Promise<MigrateVma> => {
    const n = (end - start) / k.pageSize;
    const vma = mm.vmas.lookup(start)!;
    const args: MigrateVma = {
      mm,
      vma,
      start,
      end,
      src: new Array<number>(n).fill(0),
      dst: new Array<number>(n).fill(0),
      cpages: 0,
      npages: 0,
      pgmapOwner: owner,
      flags,
      faultPage,
    };
    const ret = await migrateVmaSetup(args);
    if (ret !== 0) throw new Error(`migrateVmaSetup: ${ret}`);
    for (let i = 0; i < n; i++) {
      if (!(args.src[i] & MIGRATE_PFN_MIGRATE) || skip?.has(i)) continue;
      const d = await alloc();
      if (d < 0) continue;
      k.phys.trylockPage(d);
      const s = migratePfnToPage(args.src[i]);
      if (s >= 0) k.phys.copyPage(d, s);
      args.dst[i] = migratePfn(d) + (args.src[i] & MIGRATE_PFN_WRITE);
    }
    await migrateVmaPages(args);
    await migrateVmaFinalize(args);
    return args;
  };
  const dev: TestDevice = {
    faults: 0,
    pagemap: createDevicePagemap(k, {
      kind,
      npages,
      owner,
      migrateToRam: async (f) => {
        dev.faults++;
        const args = await run(
          f.mm,
          f.address,
          f.address + k.pageSize,
          MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
          () => k.allocUserPage(),
          f.pfn,
        );
        return args.cpages > 0 || args.src[0] === 0 ? 0 : 0;
      },
    }),
    toDevice: (mm, start, end, options) =>
      run(
        mm,
        start,
        end,
        MIGRATE_VMA_SELECT_SYSTEM,
        () => Promise.resolve(dev.pagemap.allocPage()),
        -1,
        options?.skip,
      ),
    toSystem: (mm, start, end) => run(mm, start, end, sel, () => k.allocUserPage()),
  };
  return dev;
}
