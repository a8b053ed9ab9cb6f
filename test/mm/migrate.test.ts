/**
 * NUMA migration (src/mm/migrate.ts): pages end on the target node with their contents, every mapping
 * follows, the invalidations are try_to_migrate's, and CPU accesses racing a migration stay coherent.
 */
import { describe, expect, it } from 'vitest';

import { explore } from '../../src/explore/index.js';
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.js';
import { migrateRange } from '../../src/mm/migrate.js';
import { reclaim } from '../../src/mm/vmscan.js';
import { PTE_KIND_SWAP } from '../../src/mm/page-table.js';
import type { Process } from '../../src/mm/process.js';
import { writerRacing, expectOk, fill, PAGE, recordNotifier, runKernel, starts } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;
const A = 0x40000000;
const NUMA = { memoryPages: 4096, swapPages: 64, nodes: 2 };

async function mapAnon(p: Process, length: number, addr = A): Promise<void> {
  expect(await p.mmap({ addr, length, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED })).toBe(addr);
}

function nodesOf(p: Process, addr: number, npages: number): number[] {
  const k = p.kernel;
  const out: number[] = [];
  for (let i = 0; i < npages; i++) out.push(k.phys.nodeOf(p.mm.pageTable.pfnAt(addr + i * PAGE)));
  return out;
}

/** A PMD-mapped THP at the PMD-aligned `addr` (MADV_HUGEPAGE, then the huge write fault). */
async function thpAt(p: Process, addr: number): Promise<void> {
  await mapAnon(p, PMD_SIZE, addr);
  expect(await p.madvise(addr, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
  expect(await p.write(addr, fill(1, 0))).toBe(0);
  expect(p.mm.pageTable.isHugeAt(addr)).toBe(true);
}

describe('NUMA migration', () => {
  it('moves anonymous pages to the target node with their contents', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 8 * PAGE);
      for (let i = 0; i < 8; i++) await p.write(A + i * PAGE, fill(PAGE, i + 1));
      expect(nodesOf(p, A, 8)).toEqual(new Array(8).fill(0));
      const free1 = k.phys.nrFreeOnNode(1);
      const seen = await recordNotifier(p.mm);
      expect(await migrateRange(p, A, A + 8 * PAGE, 1)).toBe(8);
      expect(nodesOf(p, A, 8)).toEqual(new Array(8).fill(1));
      expect(k.phys.nrFreeOnNode(1)).toBe(free1 - 8);
      expect(starts(seen)).toEqual(
        Array.from({ length: 8 }, (_, i) => [
          'MMU_NOTIFY_CLEAR',
          A + i * PAGE,
          A + (i + 1) * PAGE,
          true,
          null,
        ]),
      );
      for (let i = 0; i < 8; i++) expect(await p.read(A + i * PAGE, PAGE)).toEqual(fill(PAGE, i + 1));
      // Written pages stay exclusive: a write needs no copy.
      const pfn = p.mm.pageTable.pfnAt(A);
      expect(await p.write(A, fill(4, 77))).toBe(0);
      expect(p.mm.pageTable.pfnAt(A)).toBe(pfn);
      // Already there: nothing to do.
      expect(await migrateRange(p, A, A + 8 * PAGE, 1)).toBe(0);
      expect(await migrateRange(p.mm, A, A + 8 * PAGE, 0)).toBe(8);
      expect(nodesOf(p, A, 8)).toEqual(new Array(8).fill(0));
      await p.exit(0);
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    }, NUMA);
    expectOk(run);
  });

  it('leaves pages shared with another process unless moveAll, then moves every mapping', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      await p.write(A, fill(PAGE, 5));
      await p.write(A + PAGE, fill(PAGE, 6));
      const child = await p.fork();
      expect(await migrateRange(p, A, A + 2 * PAGE, 1)).toBe(0);
      const seenChild = await recordNotifier(child.mm);
      expect(await migrateRange(p, A, A + 2 * PAGE, 1, { moveAll: true })).toBe(2);
      expect(nodesOf(p, A, 2)).toEqual([1, 1]);
      expect(nodesOf(child, A, 2)).toEqual([1, 1]);
      expect(p.mm.pageTable.pfnAt(A)).toBe(child.mm.pageTable.pfnAt(A));
      expect(starts(seenChild).map((s) => s[0])).toEqual(['MMU_NOTIFY_CLEAR', 'MMU_NOTIFY_CLEAR']);
      // Still copy-on-write.
      await child.write(A, fill(PAGE, 9));
      expect(await p.read(A, PAGE)).toEqual(fill(PAGE, 5));
      expect(await child.read(A, PAGE)).toEqual(fill(PAGE, 9));
      await child.exit(0);
      await p.exit(0);
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    }, NUMA);
    expectOk(run);
  });

  it('moves a PMD-mapped THP whole (one CLEAR over the PMD) and keeps it huge', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await thpAt(p, A);
      for (let i = 0; i < 512; i += 37) await p.write(A + i * PAGE, fill(16, i & 0xff));
      const seen = await recordNotifier(p.mm);
      expect(await migrateRange(p, A, A + PMD_SIZE, 1)).toBe(512);
      expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
      expect(k.phys.nodeOf(p.mm.pageTable.pfnAt(A))).toBe(1);
      expect(k.phys.folioOrder(p.mm.pageTable.pfnAt(A))).toBe(9);
      expect(starts(seen)).toEqual([['MMU_NOTIFY_CLEAR', A, A + PMD_SIZE, true, null]]);
      for (let i = 0; i < 512; i += 37) expect(await p.read(A + i * PAGE, 16)).toEqual(fill(16, i & 0xff));
      await p.exit(0);
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    }, NUMA);
    expectOk(run);
  });

  it('moves page-cache pages and swap-cache pages with their cache slot', async () => {
    const run = await runKernel(async (k) => {
      const f = k.createFile('data', PAGE);
      expect(await f.pwrite(fill(PAGE, 3), 0)).toBe(PAGE);
      const p = k.createProcess('app');
      expect(await p.mmap({ addr: A, length: PAGE, prot: RW, flags: MAP_SHARED | MAP_FIXED, file: f })).toBe(
        A,
      );
      expect(await p.read(A, PAGE)).toEqual(fill(PAGE, 3));
      expect(await migrateRange(p, A, A + PAGE, 1)).toBe(1);
      expect(k.phys.nodeOf(f.pageAt(0)!)).toBe(1);
      expect(p.mm.pageTable.pfnAt(A)).toBe(f.pageAt(0));
      await p.write(A, fill(PAGE, 4));
      expect(await f.pread(PAGE, 0)).toEqual(fill(PAGE, 4));

      // An anonymous page shared by two swap PTEs' worth of processes, swapped in by one of them.
      const B = A + PMD_SIZE;
      await mapAnon(p, PAGE, B);
      await p.write(B, fill(PAGE, 8));
      const child = await p.fork();
      expect(await reclaim(k, 1)).toBe(1);
      expect(p.mm.pageTable.kindAt(B)).toBe(PTE_KIND_SWAP);
      expect(await p.read(B, PAGE)).toEqual(fill(PAGE, 8)); // in the swap cache: child's PTE still swapped
      const cached = p.mm.pageTable.pfnAt(B);
      const slot = k.phys.swapSlotOf(cached);
      expect(await migrateRange(p, B, B + PAGE, 1, { moveAll: true })).toBe(1);
      expect(k.swapCache.get(slot)).toBe(p.mm.pageTable.pfnAt(B));
      expect(k.phys.nodeOf(p.mm.pageTable.pfnAt(B))).toBe(1);
      expect(await child.read(B, PAGE)).toEqual(fill(PAGE, 8));
      expect(child.mm.pageTable.pfnAt(B)).toBe(p.mm.pageTable.pfnAt(B));
      await child.exit(0);
      await p.exit(0);
      k.phys.validate();
    }, NUMA);
    expectOk(run);
  });
});

describe('migration racing the CPU', () => {
  it('reads return the last write whatever the interleaving (pct)', async () => {
    let migrated = 0;
    const result = await explore(
      { strategy: 'pct', depth: 3, schedules: 300, seed: 5, maxSteps: 200_000, shrink: false },
      writerRacing({ memoryPages: 2048, swapPages: 0, nodes: 2 }, A, 'numa', async (_k, p) => {
        migrated += Math.max(0, await migrateRange(p, A, A + 2 * PAGE, 1));
        migrated += Math.max(0, await migrateRange(p, A, A + 2 * PAGE, 0));
      }),
    );
    expect(result.violations.map((v) => `${v.kind}: ${v.message}`)).toEqual([]);
    expect(result.statuses.ok).toBe(300);
    expect(migrated).toBeGreaterThan(300);
  });
});
