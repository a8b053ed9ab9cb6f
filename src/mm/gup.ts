/**
 * get_user_pages / pin_user_pages (mm/gup.c) and the gup_test debugfs device (mm/gup_test.c) the
 * HMM selftests drive.
 */
import type { Kernel } from './kernel.js';
import type { Mm } from './mm.js';
import type { Process } from './process.js';

/** The gup_test commands the HMM selftests use (GUP_BASIC_TEST, GUP_FAST_BENCHMARK, ...). */
export type GupTestCommand = 'basic' | 'fast-benchmark' | 'pin-fast-benchmark' | 'pin-longterm-benchmark';

/** struct gup_test: the range, the pages per gup call and FOLL_* flags. */
export interface GupTestArgs {
  addr: number;
  size: number;
  nrPagesPerCall?: number;
  gupFlags?: number;
}

/**
 * get_user_pages(start, nrPages, gupFlags, pages): faults in and takes a reference on each page of
 * [start, start + nrPages pages), storing the pfns in `pages`. Returns the number of pages got (may
 * be fewer than asked), or -errno if the first fails. FOLL_WRITE faults for write. Caller holds the
 * mmap lock (asserted). May sleep.
 */
export async function getUserPages(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages?: number[],
): Promise<number> {
  void mm;
  void start;
  void nrPages;
  void gupFlags;
  void pages;
  return Promise.reject(new Error('getUserPages: not yet'));
}

/**
 * pin_user_pages(start, nrPages, gupFlags, pages): as getUserPages with FOLL_PIN; with FOLL_LONGTERM,
 * device-coherent pages (and device-private ones, through the fault) are first migrated to system
 * memory. Release with unpinUserPages. Caller holds the mmap lock (asserted). May sleep.
 */
export async function pinUserPages(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages?: number[],
): Promise<number> {
  void mm;
  void start;
  void nrPages;
  void gupFlags;
  void pages;
  return Promise.reject(new Error('pinUserPages: not yet'));
}

/** unpin_user_pages. Atomic. */
export function unpinUserPages(k: Kernel, pages: readonly number[]): void {
  for (const pfn of pages) k.phys.unpinPage(pfn);
}

/** put_page on each page getUserPages returned. Atomic. */
export function putUserPages(k: Kernel, pages: readonly number[]): void {
  for (const pfn of pages) k.phys.putPage(pfn);
}

/**
 * The gup_test ioctls: gets or pins the pages of [addr, addr + size) in calls of nrPagesPerCall pages,
 * then releases them. Returns 0 or -errno. Takes the mmap lock itself. May sleep.
 */
export async function gupTest(
  k: Kernel,
  p: Process,
  cmd: GupTestCommand,
  args: GupTestArgs,
): Promise<number> {
  void k;
  void p;
  void cmd;
  void args;
  return Promise.reject(new Error('gupTest: not yet'));
}
