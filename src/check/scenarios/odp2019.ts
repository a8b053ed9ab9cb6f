/**
 * ODP before the 2019 conversion (seed 004's removed code): each
 * umem keeps its own fault-versus-invalidate check modelled on KVM's: `notifiersCount` (raised in
 * invalidate_range_start, lowered in _end), `notifiersSeq` (bumped in _end) and a completion that
 * the last _end completes. The fault reads the sequence, pins the page with GUP, takes
 * `umem_mutex` and maps only when ib_umem_mmu_notifier_retry() says no invalidation ran or runs;
 * otherwise it fails with -EAGAIN, waits for the completion with a timeout
 * (MMU_NOTIFIER_TIMEOUT) and faults again.
 *
 * The planted mistake, `mapOnTimeout`: the timeout path, having warned ("timeout waiting for mmu
 * notifier"), goes on to program the pages its stale walk pinned instead of faulting again. An
 * invalidation that is still running (its start zapped the device, its end has not run) or that
 * ran between the pin and the check leaves the device mapping a page the CPU no longer maps.
 *
 * Deviation: one MR per mm behind one classic notifier (the per-ucontext tree is left out), and the
 * timeout is short virtual time so that an exploration reaches it.
 */
import { EAGAIN, EFAULT } from '../../sim/errno.js';
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { Mutex } from '../../sim/sync/mutex.js';
import {
  FOLL_WRITE,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { pinUserPages, unpinUserPages } from '../../mm/gup.js';
import { mmuNotifierRegister } from '../../notifier/classic.js';
import type { MmuNotifierRange } from '../../notifier/types.js';
import { DeviceMirror } from '../../drivers/mirror/device-mirror.js';
import { watchDmaList } from '../mirror-checker.js';

/** The planted mistake of the scenario (false: the 2019 code, which faults again). */
export interface Odp2019Bugs {
  mapOnTimeout?: boolean;
}

/** An ODP MR with the pre-2019 counter/sequence/completion scheme. */
export class Odp2019Mr extends DeviceMirror {
  notifiersCount = 0;
  notifiersSeq = 0;
  readonly notifierCompletion: Completion;
  readonly umemMutex: Mutex;
  /** Pinned pages (the umem's page_list). */
  readonly pinned = new Map<number, number>();
  /** Faults that met the timeout. */
  timeouts = 0;

  constructor(
    k: Kernel,
    name: string,
    p: Process,
    readonly start: number,
    readonly end: number,
    readonly bugs: Odp2019Bugs,
    readonly timeoutNs: number,
  ) {
    super(k, name, p);
    this.notifierCompletion = new Completion(k.sim, `${name}.notifier_completion`);
    this.notifierCompletion.completeAll();
    this.umemMutex = new Mutex(k.sim, `${name}.umem_mutex`);
    watchDmaList(k, { name: `${name}.page_list`, mm: this.mm, pages: this.pinned });
  }

  /** ib_umem_notifier_start_account + the zap (invalidate_range_start). May sleep. */
  async invalidateStart(range: MmuNotifierRange): Promise<number> {
    if (!range.blockable) return -EAGAIN;
    if (range.end <= this.start || range.start >= this.end) return 0;
    await this.umemMutex.lock();
    if (this.notifiersCount++ === 0) this.notifierCompletion.reinit();
    const s = Math.max(range.start, this.start);
    const e = Math.min(range.end, this.end);
    this.unmapRange(s, e);
    for (const [va, pfn] of [...this.pinned])
      if (va >= s && va < e) {
        this.pinned.delete(va);
        unpinUserPages(this.kernel, [pfn]);
      }
    this.umemMutex.unlock();
    return 0;
  }

  /** ib_umem_notifier_end_account (invalidate_range_end). May sleep. */
  async invalidateEnd(range: MmuNotifierRange): Promise<void> {
    if (range.end <= this.start || range.start >= this.end) return;
    await this.umemMutex.lock();
    this.notifiersSeq++;
    if (--this.notifiersCount === 0) this.notifierCompletion.completeAll();
    this.umemMutex.unlock();
  }

  /** pagefault_mr: sequence, GUP, retry check under umem_mutex, map; -EAGAIN waits and faults again. */
  protected override async fault(va: number, write: boolean): Promise<number> {
    void write;
    if (va < this.start || va >= this.end) return -EFAULT;
    const sim = this.sim;
    const mm = this.mm;
    const currentSeq = this.notifiersSeq;
    if (!mm.mmgetNotZero()) return -EFAULT;
    const pages: number[] = [];
    await mm.mmapLock.downRead();
    const got = await pinUserPages(mm, va, 1, FOLL_WRITE, pages);
    mm.mmapLock.upRead();
    await mm.mmput();
    if (got !== 1) return got < 0 ? got : -EFAULT;
    let stale = false;
    for (;;) {
      await this.umemMutex.lock();
      const retry = this.notifiersCount !== 0 || this.notifiersSeq !== currentSeq;
      if (!retry || stale) {
        const old = this.pinned.get(va);
        if (old !== undefined) unpinUserPages(this.kernel, [old]);
        this.pinned.set(va, pages[0]);
        this.mapPage(va, pages[0], { write: true });
        this.umemMutex.unlock();
        return 0;
      }
      this.umemMutex.unlock();
      // -EAGAIN: wait for the running invalidations, with a timeout, then fault again.
      const left = await this.notifierCompletion.waitTimeout(this.timeoutNs);
      if (left === 0) {
        this.timeouts++;
        sim.note('timeout waiting for mmu notifier');
      }
      if (left !== 0 || !this.bugs.mapOnTimeout) {
        unpinUserPages(this.kernel, pages);
        return 0; // DeviceMirror.access faults again
      }
      stale = true; // the planted path: program the page the stale walk pinned
    }
  }
}

/**
 * The scenario: a NIC faults a page of its MR while the CPU zaps it twice (MADV_DONTNEED, a CLEAR
 * each); a GPU's notifier on the same mm waits for its fences inside each invalidation, so a fault
 * waiting for the completion times out.
 */
export function odp2019Scenario(bugs: Odp2019Bugs = {}): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 64 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let mr: Odp2019Mr | null = null;
    const ready = new Completion(sim, 'mr ready');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array([1]));
      const m = new Odp2019Mr(k, 'mlx0.mr0', p, a, a + ps, bugs, 2_000);
      mr = m;
      // Another secondary MMU on the same mm whose invalidation waits for its device (radeon_mn
      // waits for the fences of the BOs): the invalidation stays open longer than the timeout. Registered first, it is walked after the MR's.
      await mmuNotifierRegister(p.mm, {
        invalidateRangeStart: async () => {
          await sim.sleep(5_000, 'gpu fence wait');
          return 0;
        },
      });
      await mmuNotifierRegister(p.mm, {
        invalidateRangeStart: (range) => m.invalidateStart(range),
        invalidateRangeEnd: (range) => m.invalidateEnd(range),
      });
      ready.completeAll();
      await p.madvise(a, ps, MADV_DONTNEED);
      await p.write(a, new Uint8Array([2]));
      await p.madvise(a, ps, MADV_DONTNEED);
    });
    sim.spawn('mlx0', async () => {
      await ready.wait();
      await mr!.access(a, 'read', 1);
      await mr!.access(a, 'read', 1);
    });
  };
}
