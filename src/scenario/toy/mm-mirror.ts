/**
 * A toy device mirroring a real process address space of the memory model: the device
 * walks the CPU page table (faulting pages in under the mmap lock, as hmm_range_fault
 * does), programs its own table va → pfn under its lock after read_retry, and zaps from
 * its interval-notifier callback. The coherence checker watches every CPU page-table
 * change: a device entry may exist only while the CPU translation yields the same page
 * with at least the device's permission.
 *
 * A stand-in until the HMM layer and the DeviceMirror base exist; the planted mistakes
 * are switches in this driver, off by default.
 */
import { mmuIntervalNotifierInsert, type MmuIntervalNotifier } from '../../notifier/index.js';
import type { MmuNotifierRange } from '../../notifier/types.js';
import { EFAULT } from '../../sim/errno.js';
import { Completion } from '../../sim/sync/completion.js';
import { Mutex } from '../../sim/sync/mutex.js';
import type { Simulation, SetupFn } from '../../sim/simulation.js';
import { Kernel } from '../../mm/kernel.js';
import type { Mm } from '../../mm/mm.js';
import { handleMmFault } from '../../mm/fault.js';
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

/** Mistakes the driver can be built with. */
export interface MmMirrorMistakes {
  /** The callback zaps but never calls setSeq. */
  noSetSeq?: boolean;
  /** The callback returns without zapping the device entries. */
  noZap?: boolean;
}

const MAX_TRIES = 16;

interface DeviceEntry {
  pfn: number;
  write: boolean;
}

/** The device: its page table, its lock and its subscription over [start, start + length). */
export class MmMirror {
  readonly entries = new Map<number, DeviceEntry>();
  readonly lock: Mutex;
  sub: MmuIntervalNotifier | null = null;

  constructor(
    readonly sim: Simulation,
    readonly mm: Mm,
    readonly name: string,
    readonly mistakes: MmMirrorMistakes = {},
  ) {
    this.lock = new Mutex(sim, `${name}.lock`);
    const k = mm.kernel;
    // Coherence: checked after every CPU page-table change (the PTE lock is held).
    k.hooks.onPteChange.push((m, va, huge) => {
      if (m !== this.mm) return;
      const span = huge ? k.pmdSize : k.pageSize;
      for (let a = va - (va % span); a < va - (va % span) + span; a += k.pageSize) this.checkCoherent(a);
    });
  }

  private cpuAllows(va: number, e: DeviceEntry): boolean {
    const pt = this.mm.pageTable;
    if (pt.kindAt(va) !== PTE_KIND_PRESENT || pt.pfnAt(va) !== e.pfn) return false;
    return !e.write || (pt.flagsAt(va) & PTE_WRITE) !== 0;
  }

  private checkCoherent(va: number): void {
    const e = this.entries.get(va);
    if (e === undefined || this.cpuAllows(va, e)) return;
    this.sim.report(
      'stale-mapping',
      `${this.name} maps 0x${va.toString(16)} → pfn ${e.pfn}${e.write ? ' (write)' : ''} but the CPU now has ` +
        this.mm.pageTable.describe(va),
      { key: `${this.name} stale device mapping` },
    );
  }

  /** Subscribes over the process range, inside an mmget_not_zero reference. May sleep. */
  async init(start: number, length: number): Promise<void> {
    if (!this.mm.mmgetNotZero()) return;
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
    if (!this.mistakes.noZap) {
      for (const va of [...this.entries.keys()])
        if (va >= range.start && va < range.end && this.entries.delete(va) && this.sim.tracing)
          this.sim.traceEvent('device_unmap', `0x${va.toString(16)}`, this.name);
    }
    this.lock.unlock();
    return true;
  }

  /**
   * A device access that misses: the collision-retry loop around a page-table walk that faults the
   * page in (handle_mm_fault under the mmap read lock). Returns 0 or -EFAULT. May sleep.
   */
  async fault(va: number, write: boolean): Promise<number> {
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
        const want: DeviceEntry = { pfn: -1, write };
        const pt = mm.pageTable;
        const ok = () => pt.kindAt(va) === PTE_KIND_PRESENT && (!write || (pt.flagsAt(va) & PTE_WRITE) !== 0);
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
        want.pfn = pt.pfnAt(va);
        mm.mmapLock.upRead();
        if (!present) continue;
        await this.lock.lock();
        if (sub.readRetry(seq)) {
          this.lock.unlock();
          continue;
        }
        if (this.sim.tracing)
          this.sim.traceEvent('device_map', `0x${va.toString(16)}`, `${this.name} → pfn ${want.pfn}`);
        this.entries.set(va, want);
        this.checkCoherent(va);
        this.lock.unlock();
        return 0;
      }
      this.sim.check(false, `${this.name}: fault on 0x${va.toString(16)} did not converge`);
      return -EFAULT;
    } finally {
      await mm.mmput();
    }
  }

  /** Stops the device and unsubscribes. May sleep. */
  async teardown(): Promise<void> {
    await this.lock.lock();
    this.entries.clear();
    this.lock.unlock();
    if (this.sub !== null) await this.sub.remove();
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
      dev = new MmMirror(sim, p.mm, 'dev0', mistakes);
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
      await d.fault(base, true);
      await d.fault(base + page, false);
      await d.fault(base + 2 * page, true);
      await d.teardown();
    });
  };
}
