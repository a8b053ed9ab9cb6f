/**
 * Benchmark: the cost of one invalidate_range_start/end pair for a one-page range that
 * touches exactly one subscription, as the number of subscriptions on the mm grows
 * (1e2, 1e4, 1e6), for
 *
 *   - interval: the consolidated design (per-mm interval tree of mmu_interval_notifiers,
 *     O(log n + k) per invalidation), through the real core functions; and
 *   - list: the design the 2019 consolidation replaced (seed 000): one classic notifier
 *     whose invalidate_range_start walks the driver's linear list of intervals and tests
 *     each for overlap (O(n)). Implemented here only; it also runs through the real core
 *     (mmuNotifierInvalidateRangeStart/End on a classic subscription). Its end callback
 *     does no per-entry work, which favours the list.
 *
 * Both run inside one simulated thread. Wall time is real time (this file is not model
 * code). Run: npx tsx bench/notifier.ts
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

import { Simulation } from '../src/sim/simulation.js';
import { MmStruct } from '../src/mm/mm-struct.js';
import {
  MMU_NOTIFY_CLEAR,
  MmuIntervalNotifier,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  mmuNotifierRegister,
  type MmuIntervalNotifierOps,
} from '../src/notifier/index.js';

const PAGE = 4096;
/** Subscriptions are one page each, one page apart: sub i covers page 2i. */
const STRIDE = 2 * PAGE;

export interface NotifierBenchRow {
  subscriptions: number;
  /** Nanoseconds per start/end pair, interval tree. */
  intervalNs: number;
  /** Nanoseconds per start/end pair, linear list. */
  listNs: number;
  /** listNs / intervalNs. */
  ratio: number;
}

export interface NotifierBenchOptions {
  sizes?: number[];
  /** Minimum measured time per variant and size, in milliseconds. */
  minTimeMs?: number;
}

/** The target subscription of iteration i: spread over the address space. */
function target(i: number, n: number): number {
  return (i * 7919 + 13) % n;
}

/** Runs `body` as the only thread of a fresh simulation with a step limit fit for n. */
async function inOneThread(body: (sim: Simulation, mm: MmStruct) => Promise<void>): Promise<void> {
  const sim = new Simulation({ seed: 1, maxSteps: 2_000_000_000, stepNs: 0 });
  const run = await sim.run((s) => {
    s.spawn('bench', () => body(s, new MmStruct(s, 'bench')));
  });
  if (run.status !== 'ok') {
    const v = run.violations[0];
    throw new Error(`bench run ended ${run.status}${v ? `: ${v.kind}: ${v.message}` : ''}`);
  }
}

/** Times start/end pairs until `minTimeMs` has passed; returns ns per pair. */
async function timePairs(mm: MmStruct, n: number, minTimeMs: number): Promise<number> {
  const pair = async (i: number): Promise<void> => {
    const va = target(i, n) * STRIDE;
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, va, va + PAGE);
    await mmuNotifierInvalidateRangeStart(range);
    await mmuNotifierInvalidateRangeEnd(range);
  };
  for (let i = 0; i < 50; i++) await pair(i); // warm-up
  let iterations = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < minTimeMs || iterations < 5) {
    for (let k = 0; k < 8; k++) await pair(iterations++);
    elapsed = performance.now() - t0;
  }
  return (elapsed * 1e6) / iterations;
}

async function benchInterval(n: number, minTimeMs: number): Promise<number> {
  let ns = 0;
  let hits = 0;
  await inOneThread(async (_sim, mm) => {
    const ops: MmuIntervalNotifierOps = {
      invalidate(sub, _range, curSeq) {
        sub.setSeq(curSeq);
        hits++;
        return true;
      },
    };
    for (let i = 0; i < n; i++) {
      const ret = await new MmuIntervalNotifier(ops).insert(mm, i * STRIDE, PAGE);
      if (ret !== 0) throw new Error(`insert failed: ${ret}`);
    }
    ns = await timePairs(mm, n, minTimeMs);
  });
  if (hits === 0) throw new Error('interval variant: no subscription was hit');
  return ns;
}

/** One entry of the pre-consolidation driver's linear list. */
interface ListEntry {
  start: number;
  last: number;
  seq: number;
}

async function benchList(n: number, minTimeMs: number): Promise<number> {
  let ns = 0;
  let hits = 0;
  await inOneThread(async (_sim, mm) => {
    const list: ListEntry[] = [];
    for (let i = 0; i < n; i++) list.push({ start: i * STRIDE, last: i * STRIDE + PAGE - 1, seq: 1 });
    let seq = 1;
    await mmuNotifierRegister(mm, {
      invalidateRangeStart(range) {
        seq += 2;
        const last = range.end - 1;
        for (let i = 0; i < list.length; i++) {
          const e = list[i];
          if (e.start <= last && range.start <= e.last) {
            e.seq = seq;
            hits++;
          }
        }
        return 0;
      },
      invalidateRangeEnd() {},
    });
    ns = await timePairs(mm, n, minTimeMs);
  });
  if (hits === 0) throw new Error('list variant: no entry was hit');
  return ns;
}

function fmt(ns: number): string {
  return ns >= 1e6
    ? `${(ns / 1e6).toFixed(2)} ms`
    : ns >= 1e3
      ? `${(ns / 1e3).toFixed(2)} µs`
      : `${ns.toFixed(0)} ns`;
}

/**
 * Runs the benchmark and prints both curves and their ratio. Returns the rows.
 */
export async function benchNotifier(options: NotifierBenchOptions = {}): Promise<NotifierBenchRow[]> {
  const sizes = options.sizes ?? [1e2, 1e4, 1e6];
  const minTimeMs = options.minTimeMs ?? 300;
  const rows: NotifierBenchRow[] = [];
  console.log('invalidate_range_start/end pair, one-page range hitting one subscription');
  console.log('subscriptions   interval tree    linear list      list/tree');
  for (const n of sizes) {
    const intervalNs = await benchInterval(n, minTimeMs);
    const listNs = await benchList(n, minTimeMs);
    const row = { subscriptions: n, intervalNs, listNs, ratio: listNs / intervalNs };
    rows.push(row);
    console.log(
      `${String(n).padStart(13)}   ${fmt(intervalNs).padStart(13)}   ${fmt(listNs).padStart(11)}   ${row.ratio
        .toFixed(1)
        .padStart(10)}x`,
    );
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchNotifier();
}
