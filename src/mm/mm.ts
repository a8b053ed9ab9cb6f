/**
 * The memory model's mm_struct: MmStruct (users/count, mmap lock, notifier container) extended with
 * the page table (mm->pgd), the VMAs (mm->mm_mt), the page-table lock and the kernel it belongs to.
 */
import { SpinLock } from '../sim/sync/spinlock.js';
import { MmStruct } from './mm-struct.js';
import { PageTable } from './page-table.js';
import { VmaTree } from './vma.js';
import { exitMmap } from './exit.js';
import type { Kernel } from './kernel.js';

/**
 * The page-table lock: a spinlock whose release frees the PTE tables left empty while it was held
 * (the kernel keeps them until free_pgtables; see the PageTable deviation).
 */
class PageTableLock extends SpinLock {
  constructor(
    sim: Kernel['sim'],
    name: string,
    private readonly table: PageTable,
  ) {
    super(sim, name);
  }

  /** spin_unlock(), then the empty tables it held are freed. */
  override unlock(): void {
    super.unlock();
    this.table.reapEmptyTables();
  }
}

/** MmStruct.exitMmap of every Mm (one function for all, no closure per mm). */
const exitMmapOfMm = (mm: MmStruct): Promise<void> => exitMmap(mm as Mm);

/**
 * struct mm_struct of the memory model. Its `exitMmap` is exit_mmap (installed at construction): the
 * last mmput runs it (notifier release first, then the teardown).
 *
 * Locking: `mmapLock` (mmap_lock) protects the VMA tree (read to look up, write to change); `ptl`
 * protects the page table. Deviation: one page-table lock per mm stands in for the kernel's split PTE
 * locks (one per PTE table) and the PMD lock; it serialises more than the kernel does, never less.
 * Lockless readers (the CPU's hardware walk, hmm_range_fault's walk) read the table without it, as in
 * the kernel.
 */
export class Mm extends MmStruct {
  /** The CPU page table (pgd .. pte); changed under `ptl`, read locklessly by hardware walks. */
  readonly pageTable: PageTable;
  /** The VMAs (the mm's maple tree); changed with `mmapLock` held for write. */
  readonly vmas: VmaTree;
  /** The page-table lock (mm->page_table_lock standing in for the split PTE/PMD locks). */
  readonly ptl: SpinLock;
  /**
   * MMF_UNSTABLE: set by the OOM reaper once it has zapped memory behind the owner's back.
   * Faults that would fill a page then fail with SIGBUS (check_stable_address_space), so
   * that a victim never silently reads zeros where its data was.
   */
  unstable = false;

  constructor(
    /** The kernel whose memory the address space maps. */
    readonly kernel: Kernel,
    name: string,
  ) {
    super(kernel.sim, name);
    this.pageTable = new PageTable({ pageShift: kernel.pageShift, buffers: kernel.sim.buffers });
    this.vmas = new VmaTree({
      pageShift: kernel.pageShift,
      mmapBase: kernel.mmapBase,
      mmapMinAddr: kernel.mmapMinAddr,
    });
    const ptl = new PageTableLock(kernel.sim, 'page_table_lock', this.pageTable);
    this.ptl = ptl;
    // Named first, then stored (see the no-restricted-syntax rule in eslint.config.js).
    const holdEmptyTables = (): boolean => ptl.owner !== null;
    this.pageTable.holdEmptyTables = holdEmptyTables;
    this.exitMmap = exitMmapOfMm;
  }

  /** get_mm_rss + MM_SWAPENTS, approximated from the page table: pages mapped by any entry. */
  get rssPages(): number {
    return this.pageTable.entryPages;
  }

  /** mm->map_count. */
  get mapCount(): number {
    return this.vmas.count;
  }
}

export { mmapAssertLocked, mmapAssertWriteLocked, pteTag } from './mm-struct.js';
