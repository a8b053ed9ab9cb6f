/**
 * hugetlb: MAP_HUGETLB mappings backed by the hugetlbPages pool, as the hmm selftests
 * anon_write_hugetlbfs and compound use them, and what HMM, migration and exclusive access do with them.
 */
import { describe, expect, it } from 'vitest';

import { EINVAL, ENOMEM } from '../../src/sim/errno.js';
import { EOPNOTSUPP } from '../../src/mm/mmap.js';
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PMD_SIZE, PROT_READ } from '../../src/mm/constants.js';
import { hugetlbCounts } from '../../src/mm/hugetlb.js';
import type { Process } from '../../src/mm/process.js';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
} from '../../src/hmm/pfn.js';
import { MIGRATE_VMA_SELECT_SYSTEM, migrateVmaSetup } from '../../src/hmm/migrate-device.js';
import { makeDeviceExclusive } from '../../src/hmm/exclusive.js';
import {
  expectOk,
  fill,
  PAGE,
  rangeFaultOnce,
  recordNotifier,
  RW,
  runKernel,
  starts,
  subscribe,
} from './helpers.js';

const NPMD = PMD_SIZE / PAGE;

async function mapHuge(p: Process, prot = RW): Promise<number> {
  return p.mmap({ length: PMD_SIZE, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB });
}

describe('hugetlb', () => {
  it('MAP_HUGETLB fails with -ENOMEM without a pool', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      expect(await mapHuge(p)).toBe(-ENOMEM);
    });
    expectOk(run);
  });

  it('a device write through hmmRangeFault faults one huge page in, reported with order 9 (anon_write_hugetlbfs)', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        const a = await mapHuge(p);
        expect(a % PMD_SIZE).toBe(0);
        expect(hugetlbCounts(k)).toEqual({ total: 1, free: 1 });
        const { sub } = await subscribe(p.mm, a, PMD_SIZE);
        const pfns = new Float64Array(NPMD);
        // Only the first page's request counts for a huge page: page 0 asks for nothing here, so
        // default flags decide.
        const ret = await rangeFaultOnce(sub, a, a + PMD_SIZE, pfns, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
        expect(ret).toBe(0);
        expect(hugetlbCounts(k).free).toBe(0);
        const head = hmmPfnToPfn(pfns[0]);
        for (let i = 0; i < NPMD; i++) {
          expect(hmmPfnFlags(pfns[i])).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
          expect(hmmPfnToMapOrder(pfns[i])).toBe(9);
          expect(hmmPfnToPfn(pfns[i])).toBe(head + i);
        }
        expect(await p.write(a + 3 * PAGE, fill(8, 0x5a))).toBe(0);
        expect(await p.read(a + 3 * PAGE, 8)).toEqual(fill(8, 0x5a));
        // A second mapping has no page left: the CPU access fails.
        const b = await mapHuge(p);
        expect(b).toBeGreaterThan(0);
        expect(await p.write(b, fill(1, 1))).toBeLessThan(0);
        expect(await p.munmap(a, PMD_SIZE)).toBe(0);
        expect(hugetlbCounts(k).free).toBe(1);
        expect(await p.write(b, fill(1, 1))).toBe(0);
        expect(await p.read(b + PAGE, 4)).toEqual(fill(4, 0)); // cleared on reuse
      },
      { hugetlbPages: 1, memoryPages: 8192 },
    );
    expectOk(run);
  });

  it('snapshot, mprotect READ, snapshot: WRITE then READ at PMD order (compound)', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        const a = await mapHuge(p);
        expect(await p.write(a, fill(PMD_SIZE, 3))).toBe(0);
        const { sub } = await subscribe(p.mm, a, PMD_SIZE);
        const s1 = new Float64Array(NPMD);
        expect(await rangeFaultOnce(sub, a, a + PMD_SIZE, s1, 0)).toBe(0);
        expect(new Set(Array.from(s1, (e) => hmmPfnFlags(e)))).toEqual(
          new Set([HMM_PFN_VALID | HMM_PFN_WRITE]),
        );
        expect(await p.mprotect(a, PMD_SIZE, PROT_READ)).toBe(0);
        const s2 = new Float64Array(NPMD);
        expect(await rangeFaultOnce(sub, a, a + PMD_SIZE, s2, 0)).toBe(0);
        expect(new Set(Array.from(s2, (e) => hmmPfnFlags(e)))).toEqual(new Set([HMM_PFN_VALID]));
        expect(new Set(Array.from(s2, (e) => hmmPfnToMapOrder(e)))).toEqual(new Set([9]));
        void k;
      },
      { hugetlbPages: 1, memoryPages: 8192 },
    );
    expectOk(run);
  });

  it('a child writing a shared private huge page copies it inside a CLEAR over the huge page', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        const a = await mapHuge(p);
        expect(await p.write(a, fill(16, 7))).toBe(0);
        const child = await p.fork();
        const seen = await recordNotifier(child.mm);
        expect(await child.write(a, fill(4, 9))).toBe(0);
        expect(starts(seen)).toEqual([['MMU_NOTIFY_CLEAR', a, a + PMD_SIZE, true, null]]);
        expect(await p.read(a, 16)).toEqual(fill(16, 7));
        expect(await child.read(a, 6)).toEqual(Uint8Array.from([9, 9, 9, 9, 7, 7]));
        expect(hugetlbCounts(k).free).toBe(0);
        await child.exit(0);
        expect(hugetlbCounts(k).free).toBe(1);
      },
      { hugetlbPages: 2, memoryPages: 8192 },
    );
    expectOk(run);
  });

  it('device migration refuses hugetlb VMAs (-EINVAL), exclusive access refuses hugetlb pages (-EOPNOTSUPP)', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        const a = await mapHuge(p);
        expect(await p.write(a, fill(1, 1))).toBe(0);
        await p.mm.mmapLock.downRead();
        const vma = p.mm.vmas.lookup(a)!;
        const n = 4;
        const ret = await migrateVmaSetup({
          mm: p.mm,
          vma,
          start: a,
          end: a + n * PAGE,
          src: new Array<number>(n).fill(0),
          dst: new Array<number>(n).fill(0),
          cpages: 0,
          npages: 0,
          pgmapOwner: null,
          flags: MIGRATE_VMA_SELECT_SYSTEM,
        });
        expect(ret).toBe(-EINVAL);
        expect((await makeDeviceExclusive(p.mm, a, null)).ret).toBe(-EOPNOTSUPP);
        p.mm.mmapLock.upRead();
        void k;
      },
      { hugetlbPages: 1, memoryPages: 8192 },
    );
    expectOk(run);
  });
});
