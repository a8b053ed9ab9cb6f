/**
 * Operations racing each other, explored over many schedules: whatever the interleaving, results are
 * one of the legal outcomes, no lifetime or locking violation is reported, and nothing leaks.
 */
import { describe, expect, it } from 'vitest';

import { explore, type StrategyName } from '../../src/explore/index.js';
import type { Simulation } from '../../src/sim/simulation.js';
import { EFAULT, ESRCH } from '../../src/sim/errno.js';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.js';
import { Kernel } from '../../src/mm/kernel.js';
import { PTE_KIND_SWAP } from '../../src/mm/page-table.js';
import { ptepGetAndClear, ptepSet } from '../../src/mm/memory.js';
import { addToSwapCache, deleteFromSwapCache } from '../../src/mm/swap-state.js';
import type { Process } from '../../src/mm/process.js';
import { fill, PAGE } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;
const A = 0x30000000;

type Scenario = (
  k: Kernel,
  sim: Simulation,
  p: Process,
) => Promise<{
  workers: Array<() => Promise<void>>;
  check: () => Promise<void>;
  /** Coverage marks (race windows) the exploration must reach. */
  windows?: string[];
}>;

/** Explores `scenario`: setup, the workers in parallel, then the check, exit and a leak check. */
async function exploreScenario(
  scenario: Scenario,
  strategy: StrategyName = 'random',
  schedules = 150,
): Promise<void> {
  let windows: string[] = [];
  const result = await explore({ strategy, schedules, seed: 7, maxSteps: 400_000, shrink: false }, (sim) => {
    const k = new Kernel(sim, { memoryPages: 256, swapPages: 16 });
    sim.spawn('main', async () => {
      const free0 = k.phys.nrFree;
      const p = k.createProcess('app');
      const { workers, check, windows: w } = await scenario(k, sim, p);
      windows = w ?? [];
      const threads = workers.map((w, i) => sim.spawn(`cpu${i}`, w));
      for (const t of threads) await sim.join(t);
      await check();
      for (const q of [...k.processes.values()]) if (q.state === 'alive') await q.exit(0);
      sim.check(k.phys.nrFree === free0, `leak: ${free0 - k.phys.nrFree} pages still allocated`);
      sim.check(k.swap.nrFree === k.swap.size, `leak: ${k.swap.nrUsed} swap slots in use`);
      k.phys.validate();
    });
  });
  expect(result.violations.map((v) => `${v.kind}: ${v.message}`)).toEqual([]);
  expect(result.schedules).toBeGreaterThan(0);
  expect(windows.filter((m) => !(result.marks[m] > 0))).toEqual([]);
}

/** Reclaim's end state for the (once-mapped) anonymous page at `va`: a swap entry, the page freed. */
async function swapOut(k: Kernel, p: Process, va: number): Promise<number> {
  const mm = p.mm;
  const pfn = mm.pageTable.pfnAt(va);
  const slot = k.swap.alloc();
  addToSwapCache(k, pfn, slot);
  await mm.ptl.lock();
  await ptepGetAndClear(mm, va);
  k.swap.dup(slot);
  await ptepSet(mm, va, PTE_KIND_SWAP, slot, 0);
  k.phys.rmapRemovePte(pfn, mm, va);
  k.phys.putPage(pfn);
  mm.ptl.unlock();
  k.swap.write(slot, k.phys.pageContents(pfn));
  deleteFromSwapCache(k, pfn);
  return slot;
}

async function mapAt(
  p: Process,
  addr: number,
  npages: number,
  flags = MAP_PRIVATE | MAP_ANONYMOUS,
): Promise<void> {
  expect(await p.mmap({ addr, length: npages * PAGE, prot: RW, flags: flags | MAP_FIXED })).toBe(addr);
}

describe('racing operations', () => {
  it('two CPUs first-touching the same page: one page, both see a consistent value', () =>
    exploreScenario(async (_k, sim, p) => {
      await mapAt(p, A, 1);
      let read: Uint8Array | number = -1;
      return {
        windows: ['anonymous fault lost the race'],
        workers: [
          async () => void (await p.write(A, fill(8, 3))),
          async () => void (read = await p.read(A, 8)),
        ],
        check: async () => {
          const r = read as Uint8Array;
          sim.check(r[0] === 0 || r[0] === 3, `read saw ${r[0]}`);
          sim.check(p.mm.pageTable.presentPages === 1, 'one page mapped');
          sim.check(
            (await p.read(A, 1)) instanceof Uint8Array && ((await p.read(A, 1)) as Uint8Array)[0] === 3,
            'written',
          );
        },
      };
    }));

  it('a write racing MADV_DONTNEED: the page reads as written or as zeros', () =>
    exploreScenario(async (_k, sim, p) => {
      await mapAt(p, A, 2);
      await p.write(A, fill(2 * PAGE, 1));
      return {
        workers: [
          async () => void (await p.write(A + 8, fill(8, 5))),
          async () => void (await p.madvise(A, 2 * PAGE, MADV_DONTNEED)),
        ],
        check: async () => {
          const r = (await p.read(A + 8, 1)) as Uint8Array;
          sim.check(r[0] === 0 || r[0] === 5, `read saw ${r[0]}`);
        },
      };
    }, 'pct'));

  it('a write racing munmap: it succeeds or faults; the pages are freed', () =>
    exploreScenario(async (_k, sim, p) => {
      await mapAt(p, A, 3);
      await p.write(A, fill(3 * PAGE, 1));
      let ret = 1;
      return {
        workers: [
          async () => void (ret = await p.write(A + PAGE, fill(2 * PAGE, 5))),
          async () => void (await p.munmap(A, 3 * PAGE)),
        ],
        check: async () => {
          sim.check(ret === 0 || ret === -EFAULT, `write returned ${ret}`);
          sim.check(p.mm.pageTable.entryPages === 0, 'nothing mapped');
        },
      };
    }));

  it('fork racing a parent write: the child sees the old or new value, never a later one', () =>
    exploreScenario(async (_k, sim, p) => {
      await mapAt(p, A, 1);
      await mapAt(p, A + PAGE, 1, MAP_SHARED | MAP_ANONYMOUS);
      await p.write(A, fill(4, 1));
      let child: Process | null = null;
      let seen = -1;
      return {
        windows: ['cow break'],
        workers: [
          async () => {
            child = await p.fork();
            seen = ((await child.read(A, 1)) as Uint8Array)[0];
            await child.write(A, fill(1, 9));
            await child.write(A + PAGE, fill(1, 9));
          },
          async () => {
            await p.write(A, fill(1, 2));
            await p.write(A, fill(1, 3));
          },
        ],
        check: async () => {
          sim.check(seen === 1 || seen === 2 || seen === 3, `child saw ${seen}`);
          sim.check(((await p.read(A, 1)) as Uint8Array)[0] === 3, 'parent keeps its write');
          sim.check(((await p.read(A + PAGE, 1)) as Uint8Array)[0] === 9, 'shared page shared');
          sim.check(((await child!.read(A, 1)) as Uint8Array)[0] === 9, 'child keeps its write');
        },
      };
    }, 'pct'));

  it('two CPUs breaking COW on the same page after fork: one copy, both writes kept', () =>
    exploreScenario(async (_k, sim, p) => {
      await mapAt(p, A, 1);
      await p.write(A, fill(8, 1));
      const child = await p.fork();
      return {
        windows: ['cow break', 'cow break lost the race'],
        workers: [
          async () => void (await p.write(A, fill(1, 2))),
          async () => void (await p.write(A + 1, fill(1, 3))),
        ],
        check: async () => {
          const got = (await p.read(A, 3)) as Uint8Array;
          sim.check(got[0] === 2 && got[1] === 3 && got[2] === 1, `parent has ${got}`);
          const c = (await child.read(A, 2)) as Uint8Array;
          sim.check(c[0] === 1 && c[1] === 1, `child has ${c}`);
        },
      };
    }, 'pct'));

  it('mprotect and mremap racing CPU accesses', () =>
    exploreScenario(async (_k, sim, p) => {
      await mapAt(p, A, 2);
      await p.write(A, fill(2 * PAGE, 4));
      const rets: number[] = [];
      let moved = 0;
      return {
        workers: [
          async () => void rets.push(await p.mprotect(A, PAGE, PROT_READ)),
          async () =>
            void (moved = await p.mremap(A + PAGE, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, A + 0x100000)),
          async () => {
            rets.push(await p.write(A + 16, fill(1, 6)));
            rets.push(await p.write(A + PAGE + 16, fill(1, 6)));
          },
        ],
        check: async () => {
          sim.check(
            rets.every((r) => r === 0 || r === -EFAULT),
            `results ${rets}`,
          );
          sim.check(moved === A + 0x100000, `mremap gave ${moved}`);
          const m = (await p.read(A + 0x100000 + 16, 1)) as Uint8Array;
          sim.check(m[0] === 4 || m[0] === 6, `moved page holds ${m[0]}`);
        },
      };
    }, 'pct'));

  it('two CPUs swapping in the same entry, a third writing: one page, one slot released', () =>
    exploreScenario(async (k, sim, p) => {
      await mapAt(p, A, 1);
      await p.write(A, fill(PAGE, 7));
      const slot = await swapOut(k, p, A);
      const got: number[] = [];
      return {
        windows: ['swap-in', 'swap-in found the folio in the swap cache'],
        workers: [
          async () => void got.push(((await p.read(A, 1)) as Uint8Array)[0]),
          async () => void got.push(((await p.read(A + 1, 1)) as Uint8Array)[0]),
          async () => void got.push(await p.write(A + 2, fill(1, 8))),
        ],
        check: async () => {
          sim.check(got.includes(0) && got.filter((g) => g === 7 || g === 8).length === 2, `got ${got}`);
          sim.check(k.swap.isFree(slot), 'slot released');
          sim.check(k.swapCache.size === 0, 'swap cache empty');
        },
      };
    }, 'pct'));

  it('kill racing accesses from other threads: the address space goes when the last call ends', () =>
    exploreScenario(async (_k, sim, p) => {
      await mapAt(p, A, 2);
      await p.write(A, fill(2 * PAGE, 1));
      const rets: number[] = [];
      return {
        workers: [
          async () => void rets.push(await p.write(A + PAGE, fill(PAGE, 2))),
          async () => void rets.push(await p.kill()),
          async () => void rets.push(await p.madvise(A, PAGE, MADV_DONTNEED)),
        ],
        check: async () => {
          sim.check(
            rets.every((r) => r === 0 || r === -ESRCH),
            `results ${rets}`,
          );
          sim.check(p.state === 'zombie', 'killed');
          sim.check((await p.wait()).signal === 9, 'SIGKILL');
        },
      };
    }));

  it('swap-in racing MADV_DONTNEED and fork: no slot or page leaks', () =>
    exploreScenario(
      async (k, sim, p) => {
        await mapAt(p, A, 2);
        await p.write(A, fill(2 * PAGE, 7));
        await swapOut(k, p, A);
        await swapOut(k, p, A + PAGE);
        const got: number[] = [];
        return {
          windows: ['swap-in found the folio in the swap cache', 'swap-in lost the race'],
          workers: [
            async () => void got.push(((await p.read(A, 1)) as Uint8Array)[0]),
            async () => void got.push(((await p.read(A + PAGE, 1)) as Uint8Array)[0]),
            async () => void (await p.madvise(A, 2 * PAGE, MADV_DONTNEED)),
            async () => {
              const c = await p.fork();
              got.push(((await c.read(A + PAGE, 1)) as Uint8Array)[0]);
              await c.exit(0);
            },
          ],
          check: async () => {
            sim.check(
              got.every((g) => g === 0 || g === 7),
              `got ${got}`,
            );
            sim.check(k.swapCache.size === 0 || k.swap.nrUsed > 0, 'swap cache only for live slots');
          },
        };
      },
      'pct',
      200,
    ));
});
