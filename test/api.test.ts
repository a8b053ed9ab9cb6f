import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import {
  explore,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MMU_NOTIFY_UNMAP,
  mmuIntervalNotifierInsert,
  mmuNotifierRegister,
  Mutex,
  PROT_READ,
  PROT_WRITE,
  simulate,
} from '../src/index.js';

/** DESIGN.md's public API sketch is a contract: its names exist and its forms work. */
describe('public API sketch', () => {
  it('exports the names the sketch uses', () => {
    const names = [
      'explore',
      'replay',
      'Mutex',
      'SpinLock',
      'RwSemaphore',
      'WaitQueue',
      'Completion',
      'Srcu',
      'Kernel',
      'mmuNotifierRegister',
      'mmuIntervalNotifierInsert',
      'PROT_READ',
      'PROT_WRITE',
      'PROT_NONE',
      'MAP_PRIVATE',
      'MAP_SHARED',
      'MAP_ANONYMOUS',
      'MAP_HUGETLB',
      'MADV_DONTNEED',
      'MADV_HUGEPAGE',
      'MADV_NOHUGEPAGE',
      'MADV_FREE',
      'MREMAP_MAYMOVE',
      'MREMAP_FIXED',
      'MREMAP_DONTUNMAP',
      'SIGKILL',
      'FOLL_WRITE',
      'FOLL_LONGTERM',
      'EPERM',
      'ENOENT',
      'EINTR',
      'EFAULT',
      'EINVAL',
      'EBUSY',
      'EAGAIN',
      'ENOMEM',
    ];
    const missing = names.filter((n) => !(n in api));
    expect(missing).toEqual([]);
    expect([
      api.EPERM,
      api.ENOENT,
      api.EINTR,
      api.EFAULT,
      api.EINVAL,
      api.EBUSY,
      api.EAGAIN,
      api.ENOMEM,
    ]).toEqual([1, 2, 4, 14, 22, 16, 11, 12]);
  });

  it('runs the sketch: a process, a classic and an interval notifier, munmap', async () => {
    const events: string[] = [];
    const run = await simulate({ seed: 3 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 1 << 10, swapPages: 1 << 8 });
      const p = k.createProcess('app');
      sim.spawn('main', async () => {
        const length = 4 * k.pageSize;
        const addr = await p.mmap({
          length,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        expect(addr).toBeGreaterThan(0);
        expect(await p.write(addr, new Uint8Array([1, 2, 3]))).toBe(0);
        expect(Array.from((await p.read(addr, 3)) as Uint8Array)).toEqual([1, 2, 3]);
        const mn = await mmuNotifierRegister(p.mm, {
          invalidateRangeStart(range) {
            events.push(`start ${range.event} ${range.start - addr} ${range.end - addr}`);
            return 0;
          },
          invalidateRangeEnd() {},
          release() {},
        });
        const lock = new Mutex(sim, 'driver');
        const sub = await mmuIntervalNotifierInsert(p.mm, addr + k.pageSize, k.pageSize, {
          async invalidate(s, range, curSeq) {
            await lock.lock();
            s.setSeq(curSeq);
            events.push(`interval ${range.event}`);
            lock.unlock();
            return true;
          },
        });
        const seq = await sub.readBegin();
        expect(await p.munmap(addr, 2 * k.pageSize)).toBe(0);
        await lock.lock();
        expect(sub.readRetry(seq)).toBe(true);
        lock.unlock();
        expect(sub.checkRetry(seq)).toBe(true);
        await sub.remove();
        await mn.unregister();
        await p.exit();
      });
    });
    expect(run.status).toBe('ok');
    expect(events).toEqual([`interval ${MMU_NOTIFY_UNMAP}`, `start ${MMU_NOTIFY_UNMAP} 0 ${2 * 4096}`]);
  });

  it('explore takes the sketch options', async () => {
    const r = await explore({ strategy: 'pct', depth: 3, schedules: 50, seed: 1 }, (sim) => {
      sim.spawn('cpu0', async () => {
        await sim.yield();
      });
      sim.spawn('dev0', async () => {
        sim.check(true, 'never');
      });
    });
    expect(r.schedules).toBe(50);
    expect(r.violations).toEqual([]);
  });
});
