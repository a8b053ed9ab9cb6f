/**
 * Whole-THP device migration (MIGRATE_VMA_SELECT_COMPOUND, the "device-private THP" support of
 * mm/migrate_device.c and mm/huge_memory.c), as kernel-semantics.md F.4-F.7 and F.10 describe it:
 * a PMD-mapped THP collected as one MIGRATE_PFN_COMPOUND entry behind a PMD migration entry, a
 * PMD-order device folio mapped by one PMD-level device-private entry (hmmRangeFault order 9), the
 * CPU fault through that PMD migrating the whole folio back, the per-page fallback splitting the
 * source, a partly unmapped device PMD split at PTE level, and a fork-shared device PMD.
 */
import { describe, expect, it } from 'vitest';

import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, MADV_HUGEPAGE, PMD_SIZE } from '../../src/mm/constants.js';
import type { Kernel } from '../../src/mm/kernel.js';
import type { Mm } from '../../src/mm/mm.js';
import type { Process } from '../../src/mm/process.js';
import {
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_PRESENT,
  PTE_WRITE,
} from '../../src/mm/page-table.js';
import { createDevicePagemap, type DevicePagemap } from '../../src/hmm/pagemap.js';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnFlags,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../src/hmm/migrate-device.js';
import {
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
} from '../../src/hmm/pfn.js';
import type { MigrateVma } from '../../src/hmm/types.js';
import {
  A,
  expectOk,
  fill,
  mapAnon,
  PAGE,
  rangeFaultOnce,
  recordNotifier,
  runKernel,
  starts,
  subscribe,
} from './helpers.js';

const SYSTEM_WHOLE = MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND;

interface ThpDevice {
  pagemap: DevicePagemap;
  /** The `pmd` flag of each migrateToRam call. */
  faults: boolean[];
  /** Migrates [start, end) of mm with `flags`; the args after finalize. */
  migrate(mm: Mm, start: number, end: number, flags: number, toDevice: boolean): Promise<MigrateVma>;
}

/**
 * A private device following the migrate_vma protocol with large folios, as test_hmm does: a compound
 * source gets one PMD-order destination (device folio or system THP) unless `perPage`, which gives
 * every page its own order-0 destination (the allocation-failure fallback). `onSetup` sees the args
 * between setup and the copy.
 */
function thpDevice(
  k: Kernel,
  opts: { perPage?: boolean; onSetup?: (args: MigrateVma) => void } = {},
): ThpDevice {
  const owner = { name: 'thp-dev' };
  const migrate = async (
    mm: Mm,
    start: number,
    end: number,
    flags: number,
    toDevice: boolean,
    faultPage = -1,
  ): Promise<MigrateVma> => {
    const n = (end - start) / PAGE;
    const args: MigrateVma = {
      mm,
      vma: mm.vmas.lookup(start)!,
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
    expect(await migrateVmaSetup(args)).toBe(0);
    opts.onSetup?.(args);
    for (let i = 0; i < n; i++) {
      if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
      const s = migratePfnToPage(args.src[i]);
      const write = args.src[i] & MIGRATE_PFN_WRITE;
      if (args.src[i] & MIGRATE_PFN_COMPOUND && !opts.perPage) {
        const d = toDevice ? dev.pagemap.allocFolio(HPAGE_PMD_ORDER) : k.phys.allocPages(HPAGE_PMD_ORDER);
        expect(d).toBeGreaterThanOrEqual(0);
        k.phys.trylockPage(d);
        for (let j = 0; j < HPAGE_PMD_NR; j++) k.phys.copyPage(d + j, s + j);
        args.dst[i] = migratePfn(d) + write + MIGRATE_PFN_COMPOUND;
        continue;
      }
      const nr = args.src[i] & MIGRATE_PFN_COMPOUND ? HPAGE_PMD_NR : 1;
      for (let j = 0; j < nr; j++) {
        const d = toDevice ? dev.pagemap.allocPage() : await k.allocUserPage();
        expect(d).toBeGreaterThanOrEqual(0);
        k.phys.trylockPage(d);
        if (s >= 0) k.phys.copyPage(d, s + j);
        args.dst[i + j] = migratePfn(d) + write;
      }
    }
    await migrateVmaPages(args);
    await migrateVmaFinalize(args);
    return args;
  };
  const dev: ThpDevice = {
    faults: [],
    migrate: (mm, start, end, flags, toDevice) => migrate(mm, start, end, flags, toDevice),
    pagemap: createDevicePagemap(k, {
      kind: 'private',
      npages: 4 * HPAGE_PMD_NR,
      owner,
      migrateToRam: async (f) => {
        dev.faults.push(f.pmd === true);
        const whole = f.pmd === true;
        const start = whole ? f.address - (f.address % PMD_SIZE) : f.address;
        const flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE | (whole ? MIGRATE_VMA_SELECT_COMPOUND : 0);
        await migrate(f.mm, start, start + (whole ? PMD_SIZE : PAGE), flags, false, f.pfn);
        return 0;
      },
    }),
  };
  return dev;
}

/** A PMD-mapped THP at A whose page i starts with byte (i & 0xff). */
async function thpAt(p: Process): Promise<number> {
  await mapAnon(p, PMD_SIZE);
  expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
  for (let i = 0; i < HPAGE_PMD_NR; i++) expect(await p.write(A + i * PAGE, fill(8, i & 0xff))).toBe(0);
  expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
  return p.mm.pageTable.pfnAt(A);
}

async function expectData(p: Process, from = 0, to = HPAGE_PMD_NR): Promise<void> {
  for (let i = from; i < to; i++) expect(await p.read(A + i * PAGE, 8)).toEqual(fill(8, i & 0xff));
}

async function withMmap<T>(p: Process, f: () => Promise<T>): Promise<T> {
  await p.mm.mmapLock.downRead();
  try {
    return await f();
  } finally {
    p.mm.mmapLock.upRead();
  }
}

describe('whole-THP migration (MIGRATE_VMA_SELECT_COMPOUND)', () => {
  it('a THP migrates whole: one COMPOUND entry behind a PMD migration entry, then one PMD-level device-private entry reported at order 9; a CPU fault brings the folio back whole', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        const head = await thpAt(p);
        const pt = p.mm.pageTable;
        const during: number[] = [];
        const dev = thpDevice(k, {
          onSetup: () => during.push(pt.isHugeAt(A) ? pt.kindAt(A) : -1),
        });
        const seen = await recordNotifier(p.mm);
        const args = await withMmap(p, () => dev.migrate(p.mm, A, A + PMD_SIZE, SYSTEM_WHOLE, true));
        expect(during).toEqual([PTE_KIND_MIGRATION]);
        expect(migratePfnFlags(args.src[0])).toBe(
          MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND | MIGRATE_PFN_WRITE,
        );
        expect(migratePfnToPage(args.src[0])).toBe(head);
        expect(args.src.slice(1).every((w) => w === 0)).toBe(true);
        expect(args.cpages).toBe(1);
        // Only the collection's MIGRATE: nothing split, no CLEAR.
        expect(starts(seen)).toEqual([['MMU_NOTIFY_MIGRATE', A, A + PMD_SIZE, true, dev.pagemap.owner]]);
        const devHead = migratePfnToPage(args.dst[0]);
        expect([pt.isHugeAt(A), pt.kindAt(A), pt.pfnAt(A), pt.flagsAt(A) & PTE_WRITE]).toEqual([
          true,
          PTE_KIND_DEVICE_PRIVATE,
          devHead,
          PTE_WRITE,
        ]);
        expect(k.phys.folioOrder(devHead)).toBe(HPAGE_PMD_ORDER);
        expect(k.phys.isFree(head)).toBe(true);
        // The owner's snapshot: one PMD-level entry, order 9, consecutive pfns.
        const { sub } = await subscribe(p.mm, A, PMD_SIZE);
        const pfns = new Float64Array(HPAGE_PMD_NR);
        expect(await rangeFaultOnce(sub, A, A + PMD_SIZE, pfns, 0, 0, dev.pagemap.owner)).toBe(0);
        for (const i of [0, 1, 300, HPAGE_PMD_NR - 1]) {
          expect(hmmPfnFlags(pfns[i])).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
          expect(hmmPfnToMapOrder(pfns[i])).toBe(HPAGE_PMD_ORDER);
          expect(hmmPfnToPfn(pfns[i])).toBe(devHead + i);
        }
        // The CPU faults once, through the PMD, and gets a THP back.
        expect(await p.read(A + 7 * PAGE, 8)).toEqual(fill(8, 7));
        expect(dev.faults).toEqual([true]);
        expect([pt.isHugeAt(A), pt.kindAt(A)]).toEqual([true, PTE_KIND_PRESENT]);
        expect(k.phys.folioOrder(pt.pfnAt(A))).toBe(HPAGE_PMD_ORDER);
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages);
        await expectData(p);
        await p.exit(0);
        expect(k.phys.nrAllocated).toBe(0);
        k.phys.validate();
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });

  it('per-page destinations for a compound source: migrate_vma_pages splits the source (CLEAR over the PMD) and it migrates page by page', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await thpAt(p);
        const pt = p.mm.pageTable;
        const dev = thpDevice(k, { perPage: true });
        const seen = await recordNotifier(p.mm);
        const args = await withMmap(p, () => dev.migrate(p.mm, A, A + PMD_SIZE, SYSTEM_WHOLE, true));
        expect(starts(seen)).toEqual([
          ['MMU_NOTIFY_MIGRATE', A, A + PMD_SIZE, true, dev.pagemap.owner],
          ['MMU_NOTIFY_CLEAR', A, A + PMD_SIZE, true, null],
        ]);
        // Every entry is now a migrated small page.
        for (const i of [0, 1, 511])
          expect(migratePfnFlags(args.src[i])).toBe(
            MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_WRITE,
          );
        expect(pt.isHugeAt(A)).toBe(false);
        for (const i of [0, 255, 511]) {
          expect(pt.kindAt(A + i * PAGE)).toBe(PTE_KIND_DEVICE_PRIVATE);
          expect(dev.pagemap.contains(pt.pfnAt(A + i * PAGE))).toBe(true);
        }
        expect(await p.read(A + 3 * PAGE, 8)).toEqual(fill(8, 3));
        expect(dev.faults).toEqual([false]);
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages - HPAGE_PMD_NR + 1);
        await expectData(p);
        await p.exit(0);
        expect(k.phys.nrAllocated).toBe(0);
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages);
        k.phys.validate();
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });

  it('without the flag, or over part of the PMD, the THP is split first and collected page by page', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await thpAt(p);
        const dev = thpDevice(k);
        const args = await withMmap(p, () => dev.migrate(p.mm, A, A + 4 * PAGE, SYSTEM_WHOLE, true));
        expect(args.cpages).toBe(4);
        for (let i = 0; i < 4; i++) expect(migratePfnFlags(args.src[i]) & MIGRATE_PFN_COMPOUND).toBe(0);
        expect(p.mm.pageTable.isHugeAt(A)).toBe(false);
        const rest = await withMmap(p, () =>
          dev.migrate(p.mm, A, A + PMD_SIZE, MIGRATE_VMA_SELECT_SYSTEM, true),
        );
        expect(rest.cpages).toBe(HPAGE_PMD_NR - 4);
        await expectData(p);
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });

  it('a device PMD partly unmapped: the PMD splits, the device folio splits when a page of it is collected, unmapped pages return to the pagemap', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await thpAt(p);
        const pt = p.mm.pageTable;
        const dev = thpDevice(k);
        await withMmap(p, () => dev.migrate(p.mm, A, A + PMD_SIZE, SYSTEM_WHOLE, true));
        const devHead = pt.pfnAt(A);
        expect(await p.munmap(A, PMD_SIZE / 2)).toBe(0);
        const half = HPAGE_PMD_NR / 2;
        expect(pt.kindAt(A + half * PAGE)).toBe(PTE_KIND_DEVICE_PRIVATE);
        expect(k.phys.folioOrder(devHead)).toBe(HPAGE_PMD_ORDER); // still one folio, PTE-mapped
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages - HPAGE_PMD_NR);
        // A fault through a PTE migrates that page alone; the folio is split first.
        expect(await p.read(A + (half + 1) * PAGE, 8)).toEqual(fill(8, (half + 1) & 0xff));
        expect(dev.faults).toEqual([false]);
        expect(k.phys.folioOrder(devHead + half)).toBe(0);
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages - half + 1);
        await expectData(p, half);
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages);
        await p.exit(0);
        expect(k.phys.nrAllocated).toBe(0);
        k.phys.validate();
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });

  it("a device folio PMD-mapped in the parent and PTE-mapped in the child: a fault in the child splits the parent's PMD (CLEAR) and then the folio; both read their data", async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await thpAt(p);
        const dev = thpDevice(k);
        await withMmap(p, () => dev.migrate(p.mm, A, A + PMD_SIZE, SYSTEM_WHOLE, true));
        const devHead = p.mm.pageTable.pfnAt(A);
        const child = await p.fork();
        expect(await child.munmap(A, PMD_SIZE / 2)).toBe(0); // the child's PMD splits to PTEs
        expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
        const seen = await recordNotifier(p.mm);
        const half = HPAGE_PMD_NR / 2;
        expect(await child.read(A + half * PAGE, 8)).toEqual(fill(8, half & 0xff));
        expect(dev.faults).toEqual([false]);
        expect(starts(seen)[0]).toEqual(['MMU_NOTIFY_CLEAR', A, A + PMD_SIZE, true, null]);
        expect(p.mm.pageTable.isHugeAt(A)).toBe(false);
        expect(k.phys.folioOrder(devHead)).toBe(0);
        await expectData(p);
        for (const i of [half + 1, HPAGE_PMD_NR - 1])
          expect(await child.read(A + i * PAGE, 8)).toEqual(fill(8, i & 0xff));
        await child.kill();
        await child.wait();
        await p.exit(0);
        expect(k.phys.nrAllocated).toBe(0);
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages);
        k.phys.validate();
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });

  it("a device PMD shared by fork: the child's fault migrates the folio for both (the parent's PMD becomes a migration entry under a CLEAR); COW splits them later", async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await thpAt(p);
        const dev = thpDevice(k);
        await withMmap(p, () => dev.migrate(p.mm, A, A + PMD_SIZE, SYSTEM_WHOLE, true));
        const child = await p.fork();
        const ppt = p.mm.pageTable;
        const cpt = child.mm.pageTable;
        expect([ppt.kindAt(A), ppt.flagsAt(A) & PTE_WRITE]).toEqual([PTE_KIND_DEVICE_PRIVATE, 0]);
        expect(cpt.isHugeAt(A)).toBe(true);
        const seen = await recordNotifier(p.mm);
        expect(await child.read(A + 9 * PAGE, 8)).toEqual(fill(8, 9));
        expect(dev.faults).toEqual([true]);
        expect(starts(seen)).toEqual([['MMU_NOTIFY_CLEAR', A, A + PMD_SIZE, true, null]]);
        expect([ppt.isHugeAt(A), ppt.kindAt(A)]).toEqual([true, PTE_KIND_PRESENT]);
        expect(ppt.pfnAt(A)).toBe(cpt.pfnAt(A));
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages);
        expect(await p.write(A + 9 * PAGE, fill(8, 0xee))).toBe(0);
        expect(await child.read(A + 9 * PAGE, 8)).toEqual(fill(8, 9));
        expect(await p.read(A + 9 * PAGE, 8)).toEqual(fill(8, 0xee));
        await child.kill();
        await child.wait();
        await p.exit(0);
        expect(k.phys.nrAllocated).toBe(0);
        k.phys.validate();
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });
});
