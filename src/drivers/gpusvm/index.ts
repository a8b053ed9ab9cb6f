/**
 * GPU shared virtual memory (drivers/gpu/drm/drm_gpusvm.c with an xe-like driver; nouveau_svm.c's
 * 2019 flow as a flavor), registered as driver 'gpusvm'.
 *
 * Kernel → model names:
 *   struct drm_gpusvm → GpuSvm; drm_gpusvm_notifier → GpuSvmNotifier; drm_gpusvm_range → GpuSvmRange;
 *   drm_gpusvm_range_find_or_insert → findOrInsert; drm_gpusvm_range_get_pages → getPages;
 *   drm_gpusvm_notifier_invalidate + xe_svm_invalidate → notifierInvalidate;
 *   xe_svm_garbage_collector → garbageCollect; drm_gpusvm_range_remove → rangeRemove;
 *   drm_gpusvm_fini → detach; struct nouveau_svmm → NouveauSvmm; nouveau_range_fault → its fault;
 *   nouveau_svmm_bind → svmBind; nouveau_dmem_migrate_vma → nouveauDmemMigrateVma.
 * Real bugs behind run switches: switches.ts.
 */
export { GpuSvmDevice, type GpuSvmBugs, type GpuSvmOptions } from './device.js';
export { GpuSvm, GpuSvmNotifier, GpuSvmRange } from './gpusvm.js';
export { NouveauSvmm } from './nouveau.js';
export { nouveauDmemMigrateVma } from './nouveau-dmem.js';
export { NOUVEAU_PARTIAL_MIGRATE, GPUSVM_REMOVE_IN_CALLBACK, XE_NO_TIMESLICE } from './switches.js';
export type { GpuVram, VramClient } from './vram.js';
