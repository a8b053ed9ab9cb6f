/**
 * Device memory migration (mm/migrate_device.c): migrate_vma_setup / migrate_vma_pages /
 * migrate_vma_finalize and the migrate-pfn encoding.
 */
import type { MigrateVma } from './types.js';

/** The entry names a source or destination page (pfn above MIGRATE_PFN_SHIFT). */
export const MIGRATE_PFN_VALID = 1 << 0;
/** The entry is to be migrated (set by collection, cleared when it cannot be). */
export const MIGRATE_PFN_MIGRATE = 1 << 1;
/** The source mapping was writable / the destination is to be mapped writable. */
export const MIGRATE_PFN_WRITE = 1 << 3;
/** The entry covers a whole PMD-sized folio (the next 511 entries are skipped). */
export const MIGRATE_PFN_COMPOUND = 1 << 4;
/** Bits below the pfn. */
export const MIGRATE_PFN_SHIFT = 6;
const MIGRATE_PFN_MUL = 1 << MIGRATE_PFN_SHIFT;

/** Collect present system pages. */
export const MIGRATE_VMA_SELECT_SYSTEM = 1 << 0;
/** Collect device-private pages whose pagemap owner is args.pgmapOwner. */
export const MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1;
/** Collect device-coherent pages whose pagemap owner is args.pgmapOwner. */
export const MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2;
/** Collect PMD-mapped THPs and empty PMD ranges as single compound entries. */
export const MIGRATE_VMA_SELECT_COMPOUND = 1 << 3;
export const MIGRATE_VMA_SELECT_ALL =
  MIGRATE_VMA_SELECT_SYSTEM |
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
  MIGRATE_VMA_SELECT_DEVICE_COHERENT |
  MIGRATE_VMA_SELECT_COMPOUND;

/** migrate_pfn(pfn): a destination word for `pfn` (VALID). */
export function migratePfn(pfn: number): number {
  return pfn * MIGRATE_PFN_MUL + MIGRATE_PFN_VALID;
}

/** migrate_pfn_to_page: the pfn of a VALID word, or -1. */
export function migratePfnToPage(word: number): number {
  return word & MIGRATE_PFN_VALID ? Math.floor(word / MIGRATE_PFN_MUL) : -1;
}

/** The MIGRATE_PFN_* flag bits of a word. */
export function migratePfnFlags(word: number): number {
  return (word >>> 0) & (MIGRATE_PFN_MUL - 1);
}

/**
 * migrate_vma_setup(args): validate, collect [start, end) under a blockable MMU_NOTIFY_MIGRATE
 * invalidation carrying args.pgmapOwner, lock and unmap the selected pages (migration entries).
 * Returns 0 or -EINVAL. Caller holds the mmap lock (asserted). May sleep.
 */
export async function migrateVmaSetup(args: MigrateVma): Promise<number> {
  void args;
  return Promise.reject(new Error('migrateVmaSetup: not yet'));
}

/**
 * migrate_vma_pages(args): commit — populate holes with the driver's destination pages and move
 * page state from source to destination; entries that cannot be migrated lose MIGRATE_PFN_MIGRATE.
 * Caller holds the mmap lock. May sleep.
 */
export async function migrateVmaPages(args: MigrateVma): Promise<void> {
  void args;
  return Promise.reject(new Error('migrateVmaPages: not yet'));
}

/**
 * migrate_vma_finalize(args): replace migration entries by the destination (migrated) or the source
 * (not migrated), unlock and release pages. Caller holds the mmap lock. May sleep.
 */
export async function migrateVmaFinalize(args: MigrateVma): Promise<void> {
  void args;
  return Promise.reject(new Error('migrateVmaFinalize: not yet'));
}
