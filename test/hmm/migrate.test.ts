/**
 * Device migration conformance (migrateVmaSetup / Pages / Finalize) for private and coherent device
 * memory: the MIGRATE invalidations with their owner, per-page MIGRATE_PFN_* flags, the CPU fault
 * path calling migrateToRam, hmmRangeFault on device pages, pinned pages left alone, bad input.
 */
import { describe, expect, it } from 'vitest';

import { EINVAL } from '../../src/sim/errno.js';
import { MADV_HUGEPAGE, PMD_SIZE, PROT_READ } from '../../src/mm/constants.js';
import {
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_WRITE,
} from '../../src/mm/page-table.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migratePfn,
  migratePfnFlags,
  migratePfnToPage,
  migrateVmaSetup,
} from '../../src/hmm/migrate-device.js';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToPfn,
} from '../../src/hmm/pfn.js';
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
  testDevice,
} from './helpers.js';

const N = 4;

describe.each(['private', 'coherent'] as const)('migrate to %s device memory and back', (kind) => {
  it('migrates populated, zero-page and empty pages with MIGRATE invalidations carrying the owner', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, N * PAGE);
      expect(await p.write(A, fill(PAGE, 1))).toBe(0); // page 0 written
      expect(await p.read(A + PAGE, 1)).toEqual(fill(1, 0)); // page 1 zero page; 2, 3 empty
      expect(await p.mprotect(A + 3 * PAGE, PAGE, PROT_READ)).toBe(0);
      const dev = testDevice(k, kind);
      const seen = await recordNotifier(p.mm);
      await p.mm.mmapLock.downRead();
      const args = await dev.toDevice(p.mm, A, A + 3 * PAGE);
      p.mm.mmapLock.upRead();
      const owner = dev.pagemap.owner;
      expect(starts(seen)).toEqual([
        ['MMU_NOTIFY_MIGRATE', A, A + 3 * PAGE, true, owner],
        ['MMU_NOTIFY_MIGRATE', A + PAGE, A + 3 * PAGE, true, owner], // holes populated by migrate_vma_pages
      ]);
      expect(args.cpages).toBe(3);
      expect(args.npages).toBe(3);
      expect(migratePfnFlags(args.src[0])).toBe(MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_WRITE);
      expect(migratePfnFlags(args.src[1])).toBe(MIGRATE_PFN_MIGRATE);
      expect(migratePfnFlags(args.src[2])).toBe(MIGRATE_PFN_MIGRATE);
      const pt = p.mm.pageTable;
      for (let i = 0; i < 3; i++) {
        const va = A + i * PAGE;
        expect(pt.kindAt(va)).toBe(kind === 'private' ? PTE_KIND_DEVICE_PRIVATE : PTE_KIND_PRESENT);
        expect(dev.pagemap.contains(pt.pfnAt(va))).toBe(true);
        expect(pt.flagsAt(va) & PTE_WRITE).toBe(PTE_WRITE);
      }
      expect(pt.kindAt(A + 3 * PAGE)).toBe(PTE_KIND_NONE);
      expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages - 3);
      // hmmRangeFault: the owner sees its device pages; a snapshot for another owner sees 0 (private)
      // or the coherent page itself.
      const { sub } = await subscribe(p.mm, A, N * PAGE);
      const own = new Float64Array(3);
      expect(await rangeFaultOnce(sub, A, A + 3 * PAGE, own, 0, 0, owner)).toBe(0);
      for (let i = 0; i < 3; i++) {
        expect(hmmPfnFlags(own[i])).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
        expect(hmmPfnToPfn(own[i])).toBe(pt.pfnAt(A + i * PAGE));
      }
      const other = new Float64Array(3);
      expect(await rangeFaultOnce(sub, A, A + 3 * PAGE, other, 0, 0, { other: true })).toBe(0);
      expect(Array.from(other, (e) => hmmPfnFlags(e))).toEqual(
        new Array(3).fill(kind === 'private' ? 0 : HMM_PFN_VALID | HMM_PFN_WRITE),
      );
      expect(dev.faults).toBe(0);
      // The CPU reads the data back: private pages are migrated to RAM by migrateToRam.
      expect(await p.read(A, PAGE)).toEqual(fill(PAGE, 1));
      expect(await p.read(A + PAGE, 2 * PAGE)).toEqual(fill(2 * PAGE, 0));
      expect(dev.faults).toBe(kind === 'private' ? 3 : 0);
      if (kind === 'private') {
        for (let i = 0; i < 3; i++) expect(pt.kindAt(A + i * PAGE)).toBe(PTE_KIND_PRESENT);
        expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages);
      }
    });
    expectOk(run);
  });

  it('hmmRangeFault of another owner faults device-private pages back; migrate-to-system brings coherent ones back', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.write(A, fill(2 * PAGE, 5))).toBe(0);
      const dev = testDevice(k, kind);
      await p.mm.mmapLock.downRead();
      await dev.toDevice(p.mm, A, A + 2 * PAGE);
      p.mm.mmapLock.upRead();
      const { sub } = await subscribe(p.mm, A, 2 * PAGE);
      const pfns = new Float64Array(2);
      let ret = await rangeFaultOnce(sub, A, A + 2 * PAGE, pfns, HMM_PFN_REQ_FAULT, 0, null);
      if (ret === -16) ret = await rangeFaultOnce(sub, A, A + 2 * PAGE, pfns, HMM_PFN_REQ_FAULT, 0, null);
      expect(ret).toBe(0);
      for (let i = 0; i < 2; i++) {
        expect(hmmPfnFlags(pfns[i]) & HMM_PFN_VALID).toBe(HMM_PFN_VALID);
        const onDevice = dev.pagemap.contains(hmmPfnToPfn(pfns[i]));
        expect(onDevice).toBe(kind === 'coherent');
      }
      if (kind === 'coherent') {
        await p.mm.mmapLock.downRead();
        const back = await dev.toSystem(p.mm, A, A + 2 * PAGE);
        p.mm.mmapLock.upRead();
        expect(back.cpages).toBe(2);
        expect(dev.pagemap.contains(p.mm.pageTable.pfnAt(A))).toBe(false);
      }
      expect(await p.read(A, 2 * PAGE)).toEqual(fill(2 * PAGE, 5));
      expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages);
    });
    expectOk(run);
  });

  it('a page without a destination stays where it was, unlocked and mapped as before', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.write(A, fill(2 * PAGE, 9))).toBe(0);
      const pfn1 = p.mm.pageTable.pfnAt(A + PAGE);
      const dev = testDevice(k, kind);
      await p.mm.mmapLock.downRead();
      const args = await dev.toDevice(p.mm, A, A + 2 * PAGE, { skip: new Set([1]) });
      p.mm.mmapLock.upRead();
      expect(migratePfnFlags(args.src[1]) & MIGRATE_PFN_MIGRATE).toBe(0);
      expect(p.mm.pageTable.kindAt(A + PAGE)).toBe(PTE_KIND_PRESENT);
      expect(p.mm.pageTable.pfnAt(A + PAGE)).toBe(pfn1);
      expect(k.phys.testFlag(pfn1, 1 /* PG_locked */)).toBe(false);
      expect(await p.read(A, 2 * PAGE)).toEqual(fill(2 * PAGE, 9));
    });
    expectOk(run);
  });
});

describe('migrateVmaSetup', () => {
  it('leaves a pinned page mapped and unmarked', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.write(A, fill(2 * PAGE, 3))).toBe(0);
      const pfn0 = p.mm.pageTable.pfnAt(A);
      k.phys.getPage(pfn0);
      expect(k.phys.pinPage(pfn0)).toBe(true);
      const dev = testDevice(k, 'private');
      await p.mm.mmapLock.downRead();
      const args = await dev.toDevice(p.mm, A, A + 2 * PAGE);
      p.mm.mmapLock.upRead();
      expect(args.src[0]).toBe(0);
      expect(migratePfnFlags(args.src[1]) & MIGRATE_PFN_MIGRATE).toBe(MIGRATE_PFN_MIGRATE);
      expect(p.mm.pageTable.pfnAt(A)).toBe(pfn0);
      expect(p.mm.pageTable.kindAt(A + PAGE)).toBe(PTE_KIND_DEVICE_PRIVATE);
      k.phys.unpinPage(pfn0);
      k.phys.putPage(pfn0);
    });
    expectOk(run);
  });

  it('splits a PMD-mapped THP and migrates its pages one by one', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await mapAnon(p, PMD_SIZE);
        expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
        expect(await p.write(A, fill(PAGE, 4))).toBe(0);
        expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
        const dev = testDevice(k, 'private', 1024);
        await p.mm.mmapLock.downRead();
        const args = await dev.toDevice(p.mm, A, A + PMD_SIZE);
        p.mm.mmapLock.upRead();
        expect(args.cpages).toBe(PMD_SIZE / PAGE);
        expect(p.mm.pageTable.isHugeAt(A)).toBe(false);
        expect(p.mm.pageTable.kindAt(A + 100 * PAGE)).toBe(PTE_KIND_DEVICE_PRIVATE);
        expect(await p.read(A, PAGE)).toEqual(fill(PAGE, 4));
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });

  it('bad input: empty or reversed range, outside the VMA, short arrays, unknown flags give -EINVAL with nothing changed', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.write(A, fill(1, 1))).toBe(0);
      const vma = p.mm.vmas.lookup(A)!;
      await p.mm.mmapLock.downRead();
      const base = () => ({
        mm: p.mm,
        vma,
        start: A,
        end: A + 2 * PAGE,
        src: [7, 7],
        dst: [7, 7],
        cpages: 0,
        npages: 0,
        pgmapOwner: null,
        flags: MIGRATE_VMA_SELECT_SYSTEM,
      });
      expect(await migrateVmaSetup({ ...base(), end: A })).toBe(-EINVAL);
      expect(await migrateVmaSetup({ ...base(), start: A + PAGE, end: A })).toBe(-EINVAL);
      expect(await migrateVmaSetup({ ...base(), end: A + 3 * PAGE })).toBe(-EINVAL);
      expect(await migrateVmaSetup({ ...base(), start: A - PAGE })).toBe(-EINVAL);
      expect(await migrateVmaSetup({ ...base(), src: [0] })).toBe(-EINVAL);
      expect(await migrateVmaSetup({ ...base(), flags: 1 << 9 })).toBe(-EINVAL);
      const b = base();
      expect(await migrateVmaSetup({ ...b, flags: -1 })).toBe(-EINVAL);
      expect(b.src).toEqual([7, 7]);
      p.mm.mmapLock.upRead();
      expect(p.mm.pageTable.kindAt(A)).toBe(PTE_KIND_PRESENT);
    });
    expectOk(run);
  });
});

describe('device pages shared by fork', () => {
  it('a parent writing a device-private page it shares with its child faults it back for both; COW then splits them (hmm_cow_in_device)', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.write(A, fill(2 * PAGE, 4))).toBe(0);
      const dev = testDevice(k, 'private');
      await p.mm.mmapLock.downRead();
      await dev.toDevice(p.mm, A, A + 2 * PAGE);
      p.mm.mmapLock.upRead();
      const child = await p.fork();
      expect(child.mm.pageTable.kindAt(A)).toBe(PTE_KIND_DEVICE_PRIVATE);
      const seen = await recordNotifier(child.mm);
      expect(await p.write(A, fill(4, 9))).toBe(0);
      // The child's device-private entry was turned into a migration entry by a CLEAR of its page.
      expect(starts(seen)).toEqual([['MMU_NOTIFY_CLEAR', A, A + PAGE, true, null]]);
      expect(child.mm.pageTable.kindAt(A)).toBe(PTE_KIND_PRESENT);
      expect(await child.read(A, 8)).toEqual(fill(8, 4));
      expect(await p.read(A, 8)).toEqual(Uint8Array.from([9, 9, 9, 9, 4, 4, 4, 4]));
      expect(p.mm.pageTable.pfnAt(A)).not.toBe(child.mm.pageTable.pfnAt(A));
      await child.kill();
      await child.wait();
      expect(await p.read(A + PAGE, 4)).toEqual(fill(4, 4));
      expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages);
    });
    expectOk(run);
  });
});

describe("hmmRangeFault on the caller's own read-only device-private page", () => {
  // hmm_vma_handle_pte checks the device-private owner before it evaluates the request: an entry of
  // the caller's own pagemap is reported as it is (VALID, WRITE only if the entry is writable), never
  // faulted, even under REQ_WRITE. kernel-semantics.md B.5 ("the owner check is done before the fault
  // evaluation") and mm/hmm.c agree; a driver that needs the page writable must migrate it itself.
  it('REQ_FAULT|REQ_WRITE after fork: VALID without WRITE, 0, no migrateToRam; another owner faults it back writable', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.write(A, fill(2 * PAGE, 6))).toBe(0);
      const dev = testDevice(k, 'private');
      await p.mm.mmapLock.downRead();
      await dev.toDevice(p.mm, A, A + 2 * PAGE);
      p.mm.mmapLock.upRead();
      const child = await p.fork();
      const pt = p.mm.pageTable;
      // fork made the parent's writable device-private entries read-only (COW).
      expect([pt.kindAt(A), pt.flagsAt(A) & PTE_WRITE]).toEqual([PTE_KIND_DEVICE_PRIVATE, 0]);
      const devPfn = pt.pfnAt(A);
      const { sub, seen } = await subscribe(p.mm, A, 2 * PAGE);
      const want = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
      const own = new Float64Array(2);
      expect(await rangeFaultOnce(sub, A, A + 2 * PAGE, own, want, 0, dev.pagemap.owner)).toBe(0);
      expect(hmmPfnFlags(own[0])).toBe(HMM_PFN_VALID);
      expect(hmmPfnToPfn(own[0])).toBe(devPfn);
      expect(dev.faults).toBe(0);
      expect(seen).toEqual([]);
      expect(pt.kindAt(A)).toBe(PTE_KIND_DEVICE_PRIVATE);
      // For any other owner the same request faults the page back (migrate_to_ram, then the COW break).
      const other = new Float64Array(2);
      let ret = await rangeFaultOnce(sub, A, A + 2 * PAGE, other, want, 0, null);
      for (let tries = 0; ret === -16 && tries < 4; tries++)
        ret = await rangeFaultOnce(sub, A, A + 2 * PAGE, other, want, 0, null);
      expect(ret).toBe(0);
      expect(dev.faults).toBeGreaterThan(0);
      for (let i = 0; i < 2; i++) {
        expect(hmmPfnFlags(other[i])).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
        expect(dev.pagemap.contains(hmmPfnToPfn(other[i]))).toBe(false);
      }
      expect(await p.read(A, 2 * PAGE)).toEqual(fill(2 * PAGE, 6));
      expect(await child.read(A, 2 * PAGE)).toEqual(fill(2 * PAGE, 6));
      await child.kill();
      await child.wait();
    });
    expectOk(run);
  });
});

describe('huge zero page', () => {
  it('holes over a huge zero PMD: collected as holes, the PMD split (CLEAR) when populated', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await mapAnon(p, PMD_SIZE);
        expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
        expect(await p.read(A, 4)).toEqual(fill(4, 0)); // the huge zero page
        expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
        const dev = testDevice(k, 'private', 1024);
        const seen = await recordNotifier(p.mm);
        await p.mm.mmapLock.downRead();
        const args = await dev.toDevice(p.mm, A, A + 4 * PAGE);
        p.mm.mmapLock.upRead();
        const owner = dev.pagemap.owner;
        expect(starts(seen)).toEqual([
          ['MMU_NOTIFY_MIGRATE', A, A + 4 * PAGE, true, owner],
          ['MMU_NOTIFY_MIGRATE', A, A + 4 * PAGE, true, owner],
          ['MMU_NOTIFY_CLEAR', A, A + PMD_SIZE, true, null],
        ]);
        expect(args.cpages).toBe(4);
        for (let i = 0; i < 4; i++) expect(migratePfnFlags(args.src[i])).toBe(MIGRATE_PFN_MIGRATE);
        expect(p.mm.pageTable.kindAt(A)).toBe(PTE_KIND_DEVICE_PRIVATE);
        expect(p.mm.pageTable.kindAt(A + 4 * PAGE)).toBe(PTE_KIND_PRESENT); // zero page PTEs
        expect(await p.read(A, 8 * PAGE)).toEqual(fill(8 * PAGE, 0));
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });
});

describe('migrateDeviceRange / Pages / Finalize (eviction without a VMA)', () => {
  it.each(['private', 'coherent'] as const)(
    'evicts every %s device page, including one a fork shares, back to system memory with its data',
    async (kind) => {
      const run = await runKernel(async (k) => {
        const p = k.createProcess('app');
        await mapAnon(p, 3 * PAGE);
        expect(await p.write(A, fill(3 * PAGE, 6))).toBe(0);
        const dev = testDevice(k, kind, 8);
        await p.mm.mmapLock.downRead();
        await dev.toDevice(p.mm, A, A + 3 * PAGE);
        p.mm.mmapLock.upRead();
        const child = await p.fork();
        const region = dev.pagemap.region;
        const n = region.npages;
        const src = new Array<number>(n).fill(7);
        const dst = new Array<number>(n).fill(0);
        expect(await migrateDeviceRange(k, src, region.startPfn, n)).toBe(0);
        const collected = src.filter((w) => migratePfnFlags(w) & MIGRATE_PFN_MIGRATE).length;
        expect(collected).toBe(3);
        expect(src.slice(3)).toEqual(new Array(n - 3).fill(0));
        for (let i = 0; i < n; i++) {
          const s = migratePfnToPage(src[i]);
          if (s < 0) continue;
          const d = await k.allocUserPage();
          k.phys.trylockPage(d);
          k.phys.copyPage(d, s);
          dst[i] = migratePfn(d);
        }
        migrateDevicePages(k, src, dst, n);
        await migrateDeviceFinalize(k, src, dst, n);
        expect(dev.pagemap.nrFree).toBe(n);
        for (const q of [p, child]) {
          for (let i = 0; i < 3; i++) {
            expect(q.mm.pageTable.kindAt(A + i * PAGE)).toBe(PTE_KIND_PRESENT);
            expect(dev.pagemap.contains(q.mm.pageTable.pfnAt(A + i * PAGE))).toBe(false);
          }
          expect(await q.read(A, 3 * PAGE)).toEqual(fill(3 * PAGE, 6));
        }
        expect(dev.faults).toBe(0);
        expect(await migrateDeviceRange(k, src, 0, 1)).toBe(-EINVAL); // system RAM
        expect(await migrateDeviceRange(k, [], region.startPfn, 1)).toBe(-EINVAL);
      });
      expectOk(run);
    },
  );
});
