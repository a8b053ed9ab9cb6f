/**
 * HMM benchmark, host clock around work inside one simulation run (never read by the model):
 *
 * 1. hmmRangeFault snapshot rate (pages/s) over a populated 1 GiB range, beside the memory model's raw
 *    page-table walk (PageTable.walk with an empty visitor) over the same range of the same mm in the
 *    same run. Goal: snapshot >= 25% of the raw walk.
 * 2. hmmRangeFault faulting rate (pages/s): REQ_FAULT | REQ_WRITE over fresh anonymous memory.
 * 3. Migration to device-private memory and back (pages/s), 4 KiB pages and PMD-mapped THPs, in
 *    batches of 512 pages as dmirror does: THPs split on collection (no MIGRATE_VMA_SELECT_COMPOUND)
 *    and THPs migrated whole (COMPOUND entries, PMD-order device folios and system THPs).
 *
 * Run: `npx tsx bench/hmm.ts`, or `npm run bench` for every benchmark.
 */
import { pathToFileURL } from 'node:url';

import { Simulation } from '../src/sim/simulation.js';
import { Kernel } from '../src/mm/kernel.js';
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../src/mm/constants.js';
import { PTE_KIND_PRESENT, PTE_WRITE } from '../src/mm/page-table.js';
import type { Mm } from '../src/mm/mm.js';
import { mmuIntervalNotifierInsert, type MmuIntervalNotifier } from '../src/notifier/interval.js';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  createDevicePagemap,
  hmmPfnFlags,
  hmmRangeFault,
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  type DevicePagemap,
} from '../src/hmm/index.js';

const PAGE = 4096;
const GIB_PAGES = (1 << 30) / PAGE;
const BATCH = 512;

export interface HmmBenchResult {
  snapshotPagesPerSec: number;
  rawWalkPagesPerSec: number;
  snapshotToRaw: number;
  faultPagesPerSec: number;
  migrate4kPagesPerSec: { toDevice: number; toSystem: number };
  migrateThpPagesPerSec: { toDevice: number; toSystem: number };
  migrateThpWholePagesPerSec: { toDevice: number; toSystem: number };
}

const now = (): bigint => process.hrtime.bigint();
const secsSince = (t0: bigint): number => Number(now() - t0) / 1e9;

function subscriber(mm: Mm, start: number, length: number): Promise<MmuIntervalNotifier> {
  return mmuIntervalNotifierInsert(mm, start, length, {
    invalidate(s, _r, cur) {
      s.setSeq(cur);
      return true;
    },
  });
}

/** Best-of rounds for ~`budget` seconds of `fn` returning pages processed. */
async function bestRate(budget: number, fn: () => Promise<number>): Promise<number> {
  let best = 0;
  const start = now();
  do {
    const t0 = now();
    const n = await fn();
    best = Math.max(best, n / secsSince(t0));
  } while (secsSince(start) < budget);
  return best;
}

async function snapshotVsWalk(k: Kernel): Promise<[number, number]> {
  const p = k.createProcess('bench-snapshot');
  const len = GIB_PAGES * PAGE;
  const addr = await p.mmap({
    length: len,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
  if (addr < 0) throw new Error(`mmap: ${addr}`);
  // Populate the page table directly (as bench/mm-fault.ts's walk does): a snapshot reads entries only.
  const pt = p.mm.pageTable;
  for (let i = 0; i < GIB_PAGES; i++) pt.set(addr + i * PAGE, PTE_KIND_PRESENT, i % 1000, PTE_WRITE);
  const sub = await subscriber(p.mm, addr, len);
  const pfns = new Float64Array(GIB_PAGES);
  const snap = async (): Promise<number> => {
    const seq = await sub.readBegin();
    await p.mm.mmapLock.downRead();
    const ret = await hmmRangeFault({
      notifier: sub,
      notifierSeq: seq,
      start: addr,
      end: addr + len,
      hmmPfns: pfns,
      defaultFlags: 0,
      pfnFlagsMask: 0,
    });
    p.mm.mmapLock.upRead();
    if (ret !== 0 || (hmmPfnFlags(pfns[GIB_PAGES - 1]) & HMM_PFN_VALID) === 0)
      throw new Error(`snapshot: ${ret}`);
    return GIB_PAGES;
  };
  let visited = 0;
  const visitor = (): void => {
    visited++;
  };
  const walk = (): Promise<number> => {
    visited = 0;
    pt.walk(addr, addr + len, visitor);
    if (visited !== GIB_PAGES) throw new Error(`walk visited ${visited}`);
    return Promise.resolve(GIB_PAGES);
  };
  await snap();
  await walk();
  const raw = await bestRate(1, walk);
  const s = await bestRate(2, snap);
  // Leave nothing for exit to release: these entries point at no real pages.
  pt.clearRange(addr, addr + len);
  return [s, raw];
}

async function faultRate(k: Kernel, npages: number): Promise<number> {
  const p = k.createProcess('bench-fault');
  const len = npages * PAGE;
  const addr = await p.mmap({
    length: len,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
  const sub = await subscriber(p.mm, addr, len);
  const pfns = new Float64Array(npages);
  const t0 = now();
  for (;;) {
    const seq = await sub.readBegin();
    await p.mm.mmapLock.downRead();
    const ret = await hmmRangeFault({
      notifier: sub,
      notifierSeq: seq,
      start: addr,
      end: addr + len,
      hmmPfns: pfns,
      defaultFlags: HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
      pfnFlagsMask: 0,
    });
    p.mm.mmapLock.upRead();
    if (ret === 0) break;
    if (ret !== -16) throw new Error(`fault: ${ret}`);
  }
  const rate = npages / secsSince(t0);
  await p.exit(0);
  return rate;
}

/**
 * One migrate_vma pass over [start, end) in batches, as a driver would; with `whole`, THPs and device
 * PMDs are collected as compound entries and given PMD-order destinations. Returns the pages moved.
 */
async function migrate(
  k: Kernel,
  mm: Mm,
  start: number,
  end: number,
  pm: DevicePagemap,
  toDevice: boolean,
  whole: boolean,
): Promise<number> {
  let moved = 0;
  const src = new Array<number>(BATCH).fill(0);
  const dst = new Array<number>(BATCH).fill(0);
  await mm.mmapLock.downRead();
  for (let a = start; a < end; a += BATCH * PAGE) {
    const e = Math.min(end, a + BATCH * PAGE);
    const args = {
      mm,
      vma: mm.vmas.lookup(a)!,
      start: a,
      end: e,
      src,
      dst,
      cpages: 0,
      npages: 0,
      pgmapOwner: pm.owner,
      flags:
        (toDevice ? MIGRATE_VMA_SELECT_SYSTEM : MIGRATE_VMA_SELECT_DEVICE_PRIVATE) |
        (whole ? MIGRATE_VMA_SELECT_COMPOUND : 0),
    };
    if ((await migrateVmaSetup(args)) !== 0) throw new Error('setup');
    for (let i = 0; i < args.npages; i++) {
      if (!(src[i] & MIGRATE_PFN_MIGRATE)) continue;
      if (src[i] & MIGRATE_PFN_COMPOUND) {
        const d = toDevice ? pm.allocFolio(HPAGE_PMD_ORDER) : k.phys.allocPages(HPAGE_PMD_ORDER);
        if (d < 0) throw new Error('out of memory (PMD order)');
        k.phys.trylockPage(d);
        const s = migratePfnToPage(src[i]);
        for (let j = 0; j < HPAGE_PMD_NR; j++) k.phys.copyPage(d + j, s + j);
        dst[i] = migratePfn(d) + (src[i] & MIGRATE_PFN_WRITE) + MIGRATE_PFN_COMPOUND;
        continue;
      }
      const d = toDevice ? pm.allocPage() : await k.allocUserPage();
      if (d < 0) throw new Error('out of memory');
      k.phys.trylockPage(d);
      const s = migratePfnToPage(src[i]);
      if (s >= 0) k.phys.copyPage(d, s);
      dst[i] = migratePfn(d) + (src[i] & MIGRATE_PFN_WRITE);
    }
    await migrateVmaPages(args);
    for (let i = 0; i < args.npages; i++)
      if (src[i] & MIGRATE_PFN_MIGRATE) moved += src[i] & MIGRATE_PFN_COMPOUND ? HPAGE_PMD_NR : 1;
    await migrateVmaFinalize(args);
  }
  mm.mmapLock.upRead();
  return moved;
}

async function migrateRates(
  k: Kernel,
  npages: number,
  thp: boolean,
  whole = false,
): Promise<{ toDevice: number; toSystem: number }> {
  const pm = createDevicePagemap(k, { kind: 'private', npages });
  const p = k.createProcess(thp ? 'bench-thp' : 'bench-4k');
  const len = npages * PAGE;
  const addr = await p.mmap({
    length: len,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
  if (thp) await p.madvise(addr, len, MADV_HUGEPAGE);
  const byte = new Uint8Array([1]);
  for (let a = addr; a < addr + len; a += thp ? 512 * PAGE : PAGE) await p.write(a, byte);
  if (thp && !p.mm.pageTable.isHugeAt(addr)) throw new Error('no THP');
  let t0 = now();
  const n1 = await migrate(k, p.mm, addr, addr + len, pm, true, whole);
  if (whole && !p.mm.pageTable.isHugeAt(addr)) throw new Error('THP not migrated whole');
  const toDevice = n1 / secsSince(t0);
  t0 = now();
  const n2 = await migrate(k, p.mm, addr, addr + len, pm, false, whole);
  const toSystem = n2 / secsSince(t0);
  if (n1 !== npages || n2 !== npages) throw new Error(`migrated ${n1} / ${n2} of ${npages}`);
  await p.exit(0);
  return { toDevice, toSystem };
}

export async function benchHmm(): Promise<HmmBenchResult> {
  const sim = new Simulation({ seed: 1, maxSteps: 2_000_000_000 });
  let result: HmmBenchResult | undefined;
  const run = await sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 1 << 17 });
    s.spawn('bench', async () => {
      const [snapshot, raw] = await snapshotVsWalk(k);
      const fault = await faultRate(k, 16384);
      const m4k = await migrateRates(k, 8192, false);
      const mthp = await migrateRates(k, 8192, true);
      const mwhole = await migrateRates(k, 8192, true, true);
      result = {
        snapshotPagesPerSec: snapshot,
        rawWalkPagesPerSec: raw,
        snapshotToRaw: snapshot / raw,
        faultPagesPerSec: fault,
        migrate4kPagesPerSec: m4k,
        migrateThpPagesPerSec: mthp,
        migrateThpWholePagesPerSec: mwhole,
      };
    });
  });
  if (run.status !== 'ok' || result === undefined)
    throw new Error(`bench run ended ${run.status}: ${run.violations[0]?.message ?? ''}`);
  const f = (x: number): string => `${(x / 1e6).toFixed(2)} M pages/s`;
  const g = (x: number): string => `${(x / 1e3).toFixed(1)} k pages/s`;
  console.log('hmm');
  console.log(`  hmmRangeFault snapshot, populated 1 GiB   ${f(result.snapshotPagesPerSec)}`);
  console.log(`  raw page-table walk, same range           ${f(result.rawWalkPagesPerSec)}`);
  console.log(
    `  snapshot / raw                            ${(100 * result.snapshotToRaw).toFixed(0)}% (goal >= 25%)`,
  );
  console.log(`  hmmRangeFault faulting (write), 64 MiB    ${g(result.faultPagesPerSec)}`);
  console.log(
    `  migrate 4 KiB to device / back            ${g(result.migrate4kPagesPerSec.toDevice)} / ${g(result.migrate4kPagesPerSec.toSystem)}`,
  );
  console.log(
    `  migrate THP (split) to device / back      ${g(result.migrateThpPagesPerSec.toDevice)} / ${g(result.migrateThpPagesPerSec.toSystem)}`,
  );
  console.log(
    `  migrate THP (whole) to device / back      ${g(result.migrateThpWholePagesPerSec.toDevice)} / ${g(result.migrateThpWholePagesPerSec.toSystem)}`,
  );
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await benchHmm();
