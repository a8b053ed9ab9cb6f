/**
 * A GPU SVM driver that removes a subscription from inside its own invalidate callback: on an UNMAP
 * it calls mmu_interval_notifier_remove() on the notifier being invalidated, where drm_gpusvm
 * marks the range unmapped and leaves the removal to its garbage collector (and seed 002's design
 * uses remove_deferred). remove() waits for the invalidation in progress to finish, which is the
 * one calling it: lockdep's recursive acquisition of the invalidate-start map, and a hang.
 *
 * The GPU creates its notifier on its first fault (as drm_gpusvm does) and faults with the
 * canonical loop (read_begin, page-table read under the mmap lock, driver lock, read_retry, map).
 * `removeInCallback: false` is the fix: the callback only zaps and marks the notifier for the
 * fault path's garbage collection, which removes it outside any callback.
 */
import { EFAULT } from '../../sim/errno.js';
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { PTE_KIND_PRESENT, PTE_WRITE } from '../../mm/page-table.js';
import {
  MMU_NOTIFY_UNMAP,
  mmuIntervalNotifierInsert,
  type MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
} from '../../notifier/index.js';
import { DeviceMirror } from '../../drivers/mirror/device-mirror.js';

class SvmGpu extends DeviceMirror {
  readonly lock: Mutex;
  sub: MmuIntervalNotifier | null = null;
  /** Notifiers an UNMAP emptied, removed by the next fault (the garbage collector). */
  readonly garbage: MmuIntervalNotifier[] = [];

  readonly ops: MmuIntervalNotifierOps = {
    invalidate: async (sub, range, curSeq) => {
      if (!range.blockable) return false;
      await this.lock.lock();
      sub.setSeq(curSeq);
      this.unmapRange(Math.max(range.start, sub.start), Math.min(range.end, sub.last + 1));
      // An UNMAP empties the notifier: drop it (unless teardown already took it).
      const unmap = range.event === MMU_NOTIFY_UNMAP && this.sub === sub;
      if (unmap) this.sub = null;
      this.lock.unlock();
      if (unmap) {
        if (this.removeInCallback) await sub.remove();
        else this.garbage.push(sub);
      }
      return true;
    },
  };

  constructor(
    k: Kernel,
    p: Process,
    readonly removeInCallback: boolean,
  ) {
    super(k, 'gpu0', p);
    this.lock = new Mutex(k.sim, 'gpu0.svm_lock');
  }

  protected override async fault(va: number, write: boolean): Promise<number> {
    const mm = this.mm;
    const ps = this.kernel.pageSize;
    for (const g of this.garbage.splice(0)) await g.remove();
    if (this.sub === null)
      this.sub = await mmuIntervalNotifierInsert(mm, va - (va % ps), ps, this.ops, {
        name: `gpu0@0x${va.toString(16)}`,
      });
    const sub = this.sub;
    const seq = await sub.readBegin();
    await mm.mmapLock.downRead();
    const pt = mm.pageTable;
    const present = pt.kindAt(va) === PTE_KIND_PRESENT;
    const pfn = present ? pt.pfnAt(va) : -1;
    const writable = present && (pt.flagsAt(va) & PTE_WRITE) !== 0;
    mm.mmapLock.upRead();
    if (!present || (write && !writable)) return -EFAULT;
    await this.lock.lock();
    if (sub.readRetry(seq)) {
      this.lock.unlock();
      return 0;
    }
    this.mapPage(va, pfn, { write: writable });
    this.lock.unlock();
    return 0;
  }

  async unload(): Promise<void> {
    for (const g of this.garbage.splice(0)) await g.remove();
    const s = this.sub;
    this.sub = null;
    if (s !== null) await s.remove();
    this.retire();
  }
}

/** A GPU faults a page while the process unmaps it. */
export function removeInCallbackScenario(options: { removeInCallback?: boolean } = {}): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 64 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let gpu: SvmGpu | null = null;
    const ready = new Completion(sim, 'gpu ready');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 2 * ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array(2 * ps).fill(1));
      gpu = new SvmGpu(k, p, options.removeInCallback ?? true);
      ready.completeAll();
      await p.munmap(a, ps);
    });
    sim.spawn('gpu0', async () => {
      await ready.wait();
      await gpu!.access(a, 'read', 1);
      await gpu!.access(a + ps, 'read', 1);
      await gpu!.unload();
    });
  };
}
