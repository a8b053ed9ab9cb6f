/**
 * A toy device mirroring a real process address space of the memory model, on the shared
 * DeviceMirror base: the device walks the CPU page table (faulting pages in under the mmap
 * lock, as hmm_range_fault does), programs its own table va → pfn under its lock after
 * read_retry (`mapPage`), and zaps from its interval-notifier callback (`unmapRange`). The
 * checkers of src/check watch it as they watch every DeviceMirror: coherence and page
 * lifetime at each map, each device access and every CPU page-table change.
 *
 * The planted mistakes are switches in this driver, off by default.
 */
import { mmuIntervalNotifierInsert, type MmuIntervalNotifier } from '../../notifier/index.js';
import type { MmuNotifierRange } from '../../notifier/types.js';
import { EFAULT } from '../../sim/errno.js';
import { Completion } from '../../sim/sync/completion.js';
import { Mutex } from '../../sim/sync/mutex.js';
import type { SetupFn } from '../../sim/simulation.js';
import { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { handleMmFault } from '../../mm/fault.js';
import { pteTag } from '../../mm/mm-struct.js';
import {
  FAULT_FLAG_WRITE,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  VM_FAULT_ERROR,
} from '../../mm/constants.js';
import { PTE_KIND_PRESENT, PTE_WRITE } from '../../mm/page-table.js';
import { DeviceMirror } from '../../drivers/mirror/device-mirror.js';

/** Mistakes the driver can be built with. */
export interface MmMirrorMistakes {
  /** The callback zaps but never calls setSeq. */
  noSetSeq?: boolean;
  /** The callback returns without zapping the device entries. */
  noZap?: boolean;
}

const MAX_TRIES = 16;

/** The device: its lock and its subscription over [start, start + length); the table is the base's. */
export class MmMirror extends DeviceMirror {
  readonly lock: Mutex;
  sub: MmuIntervalNotifier | null = null;
  private start = 0;
  private end = 0;

  constructor(
    kernel: Kernel,
    name: string,
    process: Process,
    readonly mistakes: MmMirrorMistakes = {},
  ) {
    super(kernel, name, process);
    this.lock = new Mutex(this.sim, `${name}.lock`);
  }

  /** Subscribes over the process range, inside an mmget_not_zero reference. May sleep. */
  async init(start: number, length: number): Promise<void> {
    if (!this.mm.mmgetNotZero()) return;
    this.start = start;
    this.end = start + length;
    this.sub = await mmuIntervalNotifierInsert(
      this.mm,
      start,
      length,
      { invalidate: (sub, range, curSeq) => this.invalidate(sub, range, curSeq) },
      { name: this.name },
    );
    await this.mm.mmput();
  }

  private async invalidate(
    sub: MmuIntervalNotifier,
    range: MmuNotifierRange,
    curSeq: number,
  ): Promise<boolean> {
    if (range.blockable) await this.lock.lock();
    else if (!(await this.lock.trylock())) return false;
    if (!this.mistakes.noSetSeq) sub.setSeq(curSeq);
    if (!this.mistakes.noZap) this.unmapRange(range.start, range.end);
    this.lock.unlock();
    return true;
  }

  /**
   * The DeviceMirror fault hook, taken by a device access that misses: the collision-retry loop
   * around a page-table walk that faults the page in (handle_mm_fault under the mmap read lock),
   * then `mapPage` under the device lock after read_retry. Returns 0 or -EFAULT. No locks held.
   * May sleep.
   */
  protected async fault(va: number, write: boolean): Promise<number> {
    const mm = this.mm;
    const sub = this.sub;
    if (sub === null || !mm.mmgetNotZero()) return -EFAULT;
    try {
      for (let tries = 0; tries < MAX_TRIES; tries++) {
        if (tries > 0) this.sim.mark('device fault retried');
        const seq = await sub.readBegin();
        await mm.mmapLock.downRead();
        const vma = mm.vmas.find(va);
        if (vma === undefined || vma.start > va) {
          mm.mmapLock.upRead();
          return -EFAULT;
        }
        const pt = mm.pageTable;
        const ok = (): boolean => {
          // For dpor: a lockless read of the CPU page table (zaps change it under the PTL only).
          this.sim.touch(pteTag(mm, va), true);
          return pt.kindAt(va) === PTE_KIND_PRESENT && (!write || (pt.flagsAt(va) & PTE_WRITE) !== 0);
        };
        if (!ok()) {
          const ret = await handleMmFault(mm, vma, va, write ? FAULT_FLAG_WRITE : 0);
          if (ret & VM_FAULT_ERROR) {
            mm.mmapLock.upRead();
            return -EFAULT;
          }
        }
        await this.sim.point('device_walk', `0x${va.toString(16)}`);
        if (sub.checkRetry(seq)) {
          // hmm_range_fault gives -EBUSY once the range collided: the walk is not trusted.
          mm.mmapLock.upRead();
          continue;
        }
        const present = ok();
        const pfn = pt.pfnAt(va);
        mm.mmapLock.upRead();
        if (!present) continue;
        await this.lock.lock();
        if (sub.readRetry(seq)) {
          this.lock.unlock();
          continue;
        }
        this.mapPage(va, pfn, { write });
        this.lock.unlock();
        return 0;
      }
      this.sim.check(false, `${this.name}: fault on 0x${va.toString(16)} did not converge`);
      return -EFAULT;
    } finally {
      await mm.mmput();
    }
  }

  /**
   * Stops the device (its table emptied under its lock), unsubscribes, then retires the device
   * page table from the checkers. May sleep.
   */
  async teardown(): Promise<void> {
    await this.lock.lock();
    this.unmapRange(this.start, this.end);
    this.lock.unlock();
    if (this.sub !== null) await this.sub.remove();
    this.retire();
  }
}

/**
 * A process with four anonymous pages mirrored by a device that faults them (two for
 * write) while the CPU forks and writes (copy-on-write: CLEAR), zaps a page with
 * MADV_DONTNEED (CLEAR), write-protects half the range (PROTECTION_VMA) and unmaps a page
 * (UNMAP).
 */
export function mmMirrorScenario(mistakes: MmMirrorMistakes = {}): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 256, swapPages: 64 });
    const p = k.createProcess('app');
    const page = k.pageSize;
    const len = 4 * page;
    let base = 0;
    let dev: MmMirror | null = null;
    const ready = new Completion(sim, 'mirror ready');
    sim.spawn('app', async () => {
      const addr = await p.mmap({
        length: len,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS,
      });
      sim.check(addr > 0, `mmap failed: ${addr}`);
      base = addr;
      await p.write(base, new Uint8Array(len).fill(7));
      dev = new MmMirror(k, 'dev0', p, mistakes);
      await dev.init(base, len);
      ready.completeAll();
      const child = await p.fork();
      await p.write(base, new Uint8Array([1])); // COW break in the parent
      await p.madvise(base + page, page, MADV_DONTNEED);
      await p.munmap(base + 3 * page, page);
      await child.exit(0);
      await child.wait();
    });
    sim.spawn('dev0', async () => {
      await ready.wait();
      const d = dev!;
      for (const [va, write] of [
        [base, true],
        [base + page, false],
        [base + 2 * page, true],
      ] as const) {
        const ret = await d.access(va, write ? 'write' : 'read', write ? new Uint8Array([7]) : 1);
        sim.check(
          ret instanceof Uint8Array || ret === 0,
          `dev0: access to 0x${va.toString(16)} failed: ${String(ret)}`,
        );
      }
      await d.teardown();
    });
  };
}
