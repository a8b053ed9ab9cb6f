/**
 * The OOM killer and reaper (src/mm/oom-kill.ts): the victim's private memory is freed before it
 * exits, with non-blockable UNMAP invalidations that a notifier may refuse (that VMA is left alone and
 * the reap retried), and the exit that follows frees the rest exactly once.
 */
import { describe, expect, it } from 'vitest';

import { explore } from '../../src/explore/index.js';
import { EAGAIN, EFAULT, ESRCH } from '../../src/sim/errno.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  FAULT_FLAG_WRITE,
  VM_FAULT_SIGBUS,
} from '../../src/mm/constants.js';
import { Kernel } from '../../src/mm/kernel.js';
import { handleMmFault } from '../../src/mm/fault.js';
import { PTE_KIND_PRESENT } from '../../src/mm/page-table.js';
import { mmuNotifierRegister } from '../../src/notifier/classic.js';
import type { MmuNotifierRange } from '../../src/notifier/types.js';
import type { Process } from '../../src/mm/process.js';
import { MAX_OOM_REAP_RETRIES, OOM_REAP_RETRY_NS, mmOomFlags, oomKill } from '../../src/mm/oom-kill.js';
import { expectOk, fill, PAGE, recordNotifier, runKernel, starts } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;
const A = 0x40000000;
const B = 0x50000000;
const S = 0x60000000;

async function mapTouched(
  p: Process,
  addr: number,
  npages: number,
  flags = MAP_PRIVATE | MAP_ANONYMOUS,
): Promise<void> {
  expect(await p.mmap({ addr, length: npages * PAGE, prot: RW, flags: flags | MAP_FIXED })).toBe(addr);
  for (let i = 0; i < npages; i++) expect(await p.write(addr + i * PAGE, fill(8, i + 1))).toBe(0);
}

describe('OOM reaper', () => {
  it('frees private memory before the victim exits; the exit frees the rest once', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('victim');
      await mapTouched(p, A, 16);
      await mapTouched(p, S, 4, MAP_SHARED | MAP_ANONYMOUS);
      const allocated = k.phys.nrAllocated;
      const seen = await recordNotifier(p.mm);
      // A thread of the victim stuck in the kernel keeps the address space alive (mm_users).
      p.mm.mmget();
      expect(await oomKill(k, p)).toBe(0);
      expect(p.state).toBe('zombie');
      expect(p.mm.users).toBe(1);
      expect(k.phys.nrAllocated).toBe(allocated - 16);
      expect(p.mm.pageTable.kindAt(A)).not.toBe(PTE_KIND_PRESENT);
      expect(p.mm.pageTable.kindAt(S)).toBe(PTE_KIND_PRESENT); // shared: left to exit
      expect(starts(seen)).toEqual([['MMU_NOTIFY_UNMAP', A, A + 16 * PAGE, false, null]]);
      expect(seen.filter((s) => s.what === 'end')).toEqual([
        {
          what: 'end',
          event: 'MMU_NOTIFY_UNMAP',
          start: A,
          end: A + 16 * PAGE,
          blockable: false,
          owner: null,
        },
      ]);
      expect(mmOomFlags(p.mm)).toEqual({ victim: true, unstable: true, skip: true, attempts: 1 });
      // The stuck thread touching reaped memory gets SIGBUS, never silent zeros
      // (check_stable_address_space); the shared mapping still reads its data.
      await p.mm.mmapLock.downRead();
      const vma = p.mm.vmas.find(A)!;
      expect(await handleMmFault(p.mm, vma, A, 0)).toBe(VM_FAULT_SIGBUS);
      expect(await handleMmFault(p.mm, vma, A + PAGE, FAULT_FLAG_WRITE)).toBe(VM_FAULT_SIGBUS);
      expect(p.mm.pageTable.kindAt(A)).not.toBe(PTE_KIND_PRESENT);
      p.mm.mmapLock.upRead();
      await p.mm.mmput();
      expect(k.phys.nrAllocated).toBe(0);
      expect(await p.wait()).toEqual({ pid: p.pid, code: 0, signal: 9 });
      expect(await oomKill(k, p)).toBe(-ESRCH);
      k.phys.validate();
    });
    expectOk(run);
  });

  it('skips a VMA whose notifier refuses, retries the bounded number of times, reaps the others', async () => {
    const run = await runKernel(async (k, sim) => {
      const p = k.createProcess('victim');
      await mapTouched(p, A, 4);
      await mapTouched(p, B, 4);
      const seen = await recordNotifier(p.mm);
      let refused = 0;
      await mmuNotifierRegister(p.mm, {
        invalidateRangeStart(r: MmuNotifierRange) {
          if (!r.blockable && r.start === B) {
            refused++;
            return -EAGAIN;
          }
          return 0;
        },
      });
      p.mm.mmget();
      const t0 = sim.now();
      expect(await oomKill(k, p)).toBe(0);
      expect(refused).toBe(MAX_OOM_REAP_RETRIES);
      expect(sim.now() - t0).toBeGreaterThanOrEqual((MAX_OOM_REAP_RETRIES - 1) * OOM_REAP_RETRY_NS);
      expect(mmOomFlags(p.mm).attempts).toBe(MAX_OOM_REAP_RETRIES);
      // A reaped, B still mapped with its contents.
      expect(p.mm.pageTable.kindAt(A)).not.toBe(PTE_KIND_PRESENT);
      for (let i = 0; i < 4; i++) expect(p.mm.pageTable.kindAt(B + i * PAGE)).toBe(PTE_KIND_PRESENT);
      expect(k.phys.nrAllocated).toBe(4);
      const attempt = [
        ['MMU_NOTIFY_UNMAP', A, A + 4 * PAGE, false, null],
        ['MMU_NOTIFY_UNMAP', B, B + 4 * PAGE, false, null],
      ];
      expect(starts(seen)).toEqual(Array.from({ length: MAX_OOM_REAP_RETRIES }, () => attempt).flat());
      await p.mm.mmput();
      expect(k.phys.nrAllocated).toBe(0);
      k.phys.validate();
    });
    expectOk(run);
    expect(run.marks['oom reaper skipped a vma']).toBe(MAX_OOM_REAP_RETRIES);
  });

  it('does nothing more when the kill was the last user (exit already tore it down)', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('victim');
      await mapTouched(p, A, 8);
      const seen = await recordNotifier(p.mm);
      expect(await oomKill(k, p)).toBe(0);
      expect(k.phys.nrAllocated).toBe(0);
      expect(seen.some((s) => !s.blockable)).toBe(false);
      expect(mmOomFlags(p.mm).skip).toBe(true);
      k.phys.validate();
    });
    expectOk(run);
  });
});

describe('OOM reaper racing the victim', () => {
  it('the victim still faulting, the reaper and the exit: no violation, nothing leaked (pct)', async () => {
    let reapedBeforeExit = 0;
    const result = await explore(
      { strategy: 'pct', depth: 3, schedules: 300, seed: 9, maxSteps: 200_000, shrink: false },
      (sim) => {
        const k = new Kernel(sim, { memoryPages: 256, swapPages: 16 });
        sim.spawn('main', async () => {
          const p = k.createProcess('victim');
          await p.mmap({
            addr: A,
            length: 4 * PAGE,
            prot: RW,
            flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
          });
          await p.write(A, fill(8, 1));
          await p.write(A + PAGE, fill(8, 2));
          const cpu = sim.spawn('victim-thread', async () => {
            for (let i = 0; i < 4; i++) {
              const r = await p.write(A + i * PAGE, fill(8, 7));
              // After the reap a fault is SIGBUS (reported as -EFAULT), never silent zeros.
              const sigbus = r === -EFAULT && mmOomFlags(p.mm).unstable;
              sim.check(r === 0 || r === -ESRCH || sigbus, `write returned ${r}`);
            }
          });
          const killer = sim.spawn('oom', async () => {
            sim.check((await oomKill(k, p)) === 0, 'oom kill failed');
            if (p.mm.users > 0 && mmOomFlags(p.mm).unstable) reapedBeforeExit++;
          });
          await sim.join(cpu);
          await sim.join(killer);
          sim.check(p.state === 'zombie', `victim is ${p.state}`);
          sim.check(k.phys.nrAllocated === 0, `leak: ${k.phys.nrAllocated} pages`);
          k.phys.validate();
        });
      },
    );
    expect(result.violations.map((v) => `${v.kind}: ${v.message}`)).toEqual([]);
    expect(result.statuses.ok).toBe(300);
    expect(reapedBeforeExit).toBeGreaterThan(10);
  });
});
