/**
 * Memory-model benchmark: how fast the simulated kernel handles CPU faults and the operations built on
 * them, measured with the host clock around whole simulation runs (never inside the model).
 *
 * 1. Write faults on fresh anonymous memory: one simulated thread touches N pages through p.write
 *    (do_anonymous_page: allocation, rmap, LRU, set_pte), faults per second.
 * 2. Read faults on fresh anonymous memory (the zero page), faults per second.
 * 3. Reclaim: N written pages swapped out by reclaim (rmap walk, CLEAR invalidation, swap entry,
 *    swap write, free), pages per second — the difference between a run that touches and reclaims and
 *    one that only touches.
 * 4. Swap-in faults: the same N pages read back (do_swap_page), faults per second, by difference too.
 * 5. Page-table walk throughput over a fully populated 1 GiB range (PageTable.walk), pages per second.
 * 6. Heap bytes per present page of the page table, from bench/mm-heap.ts.
 *
 * Each simulated measurement is the best of `trials` runs. Run: `npx tsx bench/mm-fault.ts`
 * (`node --expose-gc --import tsx bench/mm-fault.ts` for exact heap numbers).
 */
import { pathToFileURL } from 'node:url';

import { Simulation } from '../src/sim/simulation.js';
import { Kernel } from '../src/mm/kernel.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/mm/constants.js';
import { PTE_KIND_PRESENT, PTE_WRITE, PageTable } from '../src/mm/page-table.js';
import { reclaim } from '../src/mm/vmscan.js';
import { benchMmHeap } from './mm-heap.js';

export interface MmFaultBenchOptions {
  /** Pages touched per run. Default 32768 (128 MiB). */
  pages?: number;
  /** Runs per measurement (the best is kept). Default 3. */
  trials?: number;
  /** Also run bench/mm-heap.ts for the heap figure. Default true. */
  heap?: boolean;
}

export interface MmFaultBenchResult {
  pages: number;
  writeFaultsPerSec: number;
  readFaultsPerSec: number;
  reclaimPagesPerSec: number;
  swapInFaultsPerSec: number;
  walkPagesPerSec: number;
  /** Heap bytes per present PTE, dense (bench/mm-heap.ts); NaN when not measured. */
  heapBytesPerPresentPage: number;
}

const PAGE = 4096;
const BASE = 0x7f0000000000;

type Phase = 'write' | 'read' | 'write+reclaim' | 'write+reclaim+read';

/** Seconds one simulation run of `phase` over `npages` takes, host clock, setup included. */
async function runOnce(phase: Phase, npages: number): Promise<number> {
  const sim = new Simulation({ seed: 1, maxSteps: 2_000_000_000 });
  const byte = new Uint8Array([0x5a]);
  const t0 = process.hrtime.bigint();
  const run = await sim.run((s) => {
    const k = new Kernel(s, { memoryPages: npages + 1024, swapPages: npages + 1024 });
    s.spawn('cpu', async () => {
      const p = k.createProcess('bench');
      const addr = await p.mmap({
        length: npages * PAGE,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS,
      });
      if (addr < 0) throw new Error(`mmap failed: ${addr}`);
      if (phase === 'read') {
        for (let i = 0; i < npages; i++) await p.read(addr + i * PAGE, 1);
        return;
      }
      for (let i = 0; i < npages; i++) await p.write(addr + i * PAGE, byte);
      if (phase === 'write') return;
      const freed = await reclaim(k, npages);
      if (freed !== npages) throw new Error(`reclaim freed ${freed} of ${npages} pages`);
      if (phase === 'write+reclaim') return;
      for (let i = 0; i < npages; i++) {
        const got = await p.read(addr + i * PAGE, 1);
        if (typeof got === 'number' || got[0] !== 0x5a)
          throw new Error('swap-in returned the wrong contents');
      }
    });
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (run.status !== 'ok')
    throw new Error(`${phase} run ended ${run.status}: ${run.violations[0]?.message ?? ''}`);
  return secs;
}

async function best(phase: Phase, npages: number, trials: number): Promise<number> {
  let t = Infinity;
  for (let i = 0; i < trials; i++) t = Math.min(t, await runOnce(phase, npages));
  return t;
}

/** PageTable.walk over a fully populated 1 GiB: pages visited per second (best of ~1 s of rounds). */
function walkRate(): number {
  const npages = (1 << 30) / PAGE;
  const pt = new PageTable();
  for (let i = 0; i < npages; i++) pt.set(BASE + i * PAGE, PTE_KIND_PRESENT, i, PTE_WRITE);
  let visited = 0;
  const visitor = (): void => {
    visited++;
  };
  pt.walk(BASE, BASE + npages * PAGE, visitor);
  let bestRate = 0;
  const start = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - start) < 1e9) {
    visited = 0;
    const t0 = process.hrtime.bigint();
    pt.walk(BASE, BASE + npages * PAGE, visitor);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (visited !== npages) throw new Error(`walk visited ${visited} of ${npages} pages`);
    bestRate = Math.max(bestRate, npages / secs);
  }
  return bestRate;
}

function fmtRate(perSec: number, unit: string): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)} M ${unit}/s`;
  return `${(perSec / 1e3).toFixed(1)} k ${unit}/s`;
}

/** Runs the benchmark, prints a table and returns the numbers. */
export async function benchMmFault(options: MmFaultBenchOptions = {}): Promise<MmFaultBenchResult> {
  const npages = options.pages ?? 32768;
  const trials = options.trials ?? 3;
  await runOnce('write', Math.min(npages, 2048)); // warm up the JIT
  const tWrite = await best('write', npages, trials);
  const tRead = await best('read', npages, trials);
  const tReclaim = await best('write+reclaim', npages, trials);
  const tSwapIn = await best('write+reclaim+read', npages, trials);
  const result: MmFaultBenchResult = {
    pages: npages,
    writeFaultsPerSec: npages / tWrite,
    readFaultsPerSec: npages / tRead,
    reclaimPagesPerSec: npages / Math.max(1e-9, tReclaim - tWrite),
    swapInFaultsPerSec: npages / Math.max(1e-9, tSwapIn - tReclaim),
    walkPagesPerSec: walkRate(),
    heapBytesPerPresentPage: NaN,
  };
  if (options.heap !== false) result.heapBytesPerPresentPage = (await benchMmHeap()).denseBytesPerPage;

  const rows: Array<[string, string]> = [
    ['write fault, fresh anonymous page', fmtRate(result.writeFaultsPerSec, 'faults')],
    ['read fault, zero page', fmtRate(result.readFaultsPerSec, 'faults')],
    ['reclaim (swap-out through rmap)', fmtRate(result.reclaimPagesPerSec, 'pages')],
    ['swap-in fault', fmtRate(result.swapInFaultsPerSec, 'faults')],
    ['page-table walk, populated 1 GiB', fmtRate(result.walkPagesPerSec, 'pages')],
    [
      'heap per present PTE (dense)',
      Number.isNaN(result.heapBytesPerPresentPage)
        ? 'not measured'
        : `${result.heapBytesPerPresentPage.toFixed(2)} B`,
    ],
  ];
  console.log(`mm faults (${npages} pages per run, best of ${trials}; one simulated thread)`);
  for (const [what, value] of rows) console.log(`  ${what.padEnd(36)} ${value}`);
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchMmFault();
}
