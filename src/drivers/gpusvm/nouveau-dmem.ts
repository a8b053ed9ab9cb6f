/**
 * Nouveau's migration to VRAM (nouveau_dmem.c), for the `flavor: 'nouveau2019'` configuration of
 * the 'gpusvm' driver: SVM_BIND walks the VMAs of the request under the mmap read lock and migrates
 * each overlap in batches of `migrateBatchPages` (HPAGE_PMD_NR upstream): migrate_vma_setup
 * selecting system pages with this GPU as owner (a MIGRATE invalidation nouveau's own notifier
 * ignores), a VRAM page per collected source with its bytes copied (or cleared), migrate_vma_pages,
 * the GPU PTEs programmed at once under the svmm mutex (nouveau_pfns_map, before finalize, while the
 * pages are still locked under migration entries), migrate_vma_finalize.
 */
import { EINVAL } from '../../sim/errno.js';
import type { Vma } from '../../mm/vma.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnFlags,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../hmm/migrate-device.js';
import type { MigrateVma } from '../../hmm/types.js';
import type { NouveauSvmm } from './nouveau.js';
import { NOUVEAU_PARTIAL_MIGRATE } from './switches.js';

/**
 * nouveau_dmem_migrate_vma: migrates [start, end) of `vma` to VRAM batch by batch; a batch that
 * fails to set up ends the request with its -errno (SVM_BIND ignores it). Each batch ends at its own
 * start plus the batch size, clamped to `end` (the 2022 fix); with `gpusvm.nouveauPartialMigrate`
 * each batch ends at the request's start plus the batch size, so every batch after the first is
 * empty and setup refuses it. The caller holds the mmap lock for read (asserted). May sleep.
 */
export async function nouveauDmemMigrateVma(
  svmm: NouveauSvmm,
  vma: Vma,
  start: number,
  end: number,
): Promise<number> {
  const mm = svmm.mm;
  mm.assertMmapLocked('nouveau_dmem_migrate_vma');
  const sim = svmm.sim;
  const ps = svmm.kernel.pageSize;
  if (svmm.device.vram === null) return -EINVAL;
  const npages = (end - start) / ps;
  const max = Math.min(svmm.device.opts.migrateBatchPages, npages);
  const args: MigrateVma = {
    mm,
    vma,
    start,
    end: start,
    src: new Array<number>(max).fill(0),
    dst: new Array<number>(max).fill(0),
    cpages: 0,
    npages: 0,
    pgmapOwner: svmm.device,
    flags: MIGRATE_VMA_SELECT_SYSTEM,
  };
  for (let i = 0; i < npages; i += max) {
    if (sim.switchOn(NOUVEAU_PARTIAL_MIGRATE)) args.end = start + max * ps;
    else args.end = Math.min(args.start + max * ps, end);
    sim.mark('SVM_BIND batch');
    args.src.fill(0);
    args.dst.fill(0);
    const ret = await migrateVmaSetup(args);
    if (sim.tracing)
      sim.traceEvent(
        'migrate_vma_setup',
        `0x${args.start.toString(16)}`,
        ret === 0 ? `${args.cpages} collected` : `${args.end <= args.start ? 'empty' : 'error'} ${ret}`,
      );
    if (ret !== 0) return ret;
    if (args.cpages > 0) await migrateChunk(svmm, args);
    args.start = args.end;
  }
  return 0;
}

/**
 * nouveau_dmem_migrate_chunk + nouveau_pfns_map: a VRAM page per migratable source (a page VRAM
 * cannot give is left behind), its bytes copied from the source or cleared when there was none,
 * its zone_device_data set to the svmm; migrate_vma_pages; then under the svmm mutex the GPU maps
 * the pages that moved (writable when the source was); migrate_vma_finalize. Deviation: the GPU maps
 * only the pages migrate_vma_pages kept, where nouveau maps every page it prepared. The caller holds
 * the mmap lock for read. May sleep.
 */
async function migrateChunk(svmm: NouveauSvmm, args: MigrateVma): Promise<void> {
  args.mm.assertMmapLocked('nouveau_dmem_migrate_chunk');
  const k = svmm.kernel;
  const vram = svmm.device.vram!;
  const ps = k.pageSize;
  for (let i = 0; i < args.npages; i++) {
    const word = args.src[i];
    if (!(migratePfnFlags(word) & MIGRATE_PFN_MIGRATE)) continue;
    const dpfn = vram.allocPage();
    if (dpfn < 0) {
      vram.seen.allocFailures++;
      continue;
    }
    const spfn = migratePfnToPage(word);
    if (spfn >= 0) k.phys.copyPage(vram.dataPfn(dpfn), spfn);
    else k.phys.clearPage(vram.dataPfn(dpfn));
    vram.zoneDeviceData.set(dpfn, svmm);
    args.dst[i] = migratePfn(dpfn) + (migratePfnFlags(word) & MIGRATE_PFN_WRITE);
  }
  await migrateVmaPages(args);
  await svmm.mutex.lock();
  if (svmm.vmm) {
    for (let i = 0; i < args.npages; i++) {
      const dpfn = migratePfnToPage(args.dst[i]);
      if (dpfn < 0 || !(migratePfnFlags(args.src[i]) & MIGRATE_PFN_MIGRATE)) continue;
      svmm.mapPage(args.start + i * ps, dpfn, {
        write: (migratePfnFlags(args.dst[i]) & MIGRATE_PFN_WRITE) !== 0,
      });
    }
  }
  svmm.mutex.unlock();
  await migrateVmaFinalize(args);
  vram.seen.migratedToVram++;
}
