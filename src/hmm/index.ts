/**
 * HMM (src/hmm): hmm_range_fault, device memory (pagemaps of private and coherent kind), device
 * migration (migrate_vma_*), make_device_exclusive, and the gup entry points the HMM selftests use.
 *
 * Kernel → model names:
 *   hmm_range_fault → hmmRangeFault; struct hmm_range → HmmRange; hmm_pfn_to_page → hmmPfnToPfn;
 *   hmm_pfn_to_map_order → hmmPfnToMapOrder; memremap_pages + dev_pagemap → DevicePagemap /
 *   createDevicePagemap; migrate_vma_setup / _pages / _finalize → migrateVmaSetup / Pages / Finalize;
 *   migrate_device_range / _pages / _finalize → migrateDeviceRange / Pages / Finalize;
 *   struct migrate_vma → MigrateVma; migrate_pfn → migratePfn; migrate_pfn_to_page → migratePfnToPage;
 *   make_device_exclusive → makeDeviceExclusive; get_user_pages / pin_user_pages → getUserPages /
 *   pinUserPages (src/mm/gup.ts); gup_test → k.gupTest; hugetlb pool counters → hugetlbCounts
 *   (src/mm/hugetlb.ts).
 */
export * from './pfn.js';
export type { HmmRange, MigrateVma, PfnArray } from './types.js';
export { hmmRangeFault } from './range-fault.js';
export { DevicePagemap, createDevicePagemap, type DevicePagemapOptions } from './pagemap.js';
export * from './migrate-device.js';
export { makeDeviceExclusive, type DeviceExclusiveResult } from './exclusive.js';
export {
  getUserPages,
  pinUserPages,
  unpinUserPages,
  putUserPages,
  migrateDeviceCoherentFolio,
  FOLL_PIN,
  type GupTestArgs,
  type GupTestCommand,
} from '../mm/gup.js';
export { hugetlbCounts } from '../mm/hugetlb.js';
