/**
 * makeDeviceExclusive and its revocation, and get_user_pages / pin_user_pages over device memory
 * (the paths the hmm selftests exclusive*, hmm_gup_test rely on).
 */
import { describe, expect, it } from 'vitest';

import { EFAULT, EINVAL } from '../../src/sim/errno.js';
import { EOPNOTSUPP } from '../../src/mm/mmap.js';
import { FOLL_LONGTERM, FOLL_WRITE, MAP_SHARED, PROT_READ } from '../../src/mm/constants.js';
import {
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_PRESENT,
  PTE_WRITE,
} from '../../src/mm/page-table.js';
import { getUserPages, pinUserPages, putUserPages, unpinUserPages } from '../../src/mm/gup.js';
import { makeDeviceExclusive } from '../../src/hmm/exclusive.js';
import { HMM_PFN_REQ_FAULT, HMM_PFN_VALID, HMM_PFN_WRITE, hmmPfnFlags } from '../../src/hmm/pfn.js';
import {
  A,
  expectOk,
  fill,
  mapAnon,
  PAGE,
  rangeFaultOnce,
  recordNotifier,
  RW,
  runKernel,
  starts,
  subscribe,
  testDevice,
} from './helpers.js';

describe('makeDeviceExclusive', () => {
  it('installs an exclusive entry inside an EXCLUSIVE invalidation; a CPU read revokes it with a CLEAR', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.read(A, 1)).toEqual(fill(1, 0)); // zero page: the GUP write breaks COW
      const owner = { dev: 1 };
      const seen = await recordNotifier(p.mm);
      await p.mm.mmapLock.downRead();
      const r = await makeDeviceExclusive(p.mm, A + 5, owner);
      p.mm.mmapLock.upRead();
      expect(r.ret).toBe(0);
      expect(k.phys.testFlag(r.pfn, 1 /* PG_locked */)).toBe(true);
      k.folioUnlock(r.pfn);
      k.phys.putPage(r.pfn);
      const pt = p.mm.pageTable;
      expect(pt.kindAt(A)).toBe(PTE_KIND_DEVICE_EXCLUSIVE);
      expect(pt.pfnAt(A)).toBe(r.pfn);
      expect(starts(seen)).toEqual([
        ['MMU_NOTIFY_CLEAR', A, A + PAGE, true, null], // COW break of the zero page by GUP
        ['MMU_NOTIFY_EXCLUSIVE', A, A + PAGE, true, owner],
      ]);
      // A snapshot does not revoke it: 0.
      const { sub } = await subscribe(p.mm, A, 2 * PAGE);
      const snap = new Float64Array(1);
      expect(await rangeFaultOnce(sub, A, A + PAGE, snap, 0)).toBe(0);
      expect(hmmPfnFlags(snap[0])).toBe(0);
      seen.length = 0;
      expect(await p.read(A, 4)).toEqual(fill(4, 0));
      expect(starts(seen)).toEqual([['MMU_NOTIFY_CLEAR', A, A + PAGE, true, null]]);
      expect(pt.kindAt(A)).toBe(PTE_KIND_PRESENT);
      expect(pt.flagsAt(A) & PTE_WRITE).toBe(PTE_WRITE);
      expect(pt.pfnAt(A)).toBe(r.pfn);
    });
    expectOk(run);
  });

  it('a requested hmmRangeFault revokes it and reports the page writable', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, PAGE);
      expect(await p.write(A, fill(8, 3))).toBe(0);
      await p.mm.mmapLock.downRead();
      const r = await makeDeviceExclusive(p.mm, A, null);
      p.mm.mmapLock.upRead();
      expect(r.ret).toBe(0);
      k.folioUnlock(r.pfn);
      k.phys.putPage(r.pfn);
      const { sub } = await subscribe(p.mm, A, PAGE);
      const pfns = new Float64Array(1);
      let ret = await rangeFaultOnce(sub, A, A + PAGE, pfns, HMM_PFN_REQ_FAULT);
      if (ret === -16) ret = await rangeFaultOnce(sub, A, A + PAGE, pfns, HMM_PFN_REQ_FAULT);
      expect(ret).toBe(0);
      expect(hmmPfnFlags(pfns[0])).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
      expect(p.mm.pageTable.kindAt(A)).toBe(PTE_KIND_PRESENT);
      expect(await p.read(A, 8)).toEqual(fill(8, 3));
    });
    expectOk(run);
  });

  it('refuses file-backed memory with -EOPNOTSUPP and a read-only VMA with -EFAULT', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      const f = k.createFile('f', PAGE);
      const fa = await p.mmap({ length: PAGE, prot: RW, flags: MAP_SHARED, file: f, offset: 0 });
      expect(fa).toBeGreaterThan(0);
      await mapAnon(p, PAGE, PROT_READ);
      await p.mm.mmapLock.downRead();
      expect((await makeDeviceExclusive(p.mm, fa, null)).ret).toBe(-EOPNOTSUPP);
      expect((await makeDeviceExclusive(p.mm, A, null)).ret).toBe(-EFAULT);
      p.mm.mmapLock.upRead();
      expect(p.mm.pageTable.kindAt(fa)).not.toBe(PTE_KIND_DEVICE_EXCLUSIVE);
    });
    expectOk(run);
  });
});

describe('get_user_pages / pin_user_pages', () => {
  it('GUP of a device-private page faults it back through migrateToRam', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, PAGE);
      expect(await p.write(A, fill(PAGE, 6))).toBe(0);
      const dev = testDevice(k, 'private');
      await p.mm.mmapLock.downRead();
      await dev.toDevice(p.mm, A, A + PAGE);
      expect(p.mm.pageTable.kindAt(A)).toBe(PTE_KIND_DEVICE_PRIVATE);
      const pages: number[] = [];
      expect(await getUserPages(p.mm, A, 1, FOLL_WRITE, pages)).toBe(1);
      p.mm.mmapLock.upRead();
      expect(dev.faults).toBe(1);
      expect(k.phys.zoneOf(pages[0])).toBe('normal');
      expect(p.mm.pageTable.pfnAt(A)).toBe(pages[0]);
      putUserPages(k, pages);
      expect(await p.read(A, PAGE)).toEqual(fill(PAGE, 6));
    });
    expectOk(run);
  });

  it('a long-term pin migrates device-coherent pages to system memory; a plain pin leaves them', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.write(A, fill(2 * PAGE, 8))).toBe(0);
      const dev = testDevice(k, 'coherent');
      await p.mm.mmapLock.downRead();
      await dev.toDevice(p.mm, A, A + 2 * PAGE);
      const seen = await (async () => {
        p.mm.mmapLock.upRead();
        const s = await recordNotifier(p.mm);
        await p.mm.mmapLock.downRead();
        return s;
      })();
      const plain: number[] = [];
      expect(await pinUserPages(p.mm, A, 1, FOLL_WRITE, plain)).toBe(1);
      expect(dev.pagemap.contains(plain[0])).toBe(true);
      unpinUserPages(k, plain);
      const longterm: number[] = [];
      expect(await pinUserPages(p.mm, A + PAGE, 1, FOLL_WRITE | FOLL_LONGTERM, longterm)).toBe(1);
      p.mm.mmapLock.upRead();
      expect(dev.pagemap.contains(longterm[0])).toBe(false);
      expect(k.phys.maybeDmaPinned(longterm[0])).toBe(true);
      expect(p.mm.pageTable.pfnAt(A + PAGE)).toBe(longterm[0]);
      expect(starts(seen)).toEqual([['MMU_NOTIFY_CLEAR', A + PAGE, A + 2 * PAGE, true, null]]);
      unpinUserPages(k, longterm);
      expect(dev.pagemap.nrFree).toBe(dev.pagemap.npages - 1);
      expect(await p.read(A, 2 * PAGE)).toEqual(fill(2 * PAGE, 8));
    });
    expectOk(run);
  });

  it('gupTest as hmm_gup_test drives it: coherent pages stay for GUP, leave for long-term pins', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 4 * PAGE);
      expect(await p.write(A, fill(4 * PAGE, 2))).toBe(0);
      const dev = testDevice(k, 'coherent');
      await p.mm.mmapLock.downRead();
      await dev.toDevice(p.mm, A, A + 4 * PAGE);
      p.mm.mmapLock.upRead();
      const g = (cmd: Parameters<typeof k.gupTest>[1], i: number, extra = 0) =>
        k.gupTest(p, cmd, {
          addr: A + i * PAGE,
          size: PAGE,
          nrPagesPerCall: 1,
          gupFlags: FOLL_WRITE | extra,
        });
      expect(await g('basic', 0)).toBe(0);
      expect(await g('fast-benchmark', 1)).toBe(0);
      expect(await g('pin-fast-benchmark', 2, FOLL_LONGTERM)).toBe(0);
      expect(await g('pin-longterm-benchmark', 3)).toBe(0);
      const onDev = [0, 1, 2, 3].map((i) => dev.pagemap.contains(p.mm.pageTable.pfnAt(A + i * PAGE)));
      expect(onDev).toEqual([true, true, false, false]);
      expect(await p.read(A, 4 * PAGE)).toEqual(fill(4 * PAGE, 2));
    });
    expectOk(run);
  });

  it('bad input and failures: hole and read-only write give -EFAULT, unknown flags -EINVAL', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, PAGE, PROT_READ);
      await p.mm.mmapLock.downRead();
      expect(await getUserPages(p.mm, A + 16 * PAGE, 1, 0)).toBe(-EFAULT);
      expect(await getUserPages(p.mm, A, 1, FOLL_WRITE)).toBe(-EFAULT);
      expect(await getUserPages(p.mm, A, 1, 1 << 30)).toBe(-EINVAL);
      expect(await getUserPages(p.mm, A + 1, 1, 0)).toBe(-EINVAL);
      const pages: number[] = [];
      expect(await getUserPages(p.mm, A, 2, 0, pages)).toBe(1); // the second page is a hole: short count
      putUserPages(k, pages);
      p.mm.mmapLock.upRead();
      expect(await k.gupTest(p, 'basic', { addr: A, size: 0 })).toBe(-EINVAL);
    });
    expectOk(run);
  });
});
