/**
 * Transparent huge pages (src/mm/huge-memory.ts): splitting PMD mappings and folios, khugepaged's collapse, reclaim of a THP, with contents preserved and the invalidations the
 * kernel raises; and a split racing a CPU thread.
 */
import { describe, expect, it } from 'vitest';

import { explore } from '../../src/explore/index.js';
import { EAGAIN, EINVAL, ENOMEM } from '../../src/sim/errno.js';
import {
  MADV_COLLAPSE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.js';
import { Kernel } from '../../src/mm/kernel.js';
import { collapseHugePage, splitHugePmdAddress } from '../../src/mm/huge-memory.js';
import { splitHugePagesInRange } from '../../src/mm/split-huge-page.js';
import { PTE_KIND_PRESENT, PTE_KIND_SWAP } from '../../src/mm/page-table.js';
import { reclaim } from '../../src/mm/vmscan.js';
import type { Process } from '../../src/mm/process.js';
import { expectOk, fill, PAGE, recordNotifier, runKernel, starts } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;
const A = 0x40000000;
const NPMD = PMD_SIZE / PAGE;
const CLEAR_PMD = ['MMU_NOTIFY_CLEAR', A, A + PMD_SIZE, true, null];

async function mapPmd(p: Process, addr = A): Promise<void> {
  expect(
    await p.mmap({ addr, length: PMD_SIZE, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED }),
  ).toBe(addr);
}

/** A PMD-mapped THP at A: MADV_HUGEPAGE, then the huge fault of a write (or a read: huge zero page). */
async function thpAt(p: Process, write = true): Promise<void> {
  await mapPmd(p);
  expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
  if (write) expect(await p.write(A, fill(1, 0))).toBe(0);
  else expect(await p.read(A, 1)).toEqual(fill(1, 0));
  expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
}

/** Writes a 16-byte tag into every 7th page. */
async function tag(p: Process, seed: number): Promise<void> {
  for (let i = 0; i < NPMD; i += 7) expect(await p.write(A + i * PAGE, fill(16, (i + seed) & 0xff))).toBe(0);
}

async function expectTags(p: Process, seed: number): Promise<void> {
  for (let i = 0; i < NPMD; i += 7)
    expect(await p.read(A + i * PAGE, 16)).toEqual(fill(16, (i + seed) & 0xff));
}

describe('THP', () => {
  it('splits a PMD-mapped THP: two CLEARs over the PMD, 512 exclusive pages, contents kept', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await thpAt(p);
      await tag(p, 1);
      const head = p.mm.pageTable.pfnAt(A);
      const allocated = k.phys.nrAllocated;
      const seen = await recordNotifier(p.mm);
      expect(await splitHugePagesInRange(p.mm, A, A + PMD_SIZE)).toBe(1);
      // __split_huge_pmd (freeze) then try_to_migrate_one, each over the whole PMD.
      expect(starts(seen)).toEqual([CLEAR_PMD, CLEAR_PMD]);
      expect(p.mm.pageTable.isHugeAt(A)).toBe(false);
      for (let i = 0; i < NPMD; i++) {
        expect(p.mm.pageTable.kindAt(A + i * PAGE)).toBe(PTE_KIND_PRESENT);
        expect(p.mm.pageTable.pfnAt(A + i * PAGE)).toBe(head + i);
        expect(k.phys.folioOrder(head + i)).toBe(0);
        expect(k.phys.refcountOf(head + i)).toBe(1);
      }
      expect(k.phys.nrAllocated).toBe(allocated);
      await expectTags(p, 1);
      await tag(p, 2); // still exclusive: no copy
      expect(p.mm.pageTable.pfnAt(A)).toBe(head);
      expect(k.phys.nrAllocated).toBe(allocated);
      await p.exit(0);
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    });
    expectOk(run);
  });

  it('splits the PMD only, then the PTE-mapped folio (one CLEAR each)', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await thpAt(p);
      await tag(p, 4);
      const seen = await recordNotifier(p.mm);
      await p.mm.mmapLock.downRead();
      expect(await splitHugePmdAddress(p.mm, A + 3 * PAGE)).toBe(0);
      p.mm.mmapLock.upRead();
      expect(starts(seen)).toEqual([CLEAR_PMD]);
      const head = p.mm.pageTable.pfnAt(A);
      expect(k.phys.folioOrder(head)).toBe(9);
      expect(k.phys.entireMapcountOf(head)).toBe(0);
      await expectTags(p, 4);
      expect(await splitHugePagesInRange(p.mm, A, A + PMD_SIZE)).toBe(1);
      expect(starts(seen)).toEqual([CLEAR_PMD, CLEAR_PMD]);
      expect(k.phys.folioOrder(head)).toBe(0);
      await expectTags(p, 4);
      await p.exit(0);
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    });
    expectOk(run);
  });

  it('collapses small pages into a THP: one CLEAR over the PMD, contents kept, holes zero', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapPmd(p);
      await tag(p, 9);
      expect(await p.read(A + PAGE, 8)).toEqual(fill(8, 0)); // a zero-page PTE
      expect(k.phys.nrAllocated).toBe(Math.ceil(NPMD / 7));
      const seen = await recordNotifier(p.mm);
      expect(await collapseHugePage(p.mm, A + 100 * PAGE)).toBe(0);
      expect(starts(seen)).toEqual([CLEAR_PMD]);
      expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
      const head = p.mm.pageTable.pfnAt(A);
      expect(k.phys.folioOrder(head)).toBe(9);
      expect(k.phys.nrAllocated).toBe(NPMD);
      await expectTags(p, 9);
      expect(await p.read(A + PAGE, 8)).toEqual(fill(8, 0));
      expect(await p.read(A + 2 * PAGE, 8)).toEqual(fill(8, 0));
      expect(await p.write(A + 2 * PAGE, fill(8, 5))).toBe(0); // writable in place
      expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
      // Already huge: nothing to do.
      expect(await collapseHugePage(p.mm, A)).toBe(0);
      expect(k.phys.nrAllocated).toBe(NPMD);
      // Round trip: split it again, collapse again.
      expect(await splitHugePagesInRange(p.mm, A, A + PMD_SIZE)).toBe(1);
      expect(await collapseHugePage(p.mm, A)).toBe(0);
      expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
      await expectTags(p, 9);
      expect(await p.read(A + 2 * PAGE, 8)).toEqual(fill(8, 5));
      await p.exit(0);
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    });
    expectOk(run);
  });

  it('madvise(MADV_COLLAPSE) collapses each whole PMD of the range on the spot, without MADV_HUGEPAGE', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      // Two PMDs plus a page on each side, so that only the two whole PMDs can collapse.
      const lo = A - PAGE;
      const len = 2 * PMD_SIZE + 2 * PAGE;
      expect(
        await p.mmap({ addr: lo, length: len, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED }),
      ).toBe(lo);
      for (let i = -1; i <= 2 * NPMD; i += 5) expect(await p.write(A + i * PAGE, fill(8, i & 0xff))).toBe(0);
      const seen = await recordNotifier(p.mm);
      expect(await p.madvise(lo, len, MADV_COLLAPSE)).toBe(0);
      expect(starts(seen)).toEqual([
        CLEAR_PMD,
        ['MMU_NOTIFY_CLEAR', A + PMD_SIZE, A + 2 * PMD_SIZE, true, null],
      ]);
      const pt = p.mm.pageTable;
      expect([pt.isHugeAt(A), pt.isHugeAt(A + PMD_SIZE), pt.isHugeAt(lo)]).toEqual([true, true, false]);
      expect(k.phys.folioOrder(pt.pfnAt(A))).toBe(9);
      for (let i = -1; i <= 2 * NPMD; i += 5)
        expect(await p.read(A + i * PAGE, 8)).toEqual(fill(8, i & 0xff));
      // Already huge: 0 and nothing raised.
      seen.length = 0;
      expect(await p.madvise(A, PMD_SIZE, MADV_COLLAPSE)).toBe(0);
      expect(seen).toEqual([]);
      // A VMA that refuses THPs, and a range with a gap.
      expect(await p.madvise(A + PMD_SIZE, PMD_SIZE, MADV_NOHUGEPAGE)).toBe(0);
      expect(await p.madvise(A + PMD_SIZE, PMD_SIZE, MADV_COLLAPSE)).toBe(-EINVAL);
      expect(await p.munmap(lo, PAGE)).toBe(0);
      expect(await p.madvise(lo, PAGE + PMD_SIZE, MADV_COLLAPSE)).toBe(-ENOMEM);
      await p.exit(0);
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    });
    expectOk(run);
  });

  it('collapse gives up on a pinned page and puts the table back', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapPmd(p);
      await tag(p, 6);
      const pinned = p.mm.pageTable.pfnAt(A + 7 * PAGE);
      expect(k.phys.pinPage(pinned)).toBe(true);
      const seen = await recordNotifier(p.mm);
      const allocated = k.phys.nrAllocated;
      expect(await collapseHugePage(p.mm, A)).toBe(-EAGAIN);
      expect(starts(seen)).toEqual([CLEAR_PMD]);
      expect(p.mm.pageTable.isHugeAt(A)).toBe(false);
      expect(p.mm.pageTable.pfnAt(A + 7 * PAGE)).toBe(pinned);
      expect(k.phys.nrAllocated).toBe(allocated);
      await expectTags(p, 6);
      k.phys.unpinPage(pinned);
      await p.exit(0);
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    });
    expectOk(run);
  });

  it('reclaim splits a THP and swaps all of it out; it comes back intact', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await thpAt(p);
        await tag(p, 8);
        expect(await reclaim(k, NPMD)).toBe(NPMD);
        expect(k.phys.nrAllocated).toBe(0);
        expect(k.swap.nrUsed).toBe(NPMD);
        expect(p.mm.pageTable.kindAt(A + 9 * PAGE)).toBe(PTE_KIND_SWAP);
        await expectTags(p, 8);
        await p.exit(0);
        expect(k.swap.nrUsed).toBe(0);
        expect(k.phys.nrAllocated).toBe(0);
        k.phys.validate();
      },
      { swapPages: 1024 },
    );
    expectOk(run);
  });
});

describe('THP split racing the CPU', () => {
  it('reads return the last write whatever the interleaving (pct)', async () => {
    let split = 0;
    const result = await explore(
      { strategy: 'pct', depth: 3, schedules: 100, seed: 3, maxSteps: 400_000, shrink: false },
      (sim) => {
        const k = new Kernel(sim, { memoryPages: 2048 });
        sim.spawn('main', async () => {
          const p = k.createProcess('app');
          await p.mmap({
            addr: A,
            length: PMD_SIZE,
            prot: RW,
            flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
          });
          await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE);
          await p.write(A + 3 * PAGE, fill(8, 1));
          sim.check(p.mm.pageTable.isHugeAt(A), 'no THP');
          const cpu = sim.spawn('cpu', async () => {
            for (let v = 2; v < 5; v++) {
              sim.check((await p.write(A + 3 * PAGE, fill(8, v))) === 0, 'write failed');
              const got = (await p.read(A + 3 * PAGE, 8)) as Uint8Array;
              sim.check(got[0] === v && got[7] === v, `read ${got[0]} after writing ${v}`);
            }
          });
          const khugepaged = sim.spawn('khugepaged', async () => {
            split += await splitHugePagesInRange(p.mm, A, A + PMD_SIZE);
            await collapseHugePage(p.mm, A);
          });
          await sim.join(cpu);
          await sim.join(khugepaged);
          const last = (await p.read(A + 3 * PAGE, 8)) as Uint8Array;
          sim.check(last[0] === 4, `final read ${last[0]}`);
          await p.exit(0);
          sim.check(k.phys.nrAllocated === 0, `leak: ${k.phys.nrAllocated} pages`);
          k.phys.validate();
        });
      },
    );
    expect(result.violations.map((v) => `${v.kind}: ${v.message}`)).toEqual([]);
    expect(result.statuses.ok).toBe(100);
    expect(split).toBeGreaterThan(50);
    // The race window: the CPU faulted on the migration entries of a split in progress.
    expect(result.marks['thp split']).toBe(split);
    expect(result.marks['migration entry waited on']).toBeGreaterThan(0);
  });
});
