/**
 * The 2019 mm the legacy designs ran against, where it differs from the model's: exit_mmap ran the
 * notifier release and then freed every VMA (remove_vma) without taking the mmap lock, because no
 * one could reach an mm whose mm_users was zero. A walker holding only a grab on the mm (mm_count)
 * and the mmap lock could therefore still be inside a VMA that exit_mmap freed: seed 004's
 * "mmput() destruction does not respect the mmap_sem".
 *
 * A legacy driver installs this exit_mmap on the mm it attaches to, and looks VMAs up through
 * `findVma2019`, which hands out a heap object per VMA that the 2019 exit_mmap frees. A walker
 * that dereferences it after exit_mmap freed it is a use-after-free.
 *
 * Deviation: after marking the VMAs freed, the model's own exit_mmap still runs (under the mmap
 * lock, as today's kernel does) so that the model's page tables and VMA tree stay consistent; it
 * calls the notifier release a second time, which finds no classic notifier left.
 */
import type { Mm } from '../../mm/mm.js';
import type { MmStruct } from '../../mm/mm-struct.js';
import type { Vma } from '../../mm/vma.js';
import { exitMmap } from '../../mm/exit.js';
import { mmuNotifierRelease } from '../../notifier/invalidate.js';

/** Per run (Simulation.runMap): the kmalloc'd memory standing for each VMA, and the mms done. */
const VMA_MEMORY = Symbol('2019 vma memory');
const INSTALLED = Symbol('2019 exit_mmap installed');

const hex = (n: number): string => `0x${n.toString(16)}`;

function memoryOf(mm: Mm, vma: Vma): object {
  const vmaMemory = mm.sim.runMap<Vma, object>(VMA_MEMORY);
  let o = vmaMemory.get(vma);
  if (o === undefined) {
    o = mm.sim.kalloc({ vma: vma.start }, `vma ${hex(vma.start)}`);
    vmaMemory.set(vma, o);
  }
  return o;
}

/**
 * Installs the 2019 exit_mmap on `mm` (once): mmu_notifier_release, then each VMA freed
 * (remove_vma, a scheduling point each) with no mmap lock, then the model's teardown. Atomic.
 */
export function installExitMmap2019(mm: Mm): void {
  const installed = mm.sim.runMap<Mm, true>(INSTALLED);
  if (installed.has(mm)) return;
  installed.set(mm, true);
  const sim = mm.sim;
  // Named first, then stored (see the no-restricted-syntax rule in eslint.config.js).
  const exitMmap2019 = async (m: MmStruct): Promise<void> => {
    const mmm = m as Mm;
    await mmuNotifierRelease(mmm);
    for (const vma of mmm.vmas.toArray()) {
      await sim.point('remove_vma', hex(vma.start));
      sim.kfree(memoryOf(mmm, vma));
    }
    await exitMmap(mmm);
  };
  mm.exitMmap = exitMmap2019;
}

/**
 * find_vma(mm, va) as a 2019 walker does it, then a dereference of the VMA it found (a scheduling
 * point between the two, the rb-tree walk): a use-after-free when the 2019 exit_mmap freed the VMA
 * meanwhile. Gives the VMA containing `va` or undefined. The caller holds the mmap lock; whether
 * it also holds mm_users is the point. May sleep.
 */
export async function findVma2019(mm: Mm, va: number, who: string): Promise<Vma | undefined> {
  mm.assertMmapLocked('find_vma');
  const vma = mm.vmas.lookup(va);
  if (vma === undefined) return undefined;
  const mem = memoryOf(mm, vma);
  await mm.sim.point('find_vma', hex(va));
  mm.sim.use(mem, `find_vma(${hex(va)}) in ${who}`);
  return vma;
}

/**
 * A later dereference of `vma` by a 2019 walker (handle_mm_fault on it after find_vma): a
 * use-after-free when the 2019 exit_mmap freed it meanwhile. Atomic.
 */
export function touchVma2019(mm: Mm, vma: Vma, who: string): void {
  mm.sim.use(memoryOf(mm, vma), `${who} on vma ${hex(vma.start)}`);
}
