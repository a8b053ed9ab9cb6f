/**
 * The fault paths that need state the phase-A operations do not create by themselves (swap entries,
 * device-private and migration entries, PMD-mapped THPs): the tests install that state the way reclaim,
 * migrate_vma or khugepaged would, then let the CPU fault on it.
 */
import { describe, expect, it } from 'vitest';

import { EFAULT } from '../../src/sim/errno.js';
import {
  HPAGE_PMD_NR,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  VM_FAULT_SIGBUS,
} from '../../src/mm/constants.js';
import {
  PTE_DIRTY,
  PTE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_PRESENT,
  PTE_KIND_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
} from '../../src/mm/page-table.js';
import {
  LRU_INACTIVE_ANON,
  PG_anon,
  PG_anon_exclusive,
  PG_swapbacked,
  PG_uptodate,
} from '../../src/mm/physical.js';
import { pmdpSet, ptepGetAndClear, ptepSet } from '../../src/mm/memory.js';
import { addToSwapCache, deleteFromSwapCache } from '../../src/mm/swap-state.js';
import { folioPrepareNewAnon, migrationEntryAdd, migrationEntryRemove } from '../../src/mm/rmap.js';
import type { Kernel } from '../../src/mm/kernel.js';
import type { Mm } from '../../src/mm/mm.js';
import type { DevicePrivateFault } from '../../src/mm/vm-ops.js';
import { expectOk, fill, PAGE, recordNotifier, runKernel } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const A = 0x30000000;

/** Reclaim's end state for an anonymous page: every mapping becomes a swap entry; the page is freed. */
async function swapOutPage(k: Kernel, pfn: number): Promise<number> {
  const phys = k.phys;
  const slot = k.swap.alloc();
  expect(slot).toBeGreaterThanOrEqual(0);
  addToSwapCache(k, pfn, slot);
  const exclusive = phys.testFlag(pfn, PG_anon_exclusive);
  for (const { mm, va } of phys.folioRmapList(pfn)) {
    await mm.ptl.lock();
    await ptepGetAndClear(mm, va);
    k.swap.dup(slot);
    await ptepSet(mm, va, PTE_KIND_SWAP, slot, exclusive ? PTE_EXCLUSIVE : 0);
    phys.rmapRemovePte(pfn, mm, va);
    phys.putPage(pfn);
    mm.ptl.unlock();
  }
  phys.clearFlag(pfn, PG_anon_exclusive);
  k.swap.write(slot, phys.pageContents(pfn));
  deleteFromSwapCache(k, pfn);
  expect(phys.isFree(pfn)).toBe(true);
  return slot;
}

async function bytesAt(
  p: { read(a: number, n: number): Promise<Uint8Array | number> },
  addr: number,
  n: number,
): Promise<Uint8Array> {
  const got = await p.read(addr, n);
  if (typeof got === 'number') throw new Error(`read failed with ${got}`);
  return got;
}

describe('swap-in', () => {
  it('contents come back; the slot and the swap cache are released; an exclusive page is reused', () =>
    runKernel(async (k) => {
      const p = k.createProcess('app');
      await p.mmap({ addr: A, length: 2 * PAGE, prot: RW, flags: ANON | MAP_FIXED });
      await p.write(
        A,
        new Uint8Array(PAGE).map((_, i) => i),
      );
      const free0 = k.phys.nrFree;
      const slot = await swapOutPage(k, p.mm.pageTable.pfnAt(A));
      expect(k.phys.nrFree).toBe(free0 + 1);
      expect(p.mm.pageTable.kindAt(A)).toBe(PTE_KIND_SWAP);
      expect(k.swap.count(slot)).toBe(1);
      const seen = await recordNotifier(p.mm);
      expect(await bytesAt(p, A, PAGE)).toEqual(new Uint8Array(PAGE).map((_, i) => i));
      expect(p.mm.pageTable.kindAt(A)).toBe(PTE_KIND_PRESENT);
      expect(k.swap.isFree(slot)).toBe(true);
      expect(k.swapCache.size).toBe(0);
      // Exclusive (the swap PTE said so): a write reuses the page, no copy, no invalidation.
      const pfn = p.mm.pageTable.pfnAt(A);
      expect(await p.write(A, fill(1, 9))).toBe(0);
      expect(p.mm.pageTable.pfnAt(A)).toBe(pfn);
      expect(seen).toEqual([]);
      await p.exit();
      expect(k.phys.nrFree).toBe(k.phys.totalPages);
      expect(k.swap.nrFree).toBe(k.swap.size);
    }).then(expectOk));

  it('a write fault on a swap entry swaps in and maps writable', () =>
    runKernel(async (k) => {
      const p = k.createProcess('app');
      await p.mmap({ addr: A, length: PAGE, prot: RW, flags: ANON | MAP_FIXED });
      await p.write(A, fill(PAGE, 3));
      await swapOutPage(k, p.mm.pageTable.pfnAt(A));
      expect(await p.write(A + 1, fill(1, 4))).toBe(0);
      expect(p.mm.pageTable.flagsAt(A) & PTE_WRITE).toBeTruthy();
      expect(await bytesAt(p, A, 3)).toEqual(new Uint8Array([3, 4, 3]));
    }).then(expectOk));

  it('fork duplicates swap entries; both sides swap in the same page from the swap cache, then COW', () =>
    runKernel(async (k) => {
      const free0 = k.phys.nrFree;
      const p = k.createProcess('parent');
      await p.mmap({ addr: A, length: PAGE, prot: RW, flags: ANON | MAP_FIXED });
      await p.write(A, fill(PAGE, 6));
      const slot = await swapOutPage(k, p.mm.pageTable.pfnAt(A));
      const child = await p.fork();
      expect(k.swap.count(slot)).toBe(2);
      expect(p.mm.pageTable.flagsAt(A) & PTE_EXCLUSIVE).toBe(0);
      expect(await bytesAt(child, A, 4)).toEqual(fill(4, 6));
      expect(k.swap.count(slot)).toBe(1);
      expect(k.swapCache.get(slot)).toBe(child.mm.pageTable.pfnAt(A));
      expect(await bytesAt(p, A, 4)).toEqual(fill(4, 6));
      expect(p.mm.pageTable.pfnAt(A)).toBe(child.mm.pageTable.pfnAt(A));
      expect(k.swap.isFree(slot)).toBe(true);
      expect(await child.write(A, fill(1, 1))).toBe(0);
      expect(await bytesAt(p, A, 2)).toEqual(fill(2, 6));
      await child.exit();
      await p.exit();
      expect(k.phys.nrFree).toBe(free0);
      expect(k.swap.nrFree).toBe(k.swap.size);
      k.phys.validate();
    }).then(expectOk));

  it('munmap of a swap entry frees the slot', () =>
    runKernel(async (k) => {
      const p = k.createProcess('app');
      await p.mmap({ addr: A, length: PAGE, prot: RW, flags: ANON | MAP_FIXED });
      await p.write(A, fill(PAGE, 3));
      const slot = await swapOutPage(k, p.mm.pageTable.pfnAt(A));
      expect(await p.munmap(A, PAGE)).toBe(0);
      expect(k.swap.isFree(slot)).toBe(true);
    }).then(expectOk));
});

describe('device-private pages', () => {
  /** migrate_vma's end state: the page at `va` moved to a device page. */
  async function toDevice(
    k: Kernel,
    mm: Mm,
    region: Parameters<Kernel['phys']['allocDevicePage']>[0],
    va: number,
  ) {
    await mm.mmapLock.downRead();
    await mm.ptl.lock();
    const pfn = mm.pageTable.pfnAt(va);
    const dpfn = k.phys.allocDevicePage(region);
    k.phys.copyPage(dpfn, pfn);
    k.phys.setFlag(dpfn, PG_anon | PG_swapbacked | PG_uptodate);
    k.phys.setFlag(dpfn, PG_anon_exclusive);
    await ptepGetAndClear(mm, va);
    await ptepSet(mm, va, PTE_KIND_DEVICE_PRIVATE, dpfn, PTE_WRITE);
    k.phys.rmapRemovePte(pfn, mm, va);
    k.phys.putPage(pfn);
    k.phys.rmapAddPte(dpfn, mm, va);
    mm.ptl.unlock();
    mm.mmapLock.upRead();
    return dpfn;
  }

  it("a CPU access calls the owner's migrateToRam with the page locked; the access then retries", () =>
    runKernel(async (k) => {
      const p = k.createProcess('app');
      await p.mmap({ addr: A, length: 2 * PAGE, prot: RW, flags: ANON | MAP_FIXED });
      await p.write(A, fill(2 * PAGE, 0x5a));
      const calls: DevicePrivateFault[] = [];
      const freed: number[] = [];
      const owner = { name: 'dev' };
      const region = k.memremapPages(4, 'private', owner, {
        pageFree: (pfn) => freed.push(pfn),
        ops: {
          async migrateToRam(f) {
            calls.push(f);
            expect(k.phys.testFlag(f.pfn, 1 /* PG_locked */)).toBe(true);
            expect(f.mm.mmapLock.isHeldBy(k.sim.current!)).toBe(true);
            const npfn = await k.allocUserPage();
            k.phys.copyPage(npfn, f.pfn);
            folioPrepareNewAnon(k, f.vma, npfn, f.address);
            await f.mm.ptl.lock();
            if (f.mm.pageTable.kindAt(f.address) === PTE_KIND_DEVICE_PRIVATE) {
              await ptepSet(f.mm, f.address, PTE_KIND_PRESENT, npfn, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
              k.phys.rmapRemovePte(f.pfn, f.mm, f.address);
              k.phys.putPage(f.pfn);
              k.phys.rmapAddPte(npfn, f.mm, f.address);
              k.phys.lruAdd(npfn, LRU_INACTIVE_ANON);
            } else k.phys.putPage(npfn);
            f.mm.ptl.unlock();
            return 0;
          },
        },
      });
      const dpfn = await toDevice(k, p.mm, region, A + PAGE);
      expect(region.nrFree).toBe(3);
      expect(await bytesAt(p, A + PAGE, 4)).toEqual(fill(4, 0x5a));
      expect(calls.length).toBe(1);
      expect(calls[0].address).toBe(A + PAGE);
      expect(calls[0].pfn).toBe(dpfn);
      expect(calls[0].write).toBe(false);
      expect(freed).toEqual([dpfn]);
      expect(k.phys.deviceRegionOf(dpfn)!.nrFree).toBe(4);
      expect(await p.write(A + PAGE, fill(1, 1))).toBe(0);
      expect(calls.length).toBe(1);
    }).then(expectOk));

  it('a migrateToRam failure is a bus error (-EFAULT); fork shares the device page read-only', () =>
    runKernel(async (k) => {
      const p = k.createProcess('app');
      await p.mmap({ addr: A, length: PAGE, prot: RW, flags: ANON | MAP_FIXED });
      await p.write(A, fill(PAGE, 1));
      const region = k.memremapPages(2, 'private', { migrateToRam: async () => VM_FAULT_SIGBUS });
      const dpfn = await toDevice(k, p.mm, region, A);
      expect(await p.read(A, 1)).toBe(-EFAULT);
      const child = await p.fork();
      expect(child.mm.pageTable.kindAt(A)).toBe(PTE_KIND_DEVICE_PRIVATE);
      expect(child.mm.pageTable.flagsAt(A) & PTE_WRITE).toBe(0);
      expect(p.mm.pageTable.flagsAt(A) & PTE_WRITE).toBe(0);
      expect(k.phys.mapcountOf(dpfn)).toBe(2);
      await child.exit();
      await p.exit();
      expect(region.nrFree).toBe(2);
    }).then(expectOk));
});

describe('migration entries', () => {
  it('a CPU fault on a migration entry waits for the page lock, then retries', () =>
    runKernel(async (k, sim) => {
      const p = k.createProcess('app');
      const mm = p.mm;
      await p.mmap({ addr: A, length: PAGE, prot: RW, flags: ANON | MAP_FIXED });
      await p.write(A, fill(PAGE, 8));
      const pfn = mm.pageTable.pfnAt(A);
      // try_to_migrate's state: page locked, PTE a writable migration entry, mapping dropped.
      k.phys.getPage(pfn);
      expect(k.folioTrylock(pfn)).toBe(true);
      await mm.ptl.lock();
      await ptepGetAndClear(mm, A);
      await ptepSet(mm, A, PTE_KIND_MIGRATION, pfn, PTE_WRITE);
      k.phys.rmapRemovePte(pfn, mm, A);
      k.phys.putPage(pfn);
      migrationEntryAdd(k, pfn, mm, A);
      mm.ptl.unlock();
      let got: Uint8Array | number = 0;
      const reader = sim.spawn('reader', async () => {
        got = await p.read(A, 2);
      });
      for (let i = 0; i < 20; i++) await sim.yield();
      expect(got).toBe(0); // still waiting
      // remove_migration_ptes + unlock.
      await mm.ptl.lock();
      await ptepSet(mm, A, PTE_KIND_PRESENT, pfn, PTE_WRITE | PTE_DIRTY);
      k.phys.getPage(pfn);
      k.phys.rmapAddPte(pfn, mm, A);
      expect(migrationEntryRemove(k, pfn, mm, A)).toBe(true);
      mm.ptl.unlock();
      k.folioUnlock(pfn);
      k.phys.putPage(pfn);
      await sim.join(reader);
      expect(got).toEqual(fill(2, 8));
    }).then((run) => {
      expectOk(run);
      expect(run.marks['migration entry waited on']).toBe(1);
    }));
});

describe('PMD-mapped THP', () => {
  const H = 0x40000000;
  const HSIZE = HPAGE_PMD_NR * PAGE;

  /** khugepaged's end state: an anonymous PMD-order folio mapped by a huge PMD at H. */
  async function installThp(k: Kernel, mm: Mm): Promise<number> {
    const head = k.phys.allocPages(9);
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      k.phys.setPageContents(head + i, new Uint8Array(PAGE).fill(i & 0xff));
      k.phys.setFlag(head + i, PG_anon_exclusive);
    }
    k.phys.setFlag(head, PG_anon | PG_swapbacked | PG_uptodate);
    await mm.mmapLock.downRead();
    await mm.ptl.lock();
    await pmdpSet(mm, H, PTE_KIND_PRESENT, head, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
    k.phys.rmapAddPmd(head, mm, H);
    mm.vmas.lookup(H)!.anonVma = k.allocAnonVma();
    mm.ptl.unlock();
    mm.mmapLock.upRead();
    return head;
  }

  it('reads and writes go through the huge PMD; a partial munmap splits it (CLEAR) inside the UNMAP', () =>
    runKernel(async (k) => {
      const free0 = k.phys.nrFree;
      const p = k.createProcess('app');
      expect(await p.mmap({ addr: H, length: HSIZE, prot: RW, flags: ANON | MAP_FIXED })).toBe(H);
      await installThp(k, p.mm);
      expect(k.phys.nrFree).toBe(free0 - HPAGE_PMD_NR);
      expect(await bytesAt(p, H + 3 * PAGE, 2)).toEqual(fill(2, 3));
      expect(await p.write(H + 5 * PAGE, fill(1, 0xaa))).toBe(0);
      expect(p.mm.pageTable.isHugeAt(H)).toBe(true);
      const seen = await recordNotifier(p.mm);
      expect(await p.munmap(H + 10 * PAGE, 2 * PAGE)).toBe(0);
      expect(seen.map((s) => `${s.what} ${s.event} ${(s.start - H) / PAGE} ${(s.end - H) / PAGE}`)).toEqual([
        'start MMU_NOTIFY_CLEAR 0 512',
        'end MMU_NOTIFY_CLEAR 0 512',
        'start MMU_NOTIFY_UNMAP 10 12',
        'end MMU_NOTIFY_UNMAP 10 12',
      ]);
      expect(p.mm.pageTable.isHugeAt(H)).toBe(false);
      expect(await bytesAt(p, H + 5 * PAGE, 2)).toEqual(new Uint8Array([0xaa, 5]));
      expect(await p.read(H + 10 * PAGE, 1)).toBe(-EFAULT);
      k.phys.validate();
      await p.exit();
      expect(k.phys.nrFree).toBe(free0);
    }).then(expectOk));

  it('fork shares the huge PMD read-only; a write then splits it and copies one page', () =>
    runKernel(async (k) => {
      const free0 = k.phys.nrFree;
      const p = k.createProcess('app');
      expect(await p.mmap({ addr: H, length: HSIZE, prot: RW, flags: ANON | MAP_FIXED })).toBe(H);
      const head = await installThp(k, p.mm);
      const child = await p.fork();
      expect(child.mm.pageTable.isHugeAt(H)).toBe(true);
      expect(k.phys.entireMapcountOf(head)).toBe(2);
      expect(p.mm.pageTable.flagsAt(H) & PTE_WRITE).toBe(0);
      expect(await child.write(H + 7 * PAGE, fill(1, 0xbb))).toBe(0);
      expect(child.mm.pageTable.isHugeAt(H)).toBe(false);
      expect(await bytesAt(p, H + 7 * PAGE, 2)).toEqual(fill(2, 7));
      expect(await bytesAt(child, H + 7 * PAGE, 2)).toEqual(new Uint8Array([0xbb, 7]));
      await child.exit();
      expect(await p.write(H, fill(1, 1))).toBe(0);
      await p.exit();
      expect(k.phys.nrFree).toBe(free0);
      k.phys.validate();
    }).then((run) => {
      expectOk(run);
      // Each process's first write split its own PMD; the child's copied its page.
      expect(run.marks['fault split a huge pmd']).toBe(2);
      expect(run.marks['cow break']).toBeGreaterThanOrEqual(1);
    }));

  it('MADV_HUGEPAGE: a read maps the huge zero page, a write replaces it by a THP (CLEAR over the PMD)', () =>
    runKernel(async (k) => {
      const free0 = k.phys.nrFree;
      const p = k.createProcess('app');
      const pt = p.mm.pageTable;
      expect(await p.mmap({ addr: H, length: 2 * HSIZE, prot: RW, flags: ANON | MAP_FIXED })).toBe(H);
      expect(await p.madvise(H, 2 * HSIZE, MADV_HUGEPAGE)).toBe(0);
      expect(await bytesAt(p, H + 5, 4)).toEqual(new Uint8Array(4));
      expect(pt.isHugeAt(H)).toBe(true);
      expect(pt.pfnAt(H)).toBe(k.phys.hugeZeroPfn());
      const seen = await recordNotifier(p.mm);
      expect(await p.write(H + PAGE, fill(2, 3))).toBe(0);
      expect(seen.map((x) => [x.what, x.event, x.start, x.end])).toEqual([
        ['start', 'MMU_NOTIFY_CLEAR', H, H + HSIZE],
        ['end', 'MMU_NOTIFY_CLEAR', H, H + HSIZE],
      ]);
      expect(pt.isHugeAt(H)).toBe(true);
      expect(pt.flagsAt(H) & PTE_WRITE).toBeTruthy();
      expect(await bytesAt(p, H + PAGE, 3)).toEqual(new Uint8Array([3, 3, 0]));
      // A first write to an untouched PMD allocates a THP directly, with no invalidation.
      seen.length = 0;
      expect(await p.write(H + HSIZE + 7, fill(1, 4))).toBe(0);
      expect(seen).toEqual([]);
      expect(pt.isHugeAt(H + HSIZE)).toBe(true);
      expect(k.phys.nrFree).toBe(free0 - 3 * HPAGE_PMD_NR); // two THPs and the huge zero page
      await p.exit();
      expect(k.phys.nrFree).toBe(free0 - HPAGE_PMD_NR); // the huge zero folio stays allocated
      k.phys.validate();
    }).then(expectOk));
});
