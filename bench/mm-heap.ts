/**
 * Memory-model benchmark: heap bytes per present page in the page table (1,000,000 present PTEs,
 * dense and 1-in-8 sparse), and page-table walk throughput over a populated 1 GiB range.
 *
 *   node --expose-gc --import tsx bench/mm-heap.ts     (exact heap numbers: forces GC between phases)
 *   npx tsx bench/mm-heap.ts                           (works; heap numbers are noisier without gc)
 */
import { pathToFileURL } from 'node:url';

import { PTE_DIRTY, PTE_KIND_PRESENT, PTE_WRITE, PTE_YOUNG, PageTable } from '../src/mm/page-table.js';
import { gc } from './lib/gc.js';

export interface MmHeapResult {
  presentPages: number;
  /** Heap bytes per present page, entries contiguous (1,000,000 pages = 3.8 GiB of address space). */
  denseBytesPerPage: number;
  /** Heap bytes per present page, every 8th page present (the worst case for table sharing here). */
  sparseBytesPerPage: number;
  denseTables: number;
  sparseTables: number;
  /** Pages visited per second by walk() over a fully populated 1 GiB range. */
  walkPagesPerSec: number;
  /** set() + kindAt() pairs per second (the fault path's page-table part). */
  setLookupPerSec: number;
  gcAvailable: boolean;
}

const PAGE = 4096;
const BASE = 0x7f0000000000;
const NPRESENT = 1_000_000;

function heapUsed(): number {
  gc(2);
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

function populate(stridePages: number): { pt: PageTable; bytes: number } {
  const before = heapUsed();
  const pt = new PageTable();
  const flags = PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
  for (let i = 0; i < NPRESENT; i++) pt.set(BASE + i * stridePages * PAGE, PTE_KIND_PRESENT, i, flags);
  const bytes = heapUsed() - before;
  if (pt.presentPages !== NPRESENT)
    throw new Error(`expected ${NPRESENT} present pages, got ${pt.presentPages}`);
  return { pt, bytes };
}

function now(): number {
  return performance.now();
}

/** Runs the benchmark and prints its numbers; returns them for bench/run.ts. */
export async function benchMmHeap(): Promise<MmHeapResult> {
  const gcAvailable = typeof (globalThis as { gc?: unknown }).gc === 'function';

  // --- heap bytes per present page ---
  let dense: { pt: PageTable; bytes: number } | undefined = populate(1);
  const denseBytesPerPage = dense.bytes / NPRESENT;
  const denseTables = dense.pt.tables;
  dense = undefined;
  let sparse: { pt: PageTable; bytes: number } | undefined = populate(8);
  const sparseBytesPerPage = sparse.bytes / NPRESENT;
  const sparseTables = sparse.pt.tables;
  sparse = undefined;

  // --- walk throughput over a populated 1 GiB ---
  const gib = (1 << 30) / PAGE;
  const pt = new PageTable();
  for (let i = 0; i < gib; i++) pt.set(BASE + i * PAGE, PTE_KIND_PRESENT, i, PTE_WRITE);
  let visited = 0;
  let checksum = 0;
  const visitor = (_va: number, _kind: number, pfn: number): void => {
    visited++;
    checksum += pfn;
  };
  for (let i = 0; i < 3; i++) pt.walk(BASE, BASE + gib * PAGE, visitor); // warm up
  visited = 0;
  const t0 = now();
  let rounds = 0;
  while (now() - t0 < 1000 || rounds < 5) {
    pt.walk(BASE, BASE + gib * PAGE, visitor);
    rounds++;
  }
  const walkPagesPerSec = visited / ((now() - t0) / 1000);
  if (visited !== rounds * gib || checksum <= 0) throw new Error('walk visited the wrong number of pages');

  // --- set + lookup (the page-table half of a fault) ---
  const pt2 = new PageTable();
  const n = 1 << 20;
  const t1 = now();
  let kinds = 0;
  for (let i = 0; i < n; i++) {
    const va = BASE + i * PAGE;
    kinds += pt2.kindAt(va);
    pt2.set(va, PTE_KIND_PRESENT, i, PTE_WRITE);
  }
  const setLookupPerSec = n / ((now() - t1) / 1000);
  if (kinds !== 0) throw new Error('fresh table was not empty');

  const result: MmHeapResult = {
    presentPages: NPRESENT,
    denseBytesPerPage,
    sparseBytesPerPage,
    denseTables,
    sparseTables,
    walkPagesPerSec,
    setLookupPerSec,
    gcAvailable,
  };
  const mib = (b: number) => ((b * NPRESENT) / 2 ** 20).toFixed(1);
  console.log(
    `mm page table (${gcAvailable ? 'gc forced' : 'no --expose-gc: heap numbers are approximate'})`,
  );
  console.log(
    `  heap per present page, dense : ${denseBytesPerPage.toFixed(2)} B  (${mib(denseBytesPerPage)} MiB for 1e6 pages, ${denseTables} PTE tables)`,
  );
  console.log(
    `  heap per present page, 1-in-8: ${sparseBytesPerPage.toFixed(2)} B  (${mib(sparseBytesPerPage)} MiB for 1e6 pages, ${sparseTables} PTE tables)`,
  );
  console.log(`  walk over populated 1 GiB    : ${(walkPagesPerSec / 1e6).toFixed(1)} M pages/s`);
  console.log(`  kindAt + set (fault path)    : ${(setLookupPerSec / 1e6).toFixed(1)} M pairs/s`);
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchMmHeap();
}
