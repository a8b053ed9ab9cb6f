/**
 * Address-space teardown (mm/mmap.c exit_mmap), run by the last mmput.
 */
import { mmuNotifierRelease } from '../notifier/invalidate.js';
import { ULONG_MAX } from '../notifier/types.js';
import { unmapVmas } from './munmap.js';
import { vmaFree } from './vma-modify.js';
import type { Mm } from './mm.js';

/**
 * exit_mmap: the last user of `mm` is gone (mm_users is 0; mmgetNotZero fails from now on).
 *  1. mmu_notifier_release(mm) first: every interval subscription gets a RELEASE invalidation over
 *     [0, ULONG_MAX), every classic notifier its ->release, and the classic list is emptied.
 *  2. Under the mmap lock for read: if there is any VMA, one blockable MMU_NOTIFY_UNMAP invalidation
 *     over [0, ULONG_MAX) (owner null) around the zap of every VMA (unmap_vmas). Classic notifiers,
 *     already released, no longer see it; interval notifiers still inserted do.
 *  3. Under the mmap lock for write: the VMAs are removed and freed (file references dropped, which
 *     frees shmem files whose last mapping this was); the page table is empty afterwards.
 * Installed as MmStruct.exitMmap; called from mmput, which then drops mm_count. May sleep.
 */
export async function exitMmap(mm: Mm): Promise<void> {
  const sim = mm.sim;
  sim.mightSleep('exit_mmap');
  if (mm.users !== 0) sim.bug(`exit_mmap on ${mm.name} with mm_users ${mm.users}`);
  await mmuNotifierRelease(mm);
  await mm.mmapLock.downRead();
  const vmas = mm.vmas.toArray();
  if (vmas.length > 0) await unmapVmas(mm, vmas, 0, ULONG_MAX);
  mm.mmapLock.upRead();
  await mm.mmapLock.downWrite();
  for (const vma of vmas) {
    mm.vmas.remove(vma);
    vmaFree(vma);
  }
  if (mm.pageTable.entryPages !== 0)
    sim.bug(
      `exit_mmap: ${mm.name} still has ${mm.pageTable.entryPages} pages mapped after unmapping every VMA`,
    );
  mm.mmapLock.upWrite();
}
