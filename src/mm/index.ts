/**
 * The memory model (src/mm): physical memory, page tables, VMAs, mm_struct, and every operation that
 * changes translations.
 *
 * Kernel → model names:
 *   handle_mm_fault → handleMmFault; do_anonymous_page → doAnonymousPage; do_wp_page → doWpPage;
 *   wp_page_copy → wpPageCopy; do_fault → doFault; do_swap_page → doSwapPage / swapIn;
 *   remove_device_exclusive_entry → removeDeviceExclusiveEntry; do_user_addr_fault → doUserAddrFault;
 *   populate_vma_page_range → populateVmaRange;
 *   do_mmap / mmap_region → doMmap / doMmapLocked; do_vmi_munmap → doMunmap / munmapLocked;
 *   unmap_vmas → unmapVmas; unmap_single_vma → unmapSingleVma; zap_page_range_single →
 *   zapPageRangeSingle; do_mprotect_pkey → doMprotect; mprotect_fixup → mprotectFixup;
 *   change_protection → changeProtection; do_madvise → doMadvise; mremap → doMremap;
 *   move_vma → moveVma; move_page_tables → movePageTables; dup_mmap → dupMmap;
 *   copy_page_range → copyPageRange; exit_mmap → exitMmap; __split_huge_pmd → splitHugePmd;
 *   set_pte_at / ptep_get_and_clear / ptep_modify_prot → ptepSet / ptepGetAndClear / ptepModify.
 *
 * Extension points (reclaim, migration, THP, OOM reaper):
 *   - page-table updates go through ptepSet / ptepGetAndClear / ptepModify / pmdp* with mm.ptl held
 *     (scheduling points, onPteChange hooks); zapReleaseEntry / folioPutAfterUnmap release what an
 *     entry referenced; unmapSingleVma zaps a VMA range inside an invalidation the caller raises;
 *   - reverse map: PhysicalMemory.folioRmapList / rmapMmAt / rmapVaAt (mm is the Mm); migration
 *     entries are recorded with migrationEntryAdd / Remove / Of (fork and zap keep them current);
 *   - swap cache: addToSwapCache / deleteFromSwapCache / folioFreeSwap (Kernel.swapCache);
 *   - page lock: Kernel.folioLock / folioTrylock / folioUnlock / folioWaitUnlocked;
 *   - allocation failure: Kernel.directReclaim; MADV_PAGEOUT: Kernel.pageoutRange;
 *   - THP: splitHugePmd / splitHugePmdLocked; doHugePmdAnonymousPage creates PMD-mapped folios.
 */
export * from './constants.js';
export * from './physical.js';
export * from './page-table.js';
export * from './vma.js';
export * from './swap.js';
export { MmStruct } from './mm-struct.js';
export { Mm, mmapAssertLocked, mmapAssertWriteLocked, pteTag } from './mm.js';
export { Kernel, type KernelOptions, type KernelHooks, type MigrationMapping } from './kernel.js';
export { Process, MmError, type ExitStatus, type ProcessState } from './process.js';
export { MemFile } from './file.js';
export type { VmFault, VmOperations, MmapableFile, DevPagemapOps, DevicePrivateFault } from './vm-ops.js';
export {
  handleMmFault,
  doAnonymousPage,
  doWpPage,
  wpPageCopy,
  doFault,
  doSwapPage,
  swapIn,
  removeDeviceExclusiveEntry,
  doHugePmdAnonymousPage,
} from './fault.js';
export {
  accessUserMemory,
  accessError,
  cpuTranslate,
  doUserAddrFault,
  populateVmaRange,
  MAX_FAULTS_PER_ACCESS,
  type UserMemoryObserver,
  type UserMemoryChange,
} from './access.js';
export { doMmap, doMmapLocked, pageAlign, EOPNOTSUPP, type MmapArgs } from './mmap.js';
export { doMunmap, munmapLocked, unmapVmas } from './munmap.js';
export { doMprotect, mprotectFixup, changeProtection } from './mprotect.js';
export { doMadvise, zapPageRangeSingle } from './madvise.js';
export { doMremap, moveVma, movePageTables } from './mremap.js';
export { dupMmap, copyPageRange, isCowMapping } from './fork.js';
export { exitMmap } from './exit.js';
export {
  ptepSet,
  ptepGetAndClear,
  ptepModify,
  pmdpSet,
  pmdpGetAndClear,
  pmdpModify,
  ptChanged,
  zapReleaseEntry,
  zapReleaseHugeEntry,
  folioPutAfterUnmap,
  unmapSingleVma,
  type PteValue,
} from './memory.js';
export {
  anonVmaPrepare,
  folioPrepareNewAnon,
  folioAddNewAnonRmap,
  migrationEntryAdd,
  migrationEntryRemove,
} from './rmap.js';
export {
  lookupSwapCache,
  addToSwapCache,
  deleteFromSwapCache,
  folioFreeSwap,
  freeSwapAndCache,
  tryFreeSwapCacheOfSlot,
} from './swap-state.js';
export {
  splitVma,
  vmaMergeAround,
  vmaModifyFlags,
  vmaFree,
  vmaOpenRefs,
  vmaAdjustTransHuge,
} from './vma-modify.js';
export * from './vmscan.js';
export * from './migrate.js';
export * from './huge-memory.js';
export * from './split-huge-page.js';
export * from './oom-kill.js';
export * from './rmap-walk.js';
